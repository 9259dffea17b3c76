"""A level range read as a person reads it: a whole grade, ATOS year or letter is all of it, both ends."""

from __future__ import annotations

import pytest

from nextread.levels.convert import level_range


@pytest.mark.parametrize(
    ("low", "high", "scale", "expected"),
    [
        ("1", "2", "grade", (1.0, 2.99)),  # was 1.5–2.5: "1" read as a mid-year reader
        (1, 2, "grade", (1.0, 2.99)),
        ("grade 1", "2nd grade", "grade", (1.0, 2.99)),
        (1.5, 2.5, "grade", (1.5, 2.5)),
        ("ATOS 2", "ATOS 3.4", "grade", (2.0, 3.4)),
        (2, 3, "atos", (2.0, 3.99)),
        ("level M", "level P", "grade", (2.6667, 3.99)),
        ("M", "P", "guided_reading", (2.6667, 3.99)),
        (None, 12, "grade", (None, 12.99)),
        ("", None, "grade", (None, None)),
    ],
)
def test_ranges(low: object, high: object, scale: str, expected: tuple[float | None, float | None]) -> None:
    found = level_range(low, high, scale)  # type: ignore[arg-type]
    assert found == pytest.approx(expected) if None not in expected else found == expected


def test_lexile_ends_are_taken_as_written() -> None:
    low, high = level_range("300L", "500L")
    assert level_range(300, 500, "lexile") == (low, high)
    assert low is not None and high is not None and 2.0 < low < high < 3.5


def test_a_number_without_a_scale_is_refused() -> None:
    with pytest.raises(ValueError, match="no scale"):
        level_range(None, 3, "guided_reading")
