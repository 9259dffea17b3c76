"""The event bus contract on every backend: memory, the real Redis, and librdkafka's mock Kafka cluster.

Kafka consumers need a group join (about 3 s on the mock cluster) before their first messages, hence
the generous ``block_ms`` where a Kafka consumer starts.
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable

import pytest
import redis

from nextread.events import redis_streams
from nextread.events.bus import EventBus, Message, bus_from_url
from nextread.events.memory import MemoryBus

FIRST_BLOCK_MS = 8000  # covers a Kafka group join


def run(scenario: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(scenario())


async def consume_all(
    bus: EventBus, group: str, consumer: str, expected: int, ack: bool = True
) -> list[Message]:
    """Consume until ``expected`` messages arrived (or 20 s passed)."""
    received: list[Message] = []
    deadline = time.monotonic() + 20
    while len(received) < expected and time.monotonic() < deadline:
        batch = await bus.consume(
            group, consumer, max_messages=100, block_ms=FIRST_BLOCK_MS if not received else 500
        )
        if ack:
            await bus.ack(group, batch)
        received += batch
    return received


def test_publish_consume_ack_keeps_order_per_key(bus_url: str, topic: str) -> None:
    async def scenario() -> None:
        bus = bus_from_url(bus_url, topic=topic)
        sent = [(f"1:user-{i % 3}", f'{{"n": {i}}}'.encode()) for i in range(30)]
        await bus.publish(sent)
        received = await consume_all(bus, "g", "c1", 30)
        by_key: dict[str, list[bytes]] = defaultdict(list)
        for message in received:
            assert message.attempts == 1
            by_key[message.key].append(message.payload)
        expected: dict[str, list[bytes]] = defaultdict(list)
        for key, payload in sent:
            expected[key].append(payload)
        assert by_key == expected
        assert len({message.id for message in received}) == 30
        assert await bus.consume("g", "c1", block_ms=300) == []  # acked: never again
        assert await bus.lag("g") == 0
        await bus.close()

    run(scenario)


def test_dead_letter_keeps_reason_and_acks(bus_url: str, topic: str) -> None:
    async def scenario() -> None:
        bus = bus_from_url(bus_url, topic=topic)
        await bus.publish([("1:a", b'{"ok": 1}'), ("1:a", b"not json"), ("1:a", b'{"ok": 2}')])
        received = await consume_all(bus, "g", "c1", 3, ack=False)
        poison = next(message for message in received if message.payload == b"not json")
        await bus.dead_letter("g", poison, "malformed event: not JSON")
        await bus.ack("g", [message for message in received if message is not poison])
        letters = await bus.dead_letters()
        assert [(letter.key, letter.payload, letter.reason, letter.group) for letter in letters] == [
            ("1:a", b"not json", "malformed event: not JSON", "g")
        ]
        assert letters[0].original_id == poison.id
        assert bus.dead_letter_topic == f"{topic}.dead"
        assert await bus.lag("g") == 0
        await bus.close()

    run(scenario)


def test_lag_counts_undelivered_and_unacked(bus_url: str, topic: str) -> None:
    async def scenario() -> None:
        bus = bus_from_url(bus_url, topic=topic)
        assert await bus.lag("g") == 0
        await bus.publish([("1:same-user", str(i).encode()) for i in range(10)])  # one key: one partition
        assert await bus.lag("g") == 10
        received = await consume_all(bus, "g", "c1", 10, ack=False)
        assert [message.payload for message in received] == [str(i).encode() for i in range(10)]
        assert await bus.lag("g") == 10  # delivered but not acked still counts
        await bus.ack("g", received[:4])
        assert await bus.lag("g") == 6
        await bus.ack("g", received[4:])
        assert await bus.lag("g") == 0
        await bus.close()

    run(scenario)


def test_ping_answers_for_a_live_bus(bus_url: str, topic: str) -> None:
    async def scenario() -> None:
        bus = bus_from_url(bus_url, topic=topic)
        assert await bus.ping() is True
        await bus.close()

    run(scenario)


@pytest.mark.parametrize("url", ["redis://127.0.0.1:1/0", "kafka://127.0.0.1:1"])
def test_ping_is_false_on_a_dead_port(url: str) -> None:
    async def scenario() -> None:
        bus = bus_from_url(url, topic="test.unreachable")
        started = time.monotonic()
        assert await bus.ping() is False
        assert time.monotonic() - started < 5
        await bus.close()

    run(scenario)


def test_publish_to_a_dead_redis_raises() -> None:
    """The outbox relay relies on this to keep events queued while the bus is down."""

    async def scenario() -> None:
        bus = bus_from_url("redis://127.0.0.1:1/0", topic="test.unreachable")
        with pytest.raises(redis.exceptions.ConnectionError):
            await bus.publish([("1:a", b"{}")])
        await bus.close()

    run(scenario)


def test_unknown_scheme_names_the_setting() -> None:
    with pytest.raises(ValueError, match="NEXTREAD_EVENT_BUS_URL"):
        bus_from_url("amqp://localhost")


@pytest.mark.parametrize("backend", ["memory", "redis"])
def test_two_consumers_in_a_group_split_messages_without_duplicates(
    backend: str, topic: str, request: pytest.FixtureRequest
) -> None:
    """Kafka splits by partition instead; see test_kafka_group_hands_over_at_the_committed_offset."""
    url = f"memory://{topic}" if backend == "memory" else request.getfixturevalue("redis_url")

    async def scenario() -> None:
        bus = bus_from_url(url, topic=topic)
        await bus.publish([(f"1:u{i % 20}", str(i).encode()) for i in range(400)])
        seen: dict[str, list[str]] = {"a": [], "b": []}

        async def consumer(name: str) -> None:
            while sum(map(len, seen.values())) < 400:
                batch = await bus.consume("g", name, max_messages=25, block_ms=100)
                await asyncio.sleep(0.001)  # let the other consumer in, as separate processes would
                seen[name] += [message.id for message in batch]
                await bus.ack("g", batch)

        await asyncio.wait_for(asyncio.gather(consumer("a"), consumer("b")), 20)
        assert seen["a"] and seen["b"]
        assert len(set(seen["a"] + seen["b"])) == len(seen["a"]) + len(seen["b"]) == 400
        assert await bus.lag("g") == 0
        await bus.close()

    run(scenario)


@pytest.mark.parametrize("backend", ["memory", "redis"])
def test_unacked_message_is_claimed_by_another_consumer_after_the_claim_time(
    backend: str, topic: str, request: pytest.FixtureRequest
) -> None:
    url = f"memory://{topic}" if backend == "memory" else request.getfixturevalue("redis_url")

    async def scenario() -> None:
        bus = bus_from_url(url, topic=topic, claim_idle_ms=300)
        await bus.publish([("1:a", b"first"), ("1:a", b"second")])
        crashed = await bus.consume("g", "crashed", max_messages=10, block_ms=500)
        assert [message.attempts for message in crashed] == [1, 1]
        assert await bus.consume("g", "survivor", block_ms=100) == []  # still owned by "crashed"
        time.sleep(0.35)  # the crashed consumer never acks
        taken = await bus.consume("g", "survivor", block_ms=1000)
        assert [(message.id, message.payload) for message in taken] == [(m.id, m.payload) for m in crashed]
        assert [message.attempts for message in taken] == [2, 2]
        await bus.ack("g", taken)
        time.sleep(0.35)
        assert await bus.consume("g", "survivor", block_ms=100) == []  # acked by the survivor: done
        assert await bus.lag("g") == 0
        await bus.close()

    run(scenario)


def test_kafka_group_hands_over_at_the_committed_offset(kafka_url: str, topic: str) -> None:
    """A worker that stops after acking half its messages: the next one resumes exactly there."""

    async def scenario() -> None:
        first = bus_from_url(kafka_url, topic=topic)
        await first.publish([(f"1:u{i % 5}", str(i).encode()) for i in range(50)])
        received = await consume_all(first, "g", "w1", 50, ack=False)
        acked = received[:20] + received[30:]  # a gap: only what precedes it per partition commits
        await first.ack("g", acked)
        await first.close()

        second = bus_from_url(kafka_url, topic=topic)
        redelivered = await consume_all(second, "g", "w2", 10)
        gap = {message.id for message in received[20:30]}
        assert gap <= {message.id for message in redelivered}
        # Only partitions with an unacked message are redelivered, and only from that message on.
        for message in redelivered:
            partition, offset = message.id.split(":")
            held_back = [int(m.id.split(":")[1]) for m in received[20:30] if m.id.split(":")[0] == partition]
            assert held_back and int(offset) >= min(held_back)
        await second.ack("g", redelivered)
        assert await second.lag("g") == 0
        await second.close()

    run(scenario)


def test_kafka_keeps_a_users_events_on_one_partition(kafka_url: str, topic: str) -> None:
    async def scenario() -> None:
        bus = bus_from_url(kafka_url, topic=topic)
        await bus.publish([(f"1:u{i % 7}", str(i).encode()) for i in range(70)])
        received = await consume_all(bus, "g", "c1", 70)
        partitions: dict[str, set[str]] = defaultdict(set)
        for message in received:
            partitions[message.key].add(message.id.split(":")[0])
        assert all(len(numbers) == 1 for numbers in partitions.values())
        assert len({number for numbers in partitions.values() for number in numbers}) > 1
        await bus.close()

    run(scenario)


def test_redis_trims_only_what_every_group_acked(
    redis_url: str, topic: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(redis_streams, "TRIM_EVERY_S", 0.0)

    async def scenario() -> None:
        bus = bus_from_url(redis_url, topic=topic, claim_idle_ms=200)
        await bus.publish([("1:a", str(i).encode()) for i in range(300)])
        received = await consume_all(bus, "g", "c1", 300, ack=False)
        await bus.ack("g", received[:250])
        await bus.consume("g", "c1", block_ms=10)  # consuming trims
        length = await bus._redis.xlen(topic)
        assert 50 <= length < 300
        time.sleep(0.25)
        taken = await bus.consume("g", "c2", max_messages=100, block_ms=500)
        assert [message.payload for message in taken] == [str(i).encode() for i in range(250, 300)]
        await bus.close()

    run(scenario)


def test_memory_buses_with_the_same_url_share_a_log(topic: str) -> None:
    """The API's relay and an in-process worker meet on ``memory://`` without configuration."""

    async def scenario() -> None:
        writer, reader = bus_from_url("memory://", topic=topic), bus_from_url("memory://", topic=topic)
        assert isinstance(reader, MemoryBus)
        await writer.publish([("1:a", b"x")])
        assert [message.payload for message in await reader.consume("g", "c", block_ms=100)] == [b"x"]
        other = bus_from_url("memory://elsewhere", topic=topic)
        assert await other.lag("g") == 0

    run(scenario)


