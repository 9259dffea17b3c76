"""Single and batch interactions, idempotency, limits, history and profile."""

from __future__ import annotations

from fastapi.testclient import TestClient

from nextread.config import Settings


def _seed(client: TestClient) -> None:
    client.post("/v1/users", json={"id": "st-1", "grade": 2, "lexile": 480})
    for n, tags in enumerate([["dragons"], ["dragons", "humor"], ["space"]]):
        client.post(
            "/v1/items", json={"id": f"bk-{n}", "title": f"Book {n}", "tags": tags, "lexile": 400 + n * 50}
        )


def test_single_interaction_and_history(client: TestClient) -> None:
    _seed(client)
    event = {"user_id": "st-1", "item_id": "bk-0", "type": "checkout", "timestamp": "2026-03-01T10:00:00Z"}
    first = client.post("/v1/interactions", json=event | {"event_id": "e-1"})
    assert first.status_code == 201
    assert first.json()["stored"] == 1
    replay = client.post("/v1/interactions", json=event | {"event_id": "e-1"})
    assert replay.json() == {"received": 1, "stored": 0, "duplicates": 1, "rejected": []}

    client.post("/v1/interactions", json={"user_id": "st-1", "item_id": "bk-1", "type": "rating", "value": 5})
    history = client.get("/v1/users/st-1/history").json()["data"]
    assert [row["item_id"] for row in history] == ["bk-1", "bk-0"]
    assert history[1]["timestamp"].startswith("2026-03-01T10:00:00")
    ratings = client.get("/v1/users/st-1/history", params={"type": "rating"}).json()["data"]
    assert [row["value"] for row in ratings] == [5.0]


def test_interaction_errors(client: TestClient) -> None:
    _seed(client)
    unknown_item = client.post(
        "/v1/interactions", json={"user_id": "st-1", "item_id": "nope", "type": "view"}
    )
    assert unknown_item.status_code == 404
    assert "item_id" in unknown_item.json()["detail"]
    bad_rating = client.post(
        "/v1/interactions", json={"user_id": "st-1", "item_id": "bk-0", "type": "rating", "value": 9}
    )
    assert bad_rating.status_code == 422
    assert "value" in bad_rating.json()["detail"]
    bad_type = client.post(
        "/v1/interactions", json={"user_id": "st-1", "item_id": "bk-0", "type": "Drop Table"}
    )
    assert bad_type.status_code == 422
    assert "type" in bad_type.json()["detail"]
    assert client.get("/v1/users/st-1/history").json()["data"] == []


def test_unknown_user_is_created_on_first_event(client: TestClient) -> None:
    _seed(client)
    response = client.post(
        "/v1/interactions", json={"user_id": "visitor-9", "item_id": "bk-0", "type": "view"}
    )
    assert response.status_code == 201
    assert client.get("/v1/users/visitor-9").status_code == 200


def test_batch_reports_bad_rows_and_stores_good_ones(client: TestClient) -> None:
    _seed(client)
    batch = [
        {"user_id": "st-1", "item_id": "bk-0", "type": "checkout", "event_id": "b-0"},
        {"user_id": "st-1", "item_id": "missing", "type": "checkout", "event_id": "b-1"},
        {"user_id": "st-1", "item_id": "bk-2", "type": "rating", "value": 0, "event_id": "b-2"},
        {"user_id": "st-1", "item_id": "bk-2", "type": "like", "event_id": "b-3"},
    ]
    response = client.post("/v1/interactions/batch", json=batch)
    assert response.status_code == 201  # as a single write answers
    result = response.json()
    assert result["received"] == 4
    assert result["stored"] == 2
    assert [(row["index"], row["field"]) for row in result["rejected"]] == [(1, "item_id"), (2, "value")]
    again = client.post("/v1/interactions/batch", json=batch).json()
    assert again["stored"] == 0
    assert again["duplicates"] == 2
    assert len(client.get("/v1/users/st-1/history").json()["data"]) == 2


def test_oversize_batch_is_413(client: TestClient, settings: Settings) -> None:
    _seed(client)
    events = [{"user_id": "st-1", "item_id": "bk-0", "type": "view"}] * (settings.intake.max_batch_size + 1)
    response = client.post("/v1/interactions/batch", json=events)
    assert response.status_code == 413
    assert str(settings.intake.max_batch_size) in response.json()["detail"]
    assert client.get("/v1/users/st-1/history").json()["data"] == []


def test_batch_must_be_a_list(client: TestClient) -> None:
    response = client.post("/v1/interactions/batch", json={"user_id": "st-1"})
    assert response.status_code == 422


def test_profile_summarises_counts_tags_and_levels(client: TestClient) -> None:
    _seed(client)
    events = [
        {"user_id": "st-1", "item_id": "bk-0", "type": "checkout"},
        {"user_id": "st-1", "item_id": "bk-1", "type": "checkout"},
        {"user_id": "st-1", "item_id": "bk-1", "type": "rating", "value": 5},
        {"user_id": "st-1", "item_id": "bk-2", "type": "view"},
    ]
    client.post("/v1/interactions/batch", json=events)
    profile = client.get("/v1/users/st-1/profile").json()
    assert profile["counts_by_type"] == {"checkout": 2, "rating": 1, "view": 1}
    assert profile["interactions"] == 4
    assert profile["favourite_tags"][0] == {"tag": "dragons", "count": 2}
    assert profile["reading_level"]["median_lexile_read"] == 450
    assert profile["reading_level"]["stated_lexile"] == 480
