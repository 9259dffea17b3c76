"""Trending items: what readers picked up in the last days, from the counters the event workers keep.

Unlike ``/v1/items/popular`` (distinct readers, computed from the interactions table on each request),
this reads the small ``item_daily_counts`` table, so it stays cheap on any history size, and it moves
within a second of new interactions (the time the relay and a worker take).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from nextread.api.deps import ReaderDep, SessionDep
from nextread.services import answers
from nextread.services.answers import TrendingOut

router = APIRouter(prefix="/v1/items", tags=["recommendations"])


@router.get(
    "/trending",
    response_model=TrendingOut,
    summary="Items with the most positive interactions in the last days (real-time counters)",
)
def trending_items(
    session: SessionDep,
    principal: ReaderDep,
    n: Annotated[int, Query(ge=1, le=200)] = 10,
    days: Annotated[int, Query(ge=1, le=365, description="Window in UTC days, today included.")] = 7,
) -> TrendingOut:
    return answers.trending_items(session, principal.tenant_id, n, days)
