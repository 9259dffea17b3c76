"""The peers we compare against, wrapped in the recommender protocol of ``nextread.recommend.base``
(``fit(X)``, ``score(history)`` for arbitrary history rows). They use implicit's own implementations so
the comparison is against the library as people actually run it; only the fold-in of held-out users is
ours (implicit has none for unseen users), and it is the exact iALS least-squares step.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from implicit.cpu.als import AlternatingLeastSquares
from implicit.nearest_neighbours import BM25Recommender, CosineRecommender, ItemItemRecommender


class PopularityPeer:
    """Most-positives-first, the same list for everyone: the floor any personalised model must clear."""

    def fit(self, interactions: sp.csr_matrix) -> PopularityPeer:
        self.counts = np.asarray((interactions > 0).sum(axis=0), dtype=np.float64).ravel()
        return self

    def score(self, history: sp.csr_matrix) -> np.ndarray:
        return np.tile(self.counts, (history.shape[0], 1))


class ImplicitItemKNN:
    """implicit's item-item neighbourhood model; scoring a history is ``history @ similarity``, which is
    what implicit's own ``recommend`` computes for a known user."""

    def __init__(self, similarity: str = "bm25", neighbours: int = 100, k1: float = 1.2, b: float = 0.75):
        self.model: ItemItemRecommender
        if similarity == "bm25":
            self.model = BM25Recommender(K=neighbours, K1=k1, B=b, num_threads=1)
        elif similarity == "cosine":
            self.model = CosineRecommender(K=neighbours, num_threads=1)
        else:
            raise ValueError(f"unknown item-kNN similarity {similarity!r} (use bm25 or cosine)")

    def fit(self, interactions: sp.csr_matrix) -> ImplicitItemKNN:
        self.model.fit(interactions.tocsr().astype(np.float32), show_progress=False)
        return self

    def score(self, history: sp.csr_matrix) -> np.ndarray:
        return np.asarray((history.astype(np.float32) @ self.model.similarity).todense())


def als_fold_in(
    item_factors: np.ndarray, history: sp.csr_matrix, regularization: float, alpha: float
) -> np.ndarray:
    """User factors that minimise implicit's iALS loss with the items fixed (confidence = alpha × value,
    as in implicit 0.7): x = (YᵀY + λI + Σ (c−1) y yᵀ)⁻¹ Σ c y. Batched solves, one system per user."""
    factors = item_factors.shape[1]
    gram = item_factors.T @ item_factors + regularization * np.eye(factors)
    confidence = history.tocsr().astype(np.float64) * alpha
    users = np.zeros((history.shape[0], factors))
    for start in range(0, history.shape[0], 512):
        rows = confidence[start : start + 512]
        systems = np.repeat(gram[None], rows.shape[0], axis=0)
        right = np.asarray(rows @ item_factors)
        for offset in range(rows.shape[0]):
            items = rows.indices[rows.indptr[offset] : rows.indptr[offset + 1]]
            weights = rows.data[rows.indptr[offset] : rows.indptr[offset + 1]] - 1.0
            block = item_factors[items]
            systems[offset] += (block * weights[:, None]).T @ block
        users[start : start + rows.shape[0]] = np.linalg.solve(systems, right[..., None])[..., 0]
    return users


class ImplicitIALS:
    """implicit's CPU iALS; held-out users are folded in with ``als_fold_in``."""

    def __init__(
        self,
        factors: int = 64,
        regularization: float = 0.01,
        alpha: float = 1.0,
        iterations: int = 15,
        seed: int = 0,
    ):
        self.regularization, self.alpha = regularization, alpha
        self.model = AlternatingLeastSquares(
            factors=factors,
            regularization=regularization,
            alpha=alpha,
            iterations=iterations,
            random_state=seed,
            num_threads=1,
        )

    def fit(self, interactions: sp.csr_matrix) -> ImplicitIALS:
        self.model.fit(interactions.tocsr().astype(np.float32), show_progress=False)
        self.item_factors = np.asarray(self.model.item_factors, dtype=np.float64)
        return self

    def score(self, history: sp.csr_matrix) -> np.ndarray:
        users = als_fold_in(self.item_factors, history, self.regularization, self.alpha)
        return users @ self.item_factors.T
