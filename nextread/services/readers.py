"""What a reader did: their interactions page by page, and a profile summed up from them."""

from __future__ import annotations

from collections import Counter
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from nextread.schemas import InteractionOut, Page, ProfileOut, cursor_position
from nextread.services.records import find_user
from nextread.store.models import Interaction, Item
from nextread.store.paging import next_cursor
from nextread.store.tenants import interaction_weights


def user_history(
    session: Session,
    tenant_id: int,
    user_id: str,
    limit: int = 50,
    cursor: str | None = None,
    type: str | None = None,
    since: datetime | None = None,
) -> Page[InteractionOut]:
    """Newest first; ``type`` and ``since`` narrow it to one interaction type and a start time."""
    user = find_user(session, tenant_id, user_id)
    statement = (
        select(Interaction, Item.external_id.label("item_external_id"))
        .join(Item, Item.id == Interaction.item_id)
        .where(Interaction.tenant_id == tenant_id, Interaction.user_id == user.id)
    )
    if type is not None:
        statement = statement.where(Interaction.type == type)
    if since is not None:
        statement = statement.where(Interaction.occurred_at >= since)
    if cursor is not None:
        statement = statement.where(Interaction.id < cursor_position(cursor))
    rows = session.execute(statement.order_by(Interaction.id.desc()).limit(limit + 1)).all()
    page, cursor_out = next_cursor([row.Interaction for row in rows], limit)
    item_ids = {row.Interaction.id: row.item_external_id for row in rows}
    return Page[InteractionOut](
        data=[
            InteractionOut(
                user_id=user_id,
                item_id=item_ids[event.id],
                type=event.type,
                value=event.value,
                timestamp=event.occurred_at,
                event_id=event.event_id,
            )
            for event in page
        ],
        next_cursor=cursor_out,
    )


def user_profile(session: Session, tenant_id: int, user_id: str) -> ProfileOut:
    """Counts by interaction type, the tags and levels of the books they liked, their stated level."""
    user = find_user(session, tenant_id, user_id)
    counts = dict(
        session.execute(
            select(Interaction.type, func.count())
            .where(Interaction.tenant_id == tenant_id, Interaction.user_id == user.id)
            .group_by(Interaction.type)
        ).all()
    )
    positive_types = [t for t, (_, positive) in interaction_weights(session, tenant_id).items() if positive]
    liked = session.execute(
        select(Item.tags, Item.lexile, Item.guided_reading_level, Item.grade_min, Item.grade_max)
        .join(Interaction, Interaction.item_id == Item.id)
        .where(
            Interaction.tenant_id == tenant_id,
            Interaction.user_id == user.id,
            Interaction.type.in_(positive_types),
        )
        .distinct()
    ).all()
    tag_counts = Counter(tag for row in liked for tag in row.tags)
    lexiles = sorted(row.lexile for row in liked if row.lexile is not None)
    guided = Counter(row.guided_reading_level for row in liked if row.guided_reading_level)
    return ProfileOut(
        id=user_id,
        interactions=sum(counts.values()),
        counts_by_type=counts,
        favourite_tags=[{"tag": tag, "count": n} for tag, n in tag_counts.most_common(10)],
        reading_level={
            "stated_lexile": user.lexile,
            "stated_guided_reading_level": user.guided_reading_level,
            "grade": user.grade,
            "books_with_level": len(lexiles),
            "median_lexile_read": lexiles[len(lexiles) // 2] if lexiles else None,
            "min_lexile_read": lexiles[0] if lexiles else None,
            "max_lexile_read": lexiles[-1] if lexiles else None,
            "most_read_guided_reading_level": guided.most_common(1)[0][0] if guided else None,
        },
    )
