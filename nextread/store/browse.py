"""Plain read-only views of a tenant's data for clients that think in "content" and "categories"
rather than books and tags (the Context IQ-compatible API): items by tag, the tags of a few items,
and one user's activity summed up.

A category is a tag: an item belongs to every category one of its tags names. Tags are compared
case-insensitively, as the recommender's tag filters compare them.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Exists, exists, func, select
from sqlalchemy.orm import Session

from nextread.store.models import Interaction, Item


@dataclass
class UserActivity:
    """What one user did, counted: events by type, events per tag of the items they touched (each
    event counts once for each tag of its item), the first and last event, and the sum of the values
    stored with the ``value_types`` events."""

    counts_by_type: dict[str, int] = field(default_factory=dict)
    tag_counts: Counter[str] = field(default_factory=Counter)
    first_at: datetime | None = None
    last_at: datetime | None = None
    value_total: float = 0.0

    @property
    def total(self) -> int:
        return sum(self.counts_by_type.values())


def user_activity(
    session: Session, tenant_id: int, user_pk: int, value_types: Collection[str]
) -> UserActivity:
    """Two queries: the user's events grouped by item and type, then the tags of those items."""
    per_item = session.execute(
        select(
            Interaction.item_id,
            Interaction.type,
            func.count().label("events"),
            func.min(Interaction.occurred_at).label("first_at"),
            func.max(Interaction.occurred_at).label("last_at"),
            func.sum(Interaction.value).label("value_sum"),
        )
        .where(Interaction.tenant_id == tenant_id, Interaction.user_id == user_pk)
        .group_by(Interaction.item_id, Interaction.type)
    ).all()
    tags = item_tags(session, {row.item_id for row in per_item})
    activity = UserActivity()
    for row in per_item:
        activity.counts_by_type[row.type] = activity.counts_by_type.get(row.type, 0) + row.events
        for tag in tags.get(row.item_id, []):
            activity.tag_counts[tag] += row.events
        activity.first_at = min(filter(None, (activity.first_at, row.first_at)))
        activity.last_at = max(filter(None, (activity.last_at, row.last_at)))
        if row.type in value_types and row.value_sum is not None:
            activity.value_total += row.value_sum
    return activity


def item_tags(session: Session, item_pks: Iterable[int]) -> dict[int, list[str]]:
    """Each item's tags as stored (their order kept: the first one is the item's main category)."""
    wanted = sorted(set(item_pks))
    if not wanted:
        return {}
    rows = session.execute(select(Item.id, Item.tags).where(Item.id.in_(wanted)))
    return {row.id: list(row.tags or []) for row in rows}


@dataclass(frozen=True)
class Content:
    """An item as a content listing shows it: its tags in their stored order."""

    external_id: str
    title: str
    description: str | None
    tags: list[str]
    created_at: datetime


def items_in_category(session: Session, tenant_id: int, category: str | None, limit: int) -> list[Content]:
    """The newest ``limit`` items (all of them, or those with ``category`` among their tags).

    The tag test runs in the database: ``jsonb_array_elements_text`` on PostgreSQL, ``json_each`` on
    SQLite (whose ``lower`` folds ASCII letters only)."""
    statement = select(Item).where(Item.tenant_id == tenant_id)
    if category:
        statement = statement.where(_has_tag(session, category))
    items = session.scalars(statement.order_by(Item.created_at.desc(), Item.id.desc()).limit(limit))
    return [
        Content(item.external_id, item.title, item.description, list(item.tags or []), item.created_at)
        for item in items
    ]


def _has_tag(session: Session, tag: str) -> Exists:
    postgresql = session.get_bind().dialect.name == "postgresql"
    expand = func.jsonb_array_elements_text if postgresql else func.json_each
    elements = expand(Item.tags).table_valued("value")
    return exists(select(1).select_from(elements).where(func.lower(elements.c.value) == tag.lower()))
