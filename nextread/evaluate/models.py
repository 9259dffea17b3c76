"""Which models a run compares, with their tuning grids, and which one is "ours by default".

``DEFAULT_MODEL`` is what the API serves: the hybrid pipeline of ``nextread.recommend`` (EASE/EDLAE
collaborative scores plus reading-level fit, semantic profile, rating, recency, staff picks and series,
then series and diversity shaping), run offline by :class:`nextread.evaluate.hybrid.ServedHybrid`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from functools import partial

import numpy as np
import scipy.sparse as sp

from nextread.evaluate.data import InteractionData
from nextread.evaluate.hybrid import catalog_for, embed_items, served_hybrid_factory
from nextread.evaluate.runner import Factory, ParamGrid
from nextread.recommend.collaborative import IALS, ItemKNN, Popularity
from nextread.recommend.pipeline import decimal_year

DEFAULT_MODEL = "nextread"
UNCONSTRAINED_MODEL = "nextread without level fit"


# 16 configurations each, the budget every peer gets. With a catalog: the CF model's λ and the hybrid
# weights around the shipped defaults (nextread.recommend.hybrid.Weights). Without one (a bare
# interactions file) only CF and popularity carry signal, so their parameters are tuned instead.
HYBRID_GRID: ParamGrid = {
    "l2": [100.0, 400.0],
    "reading_match": [0.2, 0.4],
    "semantic": [0.0, 0.3],
    "rating": [0.1, 0.3],
}
UNCONSTRAINED_GRID: ParamGrid = {
    "l2": [100.0, 400.0],
    "dropout": [0.0, 0.5],
    "semantic": [0.0, 0.3],
    "rating": [0.1, 0.3],
}
CF_GRID: ParamGrid = {"l2": [100.0, 400.0], "dropout": [0.0, 0.5], "popularity": [0.0, 0.1, 0.25, 0.5]}
# With event times the trending signal (time-decayed positives, nextread.recommend.hybrid.trending)
# takes budget from the settled parameters: EDLAE's dropout (0.5 won on every MovieLens seed) and, with a
# catalog, λ (the served 100 won on every demo seed and split).
CF_TIME_GRID: ParamGrid = {
    "l2": [100.0, 400.0],
    "dropout": [0.5],
    "popularity": [0.0, 0.1],
    "trending": [0.0, 2.0],
    "trending_half_life_days": [7.0, 30.0],
}
HYBRID_TIME_GRID: ParamGrid = {
    "l2": [100.0],
    "reading_match": [0.2, 0.4],
    "semantic": [0.0, 0.3],
    "rating": [0.1, 0.3],
    "trending": [0.0, 2.0],
    "trending_half_life_days": [7.0],
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
    rows = data.item_rows if data.item_rows is not None else tuple({} for _ in range(data.n_items))
    embeddings = embed_items(rows) if data.item_rows is not None else None
    served = served_hybrid_factory(catalog_for(rows, embeddings), data_end_year(data), event_times(data))
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
        DEFAULT_MODEL: (served, served_grid(data)),
    }
    if data.item_levels is not None:
        # The level bar compares ours with the same pipeline and budget, reading-level fit switched off.
        models[UNCONSTRAINED_MODEL] = (partial(served, reading_match=0.0), UNCONSTRAINED_GRID)
    return models


def served_grid(data: InteractionData) -> ParamGrid:
    """Our grid for this dataset: hybrid weights only with a catalog, trending only with event times."""
    timed = data.timestamps is not None
    if data.item_rows is not None:
        return HYBRID_TIME_GRID if timed else HYBRID_GRID
    return CF_TIME_GRID if timed else CF_GRID


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
