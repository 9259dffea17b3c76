"""Import speed: goodbooks-10k books.csv and a generated 1M-interaction CSV, on SQLite and PostgreSQL.

    .venv/bin/python bench/bench_import.py [--interactions 1000000] [--batch-size 5000] [--skip-postgres]

Each backend gets a fresh database (a temp SQLite file; a temp database on 127.0.0.1:5432, dropped
afterwards). Phases: the books with the ``goodbooks`` mapping, the interactions (50k users created on
the fly, items = the 10k books), the same interactions again (idempotency: nothing is written), and an
export of all interactions to CSV. The generated file is deterministic (seeded), so runs compare.
"""

from __future__ import annotations

import argparse
import csv
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from databases import postgres_url, sqlite_url

from nextread.config import Settings
from nextread.services.exports import export
from nextread.services.imports import ImportReport, import_file
from nextread.store.db import make_engine, make_session_factory, session_scope, upgrade
from nextread.store.tenants import ensure_tenant

ROOT = Path(__file__).resolve().parents[1]
BOOKS = ROOT.parent / "shared" / "data" / "goodbooks-10k" / "books.csv"
USERS, ITEMS = 50_000, 10_000
TYPES = np.array(["rating", "checkout", "view", "finished", "like"])


def generate_interactions(path: Path, count: int, seed: int = 42) -> None:
    """Ratings carry a 1–5 value, other events none; timestamps spread over two years."""
    rng = np.random.default_rng(seed)
    users = rng.integers(1, USERS + 1, count)
    items = rng.integers(1, ITEMS + 1, count)
    types = TYPES[rng.integers(0, len(TYPES), count)]
    values = rng.integers(1, 6, count)
    stamps = 1_650_000_000 + rng.integers(0, 2 * 365 * 86_400, count)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["user_id", "item_id", "type", "value", "timestamp"])
        for user, item, type_, value, stamp in zip(users, items, types, values, stamps, strict=True):
            writer.writerow([f"u{user}", item, type_, value if type_ == "rating" else "", stamp])


def run_backend(url: str, interactions: Path, workdir: Path, batch_size: int) -> list[tuple[str, int, float]]:
    engine = make_engine(url)
    upgrade(engine)
    sessions = make_session_factory(engine)
    settings = Settings(database_url=url, log_level="WARNING")
    with session_scope(sessions) as session:
        tenant_id = ensure_tenant(session, "bench").id
    phases: list[tuple[str, int, float]] = []

    def run(name: str, path: Path, kind: str, mapping: str = "default") -> ImportReport:
        report = import_file(sessions, tenant_id, path, kind, mapping, batch_size, settings)
        if report.rejected:
            raise SystemExit(f"{name}: {report.rejected} rows rejected, first: {report.errors[:3]}")
        phases.append((f"{name} (written {report.written})", report.read, report.duration))
        return report

    run("goodbooks books.csv", BOOKS, "items", "goodbooks")
    run("interactions", interactions, "interactions")
    again = run("interactions again", interactions, "interactions")
    assert again.written == 0, "re-import must not write anything"
    started = time.perf_counter()
    with session_scope(sessions) as session:
        count = export(session, tenant_id, "interactions", workdir / "export.csv")
    phases.append(("export interactions csv", count, time.perf_counter() - started))
    engine.dispose()
    return phases


def print_table(results: dict[str, list[tuple[str, int, float]]]) -> None:
    print("\n| backend | phase | rows | seconds | rows/s |\n|---|---|---:|---:|---:|")
    for backend, phases in results.items():
        for name, rows, seconds in phases:
            print(f"| {backend} | {name} | {rows:,} | {seconds:.1f} | {rows / seconds:,.0f} |")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--interactions", type=int, default=1_000_000)
    parser.add_argument("--batch-size", type=int, default=5_000)
    parser.add_argument("--skip-postgres", action="store_true")
    args = parser.parse_args(argv)
    if not BOOKS.is_file():
        sys.exit(f"goodbooks-10k not found at {BOOKS}")
    results: dict[str, list[tuple[str, int, float]]] = {}
    with tempfile.TemporaryDirectory(prefix="nextread-bench-") as tmp:
        workdir = Path(tmp)
        interactions = workdir / "interactions.csv"
        started = time.perf_counter()
        generate_interactions(interactions, args.interactions)
        seconds = time.perf_counter() - started
        print(f"generated {args.interactions:,} interactions in {seconds:.1f}s", flush=True)
        backends = [("sqlite", sqlite_url(workdir))]
        if not args.skip_postgres:
            backends.append(("postgresql", postgres_url()))
        for backend, url_context in backends:
            with url_context as url:
                results[backend] = run_backend(url, interactions, workdir, args.batch_size)
                print(f"{backend} done", flush=True)
    print_table(results)


if __name__ == "__main__":
    main()
