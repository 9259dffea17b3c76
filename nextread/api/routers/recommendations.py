"""Recommendations: per user, similar items, popular items, and the model registry."""

from __future__ import annotations

import json
from functools import partial
from typing import Annotated, Any

from fastapi import APIRouter, BackgroundTasks, HTTPException, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.security import HTTPAuthorizationCredentials
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy.orm import Session

from nextread.api.deps import (
    AdminDep,
    ReaderDep,
    SessionDep,
    bearer,
    get_principal,
    known_principal,
    on_ranking_thread,
    recheck_ahead,
)
from nextread.api.errors import InvalidField, problems
from nextread.api.query_model import documented_query, parse_query
from nextread.cache import ServingCache, UserEntry
from nextread.engine.hybrid import ReadingBand, Weights
from nextread.engine.shaping import CandidateFilter
from nextread.observability import get_logger
from nextread.schemas import ExternalId, Grade, GuidedLevel, Lexile, LongText, ReadingLevel
from nextread.search.languages import parse_language
from nextread.services import answers
from nextread.services.access import Principal
from nextread.services.answers import (
    ModelVersionOut,
    PopularOut,
    RecommendationsOut,
    SimilarOut,
    answer_variant,
)
from nextread.services.precompute import log_precomputed_after_train, precompute_recommendations
from nextread.services.recommend import Reader, RecommendationRequest, RecommendationService
from nextread.store.db import session_scope

router = APIRouter(prefix="/v1", tags=["recommendations"])
log = get_logger("nextread.api.recommendations")


def service(request: Request) -> RecommendationService:
    return request.app.state.recommendations


def parse_weights(raw: str | None) -> Weights | None:
    """``weights=cf:0.2,reading_match:0.6`` or a JSON object; unknown names are a 422, not ignored."""
    if not raw:
        return None
    try:
        overrides = _json_weights(raw) if raw.lstrip().startswith("{") else _pair_weights(raw)
        return Weights().merged(overrides)
    except ValidationError as exc:
        error = exc.errors()[0]
        raise InvalidField(("query", "weights"), f"{_location(error['loc'])}: {error['msg']}") from exc
    except ValueError as exc:
        raise InvalidField(("query", "weights"), str(exc)) from exc


def _location(loc: tuple[Any, ...]) -> str:
    return ".".join(str(part) for part in loc) or "weights"


def _json_weights(raw: str) -> dict[str, Any]:
    try:
        overrides = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not a JSON object ({exc.msg} at character {exc.pos})") from exc
    if not isinstance(overrides, dict):
        raise ValueError("not a JSON object of name: number")
    return overrides


def _pair_weights(raw: str) -> dict[str, float]:
    overrides = {}
    for pair in raw.split(","):
        name, colon, value = pair.partition(":")
        if not colon:
            raise ValueError(f"{pair.strip()!r} is not name:number (e.g. cf:0.2)")
        try:
            overrides[name.strip()] = float(value)
        except ValueError:
            raise ValueError(f"{name.strip()}: {value.strip()!r} is not a number") from None
    return overrides


def _tags(raw: str | None) -> frozenset[str]:
    return frozenset(tag.strip() for tag in raw.split(",") if tag.strip()) if raw else frozenset()


def _languages(raw: str | None) -> frozenset[str]:
    """Each asked-for language as its ISO 639 key, as the served catalogue keys its books."""
    try:
        return frozenset(parse_language(language) for language in _tags(raw))
    except ValueError as exc:
        raise HTTPException(422, f"query.language: {exc}") from exc


