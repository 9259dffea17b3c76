"""Hybrid catalog search: full-text and semantic rankings fused by reciprocal rank fusion, then filtered.

Full text finds exact words (a title, an author, "dinosaur"); the embedding search finds meaning
("books about feeling left out" → a blurb about loneliness). Reciprocal rank fusion adds
``1 / (RRF_K + rank)`` from each list, so it needs no score calibration between BM25 and cosines and
a book found by both rises to the top.

The semantic side reuses the serving model's item embeddings and faiss index (the recommendation
service's catalog), so the catalog is embedded once, at training. Items added since the last training
are found by full text only until the next one. Filters are evaluated on the served catalog arrays (the
same levels, tags and languages the recommender uses); with filters on, the semantic side scans the
filtered vectors exactly rather than post-filtering a faiss top-k that the filters might empty.

``search_catalog`` is what the REST route and the MCP tool both call.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import suppress
from functools import partial
from typing import Any, Literal, NamedTuple

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from nextread.embed.openai import EmbedderError
from nextread.engine import half_vectors
from nextread.engine.pipeline import Catalog
from nextread.levels.convert import LevelView, Scale, show_level
from nextread.observability import get_logger
from nextread.search.fulltext import fulltext_ranking, query_terms
from nextread.search.languages import language_key, parse_language
from nextread.search.query import ParsedQuery, QueryParser, parse_query
from nextread.services.recommend import RecommendationService
from nextread.store.models import Item

log = get_logger("nextread.search")
_EMBEDDINGS = ThreadPoolExecutor(max_workers=4, thread_name_prefix="search-embedding")

RRF_K = 60
# How deep each ranking is read before fusion: deeper with filters, which discard part of it.
DEPTH = 100
FILTERED_DEPTH = 1000
# How far a book's level may sit from a grade and still suit it: half a grade easier, one and a half
# harder (the recommender's just-right + stretch band around that grade's mid-year reader).
GRADE_BELOW, GRADE_ABOVE = 0.5, 1.5
# Below this cosine an all-MiniLM-L6-v2 neighbour is noise (unrelated blurbs score 0.0–0.2): it would
# only pad the results with books that share nothing with the query.
SEMANTIC_MIN_SIMILARITY = 0.25
# Books found by meaning alone (none of the query's words) are listed only when the catalog has a
# book clearly about the query (a cosine of at least this), as that book's near neighbours (at least
# this share of its cosine). Otherwise "dinosaur" lists the dragon books (cosines 0.29-0.30 on the test
# catalog), and "space books in Spanish" whatever Spanish book is least unlike space.
SEMANTIC_CLEAR_MATCH = 0.35
SEMANTIC_ONLY_SHARE_OF_BEST = 0.6
# With filters, books found by meaning alone are listed only when the best book the filters kept has
# at least this share of the whole catalog's best cosine: otherwise none of them is about the query.
FILTERED_SHARE_OF_CATALOG_BEST = 0.75

Mode = Literal["hybrid", "text", "semantic"]
MatchedBy = Literal["text", "semantic", "both", "filters"]


class SearchFilters(BaseModel):
    """Filters on the grade-equivalent scale (K = 0), both level ends included (``level_range`` reads
    "grade 1 to 2" as 1.0–2.99). Languages are kept as ISO 639 codes, however they were asked for.
    Explicit filters win over phrases parsed out of the query text."""

    model_config = ConfigDict(extra="forbid")

    level_min: float | None = Field(None, ge=-1, le=13)
    level_max: float | None = Field(None, ge=-1, le=13)
    grade: int | None = Field(None, ge=-1, le=12)
    tags: list[str] = Field(default_factory=list)
    language: list[str] = Field(default_factory=list)
    available: bool | None = None

    @field_validator("language")
    @classmethod
    def _language_codes(cls, languages: list[str]) -> list[str]:
        return list(dict.fromkeys(parse_language(language) for language in languages))

    @model_validator(mode="after")
    def _ordered(self) -> SearchFilters:
        if self.level_min is not None and self.level_max is not None and self.level_min > self.level_max:
            raise ValueError("level_min must not be above level_max")
        return self

    @property
    def active(self) -> bool:
        return any(
            value not in (None, [])
            for value in (
                self.level_min,
                self.level_max,
                self.grade,
                self.tags,
                self.language,
                self.available,
            )
        )

    def merged_with(self, parsed: ParsedQuery) -> SearchFilters:
        return SearchFilters(
            level_min=self.level_min if self.level_min is not None else parsed.level_min,
            level_max=self.level_max if self.level_max is not None else parsed.level_max,
            grade=self.grade if self.grade is not None else parsed.grade,
            tags=self.tags or parsed.tags,
            language=self.language or _languages([parsed.language]),
            available=self.available if self.available is not None else parsed.available,
        )


def _languages(asked: list[str | None]) -> list[str]:
    """What a parser (perhaps an LLM) read as languages, less what is not one."""
    known = []
    for language in asked:
        with suppress(ValueError):
            known.append(parse_language(language or ""))
    return known


class SearchHit(BaseModel):
    id: str
    title: str
    authors: list[str]
    tags: list[str]
    language: str | None
    cover_url: str | None
    available_copies: int | None
    level: float | None = Field(description="Grade-equivalent level (K = 0): given, else estimated.")
    level_shown: LevelView | None = Field(description="The level in the school's scale.")
    level_estimated: bool = Field(description="True when the level is nextread's estimate, not given.")
    matched_by: MatchedBy
    text_rank: int | None
    semantic_rank: int | None
    score: float


class SearchResults(BaseModel):
    query: str
    text: str = Field(description="What was searched for once filter phrases were taken out.")
    understood: list[str]
    filters: SearchFilters
    mode: Mode
    data: list[SearchHit]
    total: int = Field(
        description="How many books match in all (every page); `offset` + `limit` page through them."
    )
    offset: int = Field(description="Where this page starts among all the matches.")
    notes: list[str] = Field(
        default_factory=list, description="Why the results are empty or fewer than expected, when known."
    )
    without_level_filter: list[SearchHit] = Field(
        default_factory=list,
        description="When the level or grade filter removed every match: the matches without it.",
    )
    took_ms: float
    semantic: bool = Field(
        description="Whether books were also matched by meaning. False in `text` mode, for a query "
        "without topic words (a browse) and while the catalog's first model trains in the background "
        "(`GET /v1/models`): then only full-text matches are shown."
    )


def search_catalog(
    session: Session,
    tenant_id: int,
    query: str,
    filters: SearchFilters | None = None,
    limit: int = 20,
    *,
    offset: int = 0,
    service: RecommendationService | None = None,
    parser: QueryParser = parse_query,
    mode: Mode = "hybrid",
    scale: Scale = "grade",
) -> SearchResults:
    """Search one tenant's catalog. ``service`` supplies the embeddings (without it, or with no embedder,
    the search is full-text only); ``parser`` turns the query into text and filters."""
    started = time.perf_counter()
    parsed = parser(query)
    effective = (filters or SearchFilters()).merged_with(parsed)
    # "books in spanish" leaves "books": no topic words, so it is a browse of the filtered catalog.
    has_topic = bool(query_terms(parsed.text))
    embedding = None
    if has_topic and mode in ("hybrid", "semantic") and service is not None and service.embed_text:
        # The query embedding (the slowest step) runs while the database answers the full-text query.
        embedding = _EMBEDDINGS.submit(service.embed_text, parsed.text)
    view = _catalog_view(session, tenant_id, service)
    search = partial(_matches, session, tenant_id, parsed.text, has_topic, mode, view, embedding)
    ranked = search(effective)
    hits = _hits(session, tenant_id, ranked.page(offset, limit), ranked, scale)
    notes: list[str] = []
    without_level: list[SearchHit] = []
    if not ranked.fused and _has_level_filter(effective):
        unlevelled = search(
            effective.model_copy(update={"level_min": None, "level_max": None, "grade": None})
        )
        without_level = _hits(session, tenant_id, unlevelled.page(0, limit), unlevelled, scale)
        if without_level:
            notes.append(_level_filter_note(session, tenant_id, effective, len(unlevelled.fused)))
    if not ranked.fused and not without_level:
        notes.append(
            f"no book matches {parsed.text or query!r}" + (" with these filters" if effective.active else "")
        )
    return SearchResults(
        query=query,
        text=parsed.text,
        understood=parsed.understood,
        filters=effective,
        mode=mode,
        data=hits,
        total=len(ranked.fused),
        offset=offset,
        notes=notes,
        without_level_filter=without_level,
        took_ms=round((time.perf_counter() - started) * 1000, 2),
        semantic=embedding is not None and view is not None and view.index is not None,
    )


class _Ranked(NamedTuple):
    """Every match in order (with its fused score), and each side's ranking it came from."""

    fused: list[tuple[int, float]]
    text_ranked: np.ndarray
    semantic_ranked: np.ndarray

    def page(self, offset: int, limit: int) -> list[tuple[int, float]]:
        return self.fused[offset : offset + limit]


