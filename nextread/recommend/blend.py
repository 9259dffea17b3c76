"""Our hybrid: several recommenders' scores, standardised per user and summed with tuned weights.

Raw scores of different models live on unrelated scales (EASE's regression weights, cosine sums, a
level distance), so each is z-scored within a user's row before weighting; a weight then means "how
many standard deviations of this signal are worth one of the main model's".
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np
import scipy.sparse as sp


class Scorer(Protocol):
    def fit(self, interactions: sp.csr_matrix) -> Scorer: ...

    def score(self, history: sp.csr_matrix) -> np.ndarray: ...


def standardise_rows(scores: np.ndarray) -> np.ndarray:
    """Zero mean, unit variance per row; constant rows (no signal for that user) become zeros."""
    centred = scores - scores.mean(axis=1, keepdims=True)
    spread = centred.std(axis=1, keepdims=True)
    return np.divide(centred, spread, out=np.zeros_like(centred), where=spread > 0)


class ScoreBlend:
    """Weighted sum of standardised component scores. Components with weight 0 are not even fitted,
    so a tuned-away signal costs nothing."""

    def __init__(self, components: Sequence[tuple[Scorer, float]]):
        self.components = [(model, weight) for model, weight in components if weight != 0]
        if not self.components:
            raise ValueError("a blend needs at least one component with a non-zero weight")

    def fit(self, interactions: sp.csr_matrix) -> ScoreBlend:
        self.n_items = interactions.shape[1]
        for model, _ in self.components:
            model.fit(interactions)
        return self

    def score(self, history: sp.csr_matrix) -> np.ndarray:
        if len(self.components) == 1:
            return np.asarray(self.components[0][0].score(history), dtype=np.float64)
        total = np.zeros(history.shape, dtype=np.float64)
        for model, weight in self.components:
            total += weight * standardise_rows(np.asarray(model.score(history), dtype=np.float64))
        return total

    def similar_items(self, item_index: int, n: int = 10) -> np.ndarray:
        """Items similar to one item are what a one-item history scores highest."""
        history = sp.csr_matrix(([1.0], ([0], [item_index])), shape=(1, self.n_items))
        scores = self.score(history)[0]
        scores[item_index] = -np.inf
        return np.argsort(-scores, kind="stable")[:n]


class LevelAffinity:
    """Prefers items near the reading level a history shows: the median known level of what the user
    liked, with a Gaussian fall-off of one catalog standard deviation times ``width``. Items without a
    level get the neutral mean score; users without any known level get no preference at all."""

    def __init__(self, item_levels: np.ndarray, width: float = 0.5):
        self.item_levels = np.asarray(item_levels, dtype=np.float64)
        known = self.item_levels[~np.isnan(self.item_levels)]
        self.scale = width * (float(known.std()) if known.size > 1 and known.std() > 0 else 1.0)

    def fit(self, interactions: sp.csr_matrix) -> LevelAffinity:
        return self

    def score(self, history: sp.csr_matrix) -> np.ndarray:
        history = history.tocsr()
        scores = np.zeros(history.shape, dtype=np.float64)
        for row in range(history.shape[0]):
            levels = self.item_levels[history.indices[history.indptr[row] : history.indptr[row + 1]]]
            levels = levels[~np.isnan(levels)]
            if levels.size == 0:
                continue
            distance = (self.item_levels - np.median(levels)) / self.scale
            affinity = np.exp(-0.5 * distance**2)
            scores[row] = np.where(np.isnan(affinity), np.nanmean(affinity), affinity)
        return scores
