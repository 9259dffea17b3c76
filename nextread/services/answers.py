"""Recommendation answers as every adapter gives them: a reader's list (cached as the JSON REST sends),
an anonymous reader's list, why one book is or is not on a reader's list, books like a book, the most
read and the trending books, and the model versions.

A cached answer is stored under :func:`answer_variant`: everything it was computed from, in a canonical
form, so a request with the defaults, one spelling them out and a precomputed list share one entry.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
from pydantic import BaseModel, Field
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from nextread.cache import ServingCache, UserEntry
from nextread.config import Settings
from nextread.engine.hybrid import ReadingBand, Weights
from nextread.engine.pipeline import Recommendation
from nextread.engine.shaping import CandidateFilter
from nextread.jobs.runner import unfinished_run
from nextread.levels import item_level
from nextread.llm.client import LLMClient
from nextread.services.access import Principal, require_writer
from nextread.services.errors import InvalidError, NoCatalogError
from nextread.services.llm_recommend import ENGINE_AND_LLM, llm_allowed, personal_recommendations
from nextread.services.recommend import ItemCard, Reader, RecommendationRequest, RecommendationService, Served
from nextread.services.records import find_item, find_user
from nextread.services.scheduler import RETRAIN
from nextread.store.models import Interaction, Item, ItemDailyCount, JobRun, ModelVersion
from nextread.store.reading_data import EventArrays
from nextread.store.tenants import interaction_weights
from nextread.store.unknown import UnknownIdError, unknown_many


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


class SimilarOut(BaseModel):
    item_id: str = Field(description="The book the others are like.")
    model_version: int
    data: list[RecommendedItem]


class TrainingProgress(BaseModel):
    stage: str = Field(description="`load`, `fit`, `embed` or `register`.")
    done: int = Field(description="Books embedded so far in the `embed` stage.")
    total: int = Field(description="Books to embed in the `embed` stage (only new or changed ones).")


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


class PopularItem(BaseModel):
    id: str
    title: str
    authors: list[str]
    cover_url: str | None
    readers: int = Field(description="Distinct readers with a positive interaction (checkout, finished…).")


class PopularOut(BaseModel):
    window_days: int | None = Field(description="Only the last N days counted; null for all time.")
    data: list[PopularItem] = Field(description="Most readers first.")


class TrendingItem(BaseModel):
    id: str
    title: str
    authors: list[str]
    cover_url: str | None
    positive: int = Field(description="Positive interactions (checkout, finished, like…) in the window.")
    events: int = Field(description="All interactions in the window, positive or not.")


class TrendingOut(BaseModel):
    days: int = Field(description="The window, in UTC days, today included.")
    data: list[TrendingItem] = Field(description="Most positive interactions first.")


class RecommendationExplanation(BaseModel):
    student_id: str
    book_id: str
    title: str
    rank: int | None = Field(description="Rank among this student's candidates (1 = best); None if excluded.")
    candidates: int = Field(description="How many books the student could be recommended.")
    score: float | None
    explanation: str | None
    components: dict[str, float]
    excluded_because: str | None = Field(description="The rule that keeps the book off the list, if any.")


def default_request(n: int = 10, weights: Weights | None = None) -> RecommendationRequest:
    """The request of a reader's list with every option at its default (the REST defaults)."""
    return RecommendationRequest(n=n, weights=weights, band=ReadingBand(), filters=CandidateFilter())


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


def answer_json(out: BaseModel) -> bytes:
    """The bytes REST sends and the cache keeps."""
    return out.model_dump_json().encode()


def listed(served: Served, user_id: str | None, explain: bool) -> RecommendationsOut:
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


def cached_reader_answer(
    service: RecommendationService,
    cache: ServingCache,
    session: Session,
    tenant_id: int,
    user_id: str,
    params: RecommendationRequest,
    explain: bool,
    llm: bool,
) -> tuple[bytes | None, UserEntry]:
    """The reader's cached answer to this request, if there is one, and where to store it otherwise."""
    stamp = service.answer_stamp(session, tenant_id) if cache.enabled else None
    if stamp is None:
        return None, UserEntry(None, None)
    entry = cache.lookup_user(tenant_id, user_id, answer_variant(stamp, params, explain, llm))
    return entry.value, entry


