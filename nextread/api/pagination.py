"""The page-size and cursor query parameters every listing takes (:mod:`nextread.store.paging` pages)."""

from __future__ import annotations

from fastapi import Query

LimitQuery = Query(50, ge=1, le=1000, description="Page size (1–1000).")
CursorQuery = Query(None, description="`next_cursor` from the previous page.")
