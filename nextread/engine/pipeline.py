"""One request end to end over plain arrays: filter → components → hybrid score → series and diversity
shaping → page → explanations.

CF and semantic scores come in precomputed (``model.score(history_row)`` of whichever model is
serving, an embedding search), so this file does not care which model produced them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from typing import Any

import numpy as np

from nextread.engine import half_vectors
from nextread.engine.explain import ExplanationContext, explain
from nextread.engine.hybrid import (
    HybridScorer,
    ReadingBand,
    Weights,
    bayesian_rating,
    cold_start_weights,
    level_band_popularity,
    normalise_scores,
    profile_similarity,
    reading_fit,
    recency,
    social,
)
from nextread.engine.shaping import CandidateFilter, language_key, mmr, one_per_series, series_boost
from nextread.levels import item_levels
from nextread.levels.scale import KINDERGARTEN_AGE

# MMR re-ranks a fixed head of the ranking: diversity among books nobody scrolls to is wasted work, and
# a fixed pool makes greedy MMR give the same prefix for any page size, so pages never overlap.
MMR_POOL = 200


@dataclass
class Catalog:
    """Per-item arrays, aligned by item index. NaN (or "" for strings) means unknown. Tags are stored
    case-folded and languages as primary subtags so filters compare like with like; build one with
    :meth:`from_items` rather than by hand."""

    titles: list[str]
    levels: np.ndarray
    tags: list[frozenset[str]]
    language_keys: np.ndarray
    available_copies: np.ndarray
    series_names: np.ndarray
    series_positions: np.ndarray
    rating_average: np.ndarray
    rating_count: np.ndarray
    staff_pick: np.ndarray
    publication_year: np.ndarray
    grade_min: np.ndarray
    grade_max: np.ndarray
    added_year: np.ndarray | None = None
    popularity: np.ndarray | None = None
    trending: np.ndarray | None = None
    """Time-decayed positives per item (:func:`nextread.engine.hybrid.trending`), from training."""
    embeddings: np.ndarray | None = None
    active: np.ndarray | None = None
    """False for items that may not be served at all (e.g. deleted since the model was trained)."""
    series_keys: np.ndarray = field(init=False)
    series_codes: np.ndarray = field(init=False)
    """``series_keys`` as integers, 0 for no series: comparing 10k strings per series a reader
    enjoyed cost more than the rest of the series rule."""
    rating_quality: np.ndarray = field(init=False)
    """The Bayesian rating of every item: the same for every reader, so computed once here rather than
    over the whole catalog in every request (a twentieth of a served request)."""
    _freshness: tuple[float, np.ndarray] | None = field(init=False, default=None, repr=False)

    def __post_init__(self) -> None:
        for item_field in fields(self):
            value = getattr(self, item_field.name, None)
            if item_field.init and value is not None and len(value) != self.n_items:
                raise ValueError(f"Catalog.{item_field.name} has {len(value)} rows, expected {self.n_items}")
        self.series_keys = np.array([name.strip().casefold() for name in self.series_names], dtype=object)
        # "" (no series) is prepended so that it always exists and, sorting first, always gets code 0.
        _, codes = np.unique(np.concatenate([[""], self.series_keys]).astype(str), return_inverse=True)
        self.series_codes = codes[1:]
        self.rating_quality = bayesian_rating(self.rating_average, self.rating_count)
        if self.embeddings is not None:  # once, here, not per request
            self.embeddings = half_vectors.from_vectors(self.embeddings)

    @property
    def n_items(self) -> int:
        return len(self.titles)

    def recency_at(self, now_year: float) -> np.ndarray:
        """:func:`recency` of every item, by its publication year or, if later, when it was added; the
        same for every reader on a day (:func:`today_year`), so kept for the last ``now_year`` asked."""
        cached = self._freshness
        if cached is None or cached[0] != now_year:
            years = self.publication_year
            if self.added_year is not None:
                years = np.fmax(years, self.added_year)
            cached = self._freshness = (now_year, recency(years, now_year))
        return cached[1]

    @classmethod
    def from_items(
        cls,
        rows: Sequence[Mapping[str, Any]],
        *,
        added_year: np.ndarray | None = None,
        popularity: np.ndarray | None = None,
        trending: np.ndarray | None = None,
        embeddings: np.ndarray | None = None,
        key_language: Callable[[str | None], str] = language_key,
    ) -> Catalog:
        """Rows use the ``Item`` column names (``lexile``, ``guided_reading_level``, ``grade_min``, …);
        missing keys and ``None`` are unknown. Age ranges stand in for missing grade ranges.
        ``key_language``: the services pass a registry-aware key ("eng" and "English" are "en"), which
        the engine cannot import; the default is the coarse first subtag."""
        grade_min = _numbers(rows, "grade_min")
        grade_max = _numbers(rows, "grade_max")
        age_min = _numbers(rows, "age_min")
        age_max = _numbers(rows, "age_max")
        return cls(
            titles=[str(row.get("title") or "") for row in rows],
            levels=item_levels(
                _numbers(rows, "lexile"),
                [row.get("guided_reading_level") for row in rows],
                grade_min,
                grade_max,
                age_min,
                age_max,
                _numbers(rows, "estimated_level"),
            ),
            tags=[frozenset(str(tag).strip().casefold() for tag in row.get("tags") or ()) for row in rows],
            language_keys=np.array([key_language(row.get("language")) for row in rows], dtype=object),
            available_copies=_numbers(rows, "available_copies"),
            series_names=np.array([row.get("series_name") or "" for row in rows], dtype=object),
            series_positions=_numbers(rows, "series_position"),
            rating_average=_numbers(rows, "average_rating"),
            rating_count=_numbers(rows, "ratings_count"),
            staff_pick=np.array([bool(row.get("staff_pick")) for row in rows], dtype=bool),
            publication_year=_numbers(rows, "publication_year"),
            grade_min=np.where(np.isnan(grade_min), age_min - KINDERGARTEN_AGE, grade_min),
            grade_max=np.where(np.isnan(grade_max), age_max - KINDERGARTEN_AGE, grade_max),
            added_year=added_year,
            popularity=popularity,
            trending=trending,
            embeddings=embeddings,
        )


@dataclass(frozen=True)
class UserContext:
    """The reader for one request. ``level`` is on the grade scale (see :func:`nextread.levels.level_from`);
    ``peer_counts[i]`` is how many classmates or similar readers liked item ``i``."""

    level: float | None = None
    grade: int | None = None
    seen: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.intp))
    enjoyed: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.intp))
    enjoyed_weights: np.ndarray | None = None
    peer_counts: np.ndarray | None = None
    group_name: str | None = None
    interests_embedding: np.ndarray | None = None

    @property
    def has_history(self) -> bool:
        return len(self.seen) > 0 or len(self.enjoyed) > 0

    @property
    def weights_of_enjoyed(self) -> np.ndarray:
        if self.enjoyed_weights is None:
            return np.ones(len(self.enjoyed))
        return np.asarray(self.enjoyed_weights, dtype=np.float64)


@dataclass(frozen=True)
class Recommendation:
    item_index: int
    score: float
    components: dict[str, float]
    explanation: str


def decimal_year(moment: datetime) -> float:
    """A date as a fractional year, the unit :func:`recency` works in (e.g. for ``Item.created_at``)."""
    start = datetime(moment.year, 1, 1, tzinfo=moment.tzinfo)
    end = datetime(moment.year + 1, 1, 1, tzinfo=moment.tzinfo)
    return moment.year + (moment - start) / (end - start)


def today_year() -> float:
    """Today (UTC midnight) as a decimal year: freshness is counted in days, so every request of a day
    shares one :meth:`Catalog.recency_at` and its lists do not drift from one second to the next."""
    now = datetime.now(UTC)
    return decimal_year(datetime(now.year, now.month, now.day, tzinfo=UTC))


def recommend(
    catalog: Catalog,
    user: UserContext,
    *,
    cf_scores: np.ndarray | None = None,
    semantic_scores: np.ndarray | None = None,
    weights: Weights | None = None,
    band: ReadingBand | None = None,
    filters: CandidateFilter | None = None,
    n: int = 10,
    offset: int = 0,
    mmr_lambda: float = 0.8,
    now_year: float | None = None,
) -> list[Recommendation]:
    """Raw ``cf_scores``/``semantic_scores`` cover the whole catalogue (any scale; normalised here over
    the candidates). ``mmr_lambda`` = 1 turns diversity off; it also needs ``catalog.embeddings``.
    Pages (``offset``) are cut from one deterministic ranking, so they never overlap."""
    if offset < 0:
        raise ValueError(f"offset must be 0 or more, got {offset}")
    now_year = today_year() if now_year is None else now_year
    candidates, total, scorer = score_candidates(
        catalog,
        user,
        cf_scores=cf_scores,
        semantic_scores=semantic_scores,
        weights=weights,
        band=band,
        filters=filters,
        now_year=now_year,
    )
    if not len(candidates) or n <= 0:
        return []
    selected = rank_and_shape(catalog, candidates, total, offset + n, mmr_lambda)[offset:]
    positions = np.searchsorted(candidates, selected)
    return _recommendations(catalog, user, scorer, selected, positions, total, now_year)


def explain_candidate(
    catalog: Catalog,
    user: UserContext,
    item: int,
    *,
    cf_scores: np.ndarray | None = None,
    weights: Weights | None = None,
    band: ReadingBand | None = None,
    filters: CandidateFilter | None = None,
    now_year: float | None = None,
) -> tuple[Recommendation, int, int] | None:
    """One item exactly as a list would show it (score, components, sentence), with its rank among the
    request's candidates before shaping (1 = best) and how many candidates there were; ``None`` when
    the filters exclude it. Answers "why this book?" without ranking and explaining the whole list."""
    now_year = today_year() if now_year is None else now_year
    candidates, total, scorer = score_candidates(
        catalog, user, cf_scores=cf_scores, weights=weights, band=band, filters=filters, now_year=now_year
    )
    position = int(np.searchsorted(candidates, item))
    if position == len(candidates) or candidates[position] != item:
        return None
    rank = int(np.count_nonzero(total > total[position])) + 1
    (recommendation,) = _recommendations(
        catalog, user, scorer, np.array([item]), np.array([position]), total, now_year
    )
    return recommendation, rank, len(candidates)


def score_candidates(
    catalog: Catalog,
    user: UserContext,
    *,
    cf_scores: np.ndarray | None = None,
    semantic_scores: np.ndarray | None = None,
    weights: Weights | None = None,
    band: ReadingBand | None = None,
    filters: CandidateFilter | None = None,
    now_year: float | None = None,
) -> tuple[np.ndarray, np.ndarray, HybridScorer]:
    """The hybrid score of every candidate (item indices, ascending) before any shaping: what a class
    list needs from each student, whose scores are combined across the class instead of cut to a page."""
    weights = weights or Weights()
    band = band or ReadingBand()
    now_year = today_year() if now_year is None else now_year
    candidates = _candidates(catalog, user, band, filters or CandidateFilter())
    scorer = HybridScorer(weights)
    if not len(candidates):
        return candidates, np.zeros(0), scorer
    components = _components(catalog, user, candidates, cf_scores, semantic_scores, band, now_year)
    if not user.has_history:
        weights = cold_start_weights(weights, has_semantic="semantic" in components)
    if weights.popularity > 0:
        popularity = catalog.rating_count if catalog.popularity is None else catalog.popularity
        components["popularity"] = level_band_popularity(
            popularity[candidates], catalog.levels[candidates], user.level, band
        )
    if weights.trending > 0 and catalog.trending is not None:
        # Log first, as for popularity: a few blockbusters should lead, not flatten everything else to 0.
        components["trending"] = normalise_scores(np.log1p(catalog.trending[candidates]))
    return candidates, scorer.score(components, weights), scorer


def _candidates(
    catalog: Catalog, user: UserContext, band: ReadingBand, filters: CandidateFilter
) -> np.ndarray:
    keep = filters.mask(catalog, user)
    if catalog.active is not None:
        keep &= catalog.active
    if band.hard and user.level is not None:
        keep &= band.contains(catalog.levels, user.level)
    return np.flatnonzero(keep)


def _components(
    catalog: Catalog,
    user: UserContext,
    candidates: np.ndarray,
    cf_scores: np.ndarray | None,
    semantic_scores: np.ndarray | None,
    band: ReadingBand,
    now_year: float,
) -> dict[str, np.ndarray]:
    """Each signal that can be computed for this reader, over the candidates; unavailable ones are left
    out so the scorer re-normalises over the rest instead of counting them as zeros."""
    components = {
        "rating": catalog.rating_quality[candidates],
        "recency": catalog.recency_at(now_year)[candidates],
        "staff_pick": catalog.staff_pick[candidates].astype(np.float64),
    }
    if user.level is not None:
        components["reading_match"] = reading_fit(catalog.levels[candidates], user.level, band)
    if user.peer_counts is not None:
        components["social"] = social(np.asarray(user.peer_counts)[candidates])
    if len(user.enjoyed):
        boost = series_boost(catalog.series_codes, catalog.series_positions, user.enjoyed, user.seen)
        components["series"] = boost[candidates]
    if cf_scores is not None and user.has_history:
        components["cf"] = normalise_scores(np.asarray(cf_scores)[candidates])
    semantic = _semantic_scores(catalog, user, semantic_scores)
    if semantic is not None:
        components["semantic"] = normalise_scores(semantic[candidates])
    return components


def _semantic_scores(
    catalog: Catalog, user: UserContext, semantic_scores: np.ndarray | None
) -> np.ndarray | None:
    if semantic_scores is not None:
        return np.asarray(semantic_scores, dtype=np.float64)
    if catalog.embeddings is None:
        return None
    return profile_similarity(
        catalog.embeddings, user.enjoyed, user.weights_of_enjoyed, user.interests_embedding
    )


def best_first(candidates: np.ndarray, total: np.ndarray, at_least: int) -> np.ndarray:
    """The head of ``candidates`` by ``total`` descending, ties by item index (so pages are stable):
    every candidate scoring at least the ``at_least``-th best, ties included, so the head is exactly
    the full sort's. Sorting only the head saves most of the time of sorting a 10k catalog."""
    if at_least < len(candidates):
        threshold = np.partition(total, len(total) - at_least)[len(total) - at_least]
        head = total >= threshold
        candidates, total = candidates[head], total[head]
    return candidates[np.lexsort((candidates, -total))]


