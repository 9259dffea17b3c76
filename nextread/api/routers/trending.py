"""Trending items: what readers picked up in the last days, from the counters the event workers keep.

Unlike ``/v1/items/popular`` (distinct readers, computed from the interactions table on each request),
this reads the small ``item_daily_counts`` table, so it stays cheap on any history size, and it moves
within a second of new interactions (the time the relay and a worker take).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field
from sqlalchemy import func, select

from nextread.api.deps import ReaderDep, SessionDep
from nextread.store.models import Item, ItemDailyCount

router = APIRouter(prefix="/v1/items", tags=["recommendations"])


class TrendingItem(BaseModel):
    id: str
    title: str
    authors: list[str]
    cover_url: str | None
    positive: int = Field(description="Positive interactions (checkout, finished, like…) in the window.")
    events: int = Field(description="All interactions in the window, positive or not.")


class TrendingOut(BaseModel):
    days: int = Field(description="The window, in UTC days, today included.")
    data: list[TrendingItem] = Field(description="Most positive interactions first.")


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
    since = (datetime.now(UTC) - timedelta(days=days - 1)).date()
    positive = func.sum(ItemDailyCount.positive).label("positive")
    events = func.sum(ItemDailyCount.events).label("events")
    rows = session.execute(
        select(Item, positive, events)
        .join(ItemDailyCount, ItemDailyCount.item_id == Item.id)
        .where(ItemDailyCount.tenant_id == principal.tenant_id, ItemDailyCount.day >= since)
        .group_by(Item.id)
        .having(func.sum(ItemDailyCount.positive) > 0)
        .order_by(positive.desc(), events.desc(), Item.id)
        .limit(n)
    ).all()
    data = [
        TrendingItem(
            id=item.external_id,
            title=item.title,
            authors=item.authors,
            cover_url=item.cover_url,
            positive=int(pos),
            events=int(count),
        )
        for item, pos, count in rows
    ]
    return TrendingOut(days=days, data=data)
