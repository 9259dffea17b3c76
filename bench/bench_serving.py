"""Training and serving speed at 50k users × 10k items × 1M interactions, side by side with implicit.

    OPENBLAS_NUM_THREADS=1 .venv/bin/python bench/bench_serving.py [--http] [--users 50000] [--items 10000]

1. Training: interaction weighting + matrix, then EASE, EASE under the learned ranker (our default), iALS
   (implicit) and item-kNN (implicit) fits.
2. In-process serving for one user: fold-in + score + top-n for EASE and iALS, the full hybrid request
   (filters, seven components, series, MMR, explanations), and implicit's own ``recommend`` as reference.
3. ``--http``: the same data in a SQLite store behind ``nextread serve --workers 2``, driven by wrk with
   32 connections over random users of all 50k (needs the ``wrk`` binary: ``apt-get install wrk``), twice:
   computed on every request (cache off), then precomputed (``nextread precompute`` in two processes
   into Redis, Gorse's serving model: a request is a cache read). Needs Redis for the second part
   (``NEXTREAD_BENCH_REDIS_URL``, default redis://127.0.0.1:6379/0; keys under a fresh prefix, removed after).
Synthetic data with a fixed seed; popularity follows a power law.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402
import scipy.sparse as sp  # noqa: E402

from nextread.config import Settings  # noqa: E402
from nextread.engine.collaborative import EASE, IALS, ItemKNN  # noqa: E402
from nextread.engine.models import EASE_L2  # noqa: E402
from nextread.engine.pipeline import Catalog, UserContext, recommend  # noqa: E402
from nextread.engine.ranker import LearnedRanker  # noqa: E402
from nextread.gc_freeze import freeze_long_lived  # noqa: E402
from nextread.services.training import event_weights, weighted_matrix  # noqa: E402
from nextread.store.reading_data import EventArrays  # noqa: E402

TYPES = np.array(["checkout", "finished", "rating", "like", "view", "abandoned"], dtype=object)
CONSUMED_WEIGHT = Settings.variables()["consumed_weight"].default  # NEXTREAD_CONSUMED_WEIGHT's default
TYPE_WEIGHTS = {"checkout": 3.0, "finished": 4.0, "rating": 4.0, "like": 2.0, "view": 0.5, "abandoned": -2.0}


def synthetic_events(n_users: int, n_items: int, n_events: int, seed: int = 7) -> EventArrays:
    rng = np.random.default_rng(seed)
    popularity = 1.0 / np.arange(1, n_items + 1) ** 0.8
    taste = rng.integers(0, 20, n_users)  # 20 taste clusters, each preferring a slice of the catalog
    users = rng.integers(0, n_users, n_events)
    in_cluster = rng.random(n_events) < 0.6
    cluster_items = (taste[users] * (n_items // 20) + rng.integers(0, n_items // 20, n_events)) % n_items
    popular_items = rng.choice(n_items, n_events, p=popularity / popularity.sum())
    items = np.where(in_cluster, cluster_items, popular_items)
    kinds = TYPES[rng.choice(len(TYPES), n_events, p=[0.35, 0.25, 0.15, 0.1, 0.12, 0.03])]
    values = np.where(kinds == "rating", rng.integers(1, 6, n_events), np.nan).astype(float)
    now = time.time()
    return EventArrays(users, items, kinds, values, now - rng.uniform(0, 365 * 86_400, n_events))


def percentiles(samples: list[float]) -> str:
    ms = np.array(samples) * 1000
    return f"p50 {np.percentile(ms, 50):7.2f} ms   p99 {np.percentile(ms, 99):7.2f} ms"


def timed(label: str, action):  # type: ignore[no-untyped-def]
    started = time.perf_counter()
    result = action()
    print(f"  {label:<46} {time.perf_counter() - started:7.1f} s")
    return result


def train(
    events: EventArrays, n_users: int, n_items: int
) -> tuple[sp.csr_matrix, sp.csr_matrix, dict[str, object]]:
    """As ``nextread train`` does: the liked matrix, and the CF input that also counts ratings of 3
    stars or less at the default consumed weight; the served default learns from both."""
    print(f"\n## Training: {n_users:,} users × {n_items:,} items, {len(events):,} interactions")
    started = time.perf_counter()
    now = time.time()
    matrix = weighted_matrix(
        events.user, events.item, event_weights(events, TYPE_WEIGHTS, 45.0, now), (n_users, n_items)
    )
    cf_weights = event_weights(events, TYPE_WEIGHTS, 45.0, now, CONSUMED_WEIGHT)
    cf_input = weighted_matrix(events.user, events.item, cf_weights, (n_users, n_items))
    print(
        f"  {'weights + sparse matrices':<46} {time.perf_counter() - started:7.1f} s   "
        f"({matrix.nnz:,} liked cells, {cf_input.nnz:,} in the CF input)"
    )
    models = {
        f"EASE (λ={EASE_L2:g}, nextread default ≤ 10k items)": timed(
            "EASE fit", lambda: EASE(EASE_L2, n_items).fit(matrix)
        ),
        "EASE + learned ranker (nextread default)": timed(
            "EASE + learned ranker fit (item-kNN, iALS, liked-only EASE, LightGBM)",
            lambda: LearnedRanker(EASE(EASE_L2, n_items)).fit(cf_input, liked=matrix),
        ),
        "iALS (implicit, 64 factors, 15 iterations)": timed(
            "iALS fit (implicit)", lambda: IALS(64, 0.1, 10.0, 15).fit(matrix)
        ),
        "item-kNN (implicit BM25, K=100)": timed(
            "item-kNN fit (implicit)", lambda: ItemKNN("bm25", 100).fit(matrix)
        ),
    }
    ranked = models["EASE + learned ranker (nextread default)"]
    timed("compile the ranker's trees (lleaves, per process)", ranked.warm_up)  # as every serving process
    return matrix, cf_input, models


def serve_in_process(
    matrix: sp.csr_matrix, cf_input: sp.csr_matrix, models: dict[str, object], n_requests: int
) -> None:
    print(f"\n## In-process serving for one user ({n_requests} random users, top 10)")
    rng = np.random.default_rng(3)
    users = rng.choice(np.flatnonzero(np.diff(matrix.indptr) > 0), n_requests)
    for name, model in models.items():
        samples = []
        for user in users:
            started = time.perf_counter()
            history = matrix[user]
            scores = served_scores(model, history, cf_input, user)
            scores[history.indices] = -np.inf
            top = np.argpartition(-scores, 10)[:10]
            top[np.argsort(-scores[top])]
            samples.append(time.perf_counter() - started)
        print(f"  {name + ' fold-in + top-10':<58} {percentiles(samples)}")
    ials = next(m for m in models.values() if isinstance(m, IALS))
    samples = []
    user_items = matrix.tocsr()
    for user in users:
        started = time.perf_counter()
        ials.model.recommend(int(user), user_items[user], N=10)
        samples.append(time.perf_counter() - started)
    print(f"  {'reference: implicit ALS model.recommend (known user)':<58} {percentiles(samples)}")
    hybrid(matrix, cf_input, models, users)


def served_scores(model: object, history: sp.csr_matrix, cf_input: sp.csr_matrix, user: int) -> np.ndarray:
    """The ranked default scores the reader's CF input row, told which cells were liked (``history``),
    as serving does; the other models score the liked row alone."""
    if isinstance(model, LearnedRanker):
        return model.score(cf_input[user], liked=history)[0]  # type: ignore[no-any-return]
    return model.score(history)[0]  # type: ignore[attr-defined,no-any-return]


def hybrid(
    matrix: sp.csr_matrix, cf_input: sp.csr_matrix, models: dict[str, object], users: np.ndarray
) -> None:
    rng = np.random.default_rng(5)
    n_items = matrix.shape[1]
    embeddings = rng.normal(size=(n_items, 384)).astype(np.float32)
    rows = [
        {
            "title": f"Book {i}",
            "lexile": int(rng.integers(-200, 1100)),
            "tags": [f"tag{rng.integers(60)}"],
            "language": "en",
            "available_copies": int(rng.integers(0, 4)),
            "average_rating": float(rng.uniform(2, 5)),
            "ratings_count": int(rng.integers(0, 500)),
            "publication_year": int(rng.integers(1990, 2027)),
            "grade_min": 0,
            "grade_max": 5,
            "series_name": f"s{i // 4}" if i % 3 == 0 else None,
            "series_position": float(i % 4 + 1),
        }
        for i in range(n_items)
    ]
    catalog = Catalog.from_items(
        rows, popularity=np.asarray((matrix > 0).sum(axis=0)).ravel(), embeddings=embeddings
    )
    served = next(m for m in models.values() if isinstance(m, LearnedRanker))
    freeze_long_lived()  # as the served catalog is: full GC passes over it were the p99
    samples = []
    for user in users:
        started = time.perf_counter()
        history, had = matrix[user], cf_input[user]
        context = UserContext(
            level=2.5,
            grade=2,
            seen=had.indices,
            enjoyed=history.indices,
            enjoyed_weights=history.data.astype(float),
            peer_counts=None,
        )
        recommend(catalog, context, cf_scores=served.score(had, liked=history)[0], n=10)
        samples.append(time.perf_counter() - started)
    label = "nextread full hybrid request (ranked EASE + 7 components + MMR)"
    print(f"  {label:<58} {percentiles(samples)}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=50_000)
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=2_000)
    parser.add_argument("--http", action="store_true", help="Also benchmark over HTTP (needs wrk).")
    args = parser.parse_args()
    events = synthetic_events(args.users, args.items, args.events)
    matrix, cf_input, models = train(events, args.users, args.items)
    serve_in_process(matrix, cf_input, models, args.requests)
    if args.http:
        run_http_benchmark(events, args.users, args.items)
    return 0


def load_store(url: str, events: EventArrays, n_users: int, n_items: int) -> None:
    """The synthetic data through the same bulk writes the importer uses."""
    from nextread.schemas import InteractionIn, ItemIn, UserIn
    from nextread.store.db import make_engine, make_session_factory, session_scope, upgrade
    from nextread.store.tenants import ensure_tenant, register_api_key
    from nextread.store.writes import upsert_items, upsert_users, write_interactions

    engine = make_engine(url)
    upgrade(engine)
    sessions = make_session_factory(engine)
    rng = np.random.default_rng(11)
    with session_scope(sessions) as session:
        tenant = ensure_tenant(session, "default")
        register_api_key(session, tenant, "bench-read-key", "read", "bench")
        tenant_id = tenant.id
        items = [
            ItemIn(
                id=f"i{i}",
                title=f"Book {i}",
                tags=[f"tag{i % 60}"],
                lexile=int(rng.integers(-200, 1100)),
                description=f"A story about topic {i % 60} and more.",
                available_copies=int(rng.integers(0, 4)),
            )
            for i in range(n_items)
        ]
        upsert_items(session, tenant_id, items)
        upsert_users(session, tenant_id, [UserIn(id=f"u{u}", grade=int(u % 6)) for u in range(n_users)])
    started = time.perf_counter()
    for start in range(0, len(events), 20_000):
        chunk = slice(start, start + 20_000)
        rows = [
            InteractionIn(
                user_id=f"u{u}",
                item_id=f"i{i}",
                type=t,
                value=None if np.isnan(v) else v,
                timestamp=ts,
                event_id=f"e{start + n}",
            )
            for n, (u, i, t, v, ts) in enumerate(
                zip(
                    events.user[chunk],
                    events.item[chunk],
                    events.type[chunk],
                    events.value[chunk],
                    events.timestamp[chunk],
                    strict=True,
                )
            )
        ]
        with session_scope(sessions) as session:
            # History for a serving benchmark, not live traffic: keep it out of the event pipeline.
            write_interactions(session, tenant_id, rows, emit_events=False)
    print(f"  {'store: 1M interactions written':<46} {time.perf_counter() - started:7.1f} s")
    engine.dispose()


WRK_SCRIPT = """math.randomseed(1)
request = function()
  local path = '/v1/users/u' .. math.random(0, N_USERS) .. '/recommendations?n=10'
  return wrk.format('GET', path, {['Authorization'] = 'Bearer bench-read-key'})
