"""Catalog search latency and known-item quality on the goodbooks-10k catalog: hybrid vs each side alone.

    .venv/bin/python bench/bench_search.py [--rounds 3] [--limit 20] [--embedder-threads N] [--skip-postgres]

Each backend gets a fresh database (a temp SQLite file; a temp database on 127.0.0.1:5432, dropped
afterwards) filled with goodbooks ``books.csv`` through the importer (``goodbooks`` mapping), then one
training run (level estimates + EASE + all-MiniLM-L6-v2 item embeddings: the vectors search reuses).
One warm-up query per mode loads the model and the faiss index; it is not timed. Then every query of
``QUERIES`` (≥ 50: titles, authors, topics, natural-language requests with grade and level phrases) is
run ``--rounds`` times in each mode — ``hybrid`` (ours: FTS + semantic, RRF), ``text`` (full text only:
FTS5 / tsvector) and ``semantic`` (embeddings only) — side by side in the same process. The query
embedding cache is cleared before each round, so every timed hybrid/semantic query embeds its text.
Latency is ``search_catalog`` end to end in process (session, parse, both rankings, fusion, filters,
row loading), per query.

Known-item quality: for the queries that name a book, the share where that book is in the top 5.

``--embedder-threads`` is ``NEXTREAD_EMBEDDER_THREADS`` (0: torch's default, one thread per core). On a
busy host 1 is much faster for one short query; compare both.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from databases import postgres_url, sqlite_url

from nextread.config import Settings
from nextread.embed.select import text_embedding_function
from nextread.services.imports import import_file
from nextread.services.recommend import RecommendationService
from nextread.services.registry import ModelRegistry
from nextread.services.search import search_catalog
from nextread.store.db import make_engine, make_session_factory, session_scope, upgrade
from nextread.store.tenants import ensure_tenant

ROOT = Path(__file__).resolve().parents[1]
BOOKS = ROOT.parent / "shared" / "data" / "goodbooks-10k" / "books.csv"
MODES = ("hybrid", "text", "semantic")
TARGET_P95_MS = 50.0

# (query, a title fragment the right answer contains, or None for open queries)
QUERIES: list[tuple[str, str | None]] = [
    ("harry potter", "Harry Potter"),
    ("hunger games", "The Hunger Games"),
    ("the hobbit", "The Hobbit"),
    ("to kill a mockingbird", "To Kill a Mockingbird"),
    ("pride and prejudice", "Pride and Prejudice"),
    ("charlotte's web", "Charlotte's Web"),
    ("where the wild things are", "Where the Wild Things Are"),
    ("the very hungry caterpillar", "Hungry Caterpillar"),
    ("green eggs and ham", "Green Eggs and Ham"),
    ("matilda roald dahl", "Matilda"),
    ("percy jackson lightning thief", "Lightning Thief"),
    ("diary of a wimpy kid", "Diary of a Wimpy Kid"),
    ("the giver lois lowry", "The Giver"),
    ("wonder rj palacio", "Wonder"),
    ("stephen king", None),
    ("jk rowling", None),
    ("dr seuss", None),
    ("rick riordan", None),
    ("agatha christie mystery", None),
    ("neil gaiman", None),
    ("books about dragons", None),
    ("funny books about dragons for a 2nd grader", None),
    ("dinosaur books for kindergarten", None),
    ("space adventure for a 5th grader", None),
    ("a mystery for 4th graders", None),
    ("horse stories for my 9 year old", None),
    ("picture books about friendship", None),
    ("books about a boy wizard at school", None),
    ("dystopian novels for teens", None),
    ("vampire romance", None),
    ("world war ii historical fiction", None),
    ("books about the holocaust", None),
    ("a story about a dog", None),
    ("cats", None),
    ("pirates and treasure", None),
    ("time travel", None),
    ("zombie apocalypse", None),
    ("fairy tales retold", None),
    ("greek mythology", None),
    ("detective murder mystery", None),
    ("science fiction aliens", None),
    ("epic fantasy with magic", None),
    ("coming of age story", None),
    ("books about grief and loss", None),
    ("a lonely kid who feels left out", None),
    ("true story of survival", None),
    ("biography of a president", None),
    ("self help habits", None),
    ("cookbook", None),
    ("poetry", None),
    ("graphic novels", None),
    ("classic american novel", None),
    ("lexile 800 adventure", None),
    ("level M animals", None),
    ("ages 8-10 mystery", None),
    ("books in spanish", None),
    ("love story in paris", None),
    ("spy thriller", None),
]


def run_backend(
    url: str, workdir: Path, rounds: int, limit: int, threads: int
) -> dict[str, dict[str, float]]:
    engine = make_engine(url)
    upgrade(engine)
    sessions = make_session_factory(engine)
    # Search never reads the collaborative model: iALS (seconds) instead of EASE (minutes on 10k items).
    settings = Settings(
        data_dir=workdir,
        database_url=url,
        log_level="WARNING",
        log_format="console",
        ease_max_items=1000,
        embedder_threads=threads,
    )
    with session_scope(sessions) as session:
        tenant_id = ensure_tenant(session, "bench").id
    report = import_file(sessions, tenant_id, BOOKS, "items", "goodbooks", settings=settings)
    print(f"  imported {report.written:,} books in {report.duration:.1f}s", flush=True)
    service = RecommendationService(ModelRegistry(sessions, settings), text_embedding_function(settings))
    started = time.perf_counter()
    service.registry.train(tenant_id)
    print(f"  trained (estimates + CF + embeddings) in {time.perf_counter() - started:.1f}s", flush=True)
    for mode in MODES:  # warm-up: model load, faiss index, served catalog
        with session_scope(sessions) as session:
            search_catalog(session, tenant_id, "warm up", service=service, mode=mode)
    results = {}
    for mode in MODES:
        latencies, found, known = [], 0, 0
        for round_number in range(rounds):
            assert service.embed_text is not None
            service.embed_text.cache_clear()
            for query, expected in QUERIES:
                started = time.perf_counter()
                with session_scope(sessions) as session:
                    hits = search_catalog(session, tenant_id, query, limit=limit, service=service, mode=mode)
                latencies.append((time.perf_counter() - started) * 1000)
                if expected and round_number == 0:
                    known += 1
                    found += any(expected.lower() in hit.title.lower() for hit in hits.data[:5])
        values = np.array(latencies)
        results[mode] = {
            "queries": len(values),
            "p50": float(np.percentile(values, 50)),
            "p95": float(np.percentile(values, 95)),
            "p99": float(np.percentile(values, 99)),
            "mean": float(values.mean()),
            "known_item_at_5": found / known if known else float("nan"),
        }
    engine.dispose()
    return results


def print_table(results: dict[str, dict[str, dict[str, float]]]) -> None:
    print("\n| backend | mode | timed queries | p50 ms | p95 ms | p99 ms | mean ms | known item in top 5 |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for backend, modes in results.items():
        for mode, row in modes.items():
            print(
                f"| {backend} | {mode} | {row['queries']:.0f} | {row['p50']:.1f} | {row['p95']:.1f} | "
                f"{row['p99']:.1f} | {row['mean']:.1f} | {row['known_item_at_5']:.0%} |"
            )
    for backend, modes in results.items():
        p95 = modes["hybrid"]["p95"]
        verdict = "meets" if p95 < TARGET_P95_MS else "MISSES"
        print(f"{backend}: hybrid p95 {p95:.1f} ms {verdict} the {TARGET_P95_MS:.0f} ms target")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--limit", type=int, default=20)
    parser.add_argument("--embedder-threads", type=int, default=0, help="NEXTREAD_EMBEDDER_THREADS")
    parser.add_argument("--skip-postgres", action="store_true")
    args = parser.parse_args(argv)
    if not BOOKS.is_file():
        sys.exit(f"goodbooks-10k not found at {BOOKS}")
    print(
        f"{len(QUERIES)} queries × {args.rounds} rounds per mode, limit {args.limit}, "
        f"embedder threads {args.embedder_threads or 'torch default'}",
        flush=True,
    )
    results: dict[str, dict[str, dict[str, float]]] = {}
    with tempfile.TemporaryDirectory(prefix="nextread-bench-search-") as tmp:
        backends = [("sqlite", sqlite_url(Path(tmp)))]
        if not args.skip_postgres:
            backends.append(("postgresql", postgres_url()))
        for backend, url_context in backends:
            print(backend, flush=True)
            with url_context as url:
                results[backend] = run_backend(
                    url, Path(tmp) / backend, args.rounds, args.limit, args.embedder_threads
                )
    print_table(results)


if __name__ == "__main__":
    main()
