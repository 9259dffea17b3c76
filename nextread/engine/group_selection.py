"""Choosing one reading list for a whole class, over plain arrays.

Inputs are matrices with one row per student and one column per item:

* ``scores`` — each student's personal hybrid score in [0, 1]; NaN where the item is not a candidate
  for that student (already read, not grade appropriate, filtered out);
* ``in_band`` — the item lies in the student's just-right reading band;
* ``has_read`` — the student has already read (checked out, finished…) the item.

A list is judged per student, so nobody's needs disappear into a class average:

* **coverage** — the student finds at least ``min_per_student`` unread books in their own just-right
  band in the list (a class list that only suits the middle readers fails the others);
* **utility** — the student's scores of the books in the list divided by the best they could have
  got from a list of the same length (their own top picks among the eligible books), so 1.0 means
  "as good as my personal list" and the numbers compare across students.

Strategies (see the README for the measured comparison on the demo school):

* ``sum`` — naive baseline: the n items with the largest sum of scores. Loud majorities win.
* ``average_without_misery`` — cover every band first, then the best mean score among books that
  nobody who has not read them scores below ``misery_threshold`` (Masthoff's strategy).
* ``proportional`` (default) — cover every band first, then greedily add the book with the largest
  sum of scores weighted towards the students the list serves worst so far (weight
  ``(1 − utility)²``), times ``1 − READ_PENALTY × share of the class that read it``: a greedy
  proportional / least-misery-aware selection in the spirit of GFAR
  (Kaya, Bridge & Tintarev, RecSys 2020) and the satisfaction-balancing greedy of Lin et al. (2017).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

Strategy = Literal["proportional", "average_without_misery", "sum"]
STRATEGIES: tuple[str, ...] = ("proportional", "average_without_misery", "sum")
DEFAULT_MISERY_THRESHOLD = 0.25
# How much a book read by the whole class loses in the proportional strategy (linear in the share):
# a class list is for reading together, and a reader's own score already ignores what they read.
READ_PENALTY = 0.5


@dataclass(frozen=True)
class GroupMetrics:
    """How well one list serves one class; every number is per student, then summarised."""

    coverage: float
    """Share of students with at least ``min_per_student`` unread books of their band in the list."""
    mean_utility: float
    min_utility: float
    already_read_share: float
    """Mean, over the books of the list, of the share of the class that has already read the book."""
    utility: np.ndarray
    in_band_counts: np.ndarray


def _filled(scores: np.ndarray) -> np.ndarray:
    return np.nan_to_num(np.asarray(scores, dtype=np.float64), nan=0.0)


def eligible_items(scores: np.ndarray, has_read: np.ndarray, max_read_share: float = 0.5) -> np.ndarray:
    """Items some student may be offered and that fewer than ``max_read_share`` of the class have read:
    a class list is for reading together, not for re-reading what most already know."""
    candidate_for_someone = np.isfinite(scores).any(axis=0)
    read_share = np.asarray(has_read, dtype=bool).mean(axis=0) if len(scores) else np.zeros(0)
    return candidate_for_someone & (read_share < max_read_share)


def ideal_utility(scores: np.ndarray, eligible: np.ndarray, length: int) -> np.ndarray:
    """Each student's best achievable score sum with ``length`` eligible books: the utility denominator."""
    filled = _filled(scores)[:, eligible]
    if length <= 0 or filled.shape[1] == 0:
        return np.zeros(len(filled))
    length = min(length, filled.shape[1])
    best = -np.partition(-filled, length - 1, axis=1)[:, :length]
    return best.sum(axis=1)


def group_metrics(
    scores: np.ndarray,
    in_band: np.ndarray,
    has_read: np.ndarray,
    selected: np.ndarray,
    *,
    min_per_student: int,
    max_read_share: float = 0.5,
) -> GroupMetrics:
    selected = np.asarray(selected, dtype=np.intp)
    filled = _filled(scores)
    fits = np.asarray(in_band, dtype=bool) & ~np.asarray(has_read, dtype=bool)
    in_band_counts = fits[:, selected].sum(axis=1)
    ideal = ideal_utility(scores, eligible_items(scores, has_read, max_read_share), len(selected))
    achieved = filled[:, selected].sum(axis=1)
    utility = np.divide(achieved, ideal, out=np.zeros(len(filled)), where=ideal > 0)
    utility = np.minimum(utility, 1.0)
    students = max(len(filled), 1)
    read_share = np.asarray(has_read, dtype=bool)[:, selected].sum(axis=0) / students
    return GroupMetrics(
        coverage=float((in_band_counts >= min_per_student).mean()) if len(filled) else 0.0,
        mean_utility=float(utility.mean()) if len(filled) else 0.0,
        min_utility=float(utility.min()) if len(filled) else 0.0,
        already_read_share=float(read_share.mean()) if len(selected) else 0.0,
        utility=utility,
        in_band_counts=in_band_counts,
    )