def rank_and_shape(
    catalog: Catalog, candidates: np.ndarray, total: np.ndarray, depth: int, mmr_lambda: float
) -> np.ndarray:
    """Best first, ties by item index so pages are stable; one book per series; then MMR on the head."""
    limit = max(depth, MMR_POOL)
    ranked = one_per_series(best_first(candidates, total, 4 * limit), catalog.series_codes, limit)
    if len(ranked) < limit and len(ranked) < len(candidates):  # series ate the head: rank them all
        ranked = one_per_series(best_first(candidates, total, len(candidates)), catalog.series_codes, limit)
    if catalog.embeddings is None or mmr_lambda >= 1.0:
        return ranked[:depth]
    pool = ranked[:MMR_POOL]
    pool_scores = total[np.searchsorted(candidates, pool)]
    head = mmr(pool, pool_scores, catalog.embeddings, lambda_=mmr_lambda, n=min(depth, len(pool)))
    return np.concatenate([head, ranked[len(pool) : depth]])


def _recommendations(
    catalog: Catalog,
    user: UserContext,
    scorer: HybridScorer,
    items: np.ndarray,
    positions: np.ndarray,
    total: np.ndarray,
    now_year: float,
) -> list[Recommendation]:
    """The page's items with their scores, components and sentences; ``positions`` are the items'
    places among the candidates."""
    weights = scorer.weights.model_dump()
    similar_titles = _most_similar_enjoyed_titles(catalog, user, items)
    recommendations = []
    for item, position, similar_title in zip(items.tolist(), positions.tolist(), similar_titles, strict=True):
        components = scorer.component_scores(position)
        context = _explanation_context(catalog, user, item, components, now_year, similar_title)
        sentence = explain(components, context, weights)
        recommendations.append(Recommendation(item, float(total[position]), components, sentence))
    return recommendations


