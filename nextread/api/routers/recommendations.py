"""Recommendations: per user, similar items, popular items, and the model registry."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Annotated, Any

import numpy as np
from fastapi import APIRouter, BackgroundTasks, HTTPException, Query, Request, Response, status
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.security import HTTPAuthorizationCredentials
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from nextread.api.deps import (
    AdminDep,
    ReaderDep,
    SessionDep,
    bearer,
    get_principal,
    key_check_due,
    known_principal,
    on_ranking_thread,
    recheck_key,
)
from nextread.api.errors import InvalidField, problems
from nextread.api.query_model import documented_query, parse_query
from nextread.api.routers.items import find_item
from nextread.api.routers.users import find_user
from nextread.cache import ServingCache, UserEntry
from nextread.engine.hybrid import ReadingBand, Weights
from nextread.engine.pipeline import Recommendation
from nextread.engine.shaping import CandidateFilter
from nextread.jobs.runner import unfinished_run
from nextread.levels import item_level
from nextread.observability import get_logger
from nextread.schemas import ExternalId, Grade, GuidedLevel, Lexile, LongText, ReadingLevel
from nextread.services.llm_recommend import ENGINE_AND_LLM, llm_allowed, personal_recommendations
from nextread.services.recommend import (
    ItemCard,
    Reader,
    RecommendationRequest,
    RecommendationService,
    Served,
)
from nextread.services.scheduler import RETRAIN
from nextread.store.db import session_scope
from nextread.store.models import Interaction, Item, JobRun, ModelVersion
from nextread.store.reading_data import EventArrays
from nextread.store.tenants import Principal, interaction_weights
from nextread.store.unknown import unknown_many

router = APIRouter(prefix="/v1", tags=["recommendations"])
log = get_logger("nextread.api.recommendations")


class RecommendedItem(BaseModel):
    id: str
    title: str
    authors: list[str]
    cover_url: str | None
    score: float = Field(description="How well the book fits, from 0 to 1; the list is in this order.")
    components: dict[str, float] | None = Field(
        None, description="Each signal's value, from 0 to 1 (with `explain=true`)."
    )
    explanation: str | None = Field(None, description="One sentence saying why (with `explain=true`).")


class RecommendationsOut(BaseModel):
    user_id: str | None = Field(description="The reader's id; null for an anonymous reader.")
    model_version: int = Field(description="0 while no model is trained yet (see `provisional`).")
    data: list[RecommendedItem]
    ranked_by: str = Field("engine", description="`engine+llm` when the optional LLM re-ranked the list.")
    provisional: bool = Field(
        False,
        description="True while the tenant's first model trains in the background (`GET /v1/models`): "
        "the list is ranked by reading level, popularity and freshness only, without what similar "
        "readers enjoyed or books like the reader's.",
    )


class TrainingProgress(BaseModel):
    stage: str = Field(description="`load`, `fit`, `embed` or `register`.")
    done: int = Field(description="Books embedded so far in the `embed` stage.")
    total: int = Field(description="Books to embed in the `embed` stage (only new or changed ones).")


class SimilarOut(BaseModel):
    item_id: str = Field(description="The book the others are like.")
    model_version: int
    data: list[RecommendedItem]


class ModelVersionOut(BaseModel):
    version: int
    status: str = Field(
        description="`ready`; the first row may be a version still `training` (with `progress`) or "
        "whose training `failed` (with `error`)."
    )
    created_at: Any
    params: dict[str, Any]
    metrics: dict[str, Any]
    n_users: int = Field(description="Readers in the training matrix.")
    n_items: int = Field(description="Books in the training matrix.")
    n_pairs: int = Field(
        validation_alias="n_interactions",
        description="Non-empty cells of the matrix: reader-book pairs with evidence (many events on one "
        "pair count once).",
    )
    training_seconds: float
    progress: TrainingProgress | None = None
    error: str | None = None


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
    language: str | None = Field(None, description="Comma-separated language codes.")
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
                languages=_tags(self.language),
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


def build_request(**query: Any) -> RecommendationRequest:
    """The request the endpoints would build from these query parameters (defaults for the rest)."""
    return RecommendationQuery(**query).to_request()


def _no_catalog() -> HTTPException:
    return HTTPException(
        status.HTTP_404_NOT_FOUND, "the catalog is empty: add items before asking for recommendations"
    )


def _cache(request: Request) -> ServingCache:
    return request.app.state.cache


def answer_variant(stamp: str, params: RecommendationRequest, explain: bool, llm: bool) -> str:
    """The cache key of one answer: everything it was computed from, in a canonical form, so
    ``?n=10``, no parameters at all and a list precomputed for the defaults share one entry."""
    fields = {
        "n": params.n,
        "offset": params.offset,
        "diversity": params.diversity,
        "weights": params.weights.model_dump() if params.weights else None,
        "band": (params.band or ReadingBand()).model_dump(),
        "filters": (params.filters or CandidateFilter()).model_dump(),
        "explain": explain,
        "llm": llm,
    }
    return f"{stamp}|{json.dumps(fields, sort_keys=True, default=sorted)}"


def _json(out: RecommendationsOut) -> Response:
    return Response(out.model_dump_json().encode(), media_type="application/json")


def _respond(served: Served, user_id: str | None, explain: bool) -> RecommendationsOut:
    """The answer's items, described from the served catalog: books deleted since it was built
    (``present`` is false) are left out rather than shown as blanks."""
    catalog = served.catalog
    data = [
        _recommended_item(catalog.cards[rec.item_index], rec, explain)
        for rec in served.results
        if catalog.present[rec.item_index]
    ]
    return RecommendationsOut(
        user_id=user_id,
        model_version=served.artifact.version,
        data=data,
        provisional=served.artifact.provisional,
    )


def _recommended_item(card: ItemCard, rec: Recommendation, explain: bool) -> RecommendedItem:
    return RecommendedItem(
        id=card.external_id,
        title=card.title,
        authors=card.authors,
        cover_url=card.cover_url,
        score=round(rec.score, 6),
        components={k: round(v, 4) for k, v in rec.components.items()} if explain else None,
        explanation=(rec.explanation or None) if explain else None,
    )


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
        if key_check_due(request, credentials) or service(request).checks_due(principal.tenant_id):
            _recheck_ahead(request, credentials, principal.tenant_id)
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


def _recheck_ahead(request: Request, credentials: HTTPAuthorizationCredentials, tenant_id: int) -> None:
    """Re-check the key, the model, the catalog and the saved weights in the background, once per
    process at a time, when they are past half their interval. Without it every check expired under
    load, and every request of that moment went to the ranking thread to re-check in turn: on the
    precomputed bench (50k readers, 32 connections), bursts every 5 s of requests queued up to 340 ms
    behind each other, while a hit takes 2–7 ms."""
    state = request.app.state
    running: asyncio.Task[None] | None = getattr(state, "recheck", None)
    if running is not None and not running.done():
        return
    # kept on the app state: the reference also stops the task from being collected mid-run
    state.recheck = asyncio.get_running_loop().create_task(
        run_in_threadpool(_recheck, request, credentials, tenant_id)
    )


def _recheck(request: Request, credentials: HTTPAuthorizationCredentials, tenant_id: int) -> None:
    try:
        with session_scope(request.app.state.session_factory) as session:
            recheck_key(request, session, credentials)
            service(request).recheck(session, tenant_id)
    except Exception as exc:  # the checks run again, in the request path, when they expire
        log.warning("recheck_failed", tenant_id=tenant_id, error=str(exc))


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
    cache = _cache(request)
    with session_scope(request.app.state.session_factory) as session:
        principal = get_principal(request, session, credentials)
        if entry is None:
            stamp = service(request).answer_stamp(session, principal.tenant_id) if cache.enabled else None
            entry = UserEntry(None, None)
            if stamp is not None:
                variant = answer_variant(stamp, params, explain, llm)
                entry = cache.lookup_user(principal.tenant_id, user_id, variant)
                if entry.value is not None:
                    return Response(entry.value, media_type="application/json")
        user = find_user(session, principal.tenant_id, user_id)
        llm_client = request.app.state.llm if llm and llm_allowed(session, principal.tenant_id) else None
        served, ranked_by = personal_recommendations(
            service(request),
            llm_client,
            request.app.state.settings,
            session,
            principal.tenant_id,
            user,
            params,
            explain,
        )
        if served is None:
            raise _no_catalog()
        out = _respond(served, user_id, explain)
    out.ranked_by = ranked_by
    response = _json(out)
    if llm_client is None or ranked_by == ENGINE_AND_LLM:  # an LLM fallback is not worth keeping
        cache.store_user(entry, response.body)
    return response


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
    found = dict(
        session.execute(
            select(Item.external_id, Item.id).where(
                Item.tenant_id == principal.tenant_id, Item.external_id.in_(body.item_ids)
            )
        ).all()
    )
    missing = [item_id for item_id in body.item_ids if item_id not in found]
    if missing:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"item_ids: {unknown_many('item', missing)}")
    now = time.time()
    pks = np.array([found[item_id] for item_id in body.item_ids], dtype=np.int64)
    events = EventArrays(
        user=np.zeros(len(pks), dtype=np.int64),
        item=pks,
        type=np.array(["like"] * len(pks), dtype=object),
        value=np.full(len(pks), np.nan),
        timestamp=np.full(len(pks), now),
    )
    reader = Reader(body.lexile, body.guided_reading_level, body.grade, body.interests, level=body.level)
    served = service(request).for_reader(session, principal.tenant_id, reader, events, params)
    if served is None:
        raise _no_catalog()
    return _respond(served, None, query.explain)


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
    compute = partial(similar_answer, item_id, request, session, principal, n, explain)
    return await on_ranking_thread(request, compute)


def similar_answer(
    item_id: str, request: Request, session: Session, principal: Principal, n: int, explain: bool = True
) -> Response:
    """What ``GET /v1/items/{id}/similar`` answers, cached; the dashboard calls it from its own worker
    threads, the endpoint from a ranking thread."""
    cache = _cache(request)
    stamp = service(request).answer_stamp(session, principal.tenant_id) if cache.enabled else None
    variant = f"{stamp}|{item_id}|{n}|{explain}"
    if stamp is not None and (cached := cache.get("similar", principal.tenant_id, variant)) is not None:
        return Response(cached, media_type="application/json")
    item = find_item(session, principal.tenant_id, item_id)
    served = service(request).similar_items(session, principal.tenant_id, item, n)
    if served is None:
        raise _no_catalog()
    listed = _respond(served, None, explain)
    out = SimilarOut(item_id=item_id, model_version=listed.model_version, data=listed.data)
    response = Response(out.model_dump_json().encode(), media_type="application/json")
    if stamp is not None:
        cache.put("similar", principal.tenant_id, variant, response.body)
    return response


@router.get("/models", response_model=list[ModelVersionOut], summary="Trained model versions, newest first")
def list_models(session: SessionDep, principal: ReaderDep) -> list[ModelVersionOut]:
    """A training in progress (or one that failed since the newest version) comes first, with its
    progress or error."""
    rows = list(
        session.scalars(
            select(ModelVersion)
            .where(ModelVersion.tenant_id == principal.tenant_id)
            .order_by(ModelVersion.version.desc())
        )
    )
    versions = [ModelVersionOut.model_validate(row, from_attributes=True) for row in rows]
    newest = rows[0] if rows else None
    run = unfinished_run(
        session, RETRAIN, principal.tenant_id, newest.created_at if newest is not None else None
    )
    if run is None:
        return versions
    return [_training_row(run, (newest.version if newest is not None else 0) + 1), *versions]


def _training_row(run: JobRun, version: int) -> ModelVersionOut:
    finished = run.finished_at or datetime.now(UTC)
    return ModelVersionOut(
        version=version,
        status="training" if run.status == "running" else run.status,
        created_at=run.started_at,
        params={"triggered_by": run.triggered_by},
        metrics={},
        n_users=0,
        n_items=0,
        n_interactions=0,
        training_seconds=round((finished - run.started_at).total_seconds(), 3),
        progress=TrainingProgress.model_validate(run.progress) if run.progress else None,
        error=run.error,
    )


@router.post(
    "/models/train", response_model=ModelVersionOut, status_code=201, summary="Train a new version now"
)
def train_model(request: Request, principal: AdminDep, after: BackgroundTasks) -> ModelVersionOut:
    """With ``NEXTREAD_PRECOMPUTE_AFTER_TRAIN`` this process then writes every reader's list for the
    new version into the shared cache, after the response (it takes minutes for a large school)."""
    version = service(request).registry.train(principal.tenant_id)
    if request.app.state.settings.cache.precompute_after_train:
        after.add_task(_precompute, request.app.state, principal.tenant_id)
    return ModelVersionOut.model_validate(version, from_attributes=True)


def _precompute(state: Any, tenant_id: int) -> None:
    from nextread.services.precompute import log_precomputed_after_train, precompute_recommendations

    report = precompute_recommendations(state.session_factory, state.recommendations, state.cache, tenant_id)
    log_precomputed_after_train(tenant_id, report)


class PopularItem(BaseModel):
    id: str
    title: str
    authors: list[str]
    cover_url: str | None
    readers: int = Field(description="Distinct readers with a positive interaction (checkout, finished…).")


class PopularOut(BaseModel):
    window_days: int | None = Field(description="Only the last N days counted; null for all time.")
    data: list[PopularItem] = Field(description="Most readers first.")


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
    if level_min is not None and level_max is not None and level_min > level_max:
        raise HTTPException(422, "level_min: must not be above level_max")
    positive = [
        name
        for name, (_, is_positive) in interaction_weights(session, principal.tenant_id).items()
        if is_positive
    ]
    readers = func.count(func.distinct(Interaction.user_id)).label("readers")
    statement = select(Interaction.item_id, readers).where(
        Interaction.tenant_id == principal.tenant_id, Interaction.type.in_(positive)
    )
    if window_days is not None:
        statement = statement.where(
            Interaction.occurred_at >= datetime.now(UTC) - timedelta(days=window_days)
        )
    counts = session.execute(
        statement.group_by(Interaction.item_id).order_by(readers.desc(), Interaction.item_id)
    ).all()
    items = {
        item.id: item
        for item in session.scalars(select(Item).where(Item.id.in_([row.item_id for row in counts])))
    }
    data = []
    for row in counts:
        item = items[row.item_id]
        if (level_min is not None or level_max is not None) and not _in_range(item, level_min, level_max):
            continue
        data.append(
            PopularItem(
                id=item.external_id,
                title=item.title,
                authors=item.authors,
                cover_url=item.cover_url,
                readers=row.readers,
            )
        )
        if len(data) == n:
            break
    return PopularOut(window_days=window_days, data=data)


def _in_range(item: Item, level_min: float | None, level_max: float | None) -> bool:
    level = item_level(
        item.lexile,
        item.guided_reading_level,
        item.grade_min,
        item.grade_max,
        item.age_min,
        item.age_max,
        item.estimated_level,
    )
    if level is None:
        return False
    return (level_min is None or level >= level_min) and (level_max is None or level <= level_max)