end
"""


def run_http_benchmark(events: EventArrays, n_users: int, n_items: int) -> None:
    print("\n## Over HTTP: nextread serve --workers 2, wrk -t2 -c32 -d20s, random users of all")
    if shutil.which("wrk") is None:
        print("  wrk not found (apt-get install wrk); skipped")
        return
    workdir = Path(tempfile.mkdtemp(prefix="nextread-bench-"))
    redis_url = os.environ.get("NEXTREAD_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
    prefix = f"nextread-bench-{uuid.uuid4().hex[:8]}"
    env = {
        **os.environ,
        "NEXTREAD_DATA_DIR": str(workdir),
        "NEXTREAD_LOG_LEVEL": "WARNING",
        "NEXTREAD_CACHE_KEY_PREFIX": prefix,
        "NEXTREAD_CACHE_TTL_SECONDS": "3600",
    }
    load_store(f"sqlite:///{workdir / 'nextread.db'}", events, n_users, n_items)
    script = workdir / "users.lua"
    script.write_text(WRK_SCRIPT.replace("N_USERS", str(n_users - 1)))
    try:
        timed(
            "train (embeddings + EASE + learned ranker)",
            lambda: subprocess.run([*CLI, "train"], env=env, check=True),
        )
        print("  computed on every request (NEXTREAD_CACHE_URL=none://):")
        serve_and_drive({**env, "NEXTREAD_CACHE_URL": "none://"}, script)
        cached = {**env, "NEXTREAD_CACHE_URL": redis_url}
        timed("precompute every reader's list (2 processes)", lambda: precompute(cached))
        print(f"  precomputed, served from Redis ({redis_url}):")
        serve_and_drive(cached, script)
    finally:
        _delete_keys(redis_url, prefix)
        shutil.rmtree(workdir, ignore_errors=True)


CLI = [sys.executable, "-m", "nextread"]


def precompute(env: dict[str, str]) -> None:
    shards = [
        subprocess.Popen([*CLI, "precompute", "--shard", f"{k}/2"], env=env, stdout=subprocess.DEVNULL)
        for k in range(2)
    ]
    if any(shard.wait() != 0 for shard in shards):
        raise RuntimeError("nextread precompute failed")


def serve_and_drive(env: dict[str, str], script: Path) -> None:
    server = subprocess.Popen([*CLI, "serve", "--port", "8765", "--workers", "2"], env=env)
    wrk = ["wrk", "-t2", "-c32", "-s", str(script), "http://127.0.0.1:8765"]
    try:
        _wait_ready("http://127.0.0.1:8765/readyz")
        subprocess.run([*wrk, "-d5s"], check=True, capture_output=True)  # warm-up: models load
        result = subprocess.run([*wrk, "-d20s", "--latency"], check=True, capture_output=True, text=True)
        print("    " + "\n    ".join(line for line in result.stdout.splitlines() if line.strip()))
    finally:
        server.terminate()
        server.wait(timeout=30)


def _delete_keys(redis_url: str, prefix: str) -> None:
    import redis

    try:
        client = redis.Redis.from_url(redis_url)
        keys = list(client.scan_iter(match=f"{prefix}:*", count=10_000))
        for start in range(0, len(keys), 10_000):
            client.delete(*keys[start : start + 10_000])
        client.close()
    except redis.RedisError as exc:
        print(f"  could not remove the bench's Redis keys ({prefix}:*): {exc}")


def _wait_ready(url: str, timeout: float = 120.0) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"server at {url} did not become ready")


if __name__ == "__main__":
    sys.exit(main())