def test_memory_consume_wakes_on_publish_from_another_thread(topic: str) -> None:
    """FastAPI runs sync endpoints in threads: a publish there must wake a waiting consumer at once."""
    import threading

    async def scenario() -> None:
        bus = bus_from_url(f"memory://{topic}", topic=topic)
        publisher = threading.Timer(0.1, lambda: asyncio.run(bus.publish([("1:a", b"late")])))
        started = time.monotonic()
        publisher.start()
        batch = await bus.consume("g", "c", block_ms=5000)
        assert [message.payload for message in batch] == [b"late"]
        assert time.monotonic() - started < 1.0

    run(scenario)


def test_redis_consumer_recovers_when_the_stream_is_recreated(redis_url: str, topic: str) -> None:
    """Redis restarted without persistence (or the stream was deleted): the group is made again."""

    async def scenario() -> None:
        bus = bus_from_url(redis_url, topic=topic, claim_idle_ms=50)
        await bus.publish([("1:a", b"before")])
        assert [message.payload for message in await bus.consume("g", "c", block_ms=100)] == [b"before"]
        await bus._redis.delete(topic)
        await bus.publish([("1:a", b"after")])
        time.sleep(0.1)  # past the claim time, so the XAUTOCLAIM path meets the missing group too
        assert [message.payload for message in await bus.consume("g", "c", block_ms=100)] == [b"after"]
        await bus.close()

    run(scenario)
