"""Questions about the school's catalog and readers: search, a reader's level, readers alike, checkout
history, a class's reading list, and the librarian's metadata enrichment of a book."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy.orm import Session

from nextread.config import Settings
from nextread.levels.convert import Scale, level_range
from nextread.llm.client import LLMClient
from nextread.services.access import Principal, require_writer
from nextread.services.enrich import EnrichmentResult, enrich_book_metadata
from nextread.services.errors import InvalidError, NoCatalogError, UpstreamError
from nextread.services.groups import GroupRecommendations, recommend_for_group
from nextread.services.llm_query import search_parser
from nextread.services.llm_recommend import llm_allowed
from nextread.services.recommend import RecommendationService
from nextread.services.records import find_user
from nextread.services.search import Mode, SearchFilters, SearchResults, search_catalog
from nextread.services.similar_users import SimilarUser, find_similar_users
from nextread.services.student_levels import StudentLevel, get_student_reading_level
from nextread.store.history import Bucket, CheckoutHistory, query_checkout_history
from nextread.store.tenant_settings import load_tenant_settings


def school_scale(session: Session, settings: Settings, tenant_id: int) -> Scale:
    """The tenant's own choice (dashboard settings), else the process-wide ``NEXTREAD_LEVEL_SCALE``."""
    return load_tenant_settings(session, tenant_id).level_scale or settings.serving.level_scale


def search_filters(
    level_min: str | float | None = None,
    level_max: str | float | None = None,
    scale: Scale = "grade",
    **values: Any,
) -> SearchFilters:
    """:class:`SearchFilters` from an adapter's values, the level range read as a person reads it in
    ``scale`` (:func:`level_range`: grade "1 to 2" is 1.0–2.99); a refused value names its field."""
    try:
        low = level_range(level_min, None, scale)[0]
    except ValueError as exc:
        raise InvalidError("level_min", str(exc)) from exc
    try:
        high = level_range(None, level_max, scale)[1]
    except ValueError as exc:
        raise InvalidError("level_max", str(exc)) from exc
    try:
        return SearchFilters(level_min=low, level_max=high, **values)
    except ValidationError as exc:
        error = exc.errors()[0]
        field = ".".join(str(part) for part in error["loc"]) or "level_min"
        raise InvalidError(field, error["msg"]) from exc


def search_books(
    service: RecommendationService,
    llm: LLMClient | None,
    settings: Settings,
    session: Session,
    tenant_id: int,
    query: str,
    filters: SearchFilters,
    limit: int = 20,
    mode: Mode = "hybrid",
    use_llm: bool = False,
    offset: int = 0,
) -> SearchResults:
    """Full-text and semantic search at once, levels shown in the school's scale. The LLM reads the
    query into filters only when ``use_llm`` and the school allows it."""
    allowed = llm if use_llm and llm_allowed(session, tenant_id) else None
    return search_catalog(
        session,
        tenant_id,
        query,
        filters,
        limit,
        offset=offset,
        service=service,
        parser=search_parser(allowed, service, session, tenant_id),
        mode=mode,
        scale=school_scale(session, settings, tenant_id),
    )


def reading_level(
    session: Session, settings: Settings, tenant_id: int, user_id: str, scale: Scale | None = None
) -> StudentLevel:
    """A reader's level with confidence, evidence and bands, in ``scale`` (default: the school's)."""
    shown_in = scale or school_scale(session, settings, tenant_id)
    return get_student_reading_level(session, tenant_id, user_id, scale=shown_in)


def similar_readers(session: Session, tenant_id: int, user_id: str, n: int = 10) -> list[SimilarUser]:
    """Readers most like this one (books in common, then level), within this tenant only."""
    return find_similar_users(session, tenant_id, find_user(session, tenant_id, user_id), n)


def checkout_history(
    session: Session,
    tenant_id: int,
    *,
    user: str | None = None,
    group: str | None = None,
    item: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    types: list[str],
    bucket: Bucket = "week",
    limit: int = 50,
    cursor: str | None = None,
    top: int = 10,
) -> CheckoutHistory:
    """Events per student, class, book and time window, with totals, trends and top books and tags."""
    try:
        return query_checkout_history(
            session,
            tenant_id,
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
    except ValueError as exc:
        raise InvalidError.worded(str(exc)) from exc


def class_list(
    service: RecommendationService, session: Session, tenant_id: int, group_id: str, **options: Any
) -> GroupRecommendations:
    """One list for a whole class (:func:`recommend_for_group`'s options): every student's band
    covered, tastes balanced, per-student fit."""
    try:
        result = recommend_for_group(service, session, tenant_id, group_id, **options)
    except ValueError as exc:
        raise InvalidError.worded(str(exc)) from exc
    if result is None:
        raise NoCatalogError("the catalog is empty: add items first")
    return result


def enrich_item(session: Session, settings: Settings, principal: Principal, item_id: str) -> EnrichmentResult:
    """Fill a book's missing description, subjects, page count and cover from Open Library; values the
    library entered are never changed. Raises ``EnrichmentDisabledError`` while enrichment is off and
    :class:`UpstreamError` when every lookup failed and nothing was filled."""
    require_writer(principal)
    result = enrich_book_metadata(session, principal.tenant_id, item_id, settings)
    if result.errors and not result.filled:
        raise UpstreamError("Open Library lookup failed: " + "; ".join(result.errors))
    session.commit()
    return result
