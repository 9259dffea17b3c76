"""The worker runtime on the memory bus and the real Redis (and one Kafka run): retries with backoff,
dead letters with reasons, outages waited out, load shared without double processing, clean stops."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable, Sequence

import pytest
from prometheus_client import REGISTRY

from nextread.events.bus import EventBus, Message, bus_from_url
from nextread.events.worker import EventWorker, HandlerOutcome


async def run_until(
    workers: Sequence[EventWorker], done: Callable[[], Awaitable[bool]], timeout: float = 20.0
) -> None:
    """Run the workers until ``done()`` holds, then stop them the way the worker command does."""
    stop = asyncio.Event()
    tasks = [asyncio.create_task(worker.run(stop)) for worker in workers]
    deadline = time.monotonic() + timeout
    while not await done() and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    stop.set()
    await asyncio.wait_for(asyncio.gather(*tasks), 10)


def metric(name: str, group: str) -> float:
    return REGISTRY.get_sample_value(name, {"group": group}) or 0.0


class Recorder:
    """A handler that decodes JSON events; ``{"fail": n}`` fails n times, ``{"raise": true}`` raises."""

    def __init__(self) -> None:
        self.applied: list[int] = []
        self.calls: list[tuple[float, list[str]]] = []
        self.failures: dict[str, int] = {}

    def apply(self, messages: Sequence[Message]) -> HandlerOutcome:
        self.calls.append((time.monotonic(), [message.id for message in messages]))
        outcome = HandlerOutcome()
        for message in messages:
            try:
                event = json.loads(message.payload)
            except json.JSONDecodeError as exc:
                outcome.poison.append((message, f"malformed event: not JSON ({exc.msg})"))
                continue
            if event.get("type") != "like":
                outcome.poison.append((message, f"unknown event type {event.get('type')!r}"))
                continue
            if event.get("raise"):
                raise ValueError(f"cannot apply event {event['n']}")
            tries = self.failures.get(message.id, 0)
            if tries < event.get("fail", 0):
                self.failures[message.id] = tries + 1
                outcome.failed.append((message, "item row locked"))
                continue
            self.applied.append(event["n"])
        return outcome


def like(n: int, **extra: object) -> tuple[str, bytes]:
    return f"1:u{n % 5}", json.dumps({"type": "like", "n": n, **extra}).encode()


@pytest.fixture(params=["memory", "redis"])
def url(request: pytest.FixtureRequest, topic: str) -> str:
    return f"memory://{topic}" if request.param == "memory" else request.getfixturevalue("redis_url")


async def published(url: str, topic: str, events: list[tuple[str, bytes]], **options: int) -> EventBus:
    bus = bus_from_url(url, topic=topic, **options)
    await bus.publish(events)
    return bus


def test_failed_event_is_retried_with_backoff_then_dead_lettered(url: str, topic: str) -> None:
    group = f"g-{topic}"
    handler = Recorder()

    async def scenario() -> None:
        bus = await published(url, topic, [like(0), like(1, fail=99), like(2, fail=1)])
        worker = EventWorker(bus, group, "w1", handler, max_attempts=3, retry_base_seconds=0.05, block_ms=100)

        async def finished() -> bool:
            return len(await bus.dead_letters()) == 1 and await bus.lag(group) == 0

        await run_until([worker], finished)
        [letter] = await bus.dead_letters()
        assert json.loads(letter.payload)["n"] == 1
        assert letter.reason == "failed 3 times, last: item row locked"
        await bus.close()

    asyncio.run(scenario())
    assert sorted(handler.applied) == [0, 2]
    retry_times = [at for at, ids in handler.calls if len(ids) < 3]
    gaps = [later - earlier for earlier, later in zip(retry_times, retry_times[1:], strict=False)]
    assert len(retry_times) == 2 and gaps[0] >= 0.09  # 0.05 s, then 0.1 s: the delay doubles
    assert metric("nextread_events_retried_total", group) == 3  # events 1 and 2, then event 1 again
    assert metric("nextread_events_dead_lettered_total", group) == 1
    assert metric("nextread_events_processed_total", group) == 2


def test_worker_keeps_going_after_poison_events(url: str, topic: str) -> None:
    group = f"g-{topic}"
    events = [like(0), ("1:u1", b"{not json"), ("1:u2", b'{"type": "teleport"}'), like(3, **{"raise": True})]
    events += [like(n) for n in range(4, 10)]
    handler = Recorder()

    async def scenario() -> list[str]:
        bus = await published(url, topic, events)
        worker = EventWorker(bus, group, "w1", handler, max_attempts=2, retry_base_seconds=0.01, block_ms=100)

        async def finished() -> bool:
            return len(await bus.dead_letters()) == 3 and await bus.lag(group) == 0

        await run_until([worker], finished)
        reasons = sorted(letter.reason for letter in await bus.dead_letters())
        await bus.close()
        return reasons

    reasons = asyncio.run(scenario())
    assert sorted(set(handler.applied)) == [0, 4, 5, 6, 7, 8, 9]
    assert reasons[0] == "failed 2 times, last: ValueError: cannot apply event 3"
    assert reasons[1].startswith("malformed event: not JSON")
    assert reasons[2] == "unknown event type 'teleport'"


def test_an_outage_is_waited_out_without_dead_letters(url: str, topic: str) -> None:
    group = f"g-{topic}"
    outage = {"left": 3}
    recorder = Recorder()

    def apply(messages: Sequence[Message]) -> HandlerOutcome:
        if outage["left"]:
            outage["left"] -= 1
            raise ConnectionError("database unreachable")
        return recorder.apply(messages)

    async def scenario() -> None:
        bus = await published(url, topic, [like(n) for n in range(20)])
        worker = EventWorker(bus, group, "w1", apply, max_attempts=2, retry_base_seconds=0.01, block_ms=100)

        async def finished() -> bool:
            return await bus.lag(group) == 0

        await run_until([worker], finished)
        assert await bus.dead_letters() == []
        await bus.close()

    asyncio.run(scenario())
    assert sorted(recorder.applied) == list(range(20))  # more outages than max_attempts: nothing parked
    assert metric("nextread_events_failed_total", group) == 60


class AckFailsOnce:
    """A bus that dies between the handler's commit and the ack, as Redis did in a CI run."""

    def __init__(self, bus: EventBus) -> None:
        self._bus = bus
        self.failed_acks = 0

    def __getattr__(self, name: str) -> object:
        return getattr(self._bus, name)

    async def ack(self, group: str, messages: Sequence[Message]) -> None:
        if not self.failed_acks:
            self.failed_acks += 1
            raise ConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")
        await self._bus.ack(group, messages)


