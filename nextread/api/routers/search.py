"""Catalog search and reading levels: ``GET /v1/search`` and ``GET /v1/users/{id}/reading-level``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Request, status
from pydantic import ValidationError

from nextread.api.deps import ReaderDep, SessionDep, SettingsDep
from nextread.levels.convert import Scale, parse_level
from nextread.schemas import Grade, QueryText
from nextread.services.llm_query import search_parser
from nextread.services.llm_recommend import llm_allowed
from nextread.services.search import Mode, SearchFilters, SearchResults, search_catalog
from nextread.services.student_levels import StudentLevel, UnknownStudentError, get_student_reading_level
from nextread.store.tenant_settings import load_tenant_settings

router = APIRouter(prefix="/v1", tags=["search"])

LEVEL_HELP = (
    "In any scale: `540L`, `BR100L`, `level M`, `ATOS 3.4`, `grade 2`; a bare number is a grade "
    "equivalent (K = 0)."
)


def school_scale(session: SessionDep, principal: ReaderDep, settings: SettingsDep) -> Scale:
    """The tenant's own choice (dashboard settings), else the process-wide ``NEXTREAD_LEVEL_SCALE``."""
    return load_tenant_settings(session, principal.tenant_id).level_scale or settings.serving.level_scale


SchoolScaleDep = Annotated[Scale, Depends(school_scale)]


def _level(name: str, raw: str | None) -> float | None:
    if raw is None or not raw.strip():
        return None
    try:
        return parse_level(raw, "grade")
    except ValueError as exc:
        raise HTTPException(422, f"{name}: {exc}") from exc


def _list(raw: str | None) -> list[str]:
    return [part.strip() for part in raw.split(",") if part.strip()] if raw else []


@router.get("/search", response_model=SearchResults, summary="Hybrid (full-text + semantic) catalog search")
def search(
    request: Request,
    session: SessionDep,
    principal: ReaderDep,
    school: SchoolScaleDep,
    q: Annotated[
        QueryText,
        Query(
            min_length=1,
            max_length=500,
            description='Words or a sentence, e.g. "funny books about dragons for a 2nd grader"; grade, '
            "age and level phrases become filters.",
        ),
    ],
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    level_min: Annotated[str | None, Query(description="Lowest level. " + LEVEL_HELP)] = None,
    level_max: Annotated[str | None, Query(description="Highest level. " + LEVEL_HELP)] = None,
    grade: Annotated[Grade, Query(description="Reader's grade (`K`, `2`, `2nd`).")] = None,
    tags: Annotated[str | None, Query(description="Comma-separated; any of them must match.")] = None,
    language: Annotated[str | None, Query(description="Comma-separated language codes.")] = None,
    available: Annotated[bool | None, Query(description="Only books with a copy on the shelf.")] = None,
    mode: Annotated[Mode, Query(description="`hybrid` (default), or one side alone.")] = "hybrid",
    llm: Annotated[
        bool, Query(description="Let the configured LLM read the query into filters (if the tenant allows).")
    ] = False,
) -> SearchResults:
    try:
        filters = SearchFilters(
            level_min=_level("level_min", level_min),
            level_max=_level("level_max", level_max),
            grade=grade,
            tags=_list(tags),
            language=_list(language),
            available=available,
        )
    except ValidationError as exc:
        error = exc.errors()[0]
        field = ".".join(str(part) for part in error["loc"]) or "level_min"
        raise HTTPException(422, f"{field}: {error['msg']}") from exc
    return search_catalog(
        session,
        principal.tenant_id,
        q,
        filters,
        limit,
        service=request.app.state.recommendations,
        parser=search_parser(
            request.app.state.llm if llm and llm_allowed(session, principal.tenant_id) else None,
            request.app.state.recommendations,
            session,
            principal.tenant_id,
        ),
        mode=mode,
        scale=school,
    )


@router.get(
    "/users/{user_id}/reading-level",
    response_model=StudentLevel,
    summary="A student's reading level with confidence, evidence, just-right and stretch bands",
)
def reading_level(
    user_id: str,
    session: SessionDep,
    principal: ReaderDep,
    school: SchoolScaleDep,
    scale: Annotated[
        Scale | None, Query(description="Show levels in this scale (default: the school's).")
    ] = None,
) -> StudentLevel:
    try:
        return get_student_reading_level(session, principal.tenant_id, user_id, scale=scale or school)
    except UnknownStudentError as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from exc
