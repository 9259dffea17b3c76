"""Who may change what, checked by the use case itself, so every adapter (a REST key, a dashboard
account, an MCP caller) gets the same answer for the same role."""

from __future__ import annotations

from nextread.services.errors import NotAllowedError
from nextread.store.tenants import Principal

READ_ONLY = "this API key is read-only; writes need an admin key"


def require_writer(principal: Principal) -> None:
    """Changes to the catalog, readers, classes, models and settings need the admin role."""
    if not principal.can_write:
        raise NotAllowedError(READ_ONLY)


def require_recorder(principal: Principal, user_id: str, own_reader: str | None = None) -> None:
    """A reader's interactions are recorded by an admin, or by the reader themself (``own_reader``: the
    reader a student's dashboard account belongs to)."""
    if not principal.can_write and (own_reader is None or own_reader != user_id):
        raise NotAllowedError("this account may not record choices for this student")
