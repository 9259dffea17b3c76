"""Which models a run compares, with their tuning grids, and which one is "ours by default".

``DEFAULT_MODEL`` is what the API serves: the hybrid pipeline of ``nextread.engine`` (EASE/EDLAE
collaborative scores plus reading-level fit, semantic profile, rating, recency, staff picks and series,
then series and diversity shaping), run offline by :class:`nextread.evaluate.hybrid.ServedHybrid`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from functools import partial
from typing import Any

import numpy as np
import scipy.sparse as sp

from nextread.engine.collaborative import IALS, ItemKNN, Popularity
from nextread.engine.pipeline import decimal_year
from nextread.evaluate.data import InteractionData
from nextread.evaluate.hybrid import (
    catalog_for,
    embed_items,
    reader_profiles,
    served_hybrid_factory,
    texts_of,
)
from nextread.evaluate.runner import Factory, ParamGrid

DEFAULT_MODEL = "nextread"
UNCONSTRAINED_MODEL = "nextread without level fit"


# Our search space is built from what the data carries, never from which file won: the CF model's λ
# and EDLAE dropout and the level-band popularity weight always, and each hybrid weight only when its
# signal exists, so no budget goes to a weight that cannot change a ranking. Every list except the
# reading-match weight's holds 0, so validation can switch off a signal that does not help on this data
# (the level-aware default always uses levels; "nextread without level fit" is its 0). The level and
# text weights reach twice the served default, so validation can also find that the reader's own level
# and interests deserve more (on the demo school with its students file it chose 0.8 and 0.6 on some
# seeds). The runner samples the budget from the product, as it does for iALS's grid.
CF_SPACE: ParamGrid = {
    "l2": [50.0, 100.0, 200.0, 400.0, 800.0, 1600.0],
    "dropout": [0.0, 0.25, 0.5],
    "popularity": [0.0, 0.1, 0.25],
}
SIGNAL_SPACES: dict[str, ParamGrid] = {
    "levels": {"reading_match": [0.2, 0.4, 0.8]},
    "item ratings": {"rating": [0.0, 0.1, 0.3]},
    "item text": {"semantic": [0.0, 0.1, 0.3, 0.6]},
    "item years": {"recency": [0.0, 0.1]},
    "event times": {"trending": [0.0, 1.0, 2.0], "trending_half_life_days": [7.0, 30.0]},
    "consumed events": {"consumed_weight": [0.0, 0.25, 0.5]},
}
IALS_GRID: ParamGrid = {
    "factors": [32, 64, 128, 256],
    "regularization": [0.01, 0.1, 1.0, 10.0, 50.0, 100.0],
    "alpha": [1.0, 2.0, 5.0, 10.0, 20.0, 40.0],
    "iterations": [10, 15, 25],
}


def registry(data: InteractionData) -> dict[str, tuple[Factory, ParamGrid]]:
    """Every model the evaluation knows, as (factory, grid). Built per dataset because ours runs over
    the dataset's catalog (levels, tags, series, ratings, text embeddings)."""
    rows = item_rows(data)
    embeddings = embed_items(rows) if data.item_rows is not None else None
    profiles = None if data.user_rows is None else reader_profiles(data.user_rows, embeddings is not None)
    served = served_hybrid_factory(
        catalog_for(rows, embeddings), data_end_year(data), event_times(data), profiles
    )
    grid = served_grid(data)
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
        DEFAULT_MODEL: (served, grid),
    }
    if "reading_match" in grid:
        # The level bar compares ours with the same pipeline, space and budget, level fit switched off.
        unconstrained = {name: values for name, values in grid.items() if name != "reading_match"}
        models[UNCONSTRAINED_MODEL] = (partial(served, reading_match=0.0), unconstrained)
    return models


def item_rows(data: InteractionData) -> tuple[dict[str, Any], ...]:
    return data.item_rows if data.item_rows is not None else tuple({} for _ in range(data.n_items))


def data_signals(data: InteractionData) -> list[str]:
    """The signals the served pipeline can read in this dataset, named as in ``SIGNAL_SPACES``; read
    from the catalog the served model is built on, so the grid and the model agree."""
    catalog = catalog_for(item_rows(data), None)
    rated = np.isfinite(catalog.rating_average) & (np.nan_to_num(catalog.rating_count) > 0)
    present = {
        "levels": bool(np.isfinite(catalog.levels).any()),
        "item ratings": bool(rated.any()),
        "item text": any(texts_of(item_rows(data))),
        "item years": bool(np.isfinite(catalog.publication_year).any()),
        "event times": data.timestamps is not None and len(np.unique(data.timestamps)) > 1,
        "consumed events": data.consumed is not None,
    }
    return [signal for signal in SIGNAL_SPACES if present[signal]]


def served_grid(data: InteractionData) -> ParamGrid:
    """Our search space for this dataset: CF and popularity, plus the weights of the signals it has."""
    grid = dict(CF_SPACE)
    for signal in data_signals(data):
        grid |= SIGNAL_SPACES[signal]
    return grid


def event_times(data: InteractionData) -> sp.csr_matrix | None:
    """Each positive pair's time in the matrix's own pattern, for the served model's trending signal."""
    if data.timestamps is None:
        return None
    return sp.csr_matrix(
        (np.asarray(data.timestamps, dtype=np.float64), data.matrix.indices, data.matrix.indptr),
        shape=data.matrix.shape,
    )


def data_end_year(data: InteractionData) -> float:
    """ "Today" for the recency signal: the last event in the data, so old logs are not all "stale"."""
    if data.timestamps is None or not len(data.timestamps):
        return decimal_year(datetime.now(UTC))
    return decimal_year(datetime.fromtimestamp(float(np.max(data.timestamps)), UTC))


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