def test_a_failed_ack_does_not_stop_the_worker(url: str, topic: str) -> None:
    """The batch stays unacked and is redelivered (the real handler dedups); later events still flow."""
    group = f"g-{topic}"
    recorder = Recorder()

    async def scenario() -> int:
        inner = await published(url, topic, [like(n) for n in range(5)], claim_idle_ms=200)
        bus = AckFailsOnce(inner)
        worker = EventWorker(bus, group, "w1", recorder, block_ms=50)  # type: ignore[arg-type]
        stop = asyncio.Event()
        running = asyncio.create_task(worker.run(stop))
        deadline = time.monotonic() + 15
        while len(recorder.applied) < 5 and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        await inner.publish([like(n) for n in range(5, 10)])
        while time.monotonic() < deadline:
            if len(recorder.applied) == 15 and await inner.lag(group) == 0:
                break
            await asyncio.sleep(0.02)
        stop.set()
        await asyncio.wait_for(running, 10)
        await inner.close()
        return bus.failed_acks

    assert asyncio.run(scenario()) == 1
    assert sorted(recorder.applied) == sorted([*range(5), *range(10)])  # 0-4 applied again on redelivery


def test_workers_in_a_group_share_the_load_without_double_processing(url: str, topic: str) -> None:
    group = f"g-{topic}"
    handlers = [Recorder(), Recorder(), Recorder()]

    async def scenario() -> None:
        bus = await published(url, topic, [like(n) for n in range(600)])
        workers = [
            EventWorker(bus, group, f"w{n}", _async_handler(handler), batch_size=20, block_ms=50)
            for n, handler in enumerate(handlers)
        ]

        async def finished() -> bool:
            return sum(len(handler.applied) for handler in handlers) >= 600

        await run_until(workers, finished)
        assert await bus.lag(group) == 0
        await bus.close()

    asyncio.run(scenario())
    everything = [n for handler in handlers for n in handler.applied]
    assert sorted(everything) == list(range(600))  # each event exactly once
    assert sum(1 for handler in handlers if handler.applied) >= 2