def reader_answer(
    service: RecommendationService,
    cache: ServingCache,
    llm: LLMClient | None,
    settings: Settings,
    session: Session,
    tenant_id: int,
    user_id: str,
    params: RecommendationRequest,
    explain: bool,
    use_llm: bool,
    entry: UserEntry,
) -> bytes:
    """A reader's list as JSON, computed and stored under ``entry`` (a miss of
    :func:`cached_reader_answer`). An LLM is asked only when ``use_llm`` and the school allows it; a
    list the LLM failed to improve is not worth keeping."""
    user = find_user(session, tenant_id, user_id)
    llm_client = llm if use_llm and llm_allowed(session, tenant_id) else None
    served, ranked_by = personal_recommendations(
        service, llm_client, settings, session, tenant_id, user, params, explain
    )
    if served is None:
        raise NoCatalogError()
    out = listed(served, user_id, explain)
    out.ranked_by = ranked_by
    body = answer_json(out)
    if llm_client is None or ranked_by == ENGINE_AND_LLM:
        cache.store_user(entry, body)
    return body


def reader_recommendations(
    service: RecommendationService,
    llm: LLMClient | None,
    settings: Settings,
    session: Session,
    tenant_id: int,
    user_id: str,
    params: RecommendationRequest,
    use_llm: bool = False,
) -> RecommendationsOut:
    """A reader's list computed fresh, never from the cache (the dashboard's sliders, MCP)."""
    user = find_user(session, tenant_id, user_id)
    llm_client = llm if use_llm and llm_allowed(session, tenant_id) else None
    served, ranked_by = personal_recommendations(
        service, llm_client, settings, session, tenant_id, user, params
    )
    if served is None:
        raise NoCatalogError()
    out = listed(served, user_id, explain=True)
    out.ranked_by = ranked_by
    return out


def anonymous_recommendations(
    service: RecommendationService,
    session: Session,
    tenant_id: int,
    item_ids: list[str],
    reader: Reader,
    params: RecommendationRequest,
    explain: bool,
) -> RecommendationsOut:
    """An anonymous reader (a session, a kiosk, a new student): the books they touched count as liked
    now, and ``reader`` says what is known of them."""
    found = dict(
        session.execute(
            select(Item.external_id, Item.id).where(
                Item.tenant_id == tenant_id, Item.external_id.in_(item_ids)
            )
        ).all()
    )
    missing = [item_id for item_id in item_ids if item_id not in found]
    if missing:
        raise UnknownIdError("item_ids", unknown_many("item", missing))
    now = time.time()
    pks = np.array([found[item_id] for item_id in item_ids], dtype=np.int64)
    events = EventArrays(
        user=np.zeros(len(pks), dtype=np.int64),
        item=pks,
        type=np.array(["like"] * len(pks), dtype=object),
        value=np.full(len(pks), np.nan),
        timestamp=np.full(len(pks), now),
    )
    served = service.for_reader(session, tenant_id, reader, events, params)
    if served is None:
        raise NoCatalogError()
    return listed(served, None, explain)


def explain_for_reader(
    service: RecommendationService, session: Session, tenant_id: int, user_id: str, item_id: str
) -> RecommendationExplanation:
    """Why a book is (or would be) on a reader's default list: its rank, the score's parts and the
    sentence the list shows; for a book a rule keeps off the list, the rule."""
    user = find_user(session, tenant_id, user_id)
    item = find_item(session, tenant_id, item_id)
    found = service.explain_item(session, tenant_id, user, item, RecommendationRequest())
    if found is None:
        raise NoCatalogError()
    rec = found.recommendation
    return RecommendationExplanation(
        student_id=user_id,
        book_id=item_id,
        title=item.title,
        rank=found.rank,
        candidates=found.candidates,
        score=None if rec is None else round(rec.score, 6),
        explanation=None if rec is None else rec.explanation,
        components={} if rec is None else {k: round(v, 4) for k, v in rec.components.items()},
        excluded_because=found.excluded_because,
    )


