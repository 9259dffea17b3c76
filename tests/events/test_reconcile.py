"""The reconciler against the real store (SQLite and PostgreSQL) and the memory:// and real Redis buses.

A bus that loses its events (Redis restarted without AOF, the embedded bus with its process) while no
worker runs leaves stored events that nothing would apply: the reconciler reports them as a gap and
re-publishes them from the outbox, the worker applies each once. A slow or stopped worker alone is
reported but never re-published to; an event the worker keeps parking is given up after a bounded
number of re-publications. The Redis bus deletes consumers that went quiet once their entries were
claimed.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator, Sequence
from datetime import timedelta
from typing import Any

import pytest
import redis
from sqlalchemy import func, select, update

from nextread.events.bus import DEFAULT_TOPIC, EventBus, bus_from_url
from nextread.events.reconcile import MAX_REPUBLISH, OutboxReconciler
from nextread.events.relay import OutboxRelay
from nextread.events.worker import EventWorker
from nextread.schemas import InteractionIn, ItemIn
from nextread.services.event_handlers import INTERACTIONS_GROUP, InteractionHandler, parse_event
from nextread.store.db import session_scope
from nextread.store.models import ItemDailyCount, OutboxEntry, ProcessedEvent, utcnow
from nextread.store.outbox import published_unsettled, purge_settled, unapplied_messages
from nextread.store.tenants import ensure_tenant
from nextread.store.writes import upsert_items, write_interactions
from tests.conftest import Database
from tests.events.conftest import REDIS_URL

AFTER_SECONDS = 0.3


@pytest.fixture(params=["memory", "redis"])
def lossy_bus_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """A bus URL and a fresh topic namespace; for Redis the shared server (only this test's keys)."""
    if request.param == "memory":
        yield f"memory://{uuid.uuid4().hex[:8]}"
        return
    yield request.getfixturevalue("redis_url")


@pytest.fixture
def stream(lossy_bus_url: str) -> Iterator[str]:
    name = f"test.reconcile.{uuid.uuid4().hex[:12]}"
    yield name
    if lossy_bus_url.startswith("redis"):
        client = redis.Redis.from_url(REDIS_URL)
        client.delete(name, f"{name}.dead")
        client.close()


def _store_events(database: Database, batches: int, size: int) -> None:
    with session_scope(database.sessions) as session:
        tenant_id = ensure_tenant(session, "default").id
        upsert_items(session, tenant_id, [ItemIn(id=f"bk-{i}", title=f"Book {i}") for i in range(5)])
    for batch in range(batches):
        rows = [
            InteractionIn(
                user_id=f"u-{n % 11}", item_id=f"bk-{n % 5}", type="checkout", event_id=f"e{batch}-{n}"
            )
            for n in range(size)
        ]
        with session_scope(database.sessions) as session:
            assert write_interactions(session, tenant_id, rows).written == size


def _scalar(database: Database, statement: object) -> int:
    with session_scope(database.sessions) as session:
        return int(session.scalar(statement) or 0)  # type: ignore[call-overload]


def _applied(database: Database) -> int:
    return _scalar(database, select(func.count()).select_from(ProcessedEvent))


def _counted(database: Database) -> int:
    return _scalar(database, select(func.sum(ItemDailyCount.events)))


async def _publish_all(database: Database, bus: EventBus) -> None:
    relay = OutboxRelay(database.engine, bus)
    while await relay.publish_once():
        pass


async def _drain(database: Database, bus: EventBus, consumer: str) -> None:
    """A worker runs until the group has nothing left."""
    worker = EventWorker(
        bus, INTERACTIONS_GROUP, consumer, InteractionHandler(database.sessions), block_ms=50
    )
    while batch := await bus.consume(INTERACTIONS_GROUP, consumer, 500, block_ms=50):
        await worker.process(batch)


async def _lose(url: str, stream: str, bus: EventBus) -> EventBus:
    """The bus forgets everything: Redis restarted without persistence (this test's stream is gone),
    or the process holding the memory bus restarted (a new process has a new, empty one)."""
    await bus.close()
    if url.startswith("redis"):
        client = redis.Redis.from_url(url)
        client.delete(stream)
        client.close()
        return bus_from_url(url, topic=stream)
    return bus_from_url(f"memory://{uuid.uuid4().hex[:8]}", topic=stream)


def test_lost_events_are_republished_and_applied_once(
    database: Database, lossy_bus_url: str, stream: str
) -> None:
    _store_events(database, batches=3, size=100)

    async def scenario() -> None:
        bus = bus_from_url(lossy_bus_url, topic=stream)
        await bus.consume(INTERACTIONS_GROUP, "worker-1", 1, 0)  # the group exists; then the worker stops
        await _publish_all(database, bus)
        await asyncio.sleep(AFTER_SECONDS)
        reconciler = OutboxReconciler(database.engine, bus, INTERACTIONS_GROUP, after_seconds=AFTER_SECONDS)
        # The worker is stopped, the bus still holds every event: reported, not re-published.
        assert await reconciler.reconcile_once() == 0
        assert reconciler.gap.events == 300
        assert reconciler.gap.oldest_seconds() >= AFTER_SECONDS

        bus = await _lose(lossy_bus_url, stream, bus)
        reconciler = OutboxReconciler(database.engine, bus, INTERACTIONS_GROUP, after_seconds=AFTER_SECONDS)
        assert await bus.lag(INTERACTIONS_GROUP) == 0
        assert await reconciler.reconcile_once() == 300
        assert reconciler.gap.events == 300  # still not applied: no worker runs
        await asyncio.sleep(AFTER_SECONDS)
        assert await reconciler.reconcile_once() == 0  # the bus holds them again: no second copy
        assert await bus.lag(INTERACTIONS_GROUP) == 300

        await _drain(database, bus, "worker-2")
        assert await reconciler.reconcile_once() == 0
        assert reconciler.gap.events == 0
        assert reconciler.gap.oldest_seconds() is None
        await bus.close()

    asyncio.run(scenario())
    assert _applied(database) == 300
    assert _counted(database) == 300
    assert _scalar(database, select(func.count()).where(OutboxEntry.settled_at.is_(None))) == 0


class SlowPublish:
    """A bus whose publish takes a while, so reconcilers in flight overlap."""

    def __init__(self, bus: EventBus) -> None:
        self._bus = bus

    async def publish(self, messages: Sequence[tuple[str, bytes]]) -> None:
        await asyncio.sleep(0.3)
        await self._bus.publish(messages)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._bus, name)