def _async_handler(target: Recorder) -> Callable[[list[Message]], Awaitable[HandlerOutcome]]:
    async def apply(messages: list[Message]) -> HandlerOutcome:
        await asyncio.sleep(0.005)  # an async handler is awaited on the loop: the other workers run
        return target.apply(messages)

    return apply


def test_stopping_finishes_and_acks_the_batch_in_hand(url: str, topic: str) -> None:
    group = f"g-{topic}"
    recorder = Recorder()

    async def scenario() -> None:
        bus = await published(url, topic, [like(n) for n in range(10)])
        started = asyncio.Event()

        async def slow(messages: list[Message]) -> HandlerOutcome:
            started.set()
            await asyncio.sleep(0.3)
            return recorder.apply(messages)

        task = asyncio.create_task(EventWorker(bus, group, "w1", slow, block_ms=100).run())
        await asyncio.wait_for(started.wait(), 5)
        task.cancel()  # what asyncio.run does to the worker task on Ctrl-C
        with pytest.raises(asyncio.CancelledError):
            await task
        assert sorted(recorder.applied) == list(range(10))
        assert await bus.lag(group) == 0
        await bus.close()

    asyncio.run(scenario())


def test_an_event_redelivered_too_often_is_parked_without_another_try(topic: str) -> None:
    """Its handling crashed the worker each time (the bus counts deliveries); do not crash it again."""
    group = f"g-{topic}"
    recorder = Recorder()

    async def scenario() -> None:
        bus = await published(f"memory://{topic}", topic, [like(0)], claim_idle_ms=1)
        for _ in range(2):  # two workers died holding it
            assert len(await bus.consume(group, "doomed", block_ms=100)) == 1
            await asyncio.sleep(0.01)
        worker = EventWorker(bus, group, "w1", recorder, max_attempts=2, block_ms=50)

        async def finished() -> bool:
            return len(await bus.dead_letters()) == 1

        await run_until([worker], finished)
        [letter] = await bus.dead_letters()
        assert letter.reason == "delivered 3 times (max 2): its handling kept crashing"
        assert letter.attempts == 3

    asyncio.run(scenario())
    assert recorder.applied == []


def test_worker_on_kafka_applies_every_event_and_commits(kafka_url: str, topic: str) -> None:
    group = f"g-{topic}"
    recorder = Recorder()

    async def scenario() -> None:
        bus = await published(kafka_url, topic, [like(n) for n in range(50)] + [("1:u0", b"garbage")])
        worker = EventWorker(bus, group, "w1", recorder, block_ms=500)

        async def finished() -> bool:
            return len(recorder.applied) == 50 and await bus.lag(group) == 0

        await run_until([worker], finished, timeout=30)
        [letter] = await bus.dead_letters()
        assert letter.payload == b"garbage" and letter.reason.startswith("malformed event")
        assert await bus.lag(group) == 0
        await bus.close()

    asyncio.run(scenario())
    assert sorted(recorder.applied) == list(range(50))


def test_stopping_abandons_pending_retries_unacked(url: str, topic: str) -> None:
    """A stop during a retry's backoff returns at once and leaves the event for redelivery."""
    group = f"g-{topic}"
    handler = Recorder()

    async def scenario() -> None:
        bus = await published(url, topic, [like(0), like(1, fail=99)])
        worker = EventWorker(bus, group, "w1", handler, max_attempts=5, retry_base_seconds=30, block_ms=50)

        async def in_backoff() -> bool:
            return len(handler.calls) == 1

        started = time.monotonic()
        await run_until([worker], in_backoff)
        assert time.monotonic() - started < 5  # did not sit out the 30 s backoff
        assert await bus.lag(group) == 1  # event 1: neither acked nor parked
        assert await bus.dead_letters() == []
        await bus.close()

    asyncio.run(scenario())
    assert handler.applied == [0]
