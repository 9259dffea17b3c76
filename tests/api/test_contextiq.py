"""A client written for the Context IQ API works against nextread with only an Authorization header.

:class:`ContextIQClient` does what a Context IQ demo's ``api.js`` does (plain HTTP calls under
``/api/v1``, JSON in and out, nothing nextread-specific but the key); the catalog is set up through
``/v1``, since Context IQ has no route to create content. Each test runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from nextread.store.db import session_scope
from nextread.store.tenants import create_api_key, ensure_tenant
from tests.conftest import ADMIN_KEY, READ_KEY, Database

BOOKS = {
    "ml-1": ("The Art of Machine Learning", ["Technology", "Science"]),
    "ml-2": ("Neural Networks for Kids", ["Technology"]),
    "ml-3": ("Robots at School", ["technology", "Fiction"]),
    "sci-1": ("The Moon and Us", ["Science"]),
    "sci-2": ("Rockets", ["Science", "Space"]),
    "fan-1": ("The Dragon Egg", ["Fantasy"]),
    "fan-2": ("The Castle Key", ["Fantasy", "Fiction"]),
    "bare": ("No Tags Yet", []),
}
# user, content, type, seconds: what the reader does in the app
READER_EVENTS = [
    ("reader", "ml-1", "view", 30),
    ("reader", "ml-1", "like", 0),
    ("reader", "ml-2", "save", 12.5),
    ("reader", "sci-1", "share", 0),
    ("reader", "ml-1", "view", 15),
    ("reader", "fan-1", "view", 60),
]
PEER_EVENTS = [
    ("peer", book, kind, 5) for book in ("ml-1", "ml-2", "ml-3", "sci-2") for kind in ("view", "like")
]


class ContextIQClient:
    """The five calls of the Context IQ API, as its demo clients make them."""

    def __init__(self, http: httpx.Client) -> None:
        self.http = http

    def health(self) -> httpx.Response:
        return self.http.get("/api/v1/health")

    def interact(
        self, user_id: str, content_id: str, interaction_type: str, duration_seconds: float = 0
    ) -> httpx.Response:
        body = {
            "user_id": user_id,
            "content_id": content_id,
            "interaction_type": interaction_type,
            "duration_seconds": duration_seconds,
            "metadata": {"source": "test"},
        }
        return self.http.post("/api/v1/interact", json=body)

    def recommendations(self, user_id: str, limit: Any = 10) -> httpx.Response:
        return self.http.get("/api/v1/recommendations", params={"user_id": user_id, "limit": limit})

    def user_profile(self, user_id: str) -> httpx.Response:
        return self.http.get(f"/api/v1/user-profile/{user_id}")

    def content(self, category: str | None = None, limit: int = 50) -> httpx.Response:
        params: dict[str, Any] = {"limit": limit} | ({"category": category} if category else {})
        return self.http.get("/api/v1/content", params=params)


def _context_iq(client: TestClient, key: str | None) -> ContextIQClient:
    """A fresh HTTP client on the same app whose only header is the key (none at all for None)."""
    headers = {} if key is None else {"Authorization": f"Bearer {key}"}
    return ContextIQClient(TestClient(client.app, headers=headers))


def _catalog(client: TestClient) -> None:
    for content_id, (title, tags) in BOOKS.items():
        book = {"id": content_id, "title": title, "tags": tags, "description": f"About {title}."}
        assert client.post("/v1/items", json=book).status_code == 201


@pytest.fixture
def app(client: TestClient) -> ContextIQClient:
    _catalog(client)
    return _context_iq(client, ADMIN_KEY)


def test_a_context_iq_client_runs_its_whole_flow(client: TestClient, app: ContextIQClient) -> None:
    health = app.health()
    assert health.status_code == 200
    assert health.json()["status"] == "healthy"
    assert health.json()["services"] == {"database": True, "event_bus": True}

    ids = []
    for user_id, content_id, kind, seconds in READER_EVENTS + PEER_EVENTS:
        answer = app.interact(user_id, content_id, kind, seconds)
        assert answer.status_code == 201, answer.text
        assert answer.json()["status"] == "success"
        ids.append(answer.json()["interaction_id"])
    assert len(set(ids)) == len(ids)  # the same event twice is two interactions, as in Context IQ

    listed = app.recommendations("reader", limit=3)
    assert listed.status_code == 200
    body = listed.json()
    assert body["user_id"] == "reader"
    recs = body["recommendations"]
    assert len(recs) == 3
    scores = [rec["combined_score"] for rec in recs]
    assert all(0.0 <= score <= 1.0 for score in scores)
    assert scores == sorted(scores, reverse=True)
    assert all(rec["score"] == rec["ml_score"] == rec["combined_score"] for rec in recs)
    assert all(rec["llm_score"] is None for rec in recs)
    # a liked book is read; a viewed, saved or shared one may still be recommended (as on /v1)
    assert "ml-1" not in {rec["content_id"] for rec in recs}
    for rec in recs:
        title, tags = BOOKS[rec["content_id"]]
        assert (rec["title"], rec["category"]) == (title, tags[0] if tags else None)
    assert len(app.recommendations("reader", limit=2).json()["recommendations"]) == 2

    profile = app.user_profile("reader")
    assert profile.status_code == 200
    stats = profile.json()
    assert stats["user_id"] == "reader"
    assert stats["total_interactions"] == len(READER_EVENTS)
    assert stats["interaction_breakdown"] == {"view": 3, "like": 1, "save": 1, "share": 1}
    assert stats["total_duration_seconds"] == 117.5
    # ml-1 ×3 (Technology, Science), ml-2 (Technology), sci-1 (Science), fan-1 (Fantasy)
    assert stats["top_categories"] == [
        {"category": "Science", "count": 4},
        {"category": "Technology", "count": 4},
        {"category": "Fantasy", "count": 1},
    ]
    assert stats["first_interaction_at"] <= stats["last_interaction_at"]

    technology = app.content(category="technology")
    assert technology.status_code == 200
    found = technology.json()
    assert found["count"] == 3
    assert [item["content_id"] for item in found["content"]] == ["ml-3", "ml-2", "ml-1"]  # newest first
    assert {item["category"] for item in found["content"]} == {"Technology", "technology"}
    assert found["content"][-1] | {"created_at": None} == {
        "content_id": "ml-1",
        "title": "The Art of Machine Learning",
        "category": "Technology",
        "description": "About The Art of Machine Learning.",
        "tags": ["Technology", "Science"],
        "created_at": None,
    }
    everything = app.content().json()
    assert everything["count"] == len(BOOKS)
    assert next(item for item in everything["content"] if item["content_id"] == "bare")["category"] is None
    assert app.content(limit=2).json()["count"] == 2


def test_the_same_services_answer_both_apis(client: TestClient, app: ContextIQClient) -> None:
    """The list is /v1's for the same reader (in its pure-relevance order), and an interaction is an
    ordinary nextread interaction whose value is the duration."""
    for user_id, content_id, kind, seconds in READER_EVENTS + PEER_EVENTS:
        assert app.interact(user_id, content_id, kind, seconds).status_code == 201
    ours = app.recommendations("reader", limit=4).json()["recommendations"]
    v1 = client.get("/v1/users/reader/recommendations", params={"n": 4, "diversity": 0}).json()["data"]
    assert [(rec["content_id"], rec["score"]) for rec in ours] == [(rec["id"], rec["score"]) for rec in v1]

    history = client.get("/v1/users/reader/history").json()["data"]
    assert [(row["item_id"], row["type"], row["value"]) for row in reversed(history)] == [
        (content_id, kind, float(seconds)) for _, content_id, kind, seconds in READER_EVENTS
    ]
    v1_profile = client.get("/v1/users/reader/profile").json()
    assert v1_profile["counts_by_type"] == app.user_profile("reader").json()["interaction_breakdown"]


def test_keys_and_roles_are_those_of_v1(client: TestClient, app: ContextIQClient) -> None:
    assert app.interact("reader", "ml-1", "like").status_code == 201
    for key in (None, "not-a-key"):
        stranger = _context_iq(client, key)
        for answer in (
            stranger.interact("reader", "ml-1", "like"),
            stranger.recommendations("reader"),
            stranger.user_profile("reader"),
            stranger.content(),
        ):
            assert answer.status_code == 401, answer.request.url
            assert answer.headers["content-type"] == "application/problem+json"
            assert answer.headers["www-authenticate"] == "Bearer"
        assert stranger.health().status_code == 200  # a probe, like /healthz

    reader = _context_iq(client, READ_KEY)
    denied = reader.interact("reader", "ml-2", "save")
    assert denied.status_code == 403
    assert "read-only" in denied.json()["detail"]
    assert reader.recommendations("reader").status_code == 200
    assert reader.user_profile("reader").json()["total_interactions"] == 1
    assert reader.content().json()["count"] == len(BOOKS)


def test_another_tenant_sees_none_of_it(client: TestClient, app: ContextIQClient, database: Database) -> None:
    assert app.interact("reader", "ml-1", "like").status_code == 201
    with session_scope(database.sessions) as session:
        key = create_api_key(session, ensure_tenant(session, "riverside"), "admin", "riverside admin")
    other = _context_iq(client, key)
    assert other.content().json() == {"content": [], "count": 0}
    assert other.user_profile("reader").status_code == 404
    assert other.recommendations("reader").status_code == 404
    unknown = other.interact("reader", "ml-1", "like")
    assert unknown.status_code == 404
    assert unknown.json()["detail"] == "content_id: unknown item 'ml-1'"
    assert app.user_profile("reader").json()["total_interactions"] == 1


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"interaction_type": "purchase"}, "interaction_type"),
        ({"interaction_type": None}, "interaction_type"),
        ({"duration_seconds": -1}, "duration_seconds"),
        ({"duration_seconds": "long"}, "duration_seconds"),
        ({"duration_seconds": 3_600_000}, "duration_seconds"),  # an hour, in milliseconds
        ({"content_id": ""}, "content_id"),
        ({"rating": 5}, "rating"),
    ],
)
def test_bad_input_is_a_422_naming_the_field(
    client: TestClient, app: ContextIQClient, change: dict[str, Any], field: str
) -> None:
    valid = {"user_id": "reader", "content_id": "ml-1", "interaction_type": "view", "duration_seconds": 3}
    answer = app.http.post("/api/v1/interact", json=valid | change)
    assert answer.status_code == 422
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["detail"].startswith(f"{field}: ")
    assert [error["loc"] for error in answer.json()["errors"]] == [["body", field]]
    assert client.get("/v1/users/reader").status_code == 404  # nothing was written, not even the user


def test_unknown_ids_and_bad_queries_are_refused(app: ContextIQClient) -> None:
    unknown_content = app.interact("reader", "missing-book", "view")
    assert unknown_content.status_code == 404
    assert unknown_content.json()["detail"] == "content_id: unknown item 'missing-book'"
    assert app.user_profile("nobody").json()["detail"] == "user_id: unknown user 'nobody'"
    assert app.recommendations("nobody").json()["detail"] == "user_id: unknown user 'nobody'"
    for limit in (0, 101, "ten"):
        refused = app.recommendations("reader", limit=limit)
        assert refused.status_code == 422
        assert refused.json()["errors"][0]["loc"] == ["query", "limit"]
    no_user = app.http.get("/api/v1/recommendations")
    assert no_user.json()["errors"][0]["loc"] == ["query", "user_id"]
    assert app.content(category="bad\x00tag").status_code == 422


def test_a_new_reader_gets_a_profile_of_zeros_and_cold_start_picks(
    client: TestClient, app: ContextIQClient
) -> None:
    assert client.post("/v1/users", json={"id": "registered"}).status_code == 201
    empty = app.user_profile("registered").json()
    assert empty | {"user_id": None} == {
        "user_id": None,
        "total_interactions": 0,
        "interaction_breakdown": {},
        "top_categories": [],
        "first_interaction_at": None,
        "last_interaction_at": None,
        "total_duration_seconds": 0,
        "cached": False,
    }
    assert len(app.recommendations("registered", limit=4).json()["recommendations"]) == 4

    assert app.interact("newcomer", "bare", "like").status_code == 201  # created on first interaction
    profile = app.user_profile("newcomer").json()
    assert profile["total_interactions"] == 1
    assert profile["top_categories"] == []
    assert profile["first_interaction_at"] == profile["last_interaction_at"] is not None
    listed = app.recommendations("newcomer", limit=5).json()["recommendations"]
    assert len(listed) == 5
    assert "bare" not in {rec["content_id"] for rec in listed}
