"""One reading scale for every leveling system: a US grade equivalent as a float.

Integer ``g`` marks the *start* of grade ``g`` (K = 0.0, 1st grade = 1.0, …), so a grade label covers
``[g, g + 1)`` and its middle is ``g + 0.5``. Everything is mapped onto that convention: a student
known only by grade sits mid-year (``g + 0.5``), a book for grades 2–3 sits at the middle of
``[2, 4)`` = 3.0, and a Lexile band's median is mid-year of its grade. Comparing a reader and a book
then only needs one subtraction, whichever system each was levelled in.

Vectorised helpers take arrays where NaN (or ``None`` for letters) means "unknown" and keep it unknown.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
from numpy.typing import ArrayLike

MAX_LEVEL = 12.0

# Lexile → grade equivalent. Source: MetaMetrics, "Typical Reader Measures, by Grade" (mid-year,
# 25th–75th percentile of U.S. students; lexile.com Grade Level Charts): 1st up to 300L, 2nd
# 140L–500L, 3rd 330L–700L, 4th 445L–810L, 5th 565L–910L, 6th 665L–1000L, 7th 735L–1065L,
# 8th 805L–1100L, 9th 855L–1165L, 10th 905L–1195L, 11th–12th 940L–1210L.
# Each band's midpoint is taken as the mid-year (g + 0.5) measure; 1st grade's "up to 300L" is read as
# 0L–300L. Beginning-reader (BR, i.e. negative) measures are spread over kindergarten down to BR400L.
# Reader measures rather than the CCSS text bands because "at your level" means where students of a
# grade actually read independently, not the stretch target; one table serves readers and books so that
# an equal Lexile always means an equal level.
_LEXILE_ANCHORS = np.array(
    [-400.0, 0.0, 150.0, 320.0, 515.0, 627.5, 737.5, 832.5, 900.0, 952.5, 1010.0, 1050.0, 1075.0]
)
_LEXILE_GRADES = np.array([0.0, 1.0, 1.5, 2.5, 3.5, 4.5, 5.5, 6.5, 7.5, 8.5, 9.5, 10.5, 12.0])

# Fountas & Pinnell guided reading level → grade. Source: Fountas & Pinnell, "F&P Text Level Ladder /
# Instructional Level Expectations for Reading" grade-level equivalence: A–D K, E–J 1st, K–M 2nd,
# N–P 3rd, Q–S 4th, T–V 5th, W–Y 6th, Z 7th and up. Letters are spread evenly inside their grade,
# each at the centre of its share of the year (so D is late K, E early 1st).
_GRL_BY_GRADE = ("ABCD", "EFGHIJ", "KLM", "NOP", "QRS", "TUV", "WXY", "Z")
GRL_LEVELS: dict[str, float] = {
    letter: grade + (position + 0.5) / len(letters)
    for grade, letters in enumerate(_GRL_BY_GRADE)
    for position, letter in enumerate(letters)
}
_GRL_LETTERS = np.array(list(GRL_LEVELS))
_GRL_VALUES = np.array(list(GRL_LEVELS.values()))

# U.S. kindergarteners are 5 at the start of the year, so a grade is an age minus five.
KINDERGARTEN_AGE = 5


def lexile_to_level(lexile: float) -> float:
    return float(np.interp(lexile, _LEXILE_ANCHORS, _LEXILE_GRADES))


def lexiles_to_levels(lexiles: ArrayLike) -> np.ndarray:
    values = np.asarray(lexiles, dtype=np.float64)
    return np.where(np.isnan(values), np.nan, np.interp(values, _LEXILE_ANCHORS, _LEXILE_GRADES))


def grl_to_level(guided_reading_level: str) -> float:
    """Accepts "m", " M " or "Z+" (the plus only says "beyond Z", which the scale caps anyway)."""
    letter = guided_reading_level.strip().upper().rstrip("+")
    if letter not in GRL_LEVELS:
        raise ValueError(
            f"guided_reading_level {guided_reading_level!r} is not a Fountas & Pinnell level A–Z"
        )
    return GRL_LEVELS[letter]


def grls_to_levels(guided_reading_levels: Iterable[str | None]) -> np.ndarray:
    return np.array(
        [np.nan if not grl or not grl.strip() else grl_to_level(grl) for grl in guided_reading_levels],
        dtype=np.float64,
    )


def grade_to_level(grade: float) -> float:
    """A student known only by grade is placed mid-year, where that grade's typical reader is."""
    return float(np.clip(grade + 0.5, 0.0, MAX_LEVEL))