class RecommendationQuery(BaseModel):
    """The query parameters of a recommendation request, validated as one model rather than one by one
    (solving them cost more than a tenth of a cache hit's CPU time). A 422 still names the field
    (``query.n: …``) and the OpenAPI docs still list each parameter."""

    model_config = ConfigDict(allow_inf_nan=False)

    n: int = Field(10, ge=1, le=200, description="How many to return.")
    offset: int = Field(0, ge=0, le=10_000)
    weights: str | None = Field(None, description="Override weights, e.g. `cf:0.2,reading_match:0.6`.")
    include_tags: str | None = Field(None, description="Comma-separated; any of them must match.")
    exclude_tags: str | None = Field(None, description="Comma-separated; none may match.")
    language: str | None = Field(
        None, description="Comma-separated languages, as codes in any form or names (`en`, `eng`, `English`)."
    )
    available_only: bool = True
    exclude_seen: bool = True
    level_min: float | None = Field(None, description="Lowest level, in grade units (K = 0).")
    level_max: float | None = Field(None, description="Highest level, in grade units.")
    strict_level: bool = Field(False, description="Only books inside the reader's band.")
    stretch_above: float = Field(1.0, gt=0, le=6)
    stretch_below: float = Field(0.5, gt=0, le=6)
    diversity: float = Field(0.2, ge=0, le=1, description="0 = pure relevance, 1 = maximal variety.")
    explain: bool = True

    def to_request(self) -> RecommendationRequest:
        try:
            filters = CandidateFilter(
                exclude_seen=self.exclude_seen,
                include_tags=_tags(self.include_tags),
                exclude_tags=_tags(self.exclude_tags),
                languages=_languages(self.language),
                available_only=self.available_only,
                level_min=self.level_min,
                level_max=self.level_max,
            )
        except ValidationError as exc:
            raise HTTPException(422, f"level_min/level_max: {exc.errors()[0]['msg']}") from exc
        return RecommendationRequest(
            n=self.n,
            offset=self.offset,
            weights=parse_weights(self.weights),
            band=ReadingBand(
                stretch_above=self.stretch_above, stretch_below=self.stretch_below, hard=self.strict_level
            ),
            filters=filters,
            diversity=self.diversity,
        )


class PersonalQuery(RecommendationQuery):
    """The hot ``GET`` endpoint's parameters, parsed by :func:`parse_query` in one call."""

    llm: bool = Field(
        False, description="Let the configured LLM re-rank and re-word (if the tenant allows it)."
    )


def _cache(request: Request) -> ServingCache:
    return request.app.state.cache


_parse_personal_query = parse_query(PersonalQuery)


@router.get(
    "/users/{user_id}/recommendations",
    response_model=RecommendationsOut,
    summary="Personal recommendations with component scores and a one-sentence reason",
    # Parameters and key documented here, read in the body: solving them as FastAPI dependencies cost
    # a fifth of a cache hit's CPU time.
    openapi_extra=documented_query(PersonalQuery) | {"security": [{bearer.scheme_name: []}]},
)
async def user_recommendations(user_id: str, request: Request) -> Response:
    """Served from the cache when this user's answer to the same query is there; a new interaction
    of the user, a new model version or a catalog edit makes it recomputed.

    A hit is answered on the event loop, with no thread and no database session, when the API key,
    the model and the catalog were all checked lately. Anything else runs the whole request on one of
    the process's ranking threads (:func:`~nextread.api.deps.on_ranking_thread`); a request that may
    ask an LLM, which waits on another service, runs in the general thread pool instead."""
    query, credentials = await _parse_personal_query(request), await bearer(request)
    params = query.to_request()
    cache = _cache(request)
    principal = known_principal(request, credentials) if cache.enabled else None
    stamp = service(request).fresh_stamp(principal.tenant_id) if principal is not None else None
    entry = None
    if principal is not None and stamp is not None:
        recheck_ahead(request, credentials.credentials, principal.tenant_id)
        variant = answer_variant(stamp, params, query.explain, query.llm)
        entry = await cache.alookup_user(principal.tenant_id, user_id, variant)
        if entry.value is not None:
            return Response(entry.value, media_type="application/json")
    compute = partial(
        _user_recommendations, request, user_id, params, credentials, query.explain, query.llm, entry
    )
    if query.llm:
        return await run_in_threadpool(compute)
    return await on_ranking_thread(request, compute)


def _user_recommendations(
    request: Request,
    user_id: str,
    params: RecommendationRequest,
    credentials: HTTPAuthorizationCredentials | None,
    explain: bool,
    llm: bool,
    entry: UserEntry | None,
) -> Response:
    """The full request: authenticate, look the answer up (unless the caller just missed), compute it
    and cache it. ``entry`` is the caller's miss, whose key the answer is stored under."""
    state = request.app.state
    with session_scope(state.session_factory) as session:
        principal = get_principal(request, session, credentials)
        if entry is None:
            cached, entry = answers.cached_reader_answer(
                service(request), state.cache, session, principal.tenant_id, user_id, params, explain, llm
            )
            if cached is not None:
                return Response(cached, media_type="application/json")
        body = answers.reader_answer(
            service(request),
            state.cache,
            state.llm,
            state.settings,
            session,
            principal.tenant_id,
            user_id,
            params,
            explain,
            llm,
            entry,
        )
    return Response(body, media_type="application/json")


