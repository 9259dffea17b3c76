"""Catalog search and reading levels: ``GET /v1/search`` and ``GET /v1/users/{id}/reading-level``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request

from nextread.api.deps import ReaderDep, SessionDep, SettingsDep
from nextread.levels.convert import Scale
from nextread.schemas import Grade, QueryText
from nextread.services import lookups
from nextread.services.lookups import search_books
from nextread.services.search import Mode, SearchResults
from nextread.services.student_levels import StudentLevel

router = APIRouter(prefix="/v1", tags=["search"])

LEVEL_HELP = (
    "In any scale: `540L`, `BR100L`, `level M`, `ATOS 3.4`, `grade 2`; a bare number is a grade "
    "(K = 0). Both ends are included as a person reads them: a whole grade or a letter stands for all "
    "of it, so `level_min=1&level_max=2` is every book from the start of grade 1 to the end of grade 2 "
    "(1.0–2.99)."
)
# How deep paging may go: past it a search is better narrowed than paged.
MAX_OFFSET = 10_000


def _list(raw: str | None) -> list[str]:
    return [part.strip() for part in raw.split(",") if part.strip()] if raw else []


@router.get("/search", response_model=SearchResults, summary="Hybrid (full-text + semantic) catalog search")
def search(
    request: Request,
    session: SessionDep,
    principal: ReaderDep,
    settings: SettingsDep,
    q: Annotated[
        QueryText,
        Query(
            min_length=1,
            max_length=500,
            description='Words or a sentence, e.g. "funny books about dragons for a 2nd grader"; grade, '
            "age and level phrases become filters.",
        ),
    ],
    limit: Annotated[int, Query(ge=1, le=100, description="Page size.")] = 20,
    offset: Annotated[
        int, Query(ge=0, le=MAX_OFFSET, description="Skip this many matches (`total` says how many).")
    ] = 0,
    level_min: Annotated[str | None, Query(description="Lowest level. " + LEVEL_HELP)] = None,
    level_max: Annotated[str | None, Query(description="Highest level. " + LEVEL_HELP)] = None,
    grade: Annotated[Grade, Query(description="Reader's grade (`K`, `2`, `2nd`).")] = None,
    tags: Annotated[str | None, Query(description="Comma-separated; any of them must match.")] = None,
    language: Annotated[
        str | None,
        Query(
            description="Comma-separated languages, as codes in any form or names: `en`, `eng`, "
            "`en-GB` and `English` are one language."
        ),
    ] = None,
    available: Annotated[bool | None, Query(description="Only books with a copy on the shelf.")] = None,
    mode: Annotated[Mode, Query(description="`hybrid` (default), or one side alone.")] = "hybrid",
    llm: Annotated[
        bool, Query(description="Let the configured LLM read the query into filters (if the tenant allows).")
    ] = False,
) -> SearchResults:
    filters = lookups.search_filters(
        level_min=level_min,
        level_max=level_max,
        grade=grade,
        tags=_list(tags),
        language=_list(language),
        available=available,
    )
    state = request.app.state
    return search_books(
        state.recommendations,
        state.llm,
        settings,
        session,
        principal.tenant_id,
        q,
        filters,
        limit,
        mode=mode,
        use_llm=llm,
        offset=offset,
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
    settings: SettingsDep,
    scale: Annotated[
        Scale | None, Query(description="Show levels in this scale (default: the school's).")
    ] = None,
) -> StudentLevel:
    return lookups.reading_level(session, settings, principal.tenant_id, user_id, scale)