def grade_range_to_level(grade_min: float | None, grade_max: float | None) -> float | None:
    """Middle of the span the labels cover: grades 2–3 cover [2, 4), so 3.0; one open end counts alone."""
    low = grade_max if grade_min is None else grade_min
    high = grade_min if grade_max is None else grade_max
    if low is None or high is None:
        return None
    return float(np.clip((low + high + 1.0) / 2.0, 0.0, MAX_LEVEL))


def level_to_lexile(level: float) -> int:
    """Rounded to 10L, the precision Lexile measures are reported in; ≤ 0 is shown as BR (see
    :func:`format_lexile`)."""
    return int(round(float(np.interp(level, _LEXILE_GRADES, _LEXILE_ANCHORS)) / 10.0) * 10)


def format_lexile(lexile: int) -> str:
    return f"BR{-lexile}L" if lexile < 0 else ("BR" if lexile == 0 else f"{lexile}L")


def level_to_grl(level: float) -> str:
    return str(_GRL_LETTERS[int(np.argmin(np.abs(_GRL_VALUES - level)))])


def level_from(
    lexile: float | None = None, guided_reading_level: str | None = None, grade: float | None = None
) -> float | None:
    """A measured level beats a grade: students in one class can read years apart. Lexile comes before
    a guided reading letter because it is the finer measure."""
    if lexile is not None:
        return lexile_to_level(lexile)
    if guided_reading_level:
        return grl_to_level(guided_reading_level)
    if grade is not None:
        return grade_to_level(grade)
    return None


def _age_to_grade(age: float | None) -> float | None:
    return None if age is None else age - KINDERGARTEN_AGE


def item_level(
    lexile: float | None = None,
    guided_reading_level: str | None = None,
    grade_min: float | None = None,
    grade_max: float | None = None,
    age_min: float | None = None,
    age_max: float | None = None,
) -> float | None:
    """Books without a measured level still get one from their intended audience, grades first,
    then ages, so most of a school catalogue takes part in level matching."""
    stated = level_from(lexile, guided_reading_level)
    if stated is not None:
        return stated
    by_grade = grade_range_to_level(grade_min, grade_max)
    if by_grade is not None:
        return by_grade
    return grade_range_to_level(_age_to_grade(age_min), _age_to_grade(age_max))


def item_levels(
    lexile: ArrayLike,
    guided_reading_level: Iterable[str | None],
    grade_min: ArrayLike,
    grade_max: ArrayLike,
    age_min: ArrayLike | None = None,
    age_max: ArrayLike | None = None,
) -> np.ndarray:
    """:func:`item_level` over a whole catalogue, with the same precedence; NaN where nothing is known."""
    levels = lexiles_to_levels(lexile)
    levels = np.where(np.isnan(levels), grls_to_levels(guided_reading_level), levels)
    levels = np.where(np.isnan(levels), _range_midpoints(grade_min, grade_max), levels)
    if age_min is not None and age_max is not None:
        by_age = _range_midpoints(
            np.asarray(age_min, dtype=np.float64) - KINDERGARTEN_AGE,
            np.asarray(age_max, dtype=np.float64) - KINDERGARTEN_AGE,
        )
        levels = np.where(np.isnan(levels), by_age, levels)
    return levels


def _range_midpoints(low: ArrayLike, high: ArrayLike) -> np.ndarray:
    low_values = np.asarray(low, dtype=np.float64)
    high_values = np.asarray(high, dtype=np.float64)
    # fmin/fmax skip a NaN, so a range with one open end counts that end alone, as in the scalar version.
    span_sum = np.fmin(low_values, high_values) + np.fmax(low_values, high_values)
    return np.clip((span_sum + 1.0) / 2.0, 0.0, MAX_LEVEL)
