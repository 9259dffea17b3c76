"""What may be recommended at all (filters) and how the final list is shaped (series, diversity).

Filters are hard rules applied before scoring, so an excluded item can never leak in through a high
score. Shaping works on an already ranked list of item indices.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from pydantic import BaseModel, ConfigDict, field_validator, model_validator

from nextread.engine import half_vectors

if TYPE_CHECKING:
    from nextread.engine.pipeline import Catalog, UserContext

# How far from the student's grade a book's intended grades may sit (see CandidateFilter).
GRADE_WINDOW = 1.0


class CandidateFilter(BaseModel):
    """Hard rules for one request. Rules about data an item lacks: unknown copies pass (many catalogues
    do not track them); unknown language or level fail a language or level-range rule, because the
    request asked for a guarantee we cannot give for them; unknown grades pass appropriateness.

    Grade appropriateness: an item's intended grades (``grade_min``–``grade_max``, or its ages minus
    five) must overlap ``[grade − 1, grade + 1]``: a 4th grader is not offered books meant only for 1st
    and 2nd grade, nor books whose content starts at 6th.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    exclude_seen: bool = True
    include_tags: frozenset[str] = frozenset()
    exclude_tags: frozenset[str] = frozenset()
    languages: frozenset[str] = frozenset()
    available_only: bool = True
    level_min: float | None = None
    level_max: float | None = None
    grade_appropriate: bool = True

    @field_validator("include_tags", "exclude_tags")
    @classmethod
    def _casefold_tags(cls, tags: frozenset[str]) -> frozenset[str]:
        return frozenset(tag.strip().casefold() for tag in tags)

    @field_validator("languages")
    @classmethod
    def _language_keys(cls, languages: frozenset[str]) -> frozenset[str]:
        return frozenset(language_key(language) for language in languages)

    @model_validator(mode="after")
    def _ordered_level_range(self) -> CandidateFilter:
        if self.level_min is not None and self.level_max is not None and self.level_min > self.level_max:
            raise ValueError(f"level_min ({self.level_min}) is above level_max ({self.level_max})")
        return self

    def mask(self, catalog: Catalog, user: UserContext) -> np.ndarray:
        """True for items this request may return."""
        keep = np.ones(catalog.n_items, dtype=bool)
        if self.exclude_seen and len(user.seen):
            keep[np.asarray(user.seen, dtype=np.intp)] = False
        keep &= self._tag_mask(catalog)
        if self.languages:
            keep &= np.isin(catalog.language_keys, list(self.languages))
        if self.available_only:
            keep &= ~(catalog.available_copies <= 0)
        keep &= self._level_mask(catalog.levels)
        if self.grade_appropriate and user.grade is not None:
            keep &= grade_appropriate(catalog.grade_min, catalog.grade_max, user.grade)
        return keep

    def _tag_mask(self, catalog: Catalog) -> np.ndarray:
        if not self.include_tags and not self.exclude_tags:
            return np.ones(catalog.n_items, dtype=bool)
        return np.array(
            [
                (not self.include_tags or not self.include_tags.isdisjoint(tags))
                and self.exclude_tags.isdisjoint(tags)
                for tags in catalog.tags
            ],
            dtype=bool,
        )

    def _level_mask(self, levels: np.ndarray) -> np.ndarray:
        keep = np.ones(len(levels), dtype=bool)
        if self.level_min is not None:
            keep &= levels >= self.level_min
        if self.level_max is not None:
            keep &= levels <= self.level_max
        return keep


def language_key(language: str | None) -> str:
    """A request for "en" matches "EN-us", "en_GB" and "en": schools ask for a language, not a locale."""
    return (language or "").strip().replace("_", "-").split("-")[0].casefold()


