"""One wording for an id a tenant does not have, shared by REST, MCP, the dashboard and import reports."""

from __future__ import annotations

from collections.abc import Sequence


def unknown(noun: str, external_id: str) -> str:
    """``unknown user 'st-9'``: callers put the field first (``user_id: unknown user 'st-9'``)."""
    return f"unknown {noun} {external_id!r}"


def unknown_many(noun: str, external_ids: Sequence[str], shown: int = 10) -> str:
    """``unknown user(s) 'a', 'b'``, at most ``shown`` of them named."""
    return f"unknown {noun}(s) " + ", ".join(repr(external_id) for external_id in external_ids[:shown])


class UnknownIdError(LookupError):
    """An id the tenant does not have: ``user_id: unknown user 'st-9'``. Every adapter shows the
    message as it is (REST as a 404); ``field`` names the argument it came from."""

    def __init__(self, field: str, reason: str) -> None:
        """``reason``: :func:`unknown` or :func:`unknown_many` of the ids."""
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason
