"""Users (students, customers…), their history and a profile summary."""

from __future__ import annotations

from collections import Counter
from typing import Annotated

from fastapi import Query, Request
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from nextread.api.crud import Resource, crud_router
from nextread.api.deps import ReaderDep, SessionDep
from nextread.api.pagination import CursorQuery, LimitQuery, next_cursor
from nextread.cache import invalidate_after_commit
from nextread.schemas import (
    Cursor,
    InteractionOut,
    InteractionType,
    Page,
    ProfileOut,
    QueryTime,
    UserIn,
    UserOut,
    UserPatch,
    cursor_position,
)
from nextread.store.models import Interaction, Item, User
from nextread.store.tenants import interaction_weights
from nextread.store.writes import upsert_users

USERS = Resource("user", User, UserIn, UserOut, UserPatch, upsert_users)
router = crud_router(USERS, "/v1/users", "users")


def find_user(session: Session, tenant_id: int, user_id: str) -> User:
    return USERS.find(session, tenant_id, user_id)


def invalidate_written_user(request: Request, session: SessionDep, principal: ReaderDep) -> None:
    """A replaced, patched or deleted user (grade, level, interests) gets different recommendations,
    so their cached lists go once the change is committed."""
    user_id = request.path_params.get("external_id")
    if request.method in {"PUT", "PATCH", "DELETE"} and user_id is not None:
        invalidate_after_commit(session, request.app.state.cache, principal.tenant_id, [user_id])


@router.get(
    "/{user_id}/history", response_model=Page[InteractionOut], summary="A user's interactions, newest first"
)
def user_history(
    user_id: str,
    session: SessionDep,
    principal: ReaderDep,
    limit: int = LimitQuery,
    cursor: Cursor | None = CursorQuery,
    type: Annotated[InteractionType | None, Query(description="Only this interaction type.")] = None,
    since: Annotated[QueryTime, Query(description="Only events at or after this time (ISO-8601).")] = None,
) -> Page[InteractionOut]:
    user = find_user(session, principal.tenant_id, user_id)
    statement = (
        select(Interaction, Item.external_id.label("item_external_id"))
        .join(Item, Item.id == Interaction.item_id)
        .where(Interaction.tenant_id == principal.tenant_id, Interaction.user_id == user.id)
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


@router.get("/{user_id}/profile", response_model=ProfileOut, summary="Counts by type, favourite tags, levels")
def user_profile(user_id: str, session: SessionDep, principal: ReaderDep) -> ProfileOut:
    user = find_user(session, principal.tenant_id, user_id)
    counts = dict(
        session.execute(
            select(Interaction.type, func.count())
            .where(Interaction.tenant_id == principal.tenant_id, Interaction.user_id == user.id)
            .group_by(Interaction.type)
        ).all()
    )
    positive_types = [
        t for t, (_, positive) in interaction_weights(session, principal.tenant_id).items() if positive
    ]
    liked = session.execute(
        select(Item.tags, Item.lexile, Item.guided_reading_level, Item.grade_min, Item.grade_max)
        .join(Interaction, Interaction.item_id == Item.id)
        .where(
            Interaction.tenant_id == principal.tenant_id,
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
