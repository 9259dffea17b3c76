"""The embedded default: the API process relays its outbox to the in-process bus and applies the events
itself, so trending counters move and /readyz reports the bus, with no other process running."""

from __future__ import annotations

import time

from fastapi.testclient import TestClient


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
