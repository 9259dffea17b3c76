"""Cached recommendations over HTTP: a real ``nextread serve`` (uvicorn, one process) on the demo school.

    .venv/bin/python bench/bench_cache.py [--backends none,memory,redis] [--requests 3000]
                                          [--concurrency 1,8] [--redis-url redis://127.0.0.1:6379/0]

For each cache backend a fresh server is started on the same demo database and driven by an async
httpx load generator in this process:

1. **cold** — every demo user once (150 requests, each a cache miss: the full hybrid computation).
2. **cached** — uniformly random users after the warm-up: every request is a hit.
3. **mix** — users drawn from a Zipf law (a few readers ask often, most rarely) and 10 % of the
   requests preceded by a new interaction of that user (which invalidates their lists), 80 % asking
   ``n=10`` and 20 % ``n=20&explain=false``. The hit rate comes from the server's ``/metrics``.

``none://`` is the no-cache baseline. Latencies are end-to-end from the client (connection reuse, JSON
parse included); requests/s at concurrency 1 is latency-bound, at 8 throughput-bound. The load
generator shares the 2 cores with the server, and on a shared machine other processes disturb the
numbers: re-run on a quiet machine for the ones to quote.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import numpy as np

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

ZIPF_EXPONENT = 1.1
INVALIDATING_SHARE = 0.10
VARIANTS = [({"n": 10}, 0.8), ({"n": 20, "explain": "false"}, 0.2)]


@dataclass
class Phase:
    name: str
    latencies: list[float] = field(default_factory=list)
    elapsed: float = 0.0
    hit_rate: float | None = None
    server_cpu: float = 0.0

    def row(self, backend: str, concurrency: int) -> str:
        ms = np.array(self.latencies) * 1000
        hits = f"{self.hit_rate:6.1%}" if self.hit_rate is not None else "     -"
        return (
            f"{backend:<7} {self.name:<7} {concurrency:>4} {len(ms):>7} {np.percentile(ms, 50):8.2f} "
            f"{np.percentile(ms, 99):8.2f} {len(ms) / self.elapsed:9.0f} {hits:>8} "
            f"{self.server_cpu * 1000 / len(ms):11.2f}"
        )


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (Linux): the server's cost per request, which other load
    on the machine disturbs far less than wall-clock latency."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def prepare(data_dir: Path) -> dict[str, str]:
    """Migrate, load the demo school and train once; every server below shares this database."""
    os.environ["NEXTREAD_DATA_DIR"] = str(data_dir)
    os.environ["NEXTREAD_LOG_LEVEL"] = "WARNING"
    from nextread.cli import prepare_demo
    from nextread.config import Settings

    _, keys = prepare_demo(Settings())
    return keys


def start_server(data_dir: Path, cache_url: str, prefix: str) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {
        **os.environ,
        "NEXTREAD_DATA_DIR": str(data_dir),
        "NEXTREAD_CACHE_URL": cache_url,
        "NEXTREAD_CACHE_KEY_PREFIX": prefix,
        "NEXTREAD_SCHEDULER_ENABLED": "false",
        "NEXTREAD_LOG_LEVEL": "WARNING",
    }
    command = [sys.executable, "-m", "nextread", "serve", "--port", str(port)]
    server = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                return server, base
        except httpx.HTTPError:
            pass
        if server.poll() is not None:
            raise SystemExit(f"nextread serve exited with {server.returncode}")
        time.sleep(0.2)
    server.terminate()
    raise SystemExit("nextread serve did not become ready in 120 s")


async def drive(
    client: httpx.AsyncClient,
    server_pid: int,
    requests: list[tuple[str, dict, dict | None]],
    concurrency: int,
    phase: Phase,
) -> Phase:
    """Send (user, query, interaction-to-post-first) requests from ``concurrency`` workers; only
    recommendation GETs are timed."""
    queue: asyncio.Queue[tuple[str, dict, dict | None]] = asyncio.Queue()
    for request in requests:
        queue.put_nowait(request)
    latencies: list[float] = []

    async def worker() -> None:
        while not queue.empty():
            user, params, interaction = queue.get_nowait()
            if interaction is not None:
                (await client.post("/v1/interactions", json=interaction)).raise_for_status()
            started = time.perf_counter()
            response = await client.get(f"/v1/users/{user}/recommendations", params=params)
            response.raise_for_status()
            response.json()
            latencies.append(time.perf_counter() - started)

    started, cpu = time.perf_counter(), cpu_seconds(server_pid)
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    phase.latencies, phase.elapsed = latencies, time.perf_counter() - started
    phase.server_cpu = cpu_seconds(server_pid) - cpu
    return phase


async def lookups(client: httpx.AsyncClient) -> tuple[float, float]:
    text = (await client.get("/metrics")).text

    def value(result: str) -> float:
        pattern = rf'nextread_cache_lookups_total{{cache="recommendations",result="{result}"}} (\S+)'
        found = re.search(pattern, text)
        return float(found.group(1)) if found else 0.0

    return value("hit"), value("miss")


def zipf_users(users: list[str], count: int, rng: random.Random) -> list[str]:
    weights = [1.0 / (rank + 1) ** ZIPF_EXPONENT for rank in range(len(users))]
    order = users[:]
    rng.shuffle(order)  # who is popular is arbitrary
    return rng.choices(order, weights=weights, k=count)


def mix(
    users: list[str], items: list[str], count: int, rng: random.Random
) -> list[tuple[str, dict, dict | None]]:
    queries, shares = zip(*VARIANTS, strict=True)
    plan = []
    for user in zipf_users(users, count, rng):
        interaction = None
        if rng.random() < INVALIDATING_SHARE:
            interaction = {
                "user_id": user,
                "item_id": rng.choice(items),
                "type": "view",
                "event_id": uuid.uuid4().hex,
            }
        plan.append((user, rng.choices(queries, weights=shares)[0], interaction))
    return plan


async def bench_backend(
    backend: str,
    server: subprocess.Popen[bytes],
    base: str,
    admin_key: str,
    count: int,
    concurrencies: list[int],
) -> list[str]:
    headers = {"Authorization": f"Bearer {admin_key}"}
    limits = httpx.Limits(max_connections=max(concurrencies), max_keepalive_connections=max(concurrencies))
    rows = []
    rng = random.Random(7)
    async with httpx.AsyncClient(base_url=base, headers=headers, limits=limits, timeout=60) as client:
        users = [row["id"] for row in (await client.get("/v1/users", params={"limit": 500})).json()["data"]]
        items = [row["id"] for row in (await client.get("/v1/items", params={"limit": 500})).json()["data"]]
        cold = await drive(client, server.pid, [(u, {"n": 10}, None) for u in users], 1, Phase("cold"))
        rows.append(cold.row(backend, 1))
        for concurrency in concurrencies:
            plan = [(rng.choice(users), {"n": 10}, None) for _ in range(count)]
            cached = await drive(client, server.pid, plan, concurrency, Phase("cached"))
            rows.append(cached.row(backend, concurrency))
            before = await lookups(client)
            mixed = await drive(client, server.pid, mix(users, items, count, rng), concurrency, Phase("mix"))
            after = await lookups(client)
            hits, misses = after[0] - before[0], after[1] - before[1]
            mixed.hit_rate = hits / (hits + misses) if hits + misses else None
            rows.append(mixed.row(backend, concurrency))
    return rows


def cleanup_redis(redis_url: str, prefix: str) -> None:
    import redis

    client = redis.Redis.from_url(redis_url)
    keys = list(client.scan_iter(match=f"{prefix}:*", count=1000))
    if keys:
        client.delete(*keys)
    client.close()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--backends", default="none,memory,redis")
    parser.add_argument("--requests", type=int, default=3000, help="Requests per phase.")
    parser.add_argument("--concurrency", default="1,8", help="Comma-separated client concurrencies.")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    args = parser.parse_args()
    concurrencies = [int(c) for c in args.concurrency.split(",")]
    data_dir = Path(tempfile.mkdtemp(prefix="nextread-bench-cache-"))
    try:
        keys = prepare(data_dir)
        rows = []
        for backend in args.backends.split(","):
            prefix = f"bench-{uuid.uuid4().hex[:8]}"
            url = {"none": "none://", "memory": "memory://", "redis": args.redis_url}[backend]
            server, base = start_server(data_dir, url, prefix)
            try:
                rows += asyncio.run(
                    bench_backend(backend, server, base, keys["admin"], args.requests, concurrencies)
                )
            finally:
                server.terminate()
                server.wait(30)
                if backend == "redis":
                    cleanup_redis(args.redis_url, prefix)
        print(f"\ndemo school (150 users, 300 items), {os.cpu_count()} cores shared with the load generator")
        print(
            f"{'cache':<7} {'phase':<7} {'conc':>4} {'reqs':>7} {'p50 ms':>8} {'p99 ms':>8} "
            f"{'req/s':>9} {'hit rate':>8} {'server CPU ms/req':>11}"
        )
        print("\n".join(rows))
        print(json.dumps({"zipf_exponent": ZIPF_EXPONENT, "invalidating_share": INVALIDATING_SHARE}))
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
