"""Class lists on the demo school: our fair strategy against the naive "sum of scores" baseline.

For each of the six demo classes, prints per strategy: student coverage (share of students with at
least k unread books of their just-right band in the list), mean and min per-student utility (score
sum over the list ÷ the best a list of that length could give the student), and the share of the
class that has already read a listed book. Deterministic; timings are not measured here.

    OPENBLAS_NUM_THREADS=1 .venv/bin/python bench/bench_groups.py [--n 20] [--k 2]
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402
from sqlalchemy import select  # noqa: E402

from nextread.config import Settings  # noqa: E402
from nextread.demo import load_demo  # noqa: E402
from nextread.embed.select import text_embedding_function  # noqa: E402
from nextread.engine.group_selection import STRATEGIES, group_metrics, select_for_group  # noqa: E402
from nextread.services.groups import class_inputs, class_members  # noqa: E402
from nextread.services.recommend import RecommendationRequest, RecommendationService  # noqa: E402
from nextread.services.registry import ModelRegistry  # noqa: E402
from nextread.store.db import make_engine, make_session_factory, session_scope, upgrade  # noqa: E402
from nextread.store.models import Group  # noqa: E402
from nextread.store.tenants import ensure_tenant  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20, help="list length")
    parser.add_argument("--k", type=int, default=2, help="books per student in their just-right band")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(data_dir=Path(tmp), database_url=f"sqlite:///{tmp}/bench.db", log_level="WARNING")
        engine = make_engine(settings.store.database_url)
        upgrade(engine)
        sessions = make_session_factory(engine)
        with session_scope(sessions) as session:
            tenant_id = ensure_tenant(session, "demo").id
            load_demo(session, tenant_id)
        service = RecommendationService(
            ModelRegistry(sessions, settings), embed_text=text_embedding_function(settings)
        )
        print(f"n = {args.n}, k = {args.k}")
        header = f"{'class':<28} {'strategy':<24} {'coverage':>8} {'mean_u':>7} {'min_u':>7} {'read':>6}"
        print(header + "\n" + "-" * len(header))
        totals: dict[str, list[tuple[float, float, float, float]]] = {name: [] for name in STRATEGIES}
        with session_scope(sessions) as session:
            groups = session.scalars(select(Group).where(Group.tenant_id == tenant_id).order_by(Group.id))
            for group in list(groups):
                _, students = class_members(session, tenant_id, group.external_id)
                inputs = class_inputs(service, session, tenant_id, students, RecommendationRequest())
                assert inputs is not None
                for strategy in STRATEGIES:
                    selected = select_for_group(
                        inputs.scores,
                        inputs.in_band,
                        inputs.has_read,
                        args.n,
                        min_per_student=args.k,
                        strategy=strategy,
                        series=inputs.series,
                    )
                    m = group_metrics(
                        inputs.scores, inputs.in_band, inputs.has_read, selected, min_per_student=args.k
                    )
                    row = (m.coverage, m.mean_utility, m.min_utility, m.already_read_share)
                    totals[strategy].append(row)
                    print(f"{group.name:<28} {strategy:<24} " + _cells(row))
        engine.dispose()
    print("-" * len(header))
    for strategy, rows in totals.items():
        print(f"{'mean of the six classes':<28} {strategy:<24} " + _cells(tuple(np.mean(rows, axis=0))))


def _cells(row: tuple[float, ...]) -> str:
    coverage, mean_u, min_u, read = row
    return f"{coverage:>8.0%} {mean_u:>7.3f} {min_u:>7.3f} {read:>6.1%}"


if __name__ == "__main__":
    main()
