"""Faults across real processes: the bus goes away, PostgreSQL goes away, poison events arrive.

* Redis killed while interactions are posted: writes still get 2xx, /readyz says the bus is degraded
  and shows the outbox backlog; once Redis is back the backlog drains and every event is applied once.
* PostgreSQL unreachable (a proxy drops every connection and refuses new ones): writes get 503 with a
  clear message, nothing is half-written, and the same process serves again once it is back.
* Malformed and unknown events on the stream go to the dead-letter stream with the reason while the
  worker keeps applying the good ones.
* Redis without persistence restarted while no worker runs: /readyz reports the unapplied events, the
  reconciler re-publishes them from the outbox and the worker applies each once.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import redis

from nextread.events.bus import DEFAULT_TOPIC, DeadLetter, EventBus, bus_from_url
from tests.events.processes import Api, Deployment, TcpProxy, deployment, wait_until

# Each test runs several real processes: with -n they take turns on one worker, not both cores at once.
pytestmark = pytest.mark.xdist_group("real-processes")


def _books(api: Api, count: int = 5) -> None:
    for n in range(count):
        assert api.post("/v1/items", {"id": f"bk-{n}", "title": f"Book {n}"}).status_code == 201


def _events(prefix: str, count: int) -> list[dict]:
    return [
        {"user_id": f"u-{n % 9}", "item_id": f"bk-{n % 5}", "type": "checkout", "event_id": f"{prefix}-{n}"}
        for n in range(count)
    ]


async def _on_bus(url: str, action: Callable[[EventBus], Awaitable[Any]]) -> Any:
    bus = bus_from_url(url)
    try:
        return await action(bus)
    finally:
        await bus.close()


def _applied(d: Deployment) -> int:
    return d.scalar("SELECT count(*) FROM processed_events")


def _assert_exactly_once(d: Deployment, expected: int) -> None:
    assert d.scalar("SELECT count(*) FROM interactions") == expected
    assert d.scalar("SELECT count(*) FROM processed_events") == expected
    assert d.scalar("SELECT coalesce(sum(events), 0) FROM item_daily_counts") == expected


def test_bus_down_writes_continue_and_the_backlog_drains(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    with deployment(request, tmp_path) as d:
        d.stack.run("db", "upgrade")
        api = d.stack.api("api")
        d.stack.worker("worker")
        _books(api)
        assert api.post("/v1/interactions/batch", _events("before", 50)).json()["stored"] == 50
        wait_until(lambda: _applied(d) == 50, 60, "the first events to be applied")

        d.redis.kill()
        for n in range(5):
            response = api.post("/v1/interactions/batch", _events(f"down{n}", 40))
            assert response.status_code == 201 and response.json()["stored"] == 40, response.text
        single = {"user_id": "u-1", "item_id": "bk-1", "type": "like", "event_id": "down-single"}
        assert api.post("/v1/interactions", single).status_code == 201
        ready = wait_until(
            lambda: (r := api.get("/readyz")).status_code == 200 and r.json()["bus"] == "degraded" and r,
            30,
            "/readyz to report the degraded bus",
        )
        assert ready.json()["outbox_backlog"] == 201
        assert _applied(d) == 50

        d.redis.start()
        wait_until(lambda: _applied(d) == 251, 90, "the backlog to drain")
        _assert_exactly_once(d, 251)
        wait_until(lambda: api.get("/readyz").json()["bus"] == "ok", 30, "/readyz to report the bus ok")
        assert api.get("/readyz").json()["outbox_backlog"] == 0


def test_database_unreachable_writes_503_then_recover(request: pytest.FixtureRequest, tmp_path: Path) -> None:
    with deployment(request, tmp_path, event_bus_url="memory://", cache_url="memory://") as d:
        d.stack.run("db", "upgrade")
        target = urlsplit(d.database_url)
        proxy = TcpProxy(target.hostname or "127.0.0.1", target.port or 5432)
        proxy.restore()
        proxied = d.database_url.replace(target.netloc, f"{target.username}@127.0.0.1:{proxy.port}")
        api = d.stack.api("api", database_url=proxied)
        _books(api)
        assert api.post("/v1/interactions/batch", _events("ok", 30)).json()["stored"] == 30
        wait_until(lambda: _applied(d) == 30, 60, "the first events to be applied (in-process worker)")

        proxy.cut()
        for path, body in (
            ("/v1/interactions/batch", _events("lost", 20)),
            ("/v1/interactions", _events("x", 1)[0]),
        ):
            response = api.post(path, body)
            assert response.status_code == 503, response.text
            assert response.json()["detail"] == "database unavailable; nothing was written, retry later"
        assert api.get("/readyz").status_code == 503
        assert api.get("/healthz").status_code == 200

        proxy.restore()
        assert d.scalar("SELECT count(*) FROM interactions WHERE event_id LIKE 'lost-%'") == 0
        assert d.scalar("SELECT coalesce(sum(events), 0) FROM outbox") == 30
        retried = wait_until(
            lambda: (r := api.post("/v1/interactions/batch", _events("lost", 20))).status_code == 201 and r,
            30,
            "writes to succeed again without a restart",
        )
        assert retried.json()["stored"] == 20
        wait_until(lambda: _applied(d) == 50, 60, "the in-process worker to catch up")
        _assert_exactly_once(d, 50)
        assert api.get("/readyz").json()["outbox_backlog"] == 0


def test_poison_events_are_dead_lettered_and_the_worker_keeps_going(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    with deployment(request, tmp_path) as d:
        d.stack.run("db", "upgrade")
        api = d.stack.api("api")
        worker = d.stack.worker("worker")
        _books(api)
        poison = [
            ("1:u-1", b"{not json"),
            ("1:u-1", json.dumps({"kind": "refund", "v": 1}).encode()),
            ("1:u-1", json.dumps({"kind": "interaction", "v": 1, "tenant_id": 1, "user": "u-1"}).encode()),
            ("1:u-1", json.dumps({"kind": "interaction", "v": 7}).encode()),
        ]
        asyncio.run(_on_bus(d.redis.url(), lambda bus: bus.publish(poison)))
        assert api.post("/v1/interactions/batch", _events("good", 25)).json()["stored"] == 25
        wait_until(lambda: _applied(d) == 25, 60, "the good events to be applied")

        def four_letters() -> list[DeadLetter]:
            found = asyncio.run(_on_bus(d.redis.url(), lambda bus: bus.dead_letters()))
            return found if len(found) == 4 else []

        letters = wait_until(four_letters, 30, "4 dead letters")
        reasons = {letter.payload: letter.reason for letter in letters}
        assert "not JSON" in reasons[b"{not json"]
        assert "unknown event kind 'refund'" in reasons[poison[1][1]]
        assert "malformed event" in reasons[poison[2][1]]
        assert "unknown event version 7" in reasons[poison[3][1]]
        assert worker.alive()
        assert api.post("/v1/interactions/batch", _events("after", 5)).json()["stored"] == 5
        wait_until(lambda: _applied(d) == 30, 60, "events after the poison to be applied")
        _assert_exactly_once(d, 30)
        assert worker.stop() == 0  # SIGTERM: finishes the batch in hand and exits cleanly


def test_redis_restarted_without_persistence_loses_nothing(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """No worker runs, 3,000 events are published, Redis (no AOF) restarts empty: /readyz says the events
    lag, the reconciler re-publishes them from the outbox once, and a worker applies each once."""
    with deployment(request, tmp_path, redis_persistent=False, event_reconcile_seconds="2") as d:
        d.stack.run("db", "upgrade")
        api = d.stack.api("api")
        _books(api)
        for n in range(3):
            assert api.post("/v1/interactions/batch", _events(f"lost{n}", 1000)).json()["stored"] == 1000
        wait_until(lambda: api.get("/readyz").json()["outbox_backlog"] == 0, 30, "the outbox to be published")
        stream = redis.Redis.from_url(d.redis.url())
        ready = wait_until(
            # The batches arrive over a few seconds on a loaded machine: wait until all three are overdue.
            lambda: (
                (r := api.get("/readyz").json())["events"] == "lagging"
                and r["unapplied_events"] >= 3000
                and r
            ),
            30,
            "/readyz to say all 3,000 events lag",
        )
        assert (ready["status"], ready["unapplied_events"]) == ("ok", 3000)
        assert ready["oldest_unapplied_seconds"] >= 2
        assert stream.xlen(DEFAULT_TOPIC) == 3000  # a stopped worker alone: nothing re-published

        d.redis.kill()
        d.redis.start()
        assert stream.xlen(DEFAULT_TOPIC) == 0
        wait_until(lambda: stream.xlen(DEFAULT_TOPIC) == 3000, 30, "the lost events to be re-published")
        assert api.get("/readyz").json()["unapplied_events"] == 3000
        time.sleep(3)  # more rounds of the reconciler: the bus holds them again, so no second copy
        assert stream.xlen(DEFAULT_TOPIC) == 3000

        d.stack.worker("worker")
        wait_until(lambda: _applied(d) == 3000, 90, "the re-published events to be applied")
        _assert_exactly_once(d, 3000)
        ready = wait_until(
            lambda: (r := api.get("/readyz").json())["events"] == "ok" and r, 30, "/readyz to say ok again"
        )
        assert (ready["unapplied_events"], ready["oldest_unapplied_seconds"]) == (0, None)
        stream.close()
