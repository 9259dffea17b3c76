"""Any scale in, the school's scale out.

Librarians type levels the way their school speaks ("540L", "BR100L", "level M", "ATOS 3.4",
"2nd grade"); everything is stored and compared on the one grade-equivalent scale of
:mod:`nextread.levels.scale` and shown back in the scale the school chose (``NEXTREAD_LEVEL_SCALE``).
"""

from __future__ import annotations

import re
from typing import Literal, get_args

import numpy as np
from pydantic import BaseModel

from nextread.levels.scale import (
    _ATOS_ANCHORS,
    _ATOS_GRADES,
    ATOS_PRECISION,
    GRL_LEVELS,
    MAX_LEVEL,
    MIN_LEVEL,
    format_lexile,
    grade_to_level,
    grl_to_level,
    level_to_grl,
    level_to_lexile,
    lexile_to_level,
)

Scale = Literal["grade", "lexile", "guided_reading", "atos"]
SCALES: tuple[str, ...] = get_args(Scale)

_LEXILE = re.compile(r"^(?:lexile\s*:?\s*)?(br)?\s*(-?\d{1,4})\s*(l?)$")
_GRL = re.compile(r"^(?:(?:grl|f&p|f\s*&\s*p|guided\s+reading(?:\s+level)?|level)\s*:?\s*)?([a-z])\+?$")
_ATOS = re.compile(r"^(?:atos|ar|bl|book\s+level)\s*:?\s*(\d{1,2}(?:\.\d+)?)$")
_GRADE = re.compile(
    r"^(?:grade\s*(\d{1,2}(?:\.\d+)?)|(\d{1,2})(?:st|nd|rd|th)?\s*grade|(?:grade\s*)?k\.(\d)|(?:grade\s*)?k|kindergarten)$"
)


class LevelView(BaseModel):
    """A level as the school reads it: ``{"scale": "lexile", "value": 540, "label": "540L"}``."""

    scale: Scale
    value: float | int | str
    label: str


def atos_to_level(atos: float) -> float:
    return float(np.interp(atos, _ATOS_ANCHORS, _ATOS_GRADES))


def level_to_atos(level: float) -> float:
    atos = float(np.interp(level, _ATOS_GRADES, _ATOS_ANCHORS))
    return round(round(atos / ATOS_PRECISION) * ATOS_PRECISION, 1)


def show_level(level: float, scale: Scale) -> LevelView:
    """The same level in any scale; grade equivalents keep one decimal ("grade 2.7", "grade K.4")."""
    if scale == "lexile":
        lexile = level_to_lexile(level)
        return LevelView(scale=scale, value=lexile, label=format_lexile(lexile))
    if scale == "guided_reading":
        letter = level_to_grl(level)
        return LevelView(scale=scale, value=letter, label=f"level {letter}")
    if scale == "atos":
        atos = level_to_atos(level)
        return LevelView(scale=scale, value=atos, label=f"ATOS {atos:.1f}")
    value = round(float(np.clip(level, MIN_LEVEL, MAX_LEVEL)), 1)
    whole = int(value)
    label = f"grade K.{round((value - whole) * 10)}" if whole == 0 else f"grade {value:.1f}"
    return LevelView(scale="grade", value=value, label=label)


def parse_level(value: str | float | int, scale: Scale | None = None) -> float:
    """A level written in any scale, onto the grade-equivalent scale.

    With ``scale`` a bare number is read in that scale (``parse_level(540, "lexile")``); without it the
    text must say which scale it is in ("540L", "BR100L", "lexile 540", "level M", "M", "ATOS 3.4",
    "grade 2", "2nd grade", "K"). A grade label is placed mid-year like a reader known only by grade;
    a decimal grade ("grade 2.3") is taken as a grade equivalent. Raises ``ValueError`` saying what
    was expected."""
    if scale is not None and scale not in SCALES:
        raise ValueError(f"unknown level scale {scale!r}; expected one of {', '.join(SCALES)}")
    if isinstance(value, int | float) and not isinstance(value, bool):
        return _number_in_scale(float(value), scale)
    text = str(value).strip().lower()
    if scale is not None and re.fullmatch(r"-?\d+(?:\.\d+)?", text):
        return _number_in_scale(float(text), scale)
    return _parse_labelled(text, value)


def parse_lexile(value: str) -> int:
    """A Lexile measure as written ("450L", "BR100L", "lexile 450", "450"), as an integer (BR is
    below zero). Raises ``ValueError`` for anything else."""
    match = _LEXILE.match(value.strip().lower())
    if match is None:
        raise ValueError(f"{value!r} is not a Lexile measure; expected e.g. '450L', 'BR100L' or 450")
    number = int(match.group(2))
    return -abs(number) if match.group(1) else number


