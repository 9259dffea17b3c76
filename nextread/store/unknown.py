"""One wording for an id a tenant does not have, shared by REST, MCP, the dashboard and import reports."""

from __future__ import annotations

from collections.abc import Sequence


def unknown(noun: str, external_id: str) -> str:
    """``unknown user 'st-9'``: callers put the field first (``user_id: unknown user 'st-9'``)."""
    return f"unknown {noun} {external_id!r}"


def unknown_many(noun: str, external_ids: Sequence[str], shown: int = 10) -> str:
    """``unknown user(s) 'a', 'b'``, at most ``shown`` of them named."""
    return f"unknown {noun}(s) " + ", ".join(repr(external_id) for external_id in external_ids[:shown])
