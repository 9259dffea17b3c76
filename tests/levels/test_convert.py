"""Any scale in, any scale out, through the one table in nextread/levels/data/levels.toml."""

from __future__ import annotations

import pytest

from nextread.levels import (
    SCALES,
    atos_to_level,
    grade_to_level,
    grl_to_level,
    level_to_atos,
    lexile_to_level,
    parse_level,
    show_level,
)
from nextread.levels.scale import TABLE


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("540L", lexile_to_level(540)),
        ("540 l", lexile_to_level(540)),
        ("BR100L", lexile_to_level(-100)),
        ("Lexile 540", lexile_to_level(540)),
        ("level M", grl_to_level("M")),
        ("GRL q", grl_to_level("Q")),
        ("guided reading level Z+", grl_to_level("Z")),
        ("M", grl_to_level("M")),
        ("ATOS 3.4", 3.4),
        ("AR 5", 5.0),
        ("grade 2", grade_to_level(2)),
        ("2nd grade", grade_to_level(2)),
        ("grade 2.3", 2.3),
        ("kindergarten", grade_to_level(0)),
    ],
)
def test_labelled_levels_in_every_scale(text: str, expected: float) -> None:
    assert parse_level(text) == pytest.approx(expected)


def test_bare_numbers_need_a_scale() -> None:
    assert parse_level(540, "lexile") == lexile_to_level(540)
    assert parse_level("3.4", "atos") == 3.4
    assert parse_level(2, "grade") == grade_to_level(2)
    assert parse_level(2.3, "grade") == 2.3
    with pytest.raises(ValueError, match="no scale"):
        parse_level(540)


@pytest.mark.parametrize("bad", ["hard", "ZZ", "7", "", "lexile", "grade x", float("nan")])
def test_unknown_levels_are_clear_errors(bad: object) -> None:
    with pytest.raises(ValueError, match="level"):
        parse_level(bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unknown level scale"):
        parse_level("540L", "stars")  # type: ignore[arg-type]


def test_atos_is_the_grade_scale_itself() -> None:
    for atos in (0.5, 1.0, 3.4, 7.9):
        assert atos_to_level(atos) == atos and level_to_atos(atos) == atos


@pytest.mark.parametrize("scale", SCALES)
def test_showing_a_level_round_trips_through_every_scale(scale: str) -> None:
    for level in (0.4, 1.5, 2.8, 3.7, 5.2):
        view = show_level(level, scale)  # type: ignore[arg-type]
        assert view.scale == scale and view.label
        back = parse_level(view.label)
        # The precision of each scale: a guided reading letter spans up to 1/3 grade, Lexile 10L.
        assert back == pytest.approx(level, abs=0.35 if scale == "guided_reading" else 0.1)


def test_labels_read_naturally() -> None:
    assert show_level(lexile_to_level(540), "lexile").label == "540L"
    assert show_level(0.4, "grade").label == "grade K.4"
    assert show_level(3.05, "grade").label == "grade 3.0" or show_level(3.05, "grade").label == "grade 3.1"
    assert show_level(grl_to_level("M"), "guided_reading").label == "level M"
    assert show_level(3.44, "atos").label == "ATOS 3.4"


def test_the_table_cites_its_sources_and_is_monotone() -> None:
    anchors = TABLE["lexile"]["anchors"]
    assert all(a[0] < b[0] and a[1] < b[1] for a, b in zip(anchors, anchors[1:], strict=False))
    assert "".join(TABLE["guided_reading"]["letters_by_grade"]) == "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    from importlib import resources

    text = resources.files("nextread.levels").joinpath("data/levels.toml").read_text("utf-8")
    for source in ("MetaMetrics", "Fountas & Pinnell", "Renaissance"):
        assert source in text