class SessionReader(BaseModel):
    """An anonymous reader (a session, a kiosk, a new student): what they touched and who they are."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    item_ids: list[ExternalId] = Field(default_factory=list, max_length=500)
    interests: LongText | None = Field(None, max_length=2000)
    grade: Grade = None
    lexile: Lexile = Field(None, description="A Lexile measure: `450`, `450L`, `BR100L`.")
    guided_reading_level: GuidedLevel = Field(None, description="A letter: `M`, `level M`.")
    level: ReadingLevel = Field(
        None,
        description="A level in any scale search takes (`540L`, `level M`, `ATOS 3.4`, `grade 2`; a bare "
        "number is a grade equivalent); wins over `lexile`, `guided_reading_level` and `grade`.",
    )
    n: int | None = Field(None, ge=1, le=200, description="How many to return (or `n` in the query).")


@router.post(
    "/recommendations",
    response_model=RecommendationsOut,
    summary="Recommendations for an anonymous reader (items touched, interests text, grade or level)",
    responses=problems(404),
)
async def session_recommendations(
    body: SessionReader,
    request: Request,
    session: SessionDep,
    principal: ReaderDep,
    query: Annotated[RecommendationQuery, Query()],
) -> RecommendationsOut:
    """Computed on one of the process's ranking threads, as a personal list is."""
    compute = partial(_session_recommendations, body, request, session, principal, query)
    return await on_ranking_thread(request, compute)


def _session_recommendations(
    body: SessionReader,
    request: Request,
    session: Session,
    principal: Principal,
    query: RecommendationQuery,
) -> RecommendationsOut:
    params = query.to_request()
    if body.n is not None:
        if "n" in query.model_fields_set and query.n != body.n:
            raise RequestValidationError(
                [
                    {
                        "type": "value_error",
                        "loc": ("body", "n"),
                        "msg": "differs from n in the query",
                        "input": body.n,
                    }
                ]
            )
        params.n = body.n
    reader = Reader(body.lexile, body.guided_reading_level, body.grade, body.interests, level=body.level)
    return answers.anonymous_recommendations(
        service(request), session, principal.tenant_id, body.item_ids, reader, params, query.explain
    )


@router.get(
    "/items/{item_id}/similar",
    response_model=SimilarOut,
    summary="Books like this one: read by the same readers (`cf`) or close in subject (`semantic`)",
)
async def similar_items(
    item_id: str,
    request: Request,
    session: SessionDep,
    principal: ReaderDep,
    n: Annotated[int, Query(ge=1, le=200)] = 10,
    explain: Annotated[bool, Query(description="Add each book's components and a sentence.")] = True,
) -> Response:
    """Looked up and computed on one of the process's ranking threads."""

    def compute() -> Response:
        body = answers.similar_items_json(
            service(request), _cache(request), session, principal.tenant_id, item_id, n, explain
        )
        return Response(body, media_type="application/json")

    return await on_ranking_thread(request, compute)


@router.get("/models", response_model=list[ModelVersionOut], summary="Trained model versions, newest first")
def list_models(session: SessionDep, principal: ReaderDep) -> list[ModelVersionOut]:
    """A training in progress (or one that failed since the newest version) comes first, with its
    progress or error."""
    return answers.model_versions(session, principal.tenant_id)


@router.post(
    "/models/train", response_model=ModelVersionOut, status_code=201, summary="Train a new version now"
)
def train_model(request: Request, principal: AdminDep, after: BackgroundTasks) -> ModelVersionOut:
    """With ``NEXTREAD_PRECOMPUTE_AFTER_TRAIN`` this process then writes every reader's list for the
    new version into the shared cache, after the response (it takes minutes for a large school)."""
    version = answers.train_model(service(request), principal)
    if request.app.state.settings.cache.precompute_after_train:
        after.add_task(_precompute, request.app.state, principal.tenant_id)
    return version


def _precompute(state: Any, tenant_id: int) -> None:
    report = precompute_recommendations(state.session_factory, state.recommendations, state.cache, tenant_id)
    log_precomputed_after_train(tenant_id, report)


@router.get(
    "/items/popular",
    response_model=PopularOut,
    summary="Most read items, optionally recent and per level",
)
def popular_items(
    session: SessionDep,
    principal: ReaderDep,
    n: Annotated[int, Query(ge=1, le=200)] = 10,
    window_days: Annotated[int | None, Query(ge=1, le=3650, description="Only the last N days.")] = None,
    level_min: Annotated[
        float | None, Query(allow_inf_nan=False, description="Lowest level, in grade units (K = 0).")
    ] = None,
    level_max: Annotated[
        float | None, Query(allow_inf_nan=False, description="Highest level, in grade units.")
    ] = None,
) -> PopularOut:
    """Distinct readers with a positive interaction (checkout, finished, good rating, like…) per item."""
    return answers.popular_items(session, principal.tenant_id, n, window_days, level_min, level_max)