def _matches(
    session: Session,
    tenant_id: int,
    text: str,
    has_topic: bool,
    mode: Mode,
    view: _CatalogView | None,
    embedding: Future[np.ndarray] | None,
    filters: SearchFilters,
) -> _Ranked:
    text_ranked = semantic_ranked = np.zeros(0, dtype=np.int64)
    if has_topic and mode in ("hybrid", "text"):
        text_ranked = _text_ranking(session, tenant_id, text, filters, view)
    if embedding is not None and view is not None:
        semantic_ranked = _clearly_about(*_semantic_ranking(view, embedding, filters), text_ranked)
    fused = _fuse(text_ranked, semantic_ranked) if has_topic else _browse(session, tenant_id, filters, view)
    return _Ranked(fused, text_ranked, semantic_ranked)


def _clearly_about(
    ranked: np.ndarray, similarity: np.ndarray, best_in_catalog: float, text_ranked: np.ndarray
) -> np.ndarray:
    """The semantic ranking without the books it alone found that are only loosely like the query.
    With filters, the best book they kept must also come near the best of the whole catalog: a query
    that says "books" lifts every blurb's cosine, so "space books" in Spanish found the Spanish
    joke books at 0.38 while the space books (in English) stood at 0.58."""
    in_text = np.isin(ranked, text_ranked)
    best = float(similarity.max()) if len(similarity) else 0.0
    if best < SEMANTIC_CLEAR_MATCH or best < FILTERED_SHARE_OF_CATALOG_BEST * best_in_catalog:
        return ranked[in_text]
    return ranked[in_text | (similarity >= SEMANTIC_ONLY_SHARE_OF_BEST * best)]