def grade_appropriate(grade_min: np.ndarray, grade_max: np.ndarray, grade: float) -> np.ndarray:
    """The rule stated on :class:`CandidateFilter`; NaN bounds (unknown) never exclude."""
    too_young = grade_max < grade - GRADE_WINDOW
    too_old = grade_min > grade + GRADE_WINDOW
    return ~(too_young | too_old)


def series_boost(
    series_codes: np.ndarray, positions: np.ndarray, enjoyed: np.ndarray, seen: np.ndarray
) -> np.ndarray:
    """1.0 for the next unread book of each series the reader enjoyed, else 0. "Next" is the lowest
    unread position above the highest enjoyed one: usually that position + 1, and when the library lacks
    that volume (or numbers a novella 2.5) the next one it does hold. ``series_codes`` are
    ``Catalog.series_codes`` (0 = no series): one lookup over the catalog finds the volumes of the
    reader's series, and the rest works on those few books only."""
    series_codes = np.asarray(series_codes, dtype=np.intp)
    boost = np.zeros(len(series_codes), dtype=np.float64)
    enjoyed = np.asarray(enjoyed, dtype=np.intp)
    enjoyed = enjoyed[series_codes[enjoyed] > 0]
    if not len(enjoyed):
        return boost
    highest = np.full(series_codes.max() + 1, -np.inf)  # per series; stays -inf when no position is known
    np.fmax.at(highest, series_codes[enjoyed], positions[enjoyed])
    unread = np.isfinite(highest)[series_codes]
    unread[np.asarray(seen, dtype=np.intp)] = False
    unread[enjoyed] = False
    volumes = np.flatnonzero(unread)
    later = volumes[positions[volumes] > highest[series_codes[volumes]]]
    lowest = np.full(len(highest), np.inf)
    np.fmin.at(lowest, series_codes[later], positions[later])
    boost[later[positions[later] == lowest[series_codes[later]]]] = 1.0
    return boost


def one_per_series(ranked: np.ndarray, series_keys: np.ndarray, limit: int | None = None) -> np.ndarray:
    """Keeps the best-ranked book of each series: a list of five volumes of one series is one
    recommendation repeated. Items without a series all stay. ``limit`` stops after that many kept,
    since nobody pages through the whole catalog."""
    ranked = np.asarray(ranked, dtype=np.intp)
    keys = np.asarray(series_keys)[ranked]
    in_series = np.flatnonzero(keys.astype(bool))
    keep = np.ones(len(ranked), dtype=bool)
    keep[in_series] = False
    _, first = np.unique(keys[in_series], return_index=True)  # each series' best-ranked volume
    keep[in_series[first]] = True
    return ranked[keep][:limit]


def mmr(
    candidates: np.ndarray, scores: np.ndarray, embeddings: np.ndarray, lambda_: float = 0.8, n: int = 10
) -> np.ndarray:
    """Maximal marginal relevance (Carbonell & Goldstein, 1998): greedily pick the candidate with the
    best ``lambda_ · score − (1 − lambda_) · max cosine similarity to those already picked``, so a near
    copy of a pick loses to a slightly weaker but different book. ``scores`` align with ``candidates``;
    ``embeddings`` rows are indexed by item index and must be unit length, or zero for an item without
    an embedding, which counts as dissimilar (``Catalog`` makes them so once: normalising the pool
    again was half of MMR's time)."""
    candidates = np.asarray(candidates, dtype=np.intp)
    unit = half_vectors.rows_float32(embeddings, candidates)
    gain = lambda_ * np.asarray(scores, dtype=np.float64)  # lowered as picks pile up near an item
    base = gain.copy()
    max_similarity = np.zeros(len(candidates))
    picked: list[int] = []
    for _ in range(min(n, len(candidates))):
        best = int(np.argmax(gain))
        picked.append(best)
        np.maximum(max_similarity, unit @ unit[best], out=max_similarity)
        np.subtract(base, (1.0 - lambda_) * max_similarity, out=gain)
        gain[picked] = -np.inf
    return candidates[picked]
