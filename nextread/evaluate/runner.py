"""The evaluation loop: split, tune on validation users, score test users, aggregate over seeds.

Every model — ours and the peers — goes through the same code path with the same tuning budget, so a
difference in the table is a difference between models, not between how hard each was tuned.
"""

from __future__ import annotations

import inspect
import itertools
import json
import math
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import scipy.sparse as sp

from nextread.engine.hybrid import ReadingBand
from nextread.engine.protocol import Recommender
from nextread.engine.ranker import reusing_generator_fits
from nextread.evaluate.data import InteractionData
from nextread.evaluate.metrics import LIST_LENGTH, evaluate_rankings, item_popularity, top_k, user_level_bands
from nextread.evaluate.splits import HeldOut, Split, strong_generalization_split, time_cutoff_split

TUNING_METRIC = "NDCG@10"
# Serving's default just-right band (grades of stretch below and above), around what a reader reads.
LEVEL_BAND = ReadingBand()
SCORE_BATCH = 1024


Factory = Callable[..., Recommender]
ParamGrid = Mapping[str, Sequence[Any]]


def configurations(grid: ParamGrid, budget: int, rng: np.random.Generator) -> list[dict[str, Any]]:
    """The whole grid when it fits the budget, else ``budget`` distinct configurations drawn at random
    (decoded from indices, so huge grids are never materialised)."""
    names = list(grid)
    sizes = [len(grid[name]) for name in names]
    total = math.prod(sizes)
    if total <= budget:
        return [dict(zip(names, values, strict=True)) for values in itertools.product(*grid.values())]
    chosen = []
    for index in rng.choice(total, size=budget, replace=False):
        values, rest = {}, int(index)
        for name, size in zip(names, sizes, strict=True):
            rest, position = divmod(rest, size)
            values[name] = grid[name][position]
        chosen.append(values)
    return chosen


def build_model(factory: Factory, params: Mapping[str, Any], seed: int) -> Recommender:
    """Factories that accept a ``seed`` keyword get the run's seed, so random models vary across seeds."""
    accepts_seed = "seed" in inspect.signature(factory).parameters
    return factory(**params, seed=seed) if accepts_seed else factory(**params)


def fit(model: Recommender, interactions: sp.csr_matrix, consumed: sp.csr_matrix | None) -> Recommender:
    """Peers read positives only. A model with ``reads_consumed = True`` also gets, as keyword
    ``consumed``, what readers had without liking it (``None`` when the data has none)."""
    if getattr(model, "reads_consumed", False):
        return model.fit(interactions, consumed=consumed)  # type: ignore[call-arg]
    return model.fit(interactions)


def recommend(model: Recommender, held_out: HeldOut, n: int = LIST_LENGTH) -> np.ndarray:
    """Full-catalog ranking with everything the reader had excluded — the fold-in and what they
    consumed without liking it — for every model alike; scored in batches to bound memory."""
    reads_consumed = getattr(model, "reads_consumed", False)
    reads_profiles = getattr(model, "reads_profiles", False)
    lists = []
    for start in range(0, held_out.fold_in.shape[0], SCORE_BATCH):
        rows = held_out.fold_in[start : start + SCORE_BATCH]
        consumed = None if held_out.consumed is None else held_out.consumed[start : start + SCORE_BATCH]
        extra: dict[str, Any] = {"consumed": consumed} if reads_consumed else {}
        if reads_profiles:  # who the rows are, for models that read a user's stated profile
            extra["users"] = held_out.users[start : start + SCORE_BATCH]
        raw = model.score(rows, **extra)  # type: ignore[call-arg]
        scores = np.array(raw, dtype=np.float64)
        for seen in (rows, consumed):
            if seen is not None:
                row_index, item_index = seen.nonzero()
                scores[row_index, item_index] = -np.inf
        lists.append(top_k(scores, n))
    return np.vstack(lists)


def validation_score(model: Recommender, held_out: HeldOut, popularity: np.ndarray) -> float:
    return evaluate_rankings(recommend(model, held_out), held_out.target, popularity)[TUNING_METRIC]


def tune(
    factory: Factory, grid: ParamGrid, split: Split, seed: int, budget: int
) -> tuple[dict[str, Any], float]:
    """The configuration with the best validation NDCG@10, and that score."""
    rng = np.random.default_rng(seed)
    popularity = item_popularity(split.validation_train)
    best: tuple[dict[str, Any], float] | None = None
    for params in configurations(grid, budget, rng):
        model = fit(
            build_model(factory, params, seed), split.validation_train, split.validation_train_consumed
        )
        value = validation_score(model, split.validation, popularity)
        if best is None or value > best[1]:
            best = (params, value)
    assert best is not None  # configurations() always yields at least the empty configuration
    return best


