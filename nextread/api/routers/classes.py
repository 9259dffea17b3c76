"""Classes and students: a reading list for a whole class, readers like a student, checkout history,
and the librarian's metadata enrichment of a book."""

from __future__ import annotations

from functools import partial
from typing import Annotated

from fastapi import APIRouter, Query, Request

from nextread.api.deps import AdminDep, ReaderDep, SessionDep, SettingsDep, on_ranking_thread
from nextread.api.errors import problems
from nextread.engine.group_selection import Strategy
from nextread.schemas import Cursor, QueryTime
from nextread.services import lookups
from nextread.services.enrich import EnrichmentResult
from nextread.services.groups import GroupRecommendations
from nextread.services.lookups import checkout_history, class_list, similar_readers
from nextread.services.similar_users import SimilarUser
from nextread.store.history import Bucket, CheckoutHistory

router = APIRouter(prefix="/v1", tags=["classes"])


@router.get(
    "/groups/{group_id}/recommendations",
    response_model=GroupRecommendations,
    summary="One list for a whole class: every student's band covered, tastes balanced, per-student fit",
)
async def group_recommendations(
    group_id: str,
    request: Request,
    session: SessionDep,
    principal: ReaderDep,
    n: Annotated[int, Query(ge=1, le=200, description="Books in the list.")] = 20,
    min_per_student: Annotated[
        int, Query(ge=0, le=20, description="Unread books of each student's just-right band in the list.")
    ] = 2,
    strategy: Annotated[Strategy, Query(description="How the class's scores are combined.")] = "proportional",
    max_read_share: Annotated[
        float, Query(gt=0, le=1, description="Leave out books this share of the class has read.")
    ] = 0.5,
    explain: bool = False,
) -> GroupRecommendations:
    """Every student's scores are computed on one of the process's ranking threads, in turn."""
    compute = partial(
        class_list,
        request.app.state.recommendations,
        session,
        principal.tenant_id,
        group_id,
        n=n,
        min_per_student=min_per_student,
        strategy=strategy,
        max_read_share=max_read_share,
        explain=explain,
    )
    return await on_ranking_thread(request, compute)


@router.get(
    "/users/{user_id}/similar",
    response_model=list[SimilarUser],
    summary="Readers most like this one (co-reading and level), within this tenant only",
)
def similar_users(
    user_id: str,
    session: SessionDep,
    principal: ReaderDep,
    n: Annotated[int, Query(ge=1, le=100)] = 10,
) -> list[SimilarUser]:
    return similar_readers(session, principal.tenant_id, user_id, n)


@router.get(
    "/history",
    response_model=CheckoutHistory,
    summary="Checkout history per student, class, book and time window, with trends",
    responses=problems(404),
)
def history(
    session: SessionDep,
    principal: ReaderDep,
    user: Annotated[str | None, Query(description="A student's id.")] = None,
    group: Annotated[str | None, Query(description="A class's id: its members' events.")] = None,
    item: Annotated[str | None, Query(description="A book's id.")] = None,
    since: Annotated[QueryTime, Query(description="From this time on (ISO-8601).")] = None,
    until: Annotated[QueryTime, Query(description="Before this time (ISO-8601).")] = None,
    type: Annotated[
        str, Query(description="Comma-separated interaction types.", pattern=r"[^,\s]")
    ] = "checkout",
    bucket: Annotated[Bucket, Query(description="Trend period.")] = "week",
    limit: Annotated[int, Query(ge=1, le=1000, description="Events per page.")] = 50,
    cursor: Annotated[Cursor | None, Query(description="`next_cursor` of the previous page.")] = None,
    top: Annotated[int, Query(ge=1, le=100, description="How many top books and tags.")] = 10,
) -> CheckoutHistory:
    return checkout_history(
        session,
        principal.tenant_id,
        user=user,
        group=group,
        item=item,
        since=since,
        until=until,
        types=[part.strip().lower() for part in type.split(",") if part.strip()],
        bucket=bucket,
        limit=limit,
        cursor=cursor,
        top=top,
    )


@router.post(
    "/items/{item_id}/enrich",
    response_model=EnrichmentResult,
    summary="Fill a book's missing description, subjects, page count and cover from Open Library",
    responses=problems(409, 502),
)
def enrich_item(
    item_id: str, session: SessionDep, principal: AdminDep, settings: SettingsDep
) -> EnrichmentResult:
    """409 while enrichment is off (the default); 502 when every lookup failed and nothing was filled.
    Fields that already have a value are never changed."""
    return lookups.enrich_item(session, settings, principal, item_id)