def select_for_group(
    scores: np.ndarray,
    in_band: np.ndarray,
    has_read: np.ndarray,
    n: int,
    *,
    min_per_student: int = 2,
    strategy: Strategy = "proportional",
    max_read_share: float = 0.5,
    misery_threshold: float = DEFAULT_MISERY_THRESHOLD,
    series: np.ndarray | None = None,
) -> np.ndarray:
    """Item indices of the class list, in order. ``series`` (one label per item, "" for none) keeps
    at most one book per series, as personal lists do."""
    scores = np.asarray(scores, dtype=np.float64)
    if scores.ndim != 2 or scores.shape != np.shape(in_band) or scores.shape != np.shape(has_read):
        raise ValueError("scores, in_band and has_read must be matrices of the same shape")
    if strategy not in STRATEGIES:
        raise ValueError(f"strategy must be one of {', '.join(STRATEGIES)}, got {strategy!r}")
    if n <= 0 or scores.shape[0] == 0:
        return np.zeros(0, dtype=np.intp)
    if strategy == "sum":
        return _top_by_sum(scores, n, series)
    picker = _Picker(scores, in_band, has_read, max_read_share, series)
    picker.cover_bands(n, min_per_student)
    while len(picker.picked) < n and picker.available.any():
        if strategy == "average_without_misery":
            gain = picker.without_misery(misery_threshold)
        else:
            gain = picker.proportional(n)
        picker.take(int(np.argmax(np.where(picker.available, gain, -np.inf))))
    return np.asarray(picker.picked, dtype=np.intp)


def _top_by_sum(scores: np.ndarray, n: int, series: np.ndarray | None) -> np.ndarray:
    total = _filled(scores).sum(axis=0)
    order = np.lexsort((np.arange(len(total)), -total))
    order = order[np.isfinite(scores).any(axis=0)[order]]
    picked: list[int] = []
    taken_series: set[str] = set()
    for item in order.tolist():
        key = series[item] if series is not None else ""
        if key and key in taken_series:
            continue
        taken_series.add(key)
        picked.append(item)
        if len(picked) == n:
            break
    return np.asarray(picked, dtype=np.intp)


class _Picker:
    """Greedy selection state shared by the fair strategies."""

    def __init__(
        self,
        scores: np.ndarray,
        in_band: np.ndarray,
        has_read: np.ndarray,
        max_read_share: float,
        series: np.ndarray | None,
    ) -> None:
        self.scores = scores
        self.filled = _filled(scores)
        self.has_read = np.asarray(has_read, dtype=bool)
        self.fits = np.asarray(in_band, dtype=bool) & ~self.has_read
        self.available = eligible_items(scores, has_read, max_read_share)
        self.unread_share = 1.0 - READ_PENALTY * self.has_read.mean(axis=0)
        self.series = series
        self.picked: list[int] = []
        self.achieved = np.zeros(len(scores))
        self.in_band_counts = np.zeros(len(scores), dtype=np.int64)

    def take(self, item: int) -> None:
        self.picked.append(item)
        self.available[item] = False
        if self.series is not None and self.series[item]:
            self.available &= self.series != self.series[item]
        self.achieved += self.filled[:, item]
        self.in_band_counts += self.fits[:, item]

    def cover_bands(self, n: int, min_per_student: int) -> None:
        """Set multicover, greedily: each pick is the book in the bands of the most students still
        short of ``min_per_student``, each counted ``1 + their score`` so that among books covering
        as many students the one they like better wins. Stops when every student who *can* be
        covered is, or the list is full."""
        while len(self.picked) < n:
            short = (self.in_band_counts < min_per_student).astype(np.float64)
            gain = (short[:, None] * self.fits * (1.0 + self.filled)).sum(axis=0)
            gain = np.where(self.available, gain, 0.0)
            if not gain.any():
                return
            self.take(int(np.argmax(gain)))

    def proportional(self, n: int) -> np.ndarray:
        ideal = ideal_utility(self.scores, self.available | _mask(self.picked, len(self.available)), n)
        utility = np.minimum(np.divide(self.achieved, ideal, out=np.ones(len(ideal)), where=ideal > 0), 1.0)
        weights = np.square(1.0 - utility) + 1e-6
        return (weights @ self.filled) * self.unread_share

    def without_misery(self, threshold: float) -> np.ndarray:
        """Mean score over the class; a book some unread student scores below ``threshold`` drops
        behind every book without such misery (it stays usable when nothing else is left)."""
        mean = self.filled.mean(axis=0)
        miserable = ((self.filled < threshold) & ~self.has_read).any(axis=0)
        return np.where(miserable, mean - 1.0, mean)


def _mask(indices: list[int], size: int) -> np.ndarray:
    mask = np.zeros(size, dtype=bool)
    mask[indices] = True
    return mask


def personal_ranks(scores: np.ndarray, items: np.ndarray) -> np.ndarray:
    """Rank (1 = their top pick) of each of ``items`` in each student's own ranking; 0 where the item
    is not a candidate for that student."""
    scores = np.asarray(scores, dtype=np.float64)
    items = np.asarray(items, dtype=np.intp)
    chosen = scores[:, items]
    comparable = np.where(np.isfinite(scores), scores, -np.inf)
    ranks = 1 + (comparable[:, None, :] > chosen[:, :, None]).sum(axis=2)
    return np.where(np.isfinite(chosen), ranks, 0)
