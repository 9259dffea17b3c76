"""GET /v1/history on SQLite and PostgreSQL: the same events must give the same periods, counts and
pages on both, since each database truncates dates its own way."""

from __future__ import annotations

from datetime import date, datetime

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from nextread.store.db import session_scope
from nextread.store.history import query_checkout_history
from nextread.store.tenants import create_api_key, ensure_tenant
from tests.conftest import Database

# 2026-03-02 is a Monday. Week 1: 3 checkouts; week 2: none; week 3: 2 checkouts (one on the Sunday
# that closes it); April: 1 checkout; plus events of other types that checkout queries must ignore.
EVENTS = [
    ("ana", "dragons-1", "checkout", "2026-03-02T09:00:00Z"),
    ("ana", "dragons-2", "checkout", "2026-03-04T09:00:00Z"),
    ("ben", "dragons-1", "checkout", "2026-03-08T23:30:00Z"),
    ("ben", "space-1", "checkout", "2026-03-16T08:00:00Z"),
    ("cleo", "dragons-1", "checkout", "2026-03-22T18:00:00Z"),
    ("cleo", "space-1", "checkout", "2026-04-07T10:00:00Z"),
    ("ana", "dragons-1", "finished", "2026-03-05T09:00:00Z"),
    ("ben", "space-1", "return", "2026-03-20T09:00:00Z"),
]


@pytest.fixture
def library(client: TestClient) -> TestClient:
    for item_id, tags in (
        ("dragons-1", ["dragons", "Fantasy"]),
        ("dragons-2", ["dragons"]),
        ("space-1", ["space"]),
    ):
        client.post("/v1/items", json={"id": item_id, "title": item_id.title(), "tags": tags})
    for user_id in ("ana", "ben", "cleo"):
        client.post("/v1/users", json={"id": user_id, "display_name": user_id.title()})
    client.post("/v1/groups", json={"id": "class-a", "name": "A", "members": ["ana", "ben"]})
    batch = [
        {"user_id": u, "item_id": i, "type": t, "timestamp": ts, "event_id": f"e{n}"}
        for n, (u, i, t, ts) in enumerate(EVENTS)
    ]
    assert client.post("/v1/interactions/batch", json=batch).json()["rejected"] == []
    return client


def _get(client: TestClient, **params: object) -> dict:
    response = client.get("/v1/history", params=params)
    assert response.status_code == 200, response.text
    return response.json()


def test_weekly_trend_starts_on_mondays_and_shows_quiet_weeks(library: TestClient) -> None:
    body = _get(library)
    assert body["types"] == ["checkout"] and body["bucket"] == "week"
    assert body["totals"] == {"events": 6, "readers": 3, "books": 3}
    trend = [(row["period"], row["events"], row["readers"]) for row in body["trend"]]
    assert trend[:3] == [("2026-03-02", 3, 2), ("2026-03-09", 0, 0), ("2026-03-16", 2, 2)]
    assert trend[-1] == ("2026-04-06", 1, 1)
    assert len(trend) == 6
    assert all(date.fromisoformat(period).weekday() == 0 for period, _, _ in trend)


def test_day_and_month_buckets(library: TestClient) -> None:
    months = _get(library, bucket="month")["trend"]
    assert [(row["period"], row["events"]) for row in months] == [("2026-03-01", 5), ("2026-04-01", 1)]
    days = _get(library, bucket="day", until="2026-03-05T00:00:00Z")["trend"]
    assert [(row["period"], row["events"]) for row in days] == [
        ("2026-03-02", 1),
        ("2026-03-03", 0),
        ("2026-03-04", 1),
    ]


def test_top_books_and_tags_over_time(library: TestClient) -> None:
    body = _get(library)
    assert [(b["id"], b["count"], b["readers"]) for b in body["top_books"]] == [
        ("dragons-1", 3, 3),
        ("space-1", 2, 2),
        ("dragons-2", 1, 1),
    ]
    assert body["top_tags"] == [
        {"tag": "dragons", "count": 4},
        {"tag": "fantasy", "count": 3},
        {"tag": "space", "count": 2},
    ]
    first_week = body["tags_over_time"][0]
    assert first_week["period"] == "2026-03-02"
    assert first_week["tags"][0] == {"tag": "dragons", "count": 3}