def run_model(
    factory: Factory, grid: ParamGrid, split: Split, seed: int, budget: int, data: InteractionData
) -> dict[str, Any]:
    """Tune on the validation users, then refit the chosen configuration on the split's final
    training matrix (which also holds the validation users' histories) and score the test users."""
    started = time.perf_counter()
    params, validation_value = tune(factory, grid, split, seed, budget)
    model = fit(build_model(factory, params, seed), split.train, split.train_consumed)
    lists = recommend(model, split.test)
    bands = None
    if data.item_levels is not None:
        stretch = LEVEL_BAND.stretch_below, LEVEL_BAND.stretch_above
        bands = user_level_bands(split.test.fold_in, data.item_levels, *stretch)
    metrics = evaluate_rankings(
        lists, split.test.target, item_popularity(split.train), data.item_levels, bands
    )
    return {
        "params": params,
        "validation": validation_value,
        "metrics": metrics,
        "seconds": time.perf_counter() - started,
    }


def make_splits(data: InteractionData, seed: int, time_split: bool) -> list[Split]:
    splits = [strong_generalization_split(data, seed)]
    if time_split and data.timestamps is not None:
        splits.append(time_cutoff_split(data))
    return splits


def summarise(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Mean and sample std over seeds per metric, with the per-seed values kept for inspection."""
    names = runs[0]["metrics"].keys()
    summary = {}
    for name in names:
        values = np.array([run["metrics"][name] for run in runs], dtype=float)
        std = float(values.std(ddof=1)) if len(values) > 1 else 0.0
        summary[name] = {"mean": float(values.mean()), "std": std, "values": values.tolist()}
    return {
        "metrics": summary,
        "params": [run["params"] for run in runs],
        "validation": [run["validation"] for run in runs],
        "seconds": float(np.mean([run["seconds"] for run in runs])),
    }


def evaluate(
    data: InteractionData,
    models: Mapping[str, Factory],
    param_grids: Mapping[str, ParamGrid] | None = None,
    seeds: Sequence[int] = (0, 1, 2),
    budget: int = 12,
    time_split: bool = True,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Run the protocol for every model; the time split is added when the data has timestamps."""
    param_grids = param_grids or {}
    per_split: dict[str, dict[str, list[dict[str, Any]]]] = {}
    with reusing_generator_fits():  # our ranker's input-only generators are fitted once per input
        for seed in seeds:
            for split in make_splits(data, seed, time_split):
                for name, factory in models.items():
                    run = run_model(factory, param_grids.get(name, {}), split, seed, budget, data)
                    per_split.setdefault(split.name, {}).setdefault(name, []).append(run)
                    if progress is not None:
                        value = run["metrics"][TUNING_METRIC]
                        progress(f"{split.name} seed={seed} {name}: {TUNING_METRIC}={value:.4f}")
    return {
        "dataset": {"name": data.name, "users": data.n_users, "items": data.n_items, **data.notes},
        "protocol": {"seeds": list(seeds), "budget": budget, "tuning_metric": TUNING_METRIC},
        "splits": {
            split: {name: summarise(runs) for name, runs in by_model.items()}
            for split, by_model in per_split.items()
        },
    }


MARKDOWN_METRICS = (
    "NDCG@10",
    "Recall@20",
    "Recall@50",
    "NDCG@100",
    "MAP@10",
    "HR@10",
    "Coverage@10",
    "MeanPop@10",
    "LevelFit@10",
)


def format_markdown(results: Mapping[str, Any]) -> str:
    """One table per split, models as rows, ``mean ± std`` over seeds in each cell."""
    dataset = results["dataset"]
    protocol = results["protocol"]
    lines = [
        f"### {dataset['name']}: {dataset['users']} users, {dataset['items']} items, "
        f"{dataset.get('positive_pairs', '?')} positives — {len(protocol['seeds'])} seeds, "
        f"tuning budget {protocol['budget']} configurations per model"
    ]
    for split, by_model in results["splits"].items():
        present = [m for m in MARKDOWN_METRICS if m in next(iter(by_model.values()))["metrics"]]
        lines += ["", f"**{split}**", "", "| model | " + " | ".join(present) + " | fit+tune s |"]
        lines.append("|---" * (len(present) + 2) + "|")
        for name, summary in by_model.items():
            cells = [
                f"{summary['metrics'][m]['mean']:.4f} ± {summary['metrics'][m]['std']:.4f}" for m in present
            ]
            lines.append(f"| {name} | " + " | ".join(cells) + f" | {summary['seconds']:.1f} |")
    return "\n".join(lines) + "\n"


def to_json(results: Mapping[str, Any]) -> str:
    return json.dumps(results, indent=2, sort_keys=False, default=float)
