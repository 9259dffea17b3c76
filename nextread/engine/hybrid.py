"""The hybrid scorer: several signals, each squeezed into [0, 1] over the request's candidates, then a
weighted mean.

Every component means "how much this signal likes the item" on the same 0–1 footing, so a weight is
directly "how much this signal counts", a teacher can read the parts behind a score, and an
explanation can name the strongest ones. The total is divided by the sum of the weights of the
components present, so it stays in [0, 1] and a missing signal (no CF model yet, no embeddings)
neither deflates nor reorders the rest.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field
from scipy.stats import rankdata

from nextread.engine import half_vectors

# Fit at the edge of the just-right band: still clearly "a fit", but below books right at the level.
JUST_RIGHT_EDGE_FIT = 0.8
SECONDS_PER_DAY = 86_400.0
UNKNOWN_LEVEL_FIT = 0.5


class Weights(BaseModel):
    """Component weights. ``staff_pick`` behaves like a bonus because its component is 0 or 1;
    ``series`` rewards the next book of a series the reader enjoyed; ``popularity`` (level-band
    popularity) is 0 for readers with history, whose CF already carries what is popular, and takes over
    part of the CF weight at cold start (:func:`cold_start_weights`); ``trending`` favours what readers
    took up lately (:func:`trending`), which is what a reader comes back for after a while."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    cf: float = Field(0.5, ge=0)
    semantic: float = Field(0.3, ge=0)
    reading_match: float = Field(0.4, ge=0)
    rating: float = Field(0.3, ge=0)
    social: float = Field(0.2, ge=0)
    recency: float = Field(0.1, ge=0)
    staff_pick: float = Field(0.05, ge=0)
    series: float = Field(0.3, ge=0)
    popularity: float = Field(0.0, ge=0)
    trending: float = Field(0.0, ge=0)

    def merged(self, overrides: Mapping[str, float]) -> Weights:
        """A per-request override; names are checked here because a misspelt weight silently doing
        nothing is worse than an error."""
        unknown = sorted(set(overrides) - set(type(self).model_fields))
        if unknown:
            known = ", ".join(type(self).model_fields)
            raise ValueError(f"unknown weight name(s): {', '.join(unknown)} (known: {known})")
        return type(self).model_validate({**self.model_dump(), **overrides})


