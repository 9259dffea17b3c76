"""Offline quality: our default model against popularity, implicit item-kNN and tuned implicit iALS.

Runs the documented protocol (docs/evaluation.md) on MovieLens 100K from ../shared/data (strong
generalisation over 3 seeds plus the time-cutoff split) and, when present, on the bundled demo data
(with its items and students files) with the reading-level-fit rate. Prints the tables and, per split,
how far our default is from each peer.

    OPENBLAS_NUM_THREADS=1 .venv/bin/python bench/bench_quality.py [--budget 16] [--seeds 3] [--out DIR]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

from nextread.evaluate.data import InteractionData, load_interactions  # noqa: E402
from nextread.evaluate.models import DEFAULT_MODEL, UNCONSTRAINED_MODEL, select  # noqa: E402
from nextread.evaluate.runner import evaluate, format_markdown, to_json  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
ML100K = REPO.parent / "shared" / "data" / "ml-100k" / "ml-100k.inter"
DEMO_INTERACTIONS = REPO / "nextread" / "demo" / "data" / "interactions.jsonl"
DEMO_ITEMS = REPO / "nextread" / "demo" / "data" / "items.jsonl"
DEMO_USERS = REPO / "nextread" / "demo" / "data" / "users.jsonl"
HEADLINE = ("NDCG@10", "Recall@20")


def margins(results: dict[str, Any], ours: str = DEFAULT_MODEL) -> str:
    """Relative gain of ours over each peer, and whether the gap exceeds the larger of the two stds
    (the issue's bar: better by more than the seeds' spread)."""
    lines = []
    for split, by_model in results["splits"].items():
        for metric in HEADLINE:
            mine = by_model[ours]["metrics"][metric]
            for peer, summary in by_model.items():
                if peer == ours:
                    continue
                theirs = summary["metrics"][metric]
                gain = mine["mean"] / theirs["mean"] - 1 if theirs["mean"] else float("inf")
                clear = mine["mean"] - theirs["mean"] > max(mine["std"], theirs["std"])
                verdict = "beats (beyond std)" if clear else ("ahead, within std" if gain > 0 else "BEHIND")
                lines.append(f"- {split} {metric}: {ours} vs {peer}: {gain:+.1%} — {verdict}")
    return "\n".join(lines)


def level_bar(results: dict[str, Any]) -> str:
    """The reading-level bar: ≥ 90% of recommended books inside the reader's band, at an NDCG@10 no
    more than 2% below the same CF model without any level signal."""
    lines = []
    for split, by_model in results["splits"].items():
        if UNCONSTRAINED_MODEL not in by_model:
            continue
        ours, free = by_model[DEFAULT_MODEL]["metrics"], by_model[UNCONSTRAINED_MODEL]["metrics"]
        fit = ours["LevelFit@10"]["mean"]
        ndcg_change = ours["NDCG@10"]["mean"] / free["NDCG@10"]["mean"] - 1
        met = fit >= 0.9 and ndcg_change >= -0.02
        lines.append(
            f"- {split} level bar: LevelFit@10 {fit:.3f} (unconstrained "
            f"{free['LevelFit@10']['mean']:.3f}), NDCG@10 {ndcg_change:+.1%} vs unconstrained — "
            + ("met" if met else "NOT met")
        )
    return "\n".join(lines)


def run(data: InteractionData, seeds: int, budget: int, out: Path | None) -> None:
    started = time.perf_counter()
    factories, grids = select(data)
    results = evaluate(data, factories, grids, seeds=range(seeds), budget=budget)
    report = format_markdown(results) + "\n" + margins(results) + "\n" + level_bar(results) + "\n"
    print(report + f"\n({time.perf_counter() - started:.0f} s)\n", flush=True)
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        (out / f"{data.name}.md").write_text(report)
        (out / f"{data.name}.json").write_text(to_json(results))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=int, default=16, help="configurations per model")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--out", type=Path, default=None, help="also write <dataset>.md/.json here")
    args = parser.parse_args()
    datasets = []
    if ML100K.exists():
        datasets.append(load_interactions(ML100K))
    else:
        print(f"skipping MovieLens 100K: {ML100K} not found", file=sys.stderr)
    if DEMO_INTERACTIONS.exists():
        items = DEMO_ITEMS if DEMO_ITEMS.exists() else None
        users = DEMO_USERS if DEMO_USERS.exists() else None
        demo = load_interactions(DEMO_INTERACTIONS, items_path=items, users_path=users)
        datasets.append(replace(demo, name="demo"))
    else:
        print(f"skipping demo data: {DEMO_INTERACTIONS} not found", file=sys.stderr)
    for data in datasets:
        run(data, args.seeds, args.budget, args.out)
    return 0 if datasets else 1


if __name__ == "__main__":
    sys.exit(main())
