"""Reading levels: Lexile, guided reading letters and grades on one grade-equivalent scale."""

from nextread.levels.scale import (
    GRL_LEVELS,
    MAX_LEVEL,
    format_lexile,
    grade_range_to_level,
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

__all__ = [
    "GRL_LEVELS",
    "MAX_LEVEL",
    "format_lexile",
    "grade_range_to_level",
    "grade_to_level",
    "grl_to_level",
    "grls_to_levels",
    "item_level",
    "item_levels",
    "level_from",
    "level_to_grl",
    "level_to_lexile",
    "lexile_to_level",
    "lexiles_to_levels",
]