def _has_level_filter(filters: SearchFilters) -> bool:
    return any(value is not None for value in (filters.level_min, filters.level_max, filters.grade))


def _level_filter_note(session: Session, tenant_id: int, filters: SearchFilters, found: int) -> str:
    """Says which filter emptied the results, and when no book has a level at all, that this is why."""
    name = "grade" if filters.grade is not None else "level"
    levelled = session.scalar(
        select(func.count()).where(
            Item.tenant_id == tenant_id,
            or_(
                Item.lexile.is_not(None),
                Item.guided_reading_level.is_not(None),
                Item.grade_min.is_not(None),
                Item.grade_max.is_not(None),
                Item.age_min.is_not(None),
                Item.age_max.is_not(None),
                Item.estimated_level.is_not(None),
            ),
        )
    )
    why = (
        "no book in the catalog has a reading level yet" if not levelled else "none of them is at that level"
    )
    return (
        f"the {name} filter removed every match: {found} book(s) match without it, but {why}; "
        "they are listed in `without_level_filter`"
    )


class _CatalogView:
    """The served catalog's arrays with the item primary key of each row and its embedding function."""

    def __init__(self, service: RecommendationService, catalog: Catalog, item_pks: np.ndarray, index: Any):
        self.service = service
        self.catalog = catalog
        self.item_pks = item_pks
        self.row_of = {int(pk): row for row, pk in enumerate(item_pks.tolist())}
        self.index = index


def _catalog_view(
    session: Session, tenant_id: int, service: RecommendationService | None
) -> _CatalogView | None:
    if service is None:
        return None
    artifact = service.registry.ensure(tenant_id)
    if artifact is None:
        return None
    served = service.catalog(session, tenant_id, artifact)
    index = artifact.index() if service.embed_text is not None else None
    return _CatalogView(service, served.catalog, np.asarray(artifact.item_pks, dtype=np.int64), index)


