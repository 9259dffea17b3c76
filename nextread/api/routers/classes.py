"""Classes and students: a reading list for a whole class, readers like a student, checkout history,
and the librarian's metadata enrichment of a book."""

from __future__ import annotations

from functools import partial
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request, status
from sqlalchemy.orm import Session

from nextread.api.deps import AdminDep, ReaderDep, SessionDep, SettingsDep, on_ranking_thread
from nextread.api.errors import problems
from nextread.api.routers.users import find_user
from nextread.engine.group_selection import Strategy
from nextread.schemas import Cursor, QueryTime
from nextread.services.enrich import EnrichmentDisabledError, EnrichmentResult, enrich_book_metadata
from nextread.services.groups import GroupNotFoundError, GroupRecommendations, recommend_for_group
from nextread.services.recommend import RecommendationService
from nextread.services.similar_users import SimilarUser, find_similar_users
from nextread.store.history import Bucket, CheckoutHistory, HistoryLookupError, query_checkout_history

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


def class_list(
    recommendations: RecommendationService, session: Session, tenant_id: int, group_id: str, **options: Any
) -> GroupRecommendations:
    """:func:`recommend_for_group` with the endpoint's 404s; the dashboard calls it from its own
    worker threads, the endpoint from a ranking thread."""
    try:
        result = recommend_for_group(recommendations, session, tenant_id, group_id, **options)
    except GroupNotFoundError as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from exc
    if result is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "the catalog is empty: add items first")
    return result


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
    user = find_user(session, principal.tenant_id, user_id)
    return find_similar_users(session, principal.tenant_id, user, n)


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
    types = [part.strip().lower() for part in type.split(",") if part.strip()]
    try:
        return query_checkout_history(
            session,
            principal.tenant_id,
            user=user,
            group=group,
            item=item,
            since=since,
            until=until,
            types=types,
            bucket=bucket,
            limit=limit,
            cursor=cursor,
            top=top,
        )
    except HistoryLookupError as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from exc
    except ValueError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from exc


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
    try:
        result = enrich_book_metadata(session, principal.tenant_id, item_id, settings)
    except EnrichmentDisabledError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from exc
    except LookupError as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from exc
    if result.errors and not result.filled:
        raise HTTPException(
            status.HTTP_502_BAD_GATEWAY, "Open Library lookup failed: " + "; ".join(result.errors)
        )
    return result
