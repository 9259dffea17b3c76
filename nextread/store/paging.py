"""Keyset pagination: the cursor is the last internal id seen, so pages stay stable while rows are added."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select

from nextread.schemas import cursor_position, encode_cursor


def paginate(statement: Select[Any], id_column: Any, limit: int, cursor: str | None) -> Select[Any]:
    """``cursor`` was checked by its parameter's type (:data:`nextread.schemas.Cursor`)."""
    if cursor is not None:
        statement = statement.where(id_column > cursor_position(cursor))
    return statement.order_by(id_column).limit(limit + 1)


def next_cursor(rows: list[Any], limit: int) -> tuple[list[Any], str | None]:
    if len(rows) <= limit:
        return rows, None
    page = rows[:limit]
    return page, encode_cursor(page[-1].id)