def _explanation_context(
    catalog: Catalog,
    user: UserContext,
    item: int,
    components: Mapping[str, float],
    now_year: float,
    similar_enjoyed_title: str | None,
) -> ExplanationContext:
    level_offset = None
    if user.level is not None and not np.isnan(catalog.levels[item]):
        level_offset = float(catalog.levels[item] - user.level)
    this_year = int(now_year)
    return ExplanationContext(
        similar_enjoyed_title=similar_enjoyed_title,
        level_offset=level_offset,
        group_name=user.group_name,
        series_name=catalog.series_names[item] if components.get("series", 0.0) > 0 else None,
        has_ratings=bool(catalog.rating_count[item] > 0),
        published_this_year=bool(catalog.publication_year[item] >= this_year),
        added_this_year=catalog.added_year is not None and bool(catalog.added_year[item] >= this_year),
        has_interests=user.interests_embedding is not None,
    )


def _most_similar_enjoyed_titles(catalog: Catalog, user: UserContext, items: np.ndarray) -> list[str | None]:
    """For each item, the enjoyed book it is most like: by embedding cosine when there are embeddings,
    else by shared tags (Jaccard); ``None`` when nothing enjoyed resembles it at all. One product for
    the whole page."""
    enjoyed = np.asarray(user.enjoyed, dtype=np.intp)
    if not len(enjoyed):
        return [None] * len(items)
    if catalog.embeddings is not None:  # unit rows (or zero rows), so the dot product is the cosine
        similarity = half_vectors.rows_float32(catalog.embeddings, enjoyed) @ (
            half_vectors.rows_float32(catalog.embeddings, items).T
        )
    else:
        similarity = np.array(
            [[_jaccard(catalog.tags[index], catalog.tags[item]) for item in items] for index in enjoyed]
        )
    similarity[_same_book(catalog, enjoyed, items)] = 0.0
    best = np.argmax(similarity, axis=0)
    return [
        catalog.titles[enjoyed[row]] if similarity[row, column] > 0 else None
        for column, row in enumerate(best.tolist())
    ]


def _same_book(catalog: Catalog, enjoyed: np.ndarray, items: np.ndarray) -> np.ndarray:
    """Which (enjoyed, item) pairs are one book, by index or by title (another edition): a saved or
    shared book stays on the list and counts as enjoyed, yet must never be its own reason."""

    def key(index: int) -> str:
        return catalog.titles[index].strip().casefold()

    same_index = enjoyed[:, None] == items[None, :]
    same_title = (
        np.array([key(i) for i in enjoyed.tolist()])[:, None]
        == np.array([key(i) for i in items.tolist()])[None, :]
    )
    return same_index | same_title


def _jaccard(left: frozenset[str], right: frozenset[str]) -> float:
    union = len(left | right)
    return len(left & right) / union if union else 0.0


def _numbers(rows: Sequence[Mapping[str, Any]], key: str) -> np.ndarray:
    return np.array([np.nan if row.get(key) is None else float(row[key]) for row in rows], dtype=np.float64)
