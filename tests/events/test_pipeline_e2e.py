"""End to end across real processes: two API processes and two workers on PostgreSQL and Redis Streams.

Interactions posted to either API are stored, relayed and applied exactly once (``processed_events``
and the trending counters both equal what was stored, which equals what was sent); a reader's
recommendations change after their new interactions; a worker SIGKILLed with a batch in hand loses
nothing and double-counts nothing once another worker takes its deliveries over.
"""

from __future__ import annotations

import random
import signal
from pathlib import Path

import pytest
import redis

from nextread.events.bus import DEFAULT_TOPIC
from nextread.services.event_handlers import INTERACTIONS_GROUP
from tests.events.processes import Api, Deployment, deployment, wait_until

# Each test runs several real processes: with -n they take turns on one worker, not both cores at once.
pytestmark = pytest.mark.xdist_group("real-processes")

DRAGONS = [f"dragon-{n}" for n in range(6)]
SPACE = [f"space-{n}" for n in range(6)]


def _seed_library(api: Api) -> int:
    for shelf, tag in ((DRAGONS, "dragons"), (SPACE, "space")):
        for n, item_id in enumerate(shelf):
            book = {"id": item_id, "title": f"{tag} {n}", "tags": [tag], "grade_min": 1, "grade_max": 4}
            assert api.post("/v1/items", book).status_code == 201
    events = []
    for reader in range(12):
        shelf = DRAGONS if reader % 2 else SPACE
        events += [{"user_id": f"r-{reader}", "item_id": item, "type": "finished"} for item in shelf[:5]]
    events += [{"user_id": "fan", "item_id": item, "type": "finished"} for item in DRAGONS[:2]]
    assert api.post("/v1/interactions/batch", events).json()["stored"] == len(events)
    return len(events)


def _random_batches(count: int, size: int, seed: int = 7) -> list[list[dict]]:
    rng = random.Random(seed)
    books = DRAGONS + SPACE
    kinds = ["view", "checkout", "like", "finished", "save"]
    return [
        [
            {
                "user_id": f"u-{rng.randrange(300)}",
                "item_id": rng.choice(books),
                "type": rng.choice(kinds),
                "event_id": f"b{batch}-{n}",
            }
            for n in range(size)
        ]
        for batch in range(count)
    ]


def _all_applied(d: Deployment, expected: int) -> bool:
    return d.scalar("SELECT count(*) FROM processed_events") >= expected


def _assert_exactly_once(d: Deployment, expected: int) -> None:
    assert d.scalar("SELECT count(*) FROM interactions") == expected
    assert d.scalar("SELECT count(*) FROM processed_events") == expected
    assert d.scalar("SELECT coalesce(sum(events), 0) FROM item_daily_counts") == expected
    assert d.scalar("SELECT coalesce(sum(events), 0) FROM outbox WHERE sent_at IS NULL") == 0
    client = redis.Redis.from_url(d.redis.url())
    assert client.xlen(f"{DEFAULT_TOPIC}.dead") == 0
    client.close()


def test_two_apis_two_workers(request: pytest.FixtureRequest, tmp_path: Path) -> None:
    with deployment(request, tmp_path) as d:
        d.stack.run("db", "upgrade")
        api_a, api_b = d.stack.api("api-a"), d.stack.api("api-b")
        d.stack.worker("worker-1")
        d.stack.worker("worker-2")
        stored = _seed_library(api_a)
        d.stack.run("train")

        def recommended() -> list[str]:
            response = api_b.get("/v1/users/fan/recommendations", n=4, explain="false")
            assert response.status_code == 200, response.text
            return [row["id"] for row in response.json()["data"]]

        before = recommended()
        assert before
        fan_events = [{"user_id": "fan", "item_id": item, "type": "finished"} for item in SPACE[:4]]
        assert api_a.post("/v1/interactions/batch", fan_events).json()["stored"] == 4
        stored += 4
        after = wait_until(lambda: (ids := recommended()) != before and ids, 10, "recommendations to change")
        assert not set(after) & set(SPACE[:4])  # what the reader just finished is not offered again

        batches = _random_batches(count=40, size=100)
        for n, batch in enumerate(batches):
            response = (api_a if n % 2 else api_b).post("/v1/interactions/batch", batch)
            assert response.status_code == 201 and response.json()["stored"] == 100, response.text
        for n, batch in enumerate(batches[:5]):  # retried batches: duplicates, no new events
            replay = (api_b if n % 2 else api_a).post("/v1/interactions/batch", batch)
            assert replay.json()["duplicates"] == 100
        single = {"user_id": "fan", "item_id": "space-5", "type": "like", "event_id": "single-1"}
        assert api_b.post("/v1/interactions", single).status_code == 201
        stored += 40 * 100 + 1

        wait_until(lambda: _all_applied(d, stored), 120, f"{stored} events to be applied")
        _assert_exactly_once(d, stored)
        for api in (api_a, api_b):
            assert api.get("/readyz").json() == {
                "status": "ok",
                "database": "ok",
                "bus": "ok",
                "outbox_backlog": 0,
                "events": "ok",
                "unapplied_events": 0,
                "oldest_unapplied_seconds": None,
            }
        trending = api_b.get("/v1/items/trending", n=20).json()["data"]
        assert sum(row["events"] for row in trending) <= stored
        assert {row["id"] for row in trending} <= set(DRAGONS + SPACE)


def _pending(d: Deployment) -> int:
    client = redis.Redis.from_url(d.redis.url())
    try:
        return int(client.xpending(DEFAULT_TOPIC, INTERACTIONS_GROUP)["pending"])
    finally:
        client.close()


def test_a_worker_killed_mid_batch_loses_and_repeats_nothing(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    with deployment(request, tmp_path, event_bus_claim_idle_seconds="1", worker_batch_size="200") as d:
        d.stack.run("db", "upgrade")
        api = d.stack.api("api")
        stored = _seed_library(api)
        victim = d.stack.worker("victim")
        for batch in _random_batches(count=60, size=200, seed=11):
            assert api.post("/v1/interactions/batch", batch).json()["stored"] == 200
        stored += 60 * 200

        # Kill the worker while it holds delivered, unacknowledged events (a batch in hand).
        def holding_a_batch_midway() -> bool:
            applied = d.scalar("SELECT count(*) FROM processed_events")
            return victim.alive() and applied >= stored // 4 and _pending(d) > 0

        wait_until(holding_a_batch_midway, 60, "the worker to hold a batch midway", 0.005)
        victim.signal(signal.SIGKILL)
        victim.process.wait()
        in_hand = _pending(d)
        applied_at_kill = d.scalar("SELECT count(*) FROM processed_events")
        assert applied_at_kill < stored, "the worker finished everything before it could be killed"

        d.stack.worker("rescuer")
        wait_until(lambda: _all_applied(d, stored), 120, f"{stored} events to be applied")
        wait_until(lambda: _pending(d) == 0, 30, "no delivery left unacknowledged")
        _assert_exactly_once(d, stored)
        print(f"killed with {in_hand} delivered-unacked events, {applied_at_kill}/{stored} applied")
