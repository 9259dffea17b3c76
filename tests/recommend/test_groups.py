"""Class-list selection over hand-made matrices where the fair answer is known."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from nextread.engine.group_selection import (
    STRATEGIES,
    eligible_items,
    group_metrics,
    personal_ranks,
    select_for_group,
)
from nextread.services.similar_users import similar_rows


def _majority_and_minority() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Five students: four strong readers (band: items 0–9) who love items 0–9, one emerging reader
    (band: items 10–14) who only likes items 10–14, which the others score low."""
    students, items = 5, 15
    scores = np.full((students, items), 0.1)
    scores[:4, :10] = np.linspace(0.95, 0.6, 10)
    scores[4, 10:] = np.linspace(0.9, 0.7, 5)
    scores[4, :10] = 0.05
    in_band = np.zeros((students, items), dtype=bool)
    in_band[:4, :10] = True
    in_band[4, 10:] = True
    return scores, in_band, np.zeros((students, items), dtype=bool)


@pytest.mark.parametrize("strategy", ["proportional", "average_without_misery"])
def test_fair_strategies_cover_every_band_where_the_sum_does_not(strategy: str) -> None:
    scores, in_band, has_read = _majority_and_minority()
    naive = select_for_group(scores, in_band, has_read, 5, min_per_student=2, strategy="sum")
    fair = select_for_group(scores, in_band, has_read, 5, min_per_student=2, strategy=strategy)
    naive_metrics = group_metrics(scores, in_band, has_read, naive, min_per_student=2)
    fair_metrics = group_metrics(scores, in_band, has_read, fair, min_per_student=2)
    assert naive_metrics.coverage == pytest.approx(0.8)
    assert fair_metrics.coverage == 1.0
    assert fair_metrics.in_band_counts[4] >= 2
    assert fair_metrics.min_utility > naive_metrics.min_utility


def test_proportional_raises_the_worst_served_students_utility() -> None:
    """Without band constraints (k = 0) the minority still gets books they like."""
    scores, in_band, has_read = _majority_and_minority()
    naive_list = select_for_group(scores, in_band, has_read, 6, min_per_student=0, strategy="sum")
    fair_list = select_for_group(scores, in_band, has_read, 6, min_per_student=0)
    naive = group_metrics(scores, in_band, has_read, naive_list, min_per_student=0)
    fair = group_metrics(scores, in_band, has_read, fair_list, min_per_student=0)
    assert naive.min_utility < 0.15
    assert fair.min_utility > 0.3
    assert fair.mean_utility > 0.5


def test_books_most_of_the_class_has_read_are_left_out() -> None:
    scores, in_band, has_read = _majority_and_minority()
    has_read[:3, 0] = True  # 3 of 5 read the favourite
    scores[:3, 0] = np.nan
    for strategy in ("proportional", "average_without_misery"):
        picked = select_for_group(scores, in_band, has_read, 8, strategy=strategy)  # type: ignore[arg-type]
        assert 0 not in picked
    assert not eligible_items(scores, has_read, max_read_share=0.5)[0]
    assert eligible_items(scores, has_read, max_read_share=0.7)[0]


def test_a_read_book_does_not_count_towards_that_students_band() -> None:
    scores, in_band, has_read = _majority_and_minority()
    has_read[4, 10:13] = True
    scores[4, 10:13] = np.nan
    picked = select_for_group(scores, in_band, has_read, 4, min_per_student=2)
    assert {13, 14} <= set(picked.tolist())


def test_one_book_per_series_and_exact_length() -> None:
    scores, in_band, has_read = _majority_and_minority()
    series = np.array(["saga"] * 5 + [""] * 10, dtype=object)
    for strategy in STRATEGIES:
        picked = select_for_group(scores, in_band, has_read, 7, strategy=strategy, series=series)  # type: ignore[arg-type]
        assert len(picked) == 7 and len(set(picked.tolist())) == 7
        assert sum(1 for i in picked if series[i] == "saga") == 1


def test_list_stops_when_nothing_is_left() -> None:
    scores = np.array([[0.5, np.nan, 0.2]])
    picked = select_for_group(scores, np.ones((1, 3), bool), np.zeros((1, 3), bool), 10)
    assert sorted(picked.tolist()) == [0, 2]


def test_metrics_by_hand() -> None:
    scores = np.array([[1.0, 0.5, 0.0], [0.0, 0.5, 1.0]])
    in_band = np.array([[True, True, False], [False, False, True]])
    has_read = np.array([[False, False, False], [True, False, False]])
    metrics = group_metrics(scores, in_band, has_read, np.array([0]), min_per_student=1)
    # student 0: 1.0 of a best of 1.0; student 1: 0 of a best of 1.0
    assert metrics.utility.tolist() == [1.0, 0.0]
    assert metrics.coverage == 0.5
    assert metrics.already_read_share == 0.5
    assert metrics.in_band_counts.tolist() == [1, 0]


def test_personal_ranks() -> None:
    scores = np.array([[0.9, 0.1, 0.5], [np.nan, 0.8, 0.2]])
    ranks = personal_ranks(scores, np.array([2, 0]))
    assert ranks.tolist() == [[2, 1], [2, 0]]


def test_bad_arguments() -> None:
    scores, in_band, has_read = _majority_and_minority()
    with pytest.raises(ValueError, match="strategy"):
        select_for_group(scores, in_band, has_read, 3, strategy="loudest")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="same shape"):
        select_for_group(scores, in_band[:, :3], has_read, 3)
    assert len(select_for_group(scores, in_band, has_read, 0)) == 0


def test_similar_rows_prefers_co_readers_then_level() -> None:
    taste = sp.csr_matrix(
        np.array(
            [
                [1, 1, 1, 0, 0],  # target
                [1, 1, 1, 0, 0],  # same books, level far away
                [1, 1, 0, 0, 0],  # most of them, same level
                [0, 0, 0, 1, 1],  # nothing shared, same level
                [0, 0, 0, 1, 1],  # nothing shared, unknown level
            ],
            dtype=np.float64,
        )
    )
    levels = np.array([2.0, 5.0, 2.0, 2.0, np.nan])
    found = similar_rows(taste, taste, levels, target=0, n=10)
    assert found.rows.tolist() == [2, 1, 3]
    assert found.shared.tolist() == [2, 3, 0]
    assert np.all(np.diff(found.similarity) <= 0) and 0 < found.similarity[-1] <= 0.25
