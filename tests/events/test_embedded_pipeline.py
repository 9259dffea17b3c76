"""The embedded default: the API process relays its outbox to the in-process bus and applies the events
itself, so trending counters move and /readyz reports the bus, with no other process running."""

from __future__ import annotations

import time
from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import func, select, update

from nextread.app import create_app
from nextread.config import Settings
from nextread.schemas import InteractionIn, ItemIn
from nextread.store.db import session_scope
from nextread.store.models import ItemDailyCount, OutboxEntry, ProcessedEvent, utcnow
from nextread.store.tenants import ensure_tenant
from nextread.store.writes import upsert_items, write_interactions
from tests.conftest import ADMIN_KEY, Database


def _wait_for(probe, timeout: float = 10.0):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.02)


def test_interactions_reach_the_trending_counters(client: TestClient) -> None:
    for n in range(3):
        assert client.post("/v1/items", json={"id": f"bk-{n}", "title": f"Book {n}"}).status_code == 201
    events = [{"user_id": f"u-{u}", "item_id": "bk-1", "type": "checkout"} for u in range(4)]
    events += [{"user_id": "u-0", "item_id": "bk-2", "type": "view"}, {"user_id": "u-0", "item_id": "bk-0"}]
    events[-1]["type"] = "like"
    assert client.post("/v1/interactions/batch", json=events).json()["stored"] == 6

    def trending() -> list[dict]:
        data = client.get("/v1/items/trending").json()["data"]
        return data if sum(row["events"] for row in data) == 5 else []

    data = _wait_for(trending)
    assert [(row["id"], row["positive"], row["events"]) for row in data] == [("bk-1", 4, 4), ("bk-0", 1, 1)]
    ready = _wait_for(lambda: (r := client.get("/readyz").json())["outbox_backlog"] == 0 and r)
    assert ready == {
        "status": "ok",
        "database": "ok",
        "bus": "ok",
        "outbox_backlog": 0,
        "events": "ok",
        "unapplied_events": 0,
        "oldest_unapplied_seconds": None,
    }
    assert client.get("/v1/items/trending", params={"days": 0}).status_code == 422


def test_events_a_restarted_process_lost_are_applied_once(database: Database, settings: Settings) -> None:
    """The embedded bus lives in the API process: a process that published events and died before its
    worker applied them took them along. The next process re-publishes them from the outbox."""
    with session_scope(database.sessions) as session:
        tenant_id = ensure_tenant(session, settings.store.default_tenant).id
        upsert_items(session, tenant_id, [ItemIn(id=f"bk-{n}", title=f"Book {n}") for n in range(3)])
        rows = [InteractionIn(user_id=f"u-{n}", item_id=f"bk-{n % 3}", type="checkout") for n in range(50)]
        write_interactions(session, tenant_id, rows)
        earlier = utcnow() - timedelta(seconds=30)  # published by the previous process, then it died
        session.execute(update(OutboxEntry).values(created_at=earlier, sent_at=earlier))
    quick = settings.model_copy(update={"event_reconcile_seconds": 1.0})
    with TestClient(create_app(quick)) as client:
        client.headers["Authorization"] = f"Bearer {ADMIN_KEY}"

        def all_counted() -> bool:
            data = client.get("/v1/items/trending").json()["data"]
            return sum(row["events"] for row in data) == 50

        assert _wait_for(all_counted)
        ready = _wait_for(lambda: (r := client.get("/readyz").json())["events"] == "ok" and r)
        assert ready["unapplied_events"] == 0
    with session_scope(database.sessions) as session:
        assert session.scalar(select(func.count()).select_from(ProcessedEvent)) == 50
        assert session.scalar(select(func.sum(ItemDailyCount.events))) == 50
        assert session.scalar(select(OutboxEntry.republished)) == 1
