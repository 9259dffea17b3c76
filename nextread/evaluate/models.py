"""Which models a run compares, with their tuning grids, and which one is "ours by default".

``DEFAULT_MODEL`` names the configuration we ship and claim numbers for: a blend of EASE (closed-form
item-item regression, with EDLAE's popularity-proportional regularisation as a tuned option), overall
popularity, and a reading-level affinity when the catalog has levels. Every blend weight is a tuned
hyperparameter that includes 0, so where a signal does not help the default falls back to EASE/EDLAE.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial

import numpy as np

from nextread.evaluate.data import InteractionData
from nextread.evaluate.runner import Factory, ParamGrid
from nextread.recommend.blend import LevelAffinity, ScoreBlend, Scorer
from nextread.recommend.collaborative import EASE, IALS, ItemKNN, Popularity

DEFAULT_MODEL = "nextread"
UNCONSTRAINED_MODEL = "nextread CF only (no levels)"


def nextread_default(
    l2: float,
    dropout: float = 0.0,
    popularity_weight: float = 0.0,
    level_weight: float = 0.0,
    item_levels: np.ndarray | None = None,
) -> ScoreBlend:
    components: list[tuple[Scorer, float]] = [(EASE(l2, dropout=dropout), 1.0)]
    components.append((Popularity(), popularity_weight))
    if item_levels is not None:
        components.append((LevelAffinity(item_levels), level_weight))
    return ScoreBlend(components)


CF_GRID: ParamGrid = {"l2": [100.0, 400.0], "dropout": [0.0, 0.5], "popularity_weight": [0.0, 0.5, 1.0, 2.0]}
IALS_GRID: ParamGrid = {
    "factors": [32, 64, 128, 256],
    "regularization": [0.01, 0.1, 1.0, 10.0, 50.0, 100.0],
    "alpha": [1.0, 2.0, 5.0, 10.0, 20.0, 40.0],
    "iterations": [10, 15, 25],
}


def registry(data: InteractionData) -> dict[str, tuple[Factory, ParamGrid]]:
    """Every model the evaluation knows, as (factory, grid). Built per dataset because the default
    needs the catalog's levels."""
    # 16 configurations either way, the same budget the peers get.
    default_grid = CF_GRID
    if data.item_levels is not None:
        default_grid = {
            "l2": [100.0, 400.0],
            "dropout": [0.0, 0.5],
            "popularity_weight": [0.0, 1.0],
            "level_weight": [0.0, 0.5],
        }
    models: dict[str, tuple[Factory, ParamGrid]] = {
        "popularity": (Popularity, {}),
        "implicit item-kNN (cosine)": (
            partial(ItemKNN, similarity="cosine"),
            {"neighbours": [10, 20, 50, 100, 200, 400, 800]},
        ),
        "implicit item-kNN (BM25)": (
            partial(ItemKNN, similarity="bm25"),
            {"neighbours": [20, 50, 100, 200, 400], "k1": [0.3, 0.6, 1.2, 2.0], "b": [0.25, 0.5, 0.75, 1.0]},
        ),
        "implicit iALS": (IALS, IALS_GRID),
        DEFAULT_MODEL: (partial(nextread_default, item_levels=data.item_levels), default_grid),
    }
    if data.item_levels is not None:
        # The level bar compares the default with the same blend given no level signal.
        models[UNCONSTRAINED_MODEL] = (nextread_default, CF_GRID)
    return models


def select(
    data: InteractionData, names: Sequence[str] | None = None
) -> tuple[dict[str, Factory], dict[str, ParamGrid]]:
    """Factories and grids for the named models (all when ``names`` is empty), in registry order."""
    available = registry(data)
    unknown = [name for name in names or () if name not in available]
    if unknown:
        raise ValueError(f"unknown model(s) {unknown}; choose from {list(available)}")
    chosen = {name: spec for name, spec in available.items() if not names or name in names}
    return {name: spec[0] for name, spec in chosen.items()}, {name: spec[1] for name, spec in chosen.items()}
