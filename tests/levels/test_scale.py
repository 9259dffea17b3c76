import numpy as np
import pytest

from nextread.levels import (
    GRL_LEVELS,
    format_lexile,
    grade_to_level,
    grl_to_level,
    grls_to_levels,
    item_level,
    item_levels,
    level_from,
    level_to_grl,
    level_to_lexile,
    lexile_to_level,
    lexiles_to_levels,
)


def test_guided_reading_letters_follow_the_fountas_pinnell_grade_chart():
    assert 0.0 <= grl_to_level("A") < grl_to_level("D") < 1.0
    assert 1.0 <= grl_to_level("E") < grl_to_level("J") < 2.0
    assert 2.0 <= grl_to_level("M") < 3.0
    assert 4.0 <= grl_to_level("Q") < 5.0
    assert 5.0 <= grl_to_level("V") < 6.0
    assert grl_to_level("Z") >= 7.0
    assert grl_to_level(" m ") == grl_to_level("M") == grl_to_level("M+")


def test_guided_reading_levels_are_monotone_in_the_alphabet():
    letters = sorted(GRL_LEVELS)
    assert np.all(np.diff([GRL_LEVELS[letter] for letter in letters]) > 0)


def test_unknown_guided_reading_letter_is_a_clear_error():
    with pytest.raises(ValueError, match="guided_reading_level '7'"):
        grl_to_level("7")


def test_lexile_maps_to_plausible_grades_and_beginning_readers_to_kindergarten():
    assert 2.0 <= lexile_to_level(500) < 4.0
    assert lexile_to_level(-200) < 1.0
    assert lexile_to_level(-2000) == 0.0
    assert 4.0 <= lexile_to_level(700) < 6.0
    assert lexile_to_level(5000) == 12.0


def test_lexile_conversion_is_monotone():
    measures = np.arange(-600, 1600, 5)
    assert np.all(np.diff(lexiles_to_levels(measures)) >= 0)


def test_round_trips_show_a_level_in_the_schools_scale():
    for measure in (200, 400, 600, 800, 1000):
        assert abs(level_to_lexile(lexile_to_level(measure)) - measure) <= 5
    for letter in GRL_LEVELS:
        assert level_to_grl(grl_to_level(letter)) == letter
    assert format_lexile(level_to_lexile(0.5)).startswith("BR")
    assert format_lexile(540) == "540L"


def test_stated_level_wins_over_grade():
    assert level_from(lexile=500, guided_reading_level="A", grade=5) == lexile_to_level(500)
    assert level_from(guided_reading_level="M", grade=5) == grl_to_level("M")
    assert level_from(grade=2) == grade_to_level(2) == 2.5
    assert level_from() is None


def test_item_level_falls_back_to_grade_then_age_range():
    assert item_level(lexile=500, grade_min=0, grade_max=0) == lexile_to_level(500)
    assert item_level(grade_min=2, grade_max=3) == 3.0
    assert item_level(grade_max=1) == 1.5
    assert item_level(age_min=6, age_max=8) == 2.5
    assert item_level() is None


def test_vectorised_helpers_keep_unknowns_unknown_and_agree_with_scalars():
    levels = item_levels(
        lexile=[np.nan, 500, np.nan, np.nan, np.nan],
        guided_reading_level=[None, "A", "M", None, ""],
        grade_min=[np.nan, np.nan, 0, 2, np.nan],
        grade_max=[np.nan, np.nan, 0, 3, np.nan],
        age_min=[np.nan, np.nan, np.nan, np.nan, 6],
        age_max=[np.nan, np.nan, np.nan, np.nan, 8],
    )
    assert np.isnan(levels[0])
    assert levels[1] == lexile_to_level(500)
    assert levels[2] == grl_to_level("M")
    assert levels[3] == item_level(grade_min=2, grade_max=3)
    assert levels[4] == item_level(age_min=6, age_max=8)
    assert np.isnan(grls_to_levels([None, " "])).all()
