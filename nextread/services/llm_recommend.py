"""Personal recommendations with the optional LLM on top: the engine ranks, the LLM re-ranks the
engine's top ``NEXTREAD_LLM_CANDIDATES`` and rewrites their explanations; any failure leaves the
engine's answer untouched. Shared by the REST endpoint and the MCP tool."""

from __future__ import annotations

from dataclasses import replace

from sqlalchemy import select
from sqlalchemy.orm import Session

from nextread.config import Settings
from nextread.engine.hybrid import ReadingBand
from nextread.engine.pipeline import Recommendation
from nextread.levels import level_from
from nextread.llm.advisor import advise, blend
from nextread.llm.client import LLMClient
from nextread.llm.privacy import (
    ReaderFacts,
    book_payload,
    interest_tags,
    parse_fields,
    reasons,
    shared_reader,
    top_tags,
)
from nextread.services.recommend import RecommendationRequest, RecommendationService, Served
from nextread.store.models import Item, User
from nextread.store.reading_data import load_user_events
from nextread.store.tenant_settings import load_tenant_settings

ENGINE = "engine"
ENGINE_AND_LLM = "engine+llm"


def llm_allowed(session: Session, tenant_id: int) -> bool:
    """The school's own switch (dashboard settings, off by default): until a school turns it on, not
    even its students' aggregated preferences leave the server, whatever a request asks."""
    return load_tenant_settings(session, tenant_id).llm_enabled


def personal_recommendations(
    service: RecommendationService,
    llm: LLMClient | None,
    settings: Settings,
    session: Session,
    tenant_id: int,
    user: User,
    request: RecommendationRequest,
    explain: bool = True,
) -> tuple[Served | None, str]:
    """``(served, ranked_by)``: ``ranked_by`` is ``engine+llm`` only when the LLM's answer was used.
    ``explain=False`` asks the LLM for a ranking only."""
    if llm is None:
        return service.for_user(session, tenant_id, user, request), ENGINE
    pool = replace(request, n=max(request.n, settings.llm.llm_candidates))
    served = service.for_user(session, tenant_id, user, pool)
    if served is None or not served.results:
        return served, ENGINE
    refined = refine(session, llm, settings, served, user, request, explain)
    if refined is None:
        return replace(served, results=served.results[: request.n]), ENGINE
    return refined, ENGINE_AND_LLM


def refine(
    session: Session,
    llm: LLMClient,
    settings: Settings,
    served: Served,
    user: User,
    request: RecommendationRequest,
    explain: bool = True,
) -> Served | None:
    """The pool re-ranked and re-explained, cut to ``request.n``; ``None`` when the LLM gave nothing
    usable."""
    items = _items(session, served)
    keys = [f"b{position + 1}" for position in range(len(served.results))]
    weights = request.weights.model_dump() if request.weights else None
    candidates = [
        book_payload(
            key,
            title=item.title,
            authors=item.authors or [],
            tags=served.catalog.catalog.tags[rec.item_index],
            level=float(served.catalog.catalog.levels[rec.item_index]),
            series=item.series_name,
            description=item.description,
            engine_score=rec.score,
            reason_phrases=reasons(rec.components, weights),
        )
        for key, rec, item in zip(keys, served.results, items, strict=True)
    ]
    fields = parse_fields(settings.llm.llm_shared_fields)
    reader = shared_reader(reader_facts(session, served, user, request.band or ReadingBand(), fields), fields)
    advice = advise(llm, reader, candidates, explain=explain)
    if advice.ranking is None and not advice.explanations:
        return None
    results = served.results
    if advice.ranking is not None:
        order, final, llm_score = blend(
            [rec.score for rec in results], keys, advice.ranking, settings.llm.llm_weight
        )
        results = [
            Recommendation(
                results[i].item_index,
                float(final[i]),
                {**results[i].components, "llm": float(llm_score[i])},
                results[i].explanation,
            )
            for i in order
        ]
        keys = [keys[i] for i in order]
    results = [
        replace(rec, explanation=advice.explanations.get(key, rec.explanation))
        for rec, key in zip(results, keys, strict=True)
    ]
    return replace(served, results=results[: request.n])


def reader_facts(
    session: Session, served: Served, user: User, band: ReadingBand, fields: tuple[str, ...]
) -> ReaderFacts:
    """Aggregates of the reader's stored data; the interests text is only matched against catalog
    tags, and only when that field may be shared at all."""
    catalog = served.catalog.catalog
    events = load_user_events(session, served.artifact.tenant_id, [user.id])
    enjoyed = served.artifact.history_matrix(events, liked_only=True).indices
    level = level_from(lexile=user.lexile, guided_reading_level=user.guided_reading_level, grade=user.grade)
    abandoned = {int(pk) for pk, kind in zip(events.item, events.type, strict=True) if kind == "abandoned"}
    vocabulary = frozenset().union(*catalog.tags) if "interest_tags" in fields else frozenset()
    return ReaderFacts(
        reading_level=level,
        just_right_band=None if level is None else (level - band.stretch_below, level + band.stretch_above),
        grade=user.grade,
        top_tags=top_tags(catalog.tags[int(i)] for i in enjoyed),
        interest_tags=interest_tags(user.interests, vocabulary),
        books_enjoyed=len(enjoyed),
        books_abandoned=len(abandoned),
    )


def _items(session: Session, served: Served) -> list[Item]:
    pks = [int(served.artifact.item_pks[rec.item_index]) for rec in served.results]
    by_pk = {item.id: item for item in session.scalars(select(Item).where(Item.id.in_(pks)))}
    return [by_pk[pk] for pk in pks]