def filter_mask(catalog: Catalog, filters: SearchFilters) -> np.ndarray:
    """Which catalog rows pass the filters; an unknown level never passes a level or grade filter."""
    mask = np.ones(catalog.n_items, dtype=bool) if catalog.active is None else catalog.active.copy()
    levels = catalog.levels
    with np.errstate(invalid="ignore"):
        if filters.level_min is not None:
            mask &= levels >= filters.level_min
        if filters.level_max is not None:
            mask &= levels <= filters.level_max
        if filters.grade is not None:
            grade = filters.grade + 0.5
            by_level = (levels >= grade - GRADE_BELOW) & (levels <= grade + GRADE_ABOVE)
            by_range = (catalog.grade_min <= filters.grade) & (catalog.grade_max >= filters.grade)
            mask &= by_level | by_range
        if filters.available:
            mask &= np.nan_to_num(catalog.available_copies, nan=0.0) > 0
    if filters.tags:
        wanted = frozenset(tag.strip().casefold() for tag in filters.tags)
        mask &= np.array([bool(tags & wanted) for tags in catalog.tags], dtype=bool)
    if filters.language:
        mask &= np.isin(catalog.language_keys, filters.language)
    return mask


def _text_ranking(
    session: Session, tenant_id: int, text: str, filters: SearchFilters, view: _CatalogView | None
) -> np.ndarray:
    depth = FILTERED_DEPTH if filters.active else DEPTH
    pks = np.array(fulltext_ranking(session, tenant_id, text, depth), dtype=np.int64)
    if not filters.active or not len(pks):
        return pks
    return pks[_passes(session, tenant_id, pks, filters, view)]


def _passes(
    session: Session, tenant_id: int, pks: np.ndarray, filters: SearchFilters, view: _CatalogView | None
) -> np.ndarray:
    """The filter over any item keys: served-catalog rows from its arrays, the rest (items added since
    training, or no model at all) from their stored rows through the same code."""
    keep = np.zeros(len(pks), dtype=bool)
    rows = np.array([view.row_of.get(int(pk), -1) for pk in pks]) if view else np.full(len(pks), -1)
    served = rows >= 0
    if served.any() and view is not None:
        keep[served] = filter_mask(view.catalog, filters)[rows[served]]
    if (~served).any():
        keep[~served] = filter_mask(_rows_catalog(session, tenant_id, pks[~served]), filters)
    return keep


def _rows_catalog(session: Session, tenant_id: int, pks: np.ndarray) -> Catalog:
    items = {
        item.id: item
        for item in session.scalars(
            select(Item).where(Item.tenant_id == tenant_id, Item.id.in_(pks.tolist()))
        )
    }
    rows: list[Mapping[str, Any]] = [
        {column.name: getattr(items[pk], column.name) for column in Item.__table__.c} for pk in pks.tolist()
    ]
    return Catalog.from_items(rows, key_language=language_key)


def _semantic_ranking(
    view: _CatalogView, embedding: Future[np.ndarray], filters: SearchFilters
) -> tuple[np.ndarray, np.ndarray, float]:
    """The books like the query, best first, with their cosine similarity, and the best cosine of
    the whole catalog (filters aside)."""
    nothing = (np.zeros(0, dtype=np.int64), np.zeros(0), 0.0)
    if view.index is None:
        return nothing
    try:
        vector = np.asarray(embedding.result(), dtype=np.float32)
    except EmbedderError as exc:
        # A remote embedder being down must not take search down: full text still answers.
        log.warning("search_semantic_unavailable", error=str(exc))
        return nothing
    if not filters.active and view.catalog.active is not None and view.catalog.active.all():
        rows, scores = view.index.search(vector, DEPTH)
        kept = scores >= SEMANTIC_MIN_SIMILARITY
        best = float(scores.max()) if len(scores) else 0.0
        return view.item_pks[rows[kept]], np.asarray(scores[kept], dtype=np.float64), best
    allowed = np.flatnonzero(filter_mask(view.catalog, filters))
    if not len(allowed) or view.catalog.embeddings is None:
        return nothing
    every_score = half_vectors.dot(view.catalog.embeddings, vector)
    active = view.catalog.active
    in_catalog = every_score[active] if active is not None and active.any() else every_score
    best_in_catalog = float(in_catalog.max())
    scores = every_score[allowed]
    depth = min(DEPTH, len(allowed))
    top = np.argpartition(-scores, depth - 1)[:depth]
    top = top[np.argsort(-scores[top], kind="stable")]
    top = top[scores[top] >= SEMANTIC_MIN_SIMILARITY]
    return view.item_pks[allowed[top]], np.asarray(scores[top], dtype=np.float64), best_in_catalog