# SQLite serves one process, so reconcilers never run side by side on it.
@pytest.mark.parametrize("database", ["postgresql"], indirect=True)
def test_concurrent_reconcilers_republish_each_lost_event_once(database: Database) -> None:
    _store_events(database, batches=20, size=10)

    async def scenario() -> tuple[int, int]:
        bus = bus_from_url(f"memory://{uuid.uuid4().hex[:8]}")
        await _publish_all(database, bus)
        await asyncio.sleep(AFTER_SECONDS)
        bus = await _lose("memory://", DEFAULT_TOPIC, bus)
        reconcilers = [
            OutboxReconciler(
                database.engine, SlowPublish(bus), INTERACTIONS_GROUP, after_seconds=AFTER_SECONDS
            )
            for _ in range(3)
        ]
        sent = await asyncio.gather(*(reconciler.reconcile_once() for reconciler in reconcilers))
        return sum(sent), await bus.lag(INTERACTIONS_GROUP)

    assert asyncio.run(scenario()) == (200, 200)


def test_a_parked_event_is_given_up_after_bounded_republications(database: Database) -> None:
    _store_events(database, batches=1, size=2)
    url = f"memory://{uuid.uuid4().hex[:8]}"

    async def park_everything(bus: EventBus) -> int:
        parked = 0
        while batch := await bus.consume(INTERACTIONS_GROUP, "w", 100, block_ms=20):
            for message in batch:
                await bus.dead_letter(INTERACTIONS_GROUP, message, "rejected")
                parked += 1
        return parked

    async def scenario() -> list[int]:
        bus = bus_from_url(url)
        await _publish_all(database, bus)
        reconciler = OutboxReconciler(database.engine, bus, INTERACTIONS_GROUP, after_seconds=0.1)
        republished = []
        for _ in range(MAX_REPUBLISH + 2):
            await park_everything(bus)
            await asyncio.sleep(0.1)
            republished.append(await reconciler.reconcile_once())
        return republished

    assert asyncio.run(scenario()) == [2] * MAX_REPUBLISH + [0, 0]
    with session_scope(database.sessions) as session:
        row = session.scalars(select(OutboxEntry)).one()
    assert row.settled_at is not None and row.republished == MAX_REPUBLISH
    assert "2 of 2 events still not applied" in (row.last_error or "")
    assert _applied(database) == 0


