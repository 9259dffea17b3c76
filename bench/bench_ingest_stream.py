"""Sustained ingestion through the real pipeline, zero-loss check, single-event latency and freshness.

    .venv/bin/python bench/bench_ingest_stream.py [--seconds 60] [--apis 1] [--workers 1] [--batch-size 1000]

Everything runs as real processes on this machine: ``nextread serve`` API process(es) and
``nextread worker`` process(es) on a fresh PostgreSQL database and a private ``redis-server`` (Redis
Streams bus and cache), driven over HTTP by this script.

1. Ingestion: ``--senders`` concurrent clients post batches to ``POST /v1/interactions/batch`` (round
   robin over the APIs) for ``--seconds``; then the script waits for the workers to drain. It prints
   events/s sent, stored and processed, and checks sent = stored = processed (``processed_events``)
   = counted (``item_daily_counts``): zero loss, no double count.
2. Single events: ``POST /v1/interactions`` from the same number of clients: requests/s, p50/p99.
3. Freshness: a reader's top book is posted as finished; time until (a) their recommendations change
   and (b) a worker has applied the event, p50/p95, with the Redis bus + workers and embedded
   (SQLite, ``memory://`` bus and cache, one API process).

The load generator shares the machine's cores with the servers; numbers taken while other work runs
on the machine are noisy.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import httpx
import numpy as np
from sqlalchemy import create_engine, text

ADMIN_KEY = "bench-admin-key"
ADMIN_POSTGRES = os.environ.get(
    "NEXTREAD_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
TYPES = ["view", "checkout", "like", "finished", "save", "rating"]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Cluster:
    """The processes of one deployment under test, stopped together."""

    def __init__(self, workdir: Path, env: dict[str, str]) -> None:
        self.workdir = workdir
        self.env = env
        self.procs: list[subprocess.Popen[bytes]] = []
        self.api_urls: list[str] = []
        self.roles: dict[str, list[int]] = {"api": [], "worker": []}

    def run(self, *arguments: str) -> None:
        subprocess.run(
            [sys.executable, "-m", "nextread", *arguments], env=self.env, check=True, capture_output=True
        )

    def start_api(self, name: str) -> str:
        port = free_port()
        self.roles["api"].append(self._spawn(name, ["serve", "--port", str(port)]))
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    self.api_urls.append(url)
                    return url
            except httpx.HTTPError:
                time.sleep(0.2)
        raise RuntimeError(f"{name} did not start; see {self.workdir / name}.log")

    def start_worker(self, name: str, concurrency: int) -> None:
        arguments = ["worker", "--consumer", name, "--concurrency", str(concurrency)]
        self.roles["worker"].append(self._spawn(name, arguments))

    def stop(self) -> None:
        for proc in self.procs:
            proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()

    def _spawn(self, name: str, arguments: list[str]) -> int:
        log = (self.workdir / f"{name}.log").open("ab")
        command = [sys.executable, "-m", "nextread", *arguments]
        self.procs.append(subprocess.Popen(command, env=self.env, stdout=log, stderr=subprocess.STDOUT))
        return self.procs[-1].pid


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a live process (0 when it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def postgres_pids(engine, database: str) -> list[int]:  # type: ignore[no-untyped-def]
    with engine.connect() as connection:
        rows = connection.execute(
            text("SELECT pid FROM pg_stat_activity WHERE datname = :d"), {"d": database}
        )
        return [row.pid for row in rows]


class CpuMeter:
    """CPU seconds spent by each role between ``start`` and ``stop``: a figure that, unlike events/s,
    does not depend on how busy the rest of the machine is."""

    def __init__(self, roles: dict[str, Callable[[], list[int]]]) -> None:
        self.roles = roles
        self.before: dict[int, float] = {}
        self.spent: dict[str, float] = {}

    def start(self) -> None:
        self.before = {pid: cpu_seconds(pid) for pids in self.roles.values() for pid in pids()}

    def stop(self) -> dict[str, float]:
        self.spent = {
            role: sum(cpu_seconds(pid) - self.before.get(pid, 0.0) for pid in pids())
            for role, pids in self.roles.items()
        }
        return self.spent


def base_env(database_url: str, data_dir: Path, bus_url: str, cache_url: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("NEXTREAD_")}
    return env | {
        "NEXTREAD_DATABASE_URL": database_url,
        "NEXTREAD_DATA_DIR": str(data_dir),
        "NEXTREAD_ADMIN_API_KEY": ADMIN_KEY,
        "NEXTREAD_EVENT_BUS_URL": bus_url,
        "NEXTREAD_CACHE_URL": cache_url,
        "NEXTREAD_LOG_LEVEL": "WARNING",
        "OPENBLAS_NUM_THREADS": "1",
    }


def seed(url: str, n_items: int, n_readers: int) -> None:
    """A catalog in taste clusters and a little history per reader, so there is something to learn."""
    headers = {"Authorization": f"Bearer {ADMIN_KEY}"}
    with httpx.Client(base_url=url, headers=headers, timeout=120) as client:
        for n in range(n_items):
            book = {"id": f"it-{n}", "title": f"Book {n}", "tags": [f"topic-{n % 10}"], "grade_min": 1}
            client.post("/v1/items", json=book).raise_for_status()
        rng = np.random.default_rng(3)
        events = []
        for reader in range(n_readers):
            topic = reader % 10
            for item in rng.choice(n_items // 10, 5, replace=False):
                events.append(
                    {"user_id": f"r-{reader}", "item_id": f"it-{item * 10 + topic}", "type": "finished"}
                )
        client.post("/v1/interactions/batch", json=events).raise_for_status()


def batch_body(
    sender: int, batch: int, size: int, n_items: int, n_users: int, rng: np.random.Generator
) -> bytes:
    users = rng.integers(0, n_users, size)
    items = rng.integers(0, n_items, size)
    kinds = rng.integers(0, len(TYPES) - 1, size)
    events = [
        {"user_id": f"u-{u}", "item_id": f"it-{i}", "type": TYPES[k], "event_id": f"s{sender}-b{batch}-{n}"}
        for n, (u, i, k) in enumerate(zip(users.tolist(), items.tolist(), kinds.tolist(), strict=True))
    ]
    return json.dumps(events).encode()


async def ingest(urls: list[str], args: argparse.Namespace) -> tuple[int, int, float, list[float]]:
    """Post batches for ``args.seconds``; returns (events sent, events stored, elapsed, latencies)."""
    sent = stored = 0
    latencies: list[float] = []
    deadline = time.monotonic() + args.seconds
    headers = {"Authorization": f"Bearer {ADMIN_KEY}", "Content-Type": "application/json"}

    async def sender(number: int) -> None:
        nonlocal sent, stored
        rng = np.random.default_rng(number)
        async with httpx.AsyncClient(headers=headers, timeout=120) as client:
            batch = 0
            while time.monotonic() < deadline:
                body = batch_body(number, batch, args.batch_size, args.items, args.users, rng)
                url = urls[(number + batch) % len(urls)]
                started = time.perf_counter()
                response = await client.post(f"{url}/v1/interactions/batch", content=body)
                latencies.append(time.perf_counter() - started)
                response.raise_for_status()
                sent += args.batch_size
                stored += response.json()["stored"]
                batch += 1

    started = time.monotonic()
    await asyncio.gather(*(sender(n) for n in range(args.senders)))
    return sent, stored, time.monotonic() - started, latencies


async def single_events(urls: list[str], args: argparse.Namespace) -> tuple[int, float, list[float]]:
    latencies: list[float] = []
    deadline = time.monotonic() + args.single_seconds
    headers = {"Authorization": f"Bearer {ADMIN_KEY}"}

    async def sender(number: int) -> None:
        async with httpx.AsyncClient(headers=headers, timeout=60) as client:
            n = 0
            while time.monotonic() < deadline:
                event = {"user_id": f"u-{n % 997}", "item_id": f"it-{n % args.items}", "type": "view"}
                event["event_id"] = f"single-{number}-{n}"
                started = time.perf_counter()
                response = await client.post(f"{urls[n % len(urls)]}/v1/interactions", json=event)
                latencies.append(time.perf_counter() - started)
                response.raise_for_status()
                n += 1

    started = time.monotonic()
    await asyncio.gather(*(sender(n) for n in range(args.senders)))
    return len(latencies), time.monotonic() - started, latencies


def scalar(engine, sql: str) -> int:  # type: ignore[no-untyped-def]
    with engine.connect() as connection:
        return int(connection.execute(text(sql)).scalar() or 0)


def wait_drained(engine, stored_total: int, timeout: float) -> float:  # type: ignore[no-untyped-def]
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if scalar(engine, "SELECT count(*) FROM processed_events") >= stored_total:
            break
        time.sleep(0.2)
    return time.monotonic() - started


def freshness(url: str, engine, samples: int) -> tuple[list[float], list[float]]:  # type: ignore[no-untyped-def]
    """Per reader: note the top recommendation, post it as finished, then poll until (a) the list changes
    (the finished book is excluded) and (b) ``processed_events`` holds the event."""
    headers = {"Authorization": f"Bearer {ADMIN_KEY}"}
    changed, applied = [], []
    with httpx.Client(base_url=url, headers=headers, timeout=60) as client:
        for reader in range(samples):
            path = f"/v1/users/r-{reader}/recommendations"
            before = [
                row["id"] for row in client.get(path, params={"n": 5, "explain": "false"}).json()["data"]
            ]
            event_id = f"fresh-{uuid.uuid4().hex}"
            started = time.perf_counter()
            event = {"user_id": f"r-{reader}", "item_id": before[0], "type": "finished", "event_id": event_id}
            client.post("/v1/interactions", json=event).raise_for_status()
            rec_seen = applied_seen = None
            while rec_seen is None or applied_seen is None:
                if time.perf_counter() - started > 10:
                    raise RuntimeError(f"no change within 10 s for r-{reader}")
                if rec_seen is None:
                    now = [
                        row["id"]
                        for row in client.get(path, params={"n": 5, "explain": "false"}).json()["data"]
                    ]
                    if now != before:
                        rec_seen = time.perf_counter() - started
                if applied_seen is None:
                    query = f"SELECT count(*) FROM processed_events WHERE event_id = '{event_id}'"
                    if scalar(engine, query):
                        applied_seen = time.perf_counter() - started
                time.sleep(0.002)
            changed.append(rec_seen)
            applied.append(applied_seen)
    return changed, applied


def ms(samples: list[float], *quantiles: int) -> str:
    values = np.array(samples) * 1000
    return "  ".join(f"p{q} {np.percentile(values, q):7.1f} ms" for q in quantiles)


def start_redis(workdir: Path) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    log = (workdir / "redis.log").open("ab")
    proc = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    time.sleep(0.5)
    return proc, port


def run_stream(args: argparse.Namespace, workdir: Path) -> None:
    name = f"nextread_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(ADMIN_POSTGRES, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    database_url = ADMIN_POSTGRES.rsplit("/", 1)[0] + f"/{name}"
    redis_proc, port = start_redis(workdir)
    env = base_env(
        database_url, workdir / "data", f"redis://127.0.0.1:{port}/0", f"redis://127.0.0.1:{port}/1"
    )
    cluster = Cluster(workdir, env)
    engine = create_engine(database_url)
    try:
        cluster.run("db", "upgrade")
        urls = [cluster.start_api(f"api-{n}") for n in range(args.apis)]
        for n in range(args.workers):
            cluster.start_worker(f"worker-{n}", args.worker_concurrency)
        seed(urls[0], args.items, args.readers)
        base = scalar(engine, "SELECT count(*) FROM interactions")
        wait_drained(engine, base, 60)
        print(
            f"PostgreSQL + Redis Streams: {args.apis} API process(es), {args.workers} worker(s) "
            f"× {args.worker_concurrency} batches in flight, "
            f"{args.senders} senders × batches of {args.batch_size}, {args.seconds:.0f} s"
        )

        meter = CpuMeter(
            {
                "API": lambda: cluster.roles["api"],
                "worker": lambda: cluster.roles["worker"],
                "PostgreSQL": lambda: postgres_pids(admin, name),
                "Redis": lambda: [redis_proc.pid],
                "load generator": lambda: [os.getpid()],
            }
        )
        meter.start()
        sent, stored, elapsed, latencies = asyncio.run(ingest(urls, args))
        drain = wait_drained(engine, base + stored, args.drain_timeout)
        spent = meter.stop()
        processed = scalar(engine, "SELECT count(*) FROM processed_events") - base
        db_stored = scalar(engine, "SELECT count(*) FROM interactions") - base
        counted = scalar(engine, "SELECT coalesce(sum(events), 0) FROM item_daily_counts") - base
        print(f"  sent      {sent:>9,} events  {sent / elapsed:9,.0f} events/s")
        rate = db_stored / elapsed
        print(f"  stored    {db_stored:>9,} events  {rate:9,.0f} events/s (API answered {stored:,})")
        print(
            f"  processed {processed:>9,} events  {processed / (elapsed + drain):9,.0f} events/s "
            f"(workers drained {drain:.1f} s after the last batch)"
        )
        print(f"  batch request latency: {ms(latencies, 50, 99)}")
        loss_free = sent == stored == db_stored == processed == counted
        verdict = "YES" if loss_free else f"NO  [{sent} {stored} {db_stored} {processed} {counted}]"
        print(f"  zero loss, no double count (sent = stored = processed = counted): {verdict}")

        per_k = {role: 1000 * seconds / max(1, processed) for role, seconds in spent.items()}
        print("  CPU seconds per 1,000 events: " + ", ".join(f"{r} {v:.3f}" for r, v in per_k.items()))
        server = sum(v for r, v in per_k.items() if r != "load generator")
        print(
            f"  → the servers alone need {server:.3f} CPU s per 1,000 events: about "
            f"{2000 / server:,.0f} events/s on 2 idle cores (the load generator excluded)"
        )

        count, single_elapsed, single_latencies = asyncio.run(single_events(urls, args))
        print(f"  single-event POST: {count / single_elapsed:,.0f} req/s  {ms(single_latencies, 50, 99)}")

        if args.freshness_samples:
            cluster.run("train")
            time.sleep(6)  # the APIs look for a new model version every 5 s
            changed, applied = freshness(urls[0], engine, args.freshness_samples)
            print(f"  freshness, recommendation changed: {ms(changed, 50, 95)}")
            print(f"  freshness, event applied by a worker: {ms(applied, 50, 95)}")
    finally:
        cluster.stop()
        redis_proc.kill()
        engine.dispose()
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def run_embedded(args: argparse.Namespace, workdir: Path) -> None:
    data_dir = workdir / "embedded"
    database_url = f"sqlite:///{data_dir / 'nextread.db'}"
    cluster = Cluster(workdir, base_env(database_url, data_dir, "memory://", "memory://"))
    engine = create_engine(database_url)
    try:
        cluster.run("db", "upgrade")
        url = cluster.start_api("embedded-api")
        seed(url, args.items, args.readers)
        cluster.run("train")
        time.sleep(6)
        changed, applied = freshness(url, engine, args.freshness_samples)
        print("Embedded (SQLite, memory:// bus and cache, one API process with its in-process worker)")
        print(f"  freshness, recommendation changed: {ms(changed, 50, 95)}")
        print(f"  freshness, event applied by the in-process worker: {ms(applied, 50, 95)}")
    finally:
        cluster.stop()
        engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="Sustained ingestion time.")
    parser.add_argument("--apis", type=int, default=1)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--worker-concurrency", type=int, default=2, help="Batches in flight per worker.")
    parser.add_argument("--senders", type=int, default=4, help="Concurrent HTTP clients.")
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--items", type=int, default=1000)
    parser.add_argument("--users", type=int, default=20_000)
    parser.add_argument(
        "--readers", type=int, default=200, help="Seeded readers (freshness samples come from them)."
    )
    parser.add_argument("--single-seconds", type=float, default=10.0)
    parser.add_argument("--freshness-samples", type=int, default=30)
    parser.add_argument("--drain-timeout", type=float, default=300.0)
    parser.add_argument("--skip-embedded", action="store_true")
    args = parser.parse_args()
    if shutil.which("redis-server") is None:
        sys.exit("redis-server is not on PATH")
    workdir = Path(tempfile.mkdtemp(prefix="nextread-bench-ingest-"))
    print(f"logs in {workdir}  (cores: {os.cpu_count()}, load average {os.getloadavg()[0]:.1f})")
    try:
        run_stream(args, workdir)
        if not args.skip_embedded and args.freshness_samples:
            run_embedded(args, workdir)
    finally:
        print(f"load average at the end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