def similar_items(
    service: RecommendationService,
    session: Session,
    tenant_id: int,
    item_id: str,
    n: int,
    explain: bool = True,
) -> SimilarOut:
    """Books like this one: read by the same readers or close in subject."""
    item = find_item(session, tenant_id, item_id)
    served = service.similar_items(session, tenant_id, item, n)
    if served is None:
        raise NoCatalogError()
    books = listed(served, None, explain)
    return SimilarOut(item_id=item_id, model_version=books.model_version, data=books.data)


def similar_items_json(
    service: RecommendationService,
    cache: ServingCache,
    session: Session,
    tenant_id: int,
    item_id: str,
    n: int,
    explain: bool = True,
) -> bytes:
    """:func:`similar_items` as JSON, from the shared cache while the model and catalog are the same."""
    stamp = service.answer_stamp(session, tenant_id) if cache.enabled else None
    variant = f"{stamp}|{item_id}|{n}|{explain}"
    if stamp is not None and (cached := cache.get("similar", tenant_id, variant)) is not None:
        return cached
    body = answer_json(similar_items(service, session, tenant_id, item_id, n, explain))
    if stamp is not None:
        cache.put("similar", tenant_id, variant, body)
    return body


def model_versions(session: Session, tenant_id: int) -> list[ModelVersionOut]:
    """Newest first; a training in progress (or one that failed since the newest version) comes first,
    with its progress or error."""
    rows = list(
        session.scalars(
            select(ModelVersion)
            .where(ModelVersion.tenant_id == tenant_id)
            .order_by(ModelVersion.version.desc())
        )
    )
    versions = [ModelVersionOut.model_validate(row, from_attributes=True) for row in rows]
    newest = rows[0] if rows else None
    run = unfinished_run(session, RETRAIN, tenant_id, newest.created_at if newest is not None else None)
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


def train_model(service: RecommendationService, principal: Principal) -> ModelVersionOut:
    """Train a new version now; this process serves it at once (it commits its own transaction)."""
    require_writer(principal)
    version = service.registry.train(principal.tenant_id)
    return ModelVersionOut.model_validate(version, from_attributes=True)


def popular_items(
    session: Session,
    tenant_id: int,
    n: int = 10,
    window_days: int | None = None,
    level_min: float | None = None,
    level_max: float | None = None,
) -> PopularOut:
    """Distinct readers with a positive interaction (checkout, finished, good rating, like…) per item,
    in the last ``window_days`` (all time without), within a level range (grade units)."""
    if level_min is not None and level_max is not None and level_min > level_max:
        raise InvalidError("level_min", "must not be above level_max")
    positive = [
        name for name, (_, is_positive) in interaction_weights(session, tenant_id).items() if is_positive
    ]
    readers = func.count(func.distinct(Interaction.user_id)).label("readers")
    statement = select(Interaction.item_id, readers).where(
        Interaction.tenant_id == tenant_id, Interaction.type.in_(positive)
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


def trending_items(session: Session, tenant_id: int, n: int = 10, days: int = 7) -> TrendingOut:
    """Most positive interactions in the last ``days`` UTC days, from the small daily counters the
    event workers keep: cheap on any history size, and moving within a second of new interactions."""
    since = (datetime.now(UTC) - timedelta(days=days - 1)).date()
    positive = func.sum(ItemDailyCount.positive).label("positive")
    events = func.sum(ItemDailyCount.events).label("events")
    rows = session.execute(
        select(Item, positive, events)
        .join(ItemDailyCount, ItemDailyCount.item_id == Item.id)
        .where(ItemDailyCount.tenant_id == tenant_id, ItemDailyCount.day >= since)
        .group_by(Item.id)
        .having(func.sum(ItemDailyCount.positive) > 0)
        .order_by(positive.desc(), events.desc(), Item.id)
        .limit(n)
    ).all()
    data = [
        TrendingItem(
            id=item.external_id,
            title=item.title,
            authors=item.authors,
            cover_url=item.cover_url,
            positive=int(pos),
            events=int(count),
        )
        for item, pos, count in rows
    ]
    return TrendingOut(days=days, data=data)