class ReadingBand(BaseModel):
    """The just-right band around a reader's level, in grade units. Stretching up is wider than down
    by default: a slightly hard book the child wants to read is a good thing, a much easier one less so."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    stretch_below: float = Field(0.5, gt=0)
    stretch_above: float = Field(1.0, gt=0)
    hard: bool = False

    def contains(self, item_levels: np.ndarray, user_level: float) -> np.ndarray:
        """Unknown levels are outside: a hard band is a promise the library cannot keep for them."""
        offsets = item_levels - user_level
        with np.errstate(invalid="ignore"):
            return (offsets >= -self.stretch_below) & (offsets <= self.stretch_above)


def reading_fit(item_levels: np.ndarray, user_level: float, band: ReadingBand) -> np.ndarray:
    """An asymmetric Gaussian: 1 at the reader's level, ``JUST_RIGHT_EDGE_FIT`` at the band's edges and
    smoothly lower beyond, never exactly 0, so a stretch book can still win on interest. Unknown levels
    get a neutral 0.5. With a hard band, items outside get 0 here and the pipeline filters them out."""
    levels = np.asarray(item_levels, dtype=np.float64)
    offsets = levels - user_level
    scale = np.where(offsets > 0, band.stretch_above, band.stretch_below)
    fit = np.exp(np.log(JUST_RIGHT_EDGE_FIT) * np.square(offsets / scale))  # EDGE_FIT ** x, 5× faster
    fit = np.where(np.isnan(levels), UNKNOWN_LEVEL_FIT, fit)
    if band.hard:
        fit = np.where(band.contains(levels, user_level), fit, 0.0)
    return fit


def bayesian_rating(
    average: np.ndarray,
    count: np.ndarray,
    prior_mean: float | None = None,
    prior_weight: float = 10.0,
    scale: tuple[float, float] = (1.0, 5.0),
) -> np.ndarray:
    """Shrinks each average toward the catalogue's mean by ``prior_weight`` phantom ratings, so one
    5-star rating does not outrank a hundred 4.6s; then maps the rating scale onto [0, 1]. Unrated items
    land on the prior."""
    average = np.asarray(average, dtype=np.float64)
    count = np.nan_to_num(np.asarray(count, dtype=np.float64), nan=0.0)
    count = np.where(np.isnan(average), 0.0, np.maximum(count, 0.0))
    average = np.nan_to_num(average, nan=0.0)
    if prior_mean is None:
        prior_mean = float(average @ count / count.sum()) if count.sum() > 0 else sum(scale) / 2
    shrunk = (prior_weight * prior_mean + count * average) / (prior_weight + count)
    low, high = scale
    return np.clip((shrunk - low) / (high - low), 0.0, 1.0)


def recency(years: np.ndarray, now_year: float, half_life_years: float = 3.0) -> np.ndarray:
    """Halves every ``half_life_years``; ``years`` may be fractional (a date as a decimal year). Unknown
    dates score 0: freshness is a claim we only make when we know it."""
    years = np.asarray(years, dtype=np.float64)
    age = np.maximum(now_year - years, 0.0)
    return np.where(np.isnan(years), 0.0, np.power(0.5, age / half_life_years))


def trending(items: np.ndarray, times: np.ndarray, n_items: int, half_life_days: float) -> np.ndarray:
    """Positive events per item, each halved every ``half_life_days`` before the newest event: what is
    being taken up now. Measured from the data's own end, not the clock, so a model trained on an old
    log (or evaluated at a past cutoff) still sees what was rising at that time."""
    times = np.asarray(times, dtype=np.float64)
    if not len(times):
        return np.zeros(n_items)
    age_days = (times.max() - times) / SECONDS_PER_DAY
    return np.bincount(np.asarray(items, dtype=np.intp), np.power(0.5, age_days / half_life_days), n_items)


def social(peer_counts: np.ndarray, saturation: float = 3.0) -> np.ndarray:
    """``1 − exp(−count / saturation)``: the first few classmates who liked a book say a lot, the
    twentieth little, and a whole-school hit cannot drown every other signal."""
    counts = np.maximum(np.nan_to_num(np.asarray(peer_counts, dtype=np.float64), nan=0.0), 0.0)
    return 1.0 - np.exp(-counts / saturation)


def normalise_scores(raw: np.ndarray, method: Literal["minmax", "rank"] = "minmax") -> np.ndarray:
    """Raw CF and semantic scores are not comparable across users or models, so they are rescaled per
    request over the candidates. Min-max is the default because it keeps the gaps: CF scores are heavy
    tailed, and a few clear favourites should stay far ahead rather than be spread evenly as ranks would.
    Rank is offered for signals with outliers; tied items share the lowest rank, so items a signal does
    not tell apart get no credit from it. Non-finite scores (items a model masked) count as the minimum;
    a constant row carries no preference and becomes all zeros."""
    values = np.asarray(raw, dtype=np.float64)
    finite = np.isfinite(values)
    if not finite.any():
        return np.zeros_like(values)
    values = np.where(finite, values, values[finite].min())
    spread = values.max() - values.min()
    if spread == 0:
        return np.zeros_like(values)
    if method == "rank":
        ranks = rankdata(values, method="min") - 1.0
        return ranks / ranks.max()
    return (values - values.min()) / spread


def profile_similarity(
    embeddings: np.ndarray,
    enjoyed: np.ndarray,
    enjoyed_weights: np.ndarray,
    interests_embedding: np.ndarray | None = None,
    interests_weight: float = 1.0,
) -> np.ndarray | None:
    """Cosine similarity of every item to the reader's profile: the weighted mean of what they enjoyed
    plus their interests text, all unit length so a long description does not dominate. ``embeddings``
    rows must be unit length (``Catalog`` makes them so once, not per request: normalising the enjoyed
    rows again, in numpy's slow float16 casts, cost a tenth of the semantic component). ``None`` when
    there is nothing to build a profile from."""
    profile = np.zeros(embeddings.shape[1])
    if len(enjoyed):
        profile += np.asarray(enjoyed_weights, dtype=np.float64) @ half_vectors.rows_float32(
            embeddings, enjoyed
        )
    if interests_embedding is not None:
        profile += interests_weight * half_vectors.unit_rows(np.asarray(interests_embedding)[None, :])[0]
    elif not len(enjoyed):
        return None
    return half_vectors.dot(embeddings, half_vectors.unit_rows(profile[None, :])[0])


def level_band_popularity(
    popularity: np.ndarray, item_levels: np.ndarray, user_level: float | None, band: ReadingBand
) -> np.ndarray:
    """What a reader with no history should see first: the most liked books among those in their band
    (rank-normalised inside it), then books of unknown level at half credit; books outside get 0, the
    reading-fit component already says how far off they are."""
    scores = normalise_scores(np.log1p(np.maximum(np.nan_to_num(popularity, nan=0.0), 0.0)), "rank")
    if user_level is None:
        return scores
    in_band = band.contains(item_levels, user_level)
    return np.where(in_band, scores, np.where(np.isnan(item_levels), 0.5 * scores, 0.0))


def cold_start_weights(weights: Weights, has_semantic: bool) -> Weights:
    """With no history the CF score is noise. Its weight is split evenly between the reader's interests
    (semantic) and level-band popularity when interests are known, and goes all to popularity when not."""
    moved = weights.cf
    to_semantic = moved / 2 if has_semantic else 0.0
    return weights.merged(
        {
            "cf": 0.0,
            "semantic": weights.semantic + to_semantic,
            "popularity": weights.popularity + moved - to_semantic,
        }
    )


class HybridScorer:
    """Weighted mean of [0, 1] components. One scorer per request: it keeps the components and the
    weights it used so each recommendation can show its parts and be explained."""

    def __init__(self, weights: Weights | None = None):
        self.weights = weights or Weights()
        self.components: dict[str, np.ndarray] = {}

    def score(self, components: Mapping[str, np.ndarray], weights: Weights | None = None) -> np.ndarray:
        weights = weights or self.weights
        _check_components(components, weights)
        used = {name: getattr(weights, name) for name in components}
        total_weight = sum(used.values())
        if total_weight <= 0:
            raise ValueError(f"every weight of the available components ({', '.join(used)}) is zero")
        self.weights = weights
        self.components = {name: np.asarray(values, dtype=np.float64) for name, values in components.items()}
        total = sum(used[name] * values for name, values in self.components.items())
        return np.asarray(total, dtype=np.float64) / total_weight

    def component_scores(self, position: int) -> dict[str, float]:
        """The parts of one candidate's score, by its position in the scored arrays."""
        return {name: float(values[position]) for name, values in self.components.items()}

    def contributions(self, position: int) -> dict[str, float]:
        """Weight × value: what each part actually added, which is what explanations rank by."""
        return {
            name: getattr(self.weights, name) * value
            for name, value in self.component_scores(position).items()
        }


def _check_components(components: Mapping[str, np.ndarray], weights: Weights) -> None:
    unknown = sorted(set(components) - set(type(weights).model_fields))
    if unknown:
        raise ValueError(f"unknown component(s): {', '.join(unknown)}")
    lengths = {len(values) for values in components.values()}
    if len(lengths) > 1:
        raise ValueError(f"components have different lengths: {sorted(lengths)}")
    for name, values in components.items():
        values = np.asarray(values, dtype=np.float64)
        # min/max propagate NaN, and the comparisons then fail: one check covers both.
        if values.size and not (values.min() >= 0.0 and values.max() <= 1.0):
            raise ValueError(f"component {name!r} must lie in [0, 1] and not be NaN")
