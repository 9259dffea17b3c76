"""Metrics against values worked out by hand on tiny rankings."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.sparse as sp

from nextread.evaluate.metrics import (
    catalog_coverage,
    evaluate_rankings,
    hit_rate_at_k,
    hits,
    item_popularity,
    level_fit_rate,
    map_at_k,
    mean_popularity,
    ndcg_at_k,
    recall_at_k,
    top_k,
    user_level_bands,
)


def csr(rows: list[list[int]], n_items: int) -> sp.csr_matrix:
    dense = np.zeros((len(rows), n_items), dtype=np.float32)
    for row, items in enumerate(rows):
        dense[row, items] = 1
    return sp.csr_matrix(dense)


# user 0: targets {1, 3}, list [1, 2, 3, 4] → hits at ranks 1 and 3
# user 1: target {5},    list [0, 2, 5, 4] → hit at rank 3
RECOMMENDED = np.array([[1, 2, 3, 4], [0, 2, 5, 4]])
TARGET = csr([[1, 3], [5]], n_items=6)
N_TARGET = np.array([2, 1])


def test_hits_marks_recommended_targets() -> None:
    expected = [[True, False, True, False], [False, False, True, False]]
    assert hits(RECOMMENDED, TARGET).tolist() == expected


def test_recall_divides_by_min_of_k_and_target_size() -> None:
    hit = hits(RECOMMENDED, TARGET)
    assert recall_at_k(hit, N_TARGET, 2).tolist() == [0.5, 0.0]
    assert recall_at_k(hit, N_TARGET, 4).tolist() == [1.0, 1.0]
    many_targets = csr([[0, 1, 2, 3, 4]], n_items=6)
    assert recall_at_k(hits(np.array([[0, 1]]), many_targets), np.array([5]), 2).tolist() == [1.0]


def test_ndcg_uses_ideal_over_min_k_target() -> None:
    hit = hits(RECOMMENDED, TARGET)
    ideal_two = 1 + 1 / math.log2(3)
    assert ndcg_at_k(hit, N_TARGET, 2) == pytest.approx([1 / ideal_two, 0.0])
    assert ndcg_at_k(hit, N_TARGET, 4) == pytest.approx([(1 + 1 / math.log2(4)) / ideal_two, 0.5])


def test_map_averages_precision_at_each_hit() -> None:
    hit = hits(RECOMMENDED, TARGET)
    assert map_at_k(hit, N_TARGET, 4) == pytest.approx([(1 + 2 / 3) / 2, 1 / 3])
    assert map_at_k(hit, N_TARGET, 1) == pytest.approx([1.0, 0.0])


def test_hit_rate() -> None:
    hit = hits(RECOMMENDED, TARGET)
    assert hit_rate_at_k(hit, 2).tolist() == [1.0, 0.0]
    assert hit_rate_at_k(hit, 3).tolist() == [1.0, 1.0]


def test_top_k_is_best_first_with_stable_ties() -> None:
    scores = np.array([[1.0, 3.0, 3.0, 0.0, -np.inf], [0.0, 0.0, 5.0, 1.0, 2.0]])
    assert top_k(scores, 3).tolist() == [[1, 2, 0], [2, 4, 3]]


def test_coverage_and_mean_popularity() -> None:
    assert catalog_coverage(np.array([[1, 2], [1, 3]]), 6) == 0.5
    train = csr([[0, 1], [0], [2], [], [1, 2]], n_items=3)  # 4 non-empty users
    popularity = item_popularity(train)
    assert popularity.tolist() == [0.5, 0.5, 0.5]
    assert mean_popularity(np.array([[0, 1]]), np.array([0.1, 0.3])) == pytest.approx(0.2)


def test_level_fit_rate_counts_only_known_levels() -> None:
    levels = np.array([100.0, 200.0, 300.0, np.nan, 900.0])
    low, high = np.array([150.0, np.nan]), np.array([350.0, np.nan])
    # user 0: items 1, 2 inside, item 4 outside, item 3 unknown → 2/3; user 1 has no band → skipped
    assert level_fit_rate(np.array([[1, 2, 3, 4], [0, 1, 2, 3]]), levels, low, high) == pytest.approx(2 / 3)


def test_level_bands_from_fold_in_history() -> None:
    levels = np.array([100.0, 200.0, 300.0, np.nan])
    low, high = user_level_bands(csr([[0, 2], [3]], n_items=4), levels, below=50, above=80)
    assert low[0] == pytest.approx(120 - 50) and high[0] == pytest.approx(280 + 80)
    assert np.isnan(low[1]) and np.isnan(high[1])


def test_evaluate_rankings_skips_users_without_target() -> None:
    target = csr([[1, 3], [5], []], n_items=8)
    recommended = np.vstack([RECOMMENDED, [[6, 7, 6, 7]]])  # third user: no target, not counted
    result = evaluate_rankings(recommended, target, np.arange(8) / 10)
    assert result["HR@10"] == 1.0
    assert result["Recall@20"] == 1.0
    assert result["NDCG@10"] == pytest.approx(((1 + 0.5) / (1 + 1 / math.log2(3)) + 0.5) / 2)
    assert result["MeanPop@10"] == pytest.approx((1 + 2 + 3 + 4 + 0 + 2 + 5 + 4) / 80)
    assert result["Coverage@10"] == pytest.approx(6 / 8)