def parse_guided_reading_level(value: str) -> str:
    """A guided reading letter as written ("M", "level M", "GRL M", "F&P M"), upper case. Anything
    else is returned as given, for the caller's own pattern to refuse with its message."""
    match = _GRL.match(value.strip().lower())
    return match.group(1).upper() if match else value


def _number_in_scale(number: float, scale: Scale | None) -> float:
    if not np.isfinite(number):
        raise ValueError(f"level {number!r} is not a finite number")
    if scale == "lexile":
        return lexile_to_level(number)
    if scale == "atos":
        return atos_to_level(number)
    if scale == "grade":
        return grade_to_level(number) if number.is_integer() else float(np.clip(number, MIN_LEVEL, MAX_LEVEL))
    raise ValueError(
        f"level {number:g} has no scale; say which (e.g. '{number:g}L' for Lexile, 'ATOS {number:g}', "
        f"'grade {number:g}')"
    )


def _parse_labelled(text: str, original: object) -> float:
    if (match := _LEXILE.match(text)) and (match.group(1) or match.group(3) or text.startswith("lexile")):
        number = float(match.group(2))
        return lexile_to_level(-abs(number) if match.group(1) else number)
    if match := _GRL.match(text):
        return grl_to_level(match.group(1))
    if match := _ATOS.match(text):
        return atos_to_level(float(match.group(1)))
    if match := _GRADE.match(text):
        if match.group(1):
            return _number_in_scale(float(match.group(1)), "grade")
        if match.group(3):  # "grade K.4", as show_level writes kindergarten equivalents
            return float(match.group(3)) / 10.0
        return grade_to_level(float(match.group(2)) if match.group(2) else 0.0)
    raise ValueError(
        f"level {original!r} is not a level in a known scale; expected e.g. '540L', 'BR100L', 'level M', "
        "'ATOS 3.4' or 'grade 2'"
    )


# The last moment of a whole grade (or letter) that ends a range: "1 to 2" stops just before grade 3.
_END_OF_SPAN = 0.01
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")


def level_range(
    low: str | float | None, high: str | float | None, scale: Scale = "grade"
) -> tuple[float | None, float | None]:
    """A range read as a person reads it, both ends included, onto the grade-equivalent scale.

    A whole grade, a whole ATOS year or a guided reading letter stands for all of it: grade "1 to 2"
    runs from the first day of grade 1 to the last of grade 2 (1.0–2.99), "level M" to "level P" from
    the start of M's share of the year to the end of P's. A decimal grade or ATOS level and a Lexile
    measure are taken as written. A bare number is read in ``scale``; a blank end is open. Raises
    ``ValueError`` as :func:`parse_level` does."""
    return _range_end(low, scale, upper=False), _range_end(high, scale, upper=True)


def _range_end(value: str | float | None, scale: Scale, *, upper: bool) -> float | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    span = _whole_span(value, scale)
    if span is None:
        return parse_level(value, scale)
    low, high = (float(np.clip(end, MIN_LEVEL, MAX_LEVEL + 1.0)) for end in span)
    return round(high - _END_OF_SPAN, 2) if upper else low


def _whole_span(value: str | float, scale: Scale) -> tuple[float, float] | None:
    """The stretch of the scale a whole grade, ATOS year or letter covers; ``None`` for a point."""
    text = str(value).strip().lower()
    if _NUMBER.fullmatch(text):
        number = float(text)
        return (number, number + 1.0) if scale in ("grade", "atos") and number.is_integer() else None
    if (match := _LEXILE.match(text)) and (match.group(1) or match.group(3) or text.startswith("lexile")):
        return None
    if match := _GRL.match(text):
        return _letter_span(match.group(1).upper())
    whole = None
    if match := _ATOS.match(text):
        whole = float(match.group(1))
    elif (match := _GRADE.match(text)) and not match.group(3):
        whole = float(match.group(1) or match.group(2) or 0.0)
    return (whole, whole + 1.0) if whole is not None and whole.is_integer() else None


def _letter_span(letter: str) -> tuple[float, float]:
    centre = grl_to_level(letter)
    grade = int(centre)
    share = 1.0 / sum(1 for level in GRL_LEVELS.values() if int(level) == grade)
    return round(centre - share / 2, 4), round(centre + share / 2, 4)
