"""One reading scale for every leveling system: a US grade equivalent as a float.

Integer ``g`` marks the *start* of grade ``g`` (K = 0.0, 1st grade = 1.0, …), so a grade label covers
``[g, g + 1)`` and its middle is ``g + 0.5``. Everything is mapped onto that convention: a student
known only by grade sits mid-year (``g + 0.5``), a book for grades 2–3 sits at the middle of
``[2, 4)`` = 3.0, and a Lexile band's median is mid-year of its grade. Comparing a reader and a book
then only needs one subtraction, whichever system each was levelled in.

Vectorised helpers take arrays where NaN (or ``None`` for letters) means "unknown" and keep it unknown.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable
from importlib import resources

import numpy as np
from numpy.typing import ArrayLike

# The conversion table, with its published sources, lives in data/levels.toml (see its comments).
TABLE = tomllib.loads(resources.files("nextread.levels").joinpath("data/levels.toml").read_text("utf-8"))

MIN_LEVEL = float(TABLE["scale"]["min"])
MAX_LEVEL = float(TABLE["scale"]["max"])

_LEXILE_ANCHORS, _LEXILE_GRADES = np.array(TABLE["lexile"]["anchors"], dtype=np.float64).T
LEXILE_PRECISION = int(TABLE["lexile"]["precision"])
_ATOS_ANCHORS, _ATOS_GRADES = np.array(TABLE["atos"]["anchors"], dtype=np.float64).T
ATOS_PRECISION = float(TABLE["atos"]["precision"])

_GRL_BY_GRADE: list[str] = TABLE["guided_reading"]["letters_by_grade"]
GRL_LEVELS: dict[str, float] = {
    letter: grade + (position + 0.5) / len(letters)
    for grade, letters in enumerate(_GRL_BY_GRADE)
    for position, letter in enumerate(letters)
}
_GRL_LETTERS = np.array(list(GRL_LEVELS))
_GRL_VALUES = np.array(list(GRL_LEVELS.values()))

KINDERGARTEN_AGE = int(TABLE["grade"]["kindergarten_age"])
READER_OFFSET = float(TABLE["grade"]["reader_offset"])


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
    return min(max(float(grade) + READER_OFFSET, MIN_LEVEL), MAX_LEVEL)


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
    lexile = float(np.interp(level, _LEXILE_GRADES, _LEXILE_ANCHORS))
    return int(round(lexile / LEXILE_PRECISION) * LEXILE_PRECISION)


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
    estimated: float | None = None,
) -> float | None:
    """Books without a measured level still get one: an estimate (:mod:`nextread.services.level_estimates`,
    which already weighs the audience with the text and its readers) first, else the intended
    audience, grades before ages, so most of a school catalogue takes part in level matching."""
    stated = level_from(lexile, guided_reading_level)
    if stated is not None:
        return stated
    if estimated is not None:
        return float(estimated)
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
    estimated: ArrayLike | None = None,
) -> np.ndarray:
    """:func:`item_level` over a whole catalogue, with the same precedence; NaN where nothing is known."""
    levels = lexiles_to_levels(lexile)
    levels = np.where(np.isnan(levels), grls_to_levels(guided_reading_level), levels)
    if estimated is not None:
        levels = np.where(np.isnan(levels), np.asarray(estimated, dtype=np.float64), levels)
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
