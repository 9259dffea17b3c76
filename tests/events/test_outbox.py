"""Outbox, relay and handler against the real store (SQLite and PostgreSQL) and the memory:// bus.

An interaction is stored exactly when its event is queued; the relay publishes each queued event once
and keeps it while the bus fails; the handler applies each event once however often it is delivered,
and parks poison events with a reason.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from nextread.events.bus import Message, bus_from_url
from nextread.events.relay import OutboxRelay
from nextread.schemas import InteractionIn, ItemIn
from nextread.services.event_handlers import INTERACTIONS_GROUP, InteractionHandler, parse_event
from nextread.store.db import session_scope
from nextread.store.models import ItemDailyCount, OutboxEntry, ProcessedEvent
from nextread.store.outbox import decode_payload
from nextread.store.tenants import ensure_tenant
from nextread.store.writes import upsert_items, write_interactions
from tests.conftest import Database


def _tenant_with_items(database: Database, n_items: int = 3) -> int:
    with session_scope(database.sessions) as session:
        tenant_id = ensure_tenant(session, "default").id
        upsert_items(session, tenant_id, [ItemIn(id=f"bk-{i}", title=f"Book {i}") for i in range(n_items)])
    return tenant_id


def _events(n: int, prefix: str = "e", type_: str = "like") -> list[InteractionIn]:
    return [
        InteractionIn(user_id=f"u-{i % 7}", item_id=f"bk-{i % 3}", type=type_, event_id=f"{prefix}-{i}")
        for i in range(n)
    ]


def _outbox_messages(database: Database) -> list[tuple[str, bytes]]:
    with session_scope(database.sessions) as session:
        payloads = session.scalars(select(OutboxEntry.payload).order_by(OutboxEntry.id)).all()
    return [message for payload in payloads for message in decode_payload(payload)]


def _count(database: Database, model: type) -> int:
    with session_scope(database.sessions) as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


@pytest.mark.parametrize("size", [1, 250])  # 250 takes PostgreSQL's COPY path
def test_only_newly_stored_interactions_are_queued(database: Database, size: int) -> None:
    tenant_id = _tenant_with_items(database)
    rows = _events(size)
    with session_scope(database.sessions) as session:
        assert write_interactions(session, tenant_id, rows).written == size
    with session_scope(database.sessions) as session:  # a replay plus one new event
        result = write_interactions(session, tenant_id, [*rows, *_events(1, prefix="new")])
        assert (result.written, result.unchanged) == (1, size)
    messages = _outbox_messages(database)
    events = [parse_event(payload) for _, payload in messages]
    assert sorted(e.event_id for e in events) == sorted([r.event_id for r in rows] + ["new-0"])
    first = events[0]
    assert (first.tenant_id, first.user, first.type) == (tenant_id, "u-0", "like")
    assert messages[0][0] == f"{tenant_id}:u-0"
    assert first.occurred_at.tzinfo is not None


def test_event_text_survives_encoding(database: Database) -> None:
    tenant_id = _tenant_with_items(database)
    # Every character an id may hold that JSON escapes or encodes in more than one byte (ids carry no
    # control characters, so no tab or newline).
    odd = 'quote" back\\ slash/ line\u2028sep\u00a0nbsp é 书 😀'
    rows = [InteractionIn(user_id="ü-1", item_id="bk-0", type="rating", value=4.5, event_id=odd)]
    with session_scope(database.sessions) as session:
        write_interactions(session, tenant_id, rows)
    [(key, payload)] = _outbox_messages(database)
    event = parse_event(payload)
    assert (key, event.event_id, event.user, event.value) == (f"{tenant_id}:ü-1", odd, "ü-1", 4.5)


def test_a_failed_write_queues_nothing(database: Database) -> None:
    tenant_id = _tenant_with_items(database)
    with pytest.raises(RuntimeError), session_scope(database.sessions) as session:
        write_interactions(session, tenant_id, _events(5))
        raise RuntimeError("the request failed after the write")
    assert _count(database, OutboxEntry) == 0
    with session_scope(database.sessions) as session:
        assert write_interactions(session, tenant_id, _events(5)).written == 5


def _handler_run(database: Database, bus_url: str, consumer: str = "c1") -> InteractionHandler:
    handler = InteractionHandler(database.sessions)

    async def drain() -> None:
        bus = bus_from_url(bus_url)
        relay = OutboxRelay(database.engine, bus)
        while await relay.publish_once():
            pass
        while batch := await bus.consume(INTERACTIONS_GROUP, consumer, 100, block_ms=50):
            outcome = await asyncio.to_thread(handler.apply, batch)
            for message, reason in outcome.poison:
                await bus.dead_letter(INTERACTIONS_GROUP, message, reason)
            await bus.ack(INTERACTIONS_GROUP, batch)

    asyncio.run(drain())
    return handler


def test_relay_and_handler_apply_every_event_once(database: Database) -> None:
    tenant_id = _tenant_with_items(database)
    with session_scope(database.sessions) as session:
        write_interactions(session, tenant_id, _events(30))
        write_interactions(session, tenant_id, _events(6, prefix="v", type_="view"))
    bus_url = f"memory://{uuid.uuid4().hex}"
    _handler_run(database, bus_url)
    assert _count(database, ProcessedEvent) == 36
    with session_scope(database.sessions) as session:
        assert session.scalar(select(func.count()).where(OutboxEntry.sent_at.is_(None))) == 0
        totals = session.execute(
            select(func.sum(ItemDailyCount.events), func.sum(ItemDailyCount.positive))
        ).one()
    assert tuple(totals) == (36, 30)  # views are not positive

    # The relay re-publishes everything (as after a crash before marking sent): nothing changes.
    asyncio.run(bus_from_url(bus_url).publish(_outbox_messages(database)))
    _handler_run(database, bus_url)
    assert _count(database, ProcessedEvent) == 36
    with session_scope(database.sessions) as session:
        assert session.scalar(select(func.sum(ItemDailyCount.events))) == 36


def _message(payload: bytes, index: int = 0) -> Message:
    return Message(id=str(index), key="1:u", payload=payload, attempts=1)


def _good_payload(tenant_id: int, event_id: str, item_pk: int = 1) -> bytes:
    event = {
        "kind": "interaction",
        "v": 1,
        "tenant_id": tenant_id,
        "event_id": event_id,
        "user": "u-1",
        "user_pk": 1,
        "item_pk": item_pk,
        "type": "like",
        "value": None,
        "occurred_at": datetime.now(UTC).isoformat(),
    }
    return json.dumps(event).encode()


def test_poison_events_are_reported_with_a_reason_and_the_rest_applied(database: Database) -> None:
    tenant_id = _tenant_with_items(database)
    invalidated: list[tuple[int, list[str]]] = []
    handler = InteractionHandler(database.sessions, lambda t, users: invalidated.append((t, users)))
    payloads: Sequence[bytes] = [
        b"not json",
        b"[1, 2]",
        json.dumps({"kind": "rating-import", "v": 1}).encode(),
        json.dumps({"kind": "interaction", "v": 1, "tenant_id": tenant_id}).encode(),
        _good_payload(999_999, "orphan"),  # no such tenant: the database refuses it
        _good_payload(tenant_id, "ok-1"),
        _good_payload(tenant_id, "ok-2"),
    ]
    outcome = handler.apply([_message(p, i) for i, p in enumerate(payloads)])
    reasons = {message.id: reason for message, reason in outcome.poison}
    assert "not JSON" in reasons["0"]
    assert "expected a JSON object" in reasons["1"]
    assert "unknown event kind 'rating-import'" in reasons["2"]
    assert "event_id" in reasons["3"]
    assert "rejected by the database" in reasons["4"]
    assert outcome.applied == 2
    assert {(t, tuple(users)) for t, users in invalidated} == {(tenant_id, ("u-1",))}
    assert handler.apply([_message(_good_payload(tenant_id, "ok-1"))]).duplicates == 1


def test_relay_keeps_the_outbox_while_the_bus_fails(database: Database) -> None:
    tenant_id = _tenant_with_items(database)
    with session_scope(database.sessions) as session:
        write_interactions(session, tenant_id, _events(4))

    class DownBus:
        async def publish(self, messages: Sequence[tuple[str, bytes]]) -> None:
            raise ConnectionError("bus is down")

    relay = OutboxRelay(database.engine, DownBus())  # type: ignore[arg-type]
    with pytest.raises(ConnectionError):
        asyncio.run(relay.publish_once())
    assert relay.bus_ok is False
    with session_scope(database.sessions) as session:
        entry = session.scalars(select(OutboxEntry)).one()
    assert (entry.sent_at, entry.attempts) == (None, 1)
    assert "bus is down" in (entry.last_error or "")
    assert asyncio.run(relay.backlog()) == (1, 4)

    relay.bus = bus_from_url(f"memory://{uuid.uuid4().hex}")
    assert asyncio.run(relay.publish_once()) == 4
    assert relay.bus_ok is True
    assert asyncio.run(relay.backlog()) == (0, 0)
