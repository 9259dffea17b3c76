"""Our search space follows the signals the data carries: no budget on weights that cannot matter."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from nextread.evaluate.data import InteractionData, from_arrays
from nextread.evaluate.models import (
    CF_SPACE,
    DEFAULT_MODEL,
    UNCONSTRAINED_MODEL,
    select,
    served_grid,
)
from nextread.evaluate.runner import configurations

CF_KEYS = set(CF_SPACE)
TREND_KEYS = {"trending", "trending_half_life_days"}


def tiny(times: bool = False, rows: list[dict] | None = None, levels: bool = False) -> InteractionData:
    """Six readers with five books each out of eight; optional event times and an items file."""
    users = np.repeat([f"u{u}" for u in range(6)], 5)
    items = np.array([f"b{(u + k) % 8}" for u in range(6) for k in range(5)])
    stamps = np.arange(len(users), dtype=np.float64) * 3600.0 if times else None
    data = from_arrays(users, items, stamps)
    if rows is not None:
        by_id = {row["id"]: row for row in rows}
        data = replace(data, item_rows=tuple(by_id.get(i, {}) for i in data.item_ids))
    if levels:
        data = replace(data, item_levels=np.linspace(200.0, 900.0, data.n_items))
    return data


def test_bare_interactions_tune_only_cf_and_popularity() -> None:
    assert set(served_grid(tiny())) == CF_KEYS


def test_event_times_add_trending_and_its_half_life() -> None:
    assert set(served_grid(tiny(times=True))) == CF_KEYS | TREND_KEYS


def test_items_with_titles_only_add_the_semantic_weight_alone() -> None:
    rows = [{"id": f"b{i}", "title": f"Movie {i}"} for i in range(8)]
    assert set(served_grid(tiny(rows=rows))) == CF_KEYS | {"semantic"}


def test_items_without_any_signal_add_nothing() -> None:
    rows = [{"id": f"b{i}", "stock_code": i} for i in range(8)]
    assert set(served_grid(tiny(times=True, rows=rows))) == CF_KEYS | TREND_KEYS


def test_every_signal_present_gives_every_weight() -> None:
    rows = [
        {
            "id": f"b{i}",
            "title": f"Book {i}",
            "lexile": 300 + 50 * i,
            "average_rating": 3.5 + i / 10,
            "ratings_count": 10 * i,
            "publication_year": 2000 + i,
        }
        for i in range(8)
    ]
    grid = served_grid(tiny(times=True, rows=rows))
    assert set(grid) == CF_KEYS | TREND_KEYS | {"reading_match", "rating", "semantic", "recency"}


def test_a_rating_column_without_counts_is_no_rating_signal() -> None:
    rows = [{"id": f"b{i}", "average_rating": 4.0} for i in range(8)]
    assert set(served_grid(tiny(rows=rows))) == CF_KEYS


def test_validation_can_switch_off_every_optional_signal() -> None:
    rows = [
        {
            "id": f"b{i}",
            "title": "t",
            "lexile": 500,
            "average_rating": 4,
            "ratings_count": 3,
            "publication_year": 1999,
        }
        for i in range(8)
    ]
    grid = served_grid(tiny(times=True, rows=rows))
    for name in ("popularity", "dropout", "semantic", "rating", "recency", "trending"):
        assert 0.0 in grid[name], name
    assert 0.0 not in grid["reading_match"]  # the level-aware default; its 0 is the unconstrained model


def test_without_level_fit_has_our_space_minus_the_level_weight() -> None:
    rows = [{"id": f"b{i}", "lexile": 300 + 50 * i} for i in range(8)]
    data = tiny(times=True, rows=rows, levels=True)
    factories, grids = select(data, [DEFAULT_MODEL, UNCONSTRAINED_MODEL])
    assert set(grids[UNCONSTRAINED_MODEL]) == set(grids[DEFAULT_MODEL]) - {"reading_match"}
    assert factories[UNCONSTRAINED_MODEL](l2=100.0).weights.reading_match == 0.0
    with pytest.raises(ValueError, match="unknown model"):
        select(tiny(), [UNCONSTRAINED_MODEL])


def test_the_budget_is_sampled_from_the_space() -> None:
    grid = served_grid(tiny(times=True))
    chosen = configurations(grid, 16, np.random.default_rng(0))
    assert len(chosen) == 16
    assert len({tuple(sorted(c.items())) for c in chosen}) == 16
    assert all(c["l2"] in grid["l2"] and c["trending"] in grid["trending"] for c in chosen)
