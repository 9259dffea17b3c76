"""Users (students, customers…), their history and a profile summary."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query, Request

from nextread.api.crud import crud_router
from nextread.api.deps import ReaderDep, SessionDep
from nextread.api.pagination import CursorQuery, LimitQuery
from nextread.cache import ServingCache
from nextread.schemas import Cursor, InteractionOut, InteractionType, Page, ProfileOut, QueryTime, UserPatch
from nextread.services import readers
from nextread.services.records import USERS


def serving_cache(request: Request) -> ServingCache:
    """A replaced, patched or deleted user (grade, level, interests) gets different recommendations,
    so their cached lists go once the change is committed."""
    return request.app.state.cache


router = crud_router(USERS, UserPatch, "/v1/users", "users", cache_of=serving_cache)


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
    return readers.user_history(session, principal.tenant_id, user_id, limit, cursor, type, since)


@router.get("/{user_id}/profile", response_model=ProfileOut, summary="Counts by type, favourite tags, levels")
def user_profile(user_id: str, session: SessionDep, principal: ReaderDep) -> ProfileOut:
    return readers.user_profile(session, principal.tenant_id, user_id)
