"""Ranking metrics over a full catalog ranking, vectorised over users.

Conventions (written down because libraries disagree): relevance is binary; Recall@K and MAP@K are
normalised by min(K, |target|) so a perfect list scores 1 even when the user has more targets than K;
NDCG@K's ideal DCG also counts min(K, |target|) hits. Users with an empty target are not evaluated.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp


def top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k best scores per row, best first (ties broken by the lower index)."""
    k = min(k, scores.shape[1])
    candidates = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    candidates.sort(axis=1)
    order = np.argsort(-np.take_along_axis(scores, candidates, axis=1), axis=1, kind="stable")
    return np.take_along_axis(candidates, order, axis=1)


def hits(recommended: np.ndarray, target: sp.csr_matrix) -> np.ndarray:
    """Boolean (users × K): is the recommended item in that user's target? Uses a sorted key lookup,
    so memory stays O(nnz) instead of a dense users × items matrix."""
    target = target.tocsr()
    target.sort_indices()
    n_items = np.int64(target.shape[1])
    rows = np.repeat(np.arange(target.shape[0], dtype=np.int64), np.diff(target.indptr))
    keys = rows * n_items + target.indices
    if len(keys) == 0:
        return np.zeros(recommended.shape, dtype=bool)
    queries = np.arange(recommended.shape[0], dtype=np.int64)[:, None] * n_items + recommended
    positions = np.minimum(np.searchsorted(keys, queries), len(keys) - 1)
    return keys[positions] == queries


def recall_at_k(hit: np.ndarray, n_target: np.ndarray, k: int) -> np.ndarray:
    return hit[:, :k].sum(axis=1) / np.minimum(k, n_target)


def ndcg_at_k(hit: np.ndarray, n_target: np.ndarray, k: int) -> np.ndarray:
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    dcg = (hit[:, :k] * discounts[: hit[:, :k].shape[1]]).sum(axis=1)
    ideal = np.cumsum(discounts)[np.minimum(k, n_target) - 1]
    return dcg / ideal


def map_at_k(hit: np.ndarray, n_target: np.ndarray, k: int) -> np.ndarray:
    top = hit[:, :k]
    precision_at_rank = np.cumsum(top, axis=1) / np.arange(1, top.shape[1] + 1)
    return (precision_at_rank * top).sum(axis=1) / np.minimum(k, n_target)


def hit_rate_at_k(hit: np.ndarray, k: int) -> np.ndarray:
    return hit[:, :k].any(axis=1).astype(float)


def catalog_coverage(recommended: np.ndarray, n_items: int) -> float:
    """Share of the catalog that appears in at least one user's list: low means a few hits for all."""
    return len(np.unique(recommended)) / n_items


def item_popularity(train: sp.csr_matrix) -> np.ndarray:
    """Fraction of training users (non-empty rows) who interacted with each item."""
    n_users = max(int((np.diff(train.indptr) > 0).sum()), 1)
    return np.asarray((train > 0).sum(axis=0)).ravel() / n_users


def mean_popularity(recommended: np.ndarray, popularity: np.ndarray) -> float:
    return float(popularity[recommended].mean())


def user_level_bands(
    fold_in: sp.csr_matrix, item_levels: np.ndarray, below: float, above: float
) -> tuple[np.ndarray, np.ndarray]:
    """A reader's band is what they already read (10th–90th percentile of known levels), widened by
    ``below`` and ``above`` (serving's stretch, in the levels' units). Users without any known level
    get a NaN band and are skipped."""
    lengths = np.diff(fold_in.indptr)
    padded = np.full((fold_in.shape[0], max(int(lengths.max(initial=0)), 1)), np.nan)
    columns = np.arange(fold_in.nnz) - np.repeat(fold_in.indptr[:-1], lengths)
    padded[np.repeat(np.arange(fold_in.shape[0]), lengths), columns] = item_levels[fold_in.indices]
    known = ~np.isnan(padded).all(axis=1)
    low, high = np.full(len(padded), np.nan), np.full(len(padded), np.nan)
    if known.any():
        low[known] = np.nanquantile(padded[known], 0.1, axis=1) - below
        high[known] = np.nanquantile(padded[known], 0.9, axis=1) + above
    return low, high


def level_fit_rate(
    recommended: np.ndarray, item_levels: np.ndarray, low: np.ndarray, high: np.ndarray
) -> float:
    """Mean over users of the share of recommended items (with a known level) inside the user's band."""
    levels = item_levels[recommended]
    known = ~np.isnan(levels) & ~np.isnan(low)[:, None]
    inside = (levels >= low[:, None]) & (levels <= high[:, None]) & known
    counted = known.sum(axis=1) > 0
    if not counted.any():
        return float("nan")
    return float((inside.sum(axis=1)[counted] / known.sum(axis=1)[counted]).mean())


ACCURACY_CUTOFFS: dict[str, int] = {
    "Recall@20": 20,
    "Recall@50": 50,
    "NDCG@10": 10,
    "NDCG@100": 100,
    "MAP@10": 10,
    "HR@10": 10,
}
LIST_LENGTH = 100
BEYOND_ACCURACY_K = 10


def accuracy(hit: np.ndarray, n_target: np.ndarray) -> dict[str, float]:
    functions = {"Recall": recall_at_k, "NDCG": ndcg_at_k, "MAP": map_at_k}
    result = {}
    for name, k in ACCURACY_CUTOFFS.items():
        family = name.split("@")[0]
        values = hit_rate_at_k(hit, k) if family == "HR" else functions[family](hit, n_target, k)
        result[name] = float(values.mean())
    return result


def evaluate_rankings(
    recommended: np.ndarray,
    target: sp.csr_matrix,
    popularity: np.ndarray,
    item_levels: np.ndarray | None = None,
    bands: tuple[np.ndarray, np.ndarray] | None = None,
) -> dict[str, float]:
    """All protocol metrics for one model on one set of users; lists are best-first item indices."""
    n_target = np.diff(target.indptr)
    evaluated = n_target > 0
    hit = hits(recommended, target)[evaluated]
    result = accuracy(hit, n_target[evaluated])
    top = recommended[evaluated, :BEYOND_ACCURACY_K]
    result[f"Coverage@{BEYOND_ACCURACY_K}"] = catalog_coverage(top, target.shape[1])
    result[f"MeanPop@{BEYOND_ACCURACY_K}"] = mean_popularity(top, popularity)
    if item_levels is not None and bands is not None:
        low, high = bands[0][evaluated], bands[1][evaluated]
        result[f"LevelFit@{BEYOND_ACCURACY_K}"] = level_fit_rate(top, item_levels, low, high)
    return result
