"""Serving through the cache stays correct: same answers as without it, fresh after every write that
changes them, on SQLite and PostgreSQL, with the cache off, in memory and in the real Redis."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from prometheus_client import REGISTRY

from nextread.app import create_app
from nextread.config import Settings
from nextread.services.access import KeyCache
from tests.api.test_recommendations import DRAGONS, _ids, _library
from tests.conftest import ADMIN_KEY, REDIS_URL

RECS = "/v1/users/new-dragon-fan/recommendations"


def _client(request: pytest.FixtureRequest, settings: Settings) -> Iterator[TestClient]:
    if request.param == "redis":
        prefix = request.getfixturevalue("redis_prefix")
        update = {"cache_url": REDIS_URL, "cache_key_prefix": prefix}
    else:
        update = {"cache_url": f"{request.param}://"}
    with TestClient(create_app(settings.model_copy(update=update))) as client:
        client.headers["Authorization"] = f"Bearer {ADMIN_KEY}"
        _library(client)
        yield client


@pytest.fixture(params=["none", "memory", "redis"])
def cached_client(request: pytest.FixtureRequest, settings: Settings) -> Iterator[TestClient]:
    """Every backend, the cache off included: answers must not depend on it."""
    yield from _client(request, settings)


@pytest.fixture(params=["memory", "redis"])
def caching_client(request: pytest.FixtureRequest, settings: Settings) -> Iterator[TestClient]:
    """Only backends that actually cache, for tests about what a hit does."""
    yield from _client(request, settings)


def _lookups(result: str) -> float:
    labels = {"cache": "recommendations", "result": result}
    return REGISTRY.get_sample_value("nextread_cache_lookups_total", labels) or 0.0


def test_repeated_requests_are_hits_with_identical_answers(cached_client: TestClient) -> None:
    first = cached_client.get(RECS, params={"n": 3, "diversity": 0})
    hits = _lookups("hit")
    second = cached_client.get(RECS, params={"diversity": 0, "n": 3})  # same query, other order
    assert second.status_code == 200
    assert second.json() == first.json()
    enabled = cached_client.app.state.cache.enabled
    assert _lookups("hit") == hits + (1 if enabled else 0)
    other = cached_client.get(RECS, params={"n": 2, "diversity": 0})  # another variant: computed
    assert _ids(other) == _ids(first)[:2]


def test_a_new_interaction_invalidates_the_users_lists(cached_client: TestClient) -> None:
    before = _ids(cached_client.get(RECS, params={"n": 3}))
    _ids(cached_client.get(RECS, params={"n": 3}))  # now cached (when the cache is on)
    posted = cached_client.post(
        "/v1/interactions", json={"user_id": "new-dragon-fan", "item_id": before[0], "type": "finished"}
    )
    assert posted.status_code == 201
    assert before[0] not in _ids(cached_client.get(RECS, params={"n": 3}))


def test_a_batch_invalidates_every_user_in_it(cached_client: TestClient) -> None:
    lists = {user: _ids(cached_client.get(f"/v1/users/{user}/recommendations")) for user in ("st-0", "st-4")}
    batch = [{"user_id": user, "item_id": top[0], "type": "finished"} for user, top in lists.items()]
    assert cached_client.post("/v1/interactions/batch", json=batch).json()["stored"] == 2
    for user, top in lists.items():
        assert top[0] not in _ids(cached_client.get(f"/v1/users/{user}/recommendations"))


def test_a_failed_write_keeps_the_cached_list(caching_client: TestClient) -> None:
    caching_client.get(RECS)
    hits = _lookups("hit")
    bad = caching_client.post("/v1/interactions", json={"user_id": "new-dragon-fan", "item_id": "ghost"})
    assert bad.status_code in {404, 422}
    caching_client.get(RECS)
    assert _lookups("hit") == hits + 1


def test_user_changes_and_deletion_invalidate(cached_client: TestClient) -> None:
    cached_client.get(RECS)
    misses = _lookups("miss")
    assert cached_client.patch("/v1/users/new-dragon-fan", json={"grade": 4}).status_code == 200
    assert cached_client.get(RECS).status_code == 200
    assert _lookups("miss") == misses + (1 if cached_client.app.state.cache.enabled else 0)
    assert cached_client.delete("/v1/users/new-dragon-fan").status_code == 204
    assert cached_client.get(RECS).status_code == 404


def test_a_new_model_version_is_not_served_from_old_entries(cached_client: TestClient) -> None:
    assert cached_client.get(RECS).json()["model_version"] == 1
    assert cached_client.post("/v1/models/train").status_code == 201
    assert cached_client.get(RECS).json()["model_version"] == 2


def test_similar_items_are_cached_and_follow_catalog_edits(cached_client: TestClient) -> None:
    assert set(_ids(cached_client.get("/v1/items/dragon-0/similar", params={"n": 4}))) == set(DRAGONS[1:])
    again = cached_client.get("/v1/items/dragon-0/similar", params={"n": 4})
    assert set(_ids(again)) == set(DRAGONS[1:])
    cached_client.app.state.settings.serving.model_refresh_seconds = 0.0  # see catalog edits at once
    cached_client.app.state.recommendations.registry.settings.serving.model_refresh_seconds = 0.0
    assert cached_client.patch("/v1/items/dragon-1", json={"title": "Renamed Dragon"}).status_code == 200
    titles = {row["id"]: row["title"] for row in cached_client.get(RECS, params={"n": 5}).json()["data"]}
    similar = cached_client.get("/v1/items/dragon-0/similar", params={"n": 4}).json()["data"]
    assert {row["id"]: row["title"] for row in similar}["dragon-1"] == "Renamed Dragon"
    assert titles.get("dragon-1", "Renamed Dragon") == "Renamed Dragon"


def test_hit_ratio_is_exported(cached_client: TestClient) -> None:
    cached_client.get(RECS)
    cached_client.get(RECS)
    metrics = cached_client.get("/metrics").text
    assert 'nextread_cache_lookups_total{cache="recommendations",result="miss"}' in metrics
    assert 'nextread_cache_hit_ratio{cache="recommendations"}' in metrics


def test_a_hit_needs_no_database_and_still_checks_the_key(caching_client: TestClient) -> None:
    """Hits are answered from the cache alone (key, model and catalog checked lately)."""
    first = caching_client.get(RECS, params={"n": 4})
    caching_client.get(RECS, params={"n": 4})  # key, model and catalog now checked lately

    def no_database() -> None:
        raise AssertionError("a cache hit opened a database session")

    sessions = caching_client.app.state.session_factory
    caching_client.app.state.session_factory = no_database
    assert caching_client.get(RECS, params={"n": 4}).json() == first.json()
    caching_client.app.state.session_factory = sessions
    assert TestClient(caching_client.app).get(RECS, params={"n": 4}).status_code == 401
    wrong_key = {"Authorization": "Bearer not-a-key"}
    assert TestClient(caching_client.app).get(RECS, params={"n": 4}, headers=wrong_key).status_code != 200


def test_the_endpoint_documents_its_parameters(cached_client: TestClient) -> None:
    operation = cached_client.get("/openapi.json").json()["paths"][
        RECS.replace("new-dragon-fan", "{user_id}")
    ]
    names = {parameter["name"] for parameter in operation["get"]["parameters"]}
    assert {"user_id", "n", "offset", "weights", "diversity", "explain", "llm"} <= names
    assert operation["get"]["security"]


def test_a_busy_process_rechecks_ahead_so_hits_never_take_the_slow_path(
    caching_client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past half their interval, the key, model, catalog and weights are re-checked in the background;
    under steady traffic no request finds a check expired and goes to a ranking thread to redo it."""
    from nextread.api.routers import recommendations as router

    caching_client.app.state.settings.serving.model_refresh_seconds = 0.6  # type: ignore[attr-defined]
    caching_client.app.state.keys = KeyCache(ttl_seconds=1.0)  # type: ignore[attr-defined]
    slow_path = 0
    original = router._user_recommendations

    def counted(*args, **kwargs):  # type: ignore[no-untyped-def]
        nonlocal slow_path
        slow_path += 1
        return original(*args, **kwargs)

    first = caching_client.get(RECS, params={"n": 4}).json()  # trains a model, then cached
    caching_client.get(RECS, params={"n": 4})  # the key may have expired meanwhile: checked again
    monkeypatch.setattr(router, "_user_recommendations", counted)
    until = time.monotonic() + 3.0  # five model intervals, three key intervals
    while time.monotonic() < until:
        assert caching_client.get(RECS, params={"n": 4}).json() == first
        time.sleep(0.02)
    assert slow_path == 0