def test_only_settled_rows_are_purged(database: Database) -> None:
    _store_events(database, batches=2, size=3)
    long_ago = utcnow() - timedelta(hours=2)
    with session_scope(database.sessions) as session:
        first, second = session.scalars(select(OutboxEntry.id).order_by(OutboxEntry.id)).all()
        session.execute(update(OutboxEntry).values(sent_at=long_ago))
        session.execute(update(OutboxEntry).where(OutboxEntry.id == first).values(settled_at=long_ago))
    with database.engine.begin() as connection:
        assert purge_settled(connection, timedelta(hours=1)) == 1
    with session_scope(database.sessions) as session:
        assert session.scalars(select(OutboxEntry.id)).all() == [second]


def test_redis_forgets_dead_consumers_once_their_entries_are_claimed(redis_url: str, topic: str) -> None:
    async def scenario() -> set[str]:
        bus = bus_from_url(redis_url, topic=topic, claim_idle_ms=200, dead_consumer_idle_ms=400)
        await bus.publish([("k", b"1"), ("k", b"2"), ("k", b"3")])
        assert len(await bus.consume("g", "crashed", 10, 0)) == 3  # never acked: it died
        await asyncio.sleep(0.5)
        claimed = await bus.consume("g", "survivor", 10, 0)
        assert len(claimed) == 3 and all(message.attempts == 2 for message in claimed)
        await bus.ack("g", claimed)
        consumers = await _consumers(redis_url, topic)
        await bus.close()
        return consumers

    assert asyncio.run(scenario()) == {"survivor"}


def test_redis_keeps_a_quiet_consumer_that_still_holds_entries(redis_url: str, topic: str) -> None:
    async def scenario() -> set[str]:
        bus = bus_from_url(redis_url, topic=topic, claim_idle_ms=60_000, dead_consumer_idle_ms=200)
        await bus.publish([("k", b"1")])
        assert len(await bus.consume("g", "busy", 10, 0)) == 1
        await asyncio.sleep(0.4)
        await bus.publish([("k", b"2")])
        assert len(await bus.consume("g", "other", 10, 0)) == 1
        consumers = await _consumers(redis_url, topic)
        await bus.close()
        return consumers

    assert asyncio.run(scenario()) == {"busy", "other"}


async def _consumers(url: str, topic: str) -> set[str]:
    client = redis.Redis.from_url(url)
    try:
        return {entry["name"].decode() for entry in client.xinfo_consumers(topic, "g")}
    finally:
        client.close()


def test_unapplied_events_are_found_by_their_exact_ids(database: Database) -> None:
    """Ids with quotes, backslashes and other scripts are matched as stored, not as JSON-escaped."""
    _store_events(database, batches=1, size=1)
    odd = ['say "hi" \\ there', "书-1", "plain"]
    with session_scope(database.sessions) as session:
        tenant_id = ensure_tenant(session, "default").id
        rows = [
            InteractionIn(user_id="ü", item_id="bk-0", type="like", event_id=event_id) for event_id in odd
        ]
        write_interactions(session, tenant_id, rows)
        session.add(ProcessedEvent(tenant_id=tenant_id, event_id=odd[0]))
        session.add(ProcessedEvent(tenant_id=tenant_id, event_id="e0-0"))
    with database.engine.begin() as connection:
        batches = published_unsettled(
            connection, stored_before=utcnow(), sent_before=utcnow(), after_id=0, limit=10
        )
        assert batches == []  # never sent: the relay's business, not the reconciler's
        connection.execute(update(OutboxEntry).values(sent_at=utcnow()))
        batches = published_unsettled(
            connection, stored_before=utcnow(), sent_before=utcnow(), after_id=0, limit=10
        )
        missing = unapplied_messages(connection, batches)
    assert [len(missing[batch.id]) for batch in batches] == [0, 2]
    lost = [parse_event(payload).event_id for _, payload in missing[batches[1].id]]
    assert lost == odd[1:]