def _fuse(text_ranked: np.ndarray, semantic_ranked: np.ndarray) -> list[tuple[int, float]]:
    """Reciprocal rank fusion; ties go to the better full-text rank, then the smaller key."""
    scores: dict[int, float] = {}
    for ranking in (text_ranked, semantic_ranked):
        for rank, pk in enumerate(ranking.tolist(), start=1):
            scores[pk] = scores.get(pk, 0.0) + 1.0 / (RRF_K + rank)
    text_rank = {pk: rank for rank, pk in enumerate(text_ranked.tolist())}
    order = sorted(scores, key=lambda pk: (-scores[pk], text_rank.get(pk, len(text_rank)), pk))
    return [(pk, scores[pk]) for pk in order]


def _browse(
    session: Session, tenant_id: int, filters: SearchFilters, view: _CatalogView | None
) -> list[tuple[int, float]]:
    """A query made only of filters ("for a 2nd grader"), or none, lists every matching book, most
    read first (in the order they were added before the first model has counted readers)."""
    if view is None:
        pks = np.array(
            session.scalars(select(Item.id).where(Item.tenant_id == tenant_id).order_by(Item.id)).all(),
            dtype=np.int64,
        )
        pks = pks[_passes(session, tenant_id, pks, filters, None)] if filters.active and len(pks) else pks
        return [(int(pk), 0.0) for pk in pks]
    allowed = np.flatnonzero(filter_mask(view.catalog, filters))
    popularity = view.catalog.popularity
    weights = popularity[allowed] if popularity is not None else np.zeros(len(allowed))
    order = allowed[np.argsort(-weights, kind="stable")]
    return [
        (int(view.item_pks[row]), float(popularity[row]) if popularity is not None else 0.0) for row in order
    ]


def _hits(
    session: Session, tenant_id: int, fused: Sequence[tuple[int, float]], ranked: _Ranked, scale: Scale
) -> list[SearchHit]:
    pks = [pk for pk, _ in fused]
    items = {
        item.id: item
        for item in session.scalars(select(Item).where(Item.tenant_id == tenant_id, Item.id.in_(pks)))
    }
    text_rank = {pk: rank for rank, pk in enumerate(ranked.text_ranked.tolist(), start=1)}
    semantic_rank = {pk: rank for rank, pk in enumerate(ranked.semantic_ranked.tolist(), start=1)}
    catalog = Catalog.from_items(
        [
            {column.name: getattr(items[pk], column.name) for column in Item.__table__.c}
            for pk in pks
            if pk in items
        ],
        key_language=language_key,
    )
    hits = []
    for row, (pk, score) in enumerate((pk, score) for pk, score in fused if pk in items):
        item = items[pk]
        level = float(catalog.levels[row])
        known = bool(np.isfinite(level))
        in_text, in_semantic = pk in text_rank, pk in semantic_rank
        hits.append(
            SearchHit(
                id=item.external_id,
                title=item.title,
                authors=item.authors,
                tags=item.tags,
                language=item.language,
                cover_url=item.cover_url,
                available_copies=item.available_copies,
                level=round(level, 2) if known else None,
                level_shown=show_level(level, scale) if known else None,
                level_estimated=known and _is_estimated(item),
                matched_by=_matched_by(in_text, in_semantic),
                text_rank=text_rank.get(pk),
                semantic_rank=semantic_rank.get(pk),
                score=round(score, 6),
            )
        )
    return hits


def _matched_by(in_text: bool, in_semantic: bool) -> MatchedBy:
    """Why a book is in the results: its words, its meaning, both, or (no query text) only the filters."""
    if in_text and in_semantic:
        return "both"
    if in_text or in_semantic:
        return "text" if in_text else "semantic"
    return "filters"


def _is_estimated(item: Item) -> bool:
    """The level shown came from the estimate: nothing given ranks above it (see ``item_level``)."""
    return item.lexile is None and not item.guided_reading_level and item.estimated_level is not None