@pytest.mark.parametrize(
    ("params", "events"),
    [
        ({"user": "ana"}, 2),
        ({"group": "class-a"}, 4),
        ({"item": "space-1"}, 2),
        ({"since": "2026-03-08T00:00:00Z", "until": "2026-03-22T00:00:00Z"}, 2),
        ({"since": "2026-03-08T00:00:00"}, 4),  # no zone means UTC
        ({"type": "checkout,finished"}, 7),
        ({"type": "return", "user": "ben"}, 1),
        ({"group": "class-a", "item": "dragons-1"}, 2),
    ],
)
def test_filters(library: TestClient, params: dict, events: int) -> None:
    body = _get(library, **params)
    assert body["totals"]["events"] == events
    assert len(body["data"]) == events


def test_event_pages_are_newest_first_and_complete(library: TestClient) -> None:
    seen, cursor = [], None
    while True:
        body = _get(library, limit=4, **({"cursor": cursor} if cursor else {}))
        seen += body["data"]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == 6 == len({row["event_id"] for row in seen})
    stamps = [row["timestamp"] for row in seen]
    assert stamps == sorted(stamps, reverse=True)
    assert seen[0] == {
        "user_id": "cleo",
        "display_name": "Cleo",
        "item_id": "space-1",
        "title": "Space-1",
        "type": "checkout",
        "value": None,
        "timestamp": "2026-04-07T10:00:00Z",
        "event_id": "e5",
    }


@pytest.mark.parametrize(
    ("params", "status", "field"),
    [
        ({"user": "nobody"}, 404, "user"),
        ({"group": "class-z"}, 404, "group"),
        ({"item": "bk-0"}, 404, "item"),
        ({"bucket": "year"}, 422, "bucket"),
        ({"since": "2026-04-01T00:00:00Z", "until": "2026-03-01T00:00:00Z"}, 422, "since"),
        ({"since": "last tuesday"}, 422, "since"),
        ({"cursor": "%%%"}, 422, "cursor"),
        ({"type": " , "}, 422, "type"),
        ({"limit": 0}, 422, "limit"),
    ],
)
def test_bad_input_names_the_field(library: TestClient, params: dict, status: int, field: str) -> None:
    response = library.get("/v1/history", params=params)
    assert response.status_code == status
    assert response.json()["detail"].split(":")[0].split(".")[-1] == field


def test_history_stays_inside_the_tenant(library: TestClient, database: Database) -> None:
    with session_scope(database.sessions) as session:
        key = create_api_key(session, ensure_tenant(session, "riverside"), "read", "riverside")
    other = TestClient(library.app)
    other.headers["Authorization"] = f"Bearer {key}"
    body = other.get("/v1/history").json()
    assert body["totals"] == {"events": 0, "readers": 0, "books": 0}
    assert body["trend"] == [] and body["data"] == [] and body["top_books"] == []
    assert other.get("/v1/history", params={"user": "ana"}).status_code == 404


def test_the_function_the_tools_call(library: TestClient, database: Database) -> None:
    with session_scope(database.sessions) as session:
        tenant_id = ensure_tenant(session, "default").id
        result = query_checkout_history(session, tenant_id, user="ben", bucket="month", limit=1)
    assert result.totals.events == 2
    assert len(result.data) == 1 and result.next_cursor is not None
    assert [row.period for row in result.trend] == [date(2026, 3, 1)]


def test_an_event_stored_out_of_range_by_an_older_release_is_left_out(
    library: TestClient, database: Database
) -> None:
    """Before times were checked, a year 9999 typo made the trend build millions of empty weeks."""
    with database.engine.begin() as connection:
        connection.execute(
            text("UPDATE interactions SET occurred_at = :late WHERE event_id = 'e0'"),
            {"late": datetime(9999, 12, 31, 23, 59, 59)},
        )
    body = _get(library)
    assert body["totals"]["events"] == 5
    assert len(body["trend"]) <= 6 and body["trend"][-1]["period"] == "2026-04-06"
