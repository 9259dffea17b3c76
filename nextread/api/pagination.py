"""Keyset pagination: the cursor is the last internal id seen, so pages stay stable while rows are added."""

from __future__ import annotations

import base64
from typing import Any

from fastapi import HTTPException, Query
from sqlalchemy import Select

LimitQuery = Query(50, ge=1, le=1000, description="Page size (1–1000).")
CursorQuery = Query(None, description="`next_cursor` from the previous page.")


def encode_cursor(last_id: int) -> str:
    return base64.urlsafe_b64encode(str(last_id).encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        return int(base64.urlsafe_b64decode(padded.encode()).decode())
    except (ValueError, UnicodeDecodeError) as exc:
        raise HTTPException(422, "cursor: not a cursor returned by this API") from exc


def paginate(statement: Select[Any], id_column: Any, limit: int, cursor: str | None) -> Select[Any]:
    if cursor is not None:
        statement = statement.where(id_column > decode_cursor(cursor))
    return statement.order_by(id_column).limit(limit + 1)


def next_cursor(rows: list[Any], limit: int) -> tuple[list[Any], str | None]:
    if len(rows) <= limit:
        return rows, None
    page = rows[:limit]
    return page, encode_cursor(page[-1].id)
