"""Event bus throughput: publish and consume+ack events/s per backend and batch size, with the raw redis-py
XADD / XREADGROUP / XACK loop as the reference our Redis wrapper is measured against.

For each backend (memory, Redis at 127.0.0.1:6379, librdkafka's in-process mock Kafka cluster) and batch
size (1, 100, 1000) it publishes N realistic interaction events (~230 bytes of JSON) in batches, then
consumes and acks them in batches of the same size from one consumer, on a fresh topic each time. Kafka
consumers join their group before the clock starts. Streams are deleted afterwards.

    .venv/bin/python bench/bench_bus.py [--events 20000] [--backends memory,redis,kafka]

Batch size 1 uses a tenth of the events (each call is a round trip). Each cell is the best of
``--repeat`` runs. Single-process, single-consumer figures on whatever else the machine runs: re-run
on a quiet machine to compare.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
import uuid
from collections.abc import Awaitable, Callable

import redis.asyncio as aioredis

from nextread.events.bus import EventBus, bus_from_url

REDIS_URL = "redis://127.0.0.1:6379/0"
BATCH_SIZES = (1, 100, 1000)


def events(n: int) -> list[tuple[str, bytes]]:
    """Interaction events shaped like the outbox's: a user key and a JSON body."""
    return [
        (
            f"1:student-{i % 5000}",
            json.dumps(
                {
                    "kind": "interaction",
                    "v": 1,
                    "tenant_id": 1,
                    "event_id": f"bench-{i}",
                    "user": f"student-{i % 5000}",
                    "user_pk": i % 5000,
                    "item_pk": i % 10000,
                    "type": "read",
                    "value": 4.0,
                    "occurred_at": "2026-11-27T12:00:00+00:00",
                }
            ).encode(),
        )
        for i in range(n)
    ]


async def timed(work: Callable[[], Awaitable[int]]) -> float:
    """Events per second of one awaited piece of work that returns its event count."""
    started = time.perf_counter()
    count = await work()
    return count / (time.perf_counter() - started)


async def bench_bus(url: str, batch: int, payloads: list[tuple[str, bytes]]) -> tuple[float, float]:
    topic = f"bench.{uuid.uuid4().hex[:10]}"
    bus = bus_from_url(url, topic=topic)
    await bus.consume("bench", "c1", max_messages=1, block_ms=200)  # join the group, create the stream

    async def publish() -> int:
        for start in range(0, len(payloads), batch):
            await bus.publish(payloads[start : start + batch])
        return len(payloads)

    async def consume() -> int:
        done = 0
        while done < len(payloads):
            messages = await bus.consume("bench", "c1", max_messages=batch, block_ms=5000)
            await bus.ack("bench", messages)
            done += len(messages)
        return done

    try:
        return await timed(publish), await timed(consume)
    finally:
        await _drop(bus, url, topic)


async def _drop(bus: EventBus, url: str, topic: str) -> None:
    if url.startswith("redis"):
        client = aioredis.from_url(url)
        await client.delete(topic, f"{topic}.dead")
        await client.aclose()
    await bus.close()


async def bench_raw_redis(batch: int, payloads: list[tuple[str, bytes]]) -> tuple[float, float]:
    """The same work with redis-py alone: pipelined XADD, XREADGROUP COUNT batch, XACK."""
    stream = f"bench.raw.{uuid.uuid4().hex[:10]}"
    client = aioredis.from_url(REDIS_URL)
    await client.xgroup_create(stream, "bench", id="0", mkstream=True)

    async def publish() -> int:
        for start in range(0, len(payloads), batch):
            async with client.pipeline(transaction=False) as pipe:
                for key, payload in payloads[start : start + batch]:
                    pipe.xadd(stream, {"k": key, "p": payload}, maxlen=1_000_000, approximate=True)
                await pipe.execute()
        return len(payloads)

    async def consume() -> int:
        done = 0
        while done < len(payloads):
            response = await client.xreadgroup("bench", "c1", {stream: ">"}, count=batch, block=5000)
            ids = [entry_id for _, entries in response for entry_id, _ in entries]
            await client.xack(stream, "bench", *ids)
            done += len(ids)
        return done

    try:
        return await timed(publish), await timed(consume)
    finally:
        await client.delete(stream)
        await client.aclose()


async def best_of(
    runs: int, bench: Callable[..., Awaitable[tuple[float, float]]], *args: object
) -> tuple[float, float]:
    """Best publish and best consume rate over several runs: the least disturbed by other load."""
    results = [await bench(*args) for _ in range(runs)]
    return max(result[0] for result in results), max(result[1] for result in results)


def kafka_mock_url() -> tuple[str, object]:
    """Start librdkafka's mock cluster; it lives as long as the returned producer object."""
    from confluent_kafka import Producer

    anchor = Producer({"test.mock.num.brokers": 1, "log_level": 0})
    brokers = anchor.list_topics(timeout=10).brokers.values()
    return "kafka://" + ",".join(f"{broker.host}:{broker.port}" for broker in brokers), anchor


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000, help="events per run (batch 1: a tenth)")
    parser.add_argument("--backends", default="memory,redis,kafka")
    parser.add_argument("--repeat", type=int, default=3, help="runs per cell; the best is printed")
    args = parser.parse_args()
    backends = args.backends.split(",")
    urls = {"memory": "memory://bench", "redis": REDIS_URL}
    anchor = None
    if "kafka" in backends:
        urls["kafka"], anchor = kafka_mock_url()
    print(f"{'backend':<22}{'batch':>6}{'events':>8}{'publish ev/s':>15}{'consume+ack ev/s':>19}")
    raw: dict[int, tuple[float, float]] = {}
    for batch in BATCH_SIZES:
        payloads = events(args.events if batch > 1 else args.events // 10)
        if "redis" in backends:
            raw[batch] = await best_of(args.repeat, bench_raw_redis, batch, payloads)
            _row("redis-py raw (ref)", batch, len(payloads), raw[batch])
        for backend in backends:
            result = await best_of(args.repeat, bench_bus, urls[backend], batch, payloads)
            _row(backend, batch, len(payloads), result)
            if backend == "redis":
                overhead = [
                    100 * (reference / ours - 1) for ours, reference in zip(result, raw[batch], strict=True)
                ]
                print(f"{'  wrapper overhead':<22}{'':>14}{overhead[0]:>14.0f}%{overhead[1]:>18.0f}%")
    del anchor


def _row(name: str, batch: int, count: int, result: tuple[float, float]) -> None:
    print(f"{name:<22}{batch:>6}{count:>8}{result[0]:>15,.0f}{result[1]:>19,.0f}")


if __name__ == "__main__":
    asyncio.run(main())
