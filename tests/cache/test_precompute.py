"""Precomputed lists in the real Redis: they are exactly the answers the endpoint serves, requests for
them are cache hits, and a reader's new interaction still refreshes their list at once."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from fastapi.testclient import TestClient
from prometheus_client import REGISTRY
from pydantic import ValidationError
from typer.testing import CliRunner

from nextread.api.routers.recommendations import RecommendationQuery
from nextread.app import create_app
from nextread.cli import app as cli
from nextread.config import Settings, get_settings
from nextread.services.answers import answer_variant, default_request
from nextread.services.precompute import precompute_recommendations
from nextread.services.scheduler import Scheduler
from tests.api.test_recommendations import DRAGONS, _library
from tests.conftest import ADMIN_KEY, REDIS_URL

RECS = "/v1/users/new-dragon-fan/recommendations"
READERS = 9  # st-0 … st-7 and new-dragon-fan


def _hits() -> float:
    labels = {"cache": "recommendations", "result": "hit"}
    return REGISTRY.get_sample_value("nextread_cache_lookups_total", labels) or 0.0


@pytest.fixture
def redis_settings(settings: Settings, redis_prefix: str) -> Settings:
    return settings.model_copy(update={"cache_url": REDIS_URL, "cache_key_prefix": redis_prefix})


@pytest.fixture
def precomputed(redis_settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(redis_settings)) as client:
        client.headers["Authorization"] = f"Bearer {ADMIN_KEY}"
        _library(client)
        state = client.app.state
        report = precompute_recommendations(state.session_factory, state.recommendations, state.cache, 1)
        assert (report.readers, report.written, report.already_cached) == (READERS, READERS, 0)
        yield client


def test_precomputed_lists_are_served_as_hits_and_equal_a_fresh_answer(
    precomputed: TestClient, settings: Settings
) -> None:
    hits = _hits()
    cached = precomputed.get(RECS, params={"n": 10})  # the defaults, spelled out: the same entry
    assert cached.status_code == 200 and _hits() == hits + 1
    with TestClient(create_app(settings.model_copy(update={"cache_url": "none://"}))) as uncached:
        fresh = uncached.get(RECS, headers={"Authorization": f"Bearer {ADMIN_KEY}"})
    assert cached.json() == fresh.json()
    assert cached.json()["data"] and all(item["explanation"] for item in cached.json()["data"])


def test_a_new_interaction_replaces_the_precomputed_list(precomputed: TestClient) -> None:
    before = [item["id"] for item in precomputed.get(RECS).json()["data"]]
    event = {"user_id": "new-dragon-fan", "item_id": before[0], "type": "finished"}
    assert precomputed.post("/v1/interactions", json=event).status_code in (200, 201, 202)
    hits = _hits()
    after = [item["id"] for item in precomputed.get(RECS).json()["data"]]
    assert _hits() == hits  # computed afresh, not the precomputed entry
    assert before[0] not in after  # read now, so no longer offered
    assert set(DRAGONS[:2]).isdisjoint(after)


def test_a_second_run_finds_the_lists_already_cached(precomputed: TestClient) -> None:
    state = precomputed.app.state
    again = precompute_recommendations(state.session_factory, state.recommendations, state.cache, 1, (0, 1))
    assert (again.written, again.already_cached) == (0, READERS)
    halves = [
        precompute_recommendations(state.session_factory, state.recommendations, state.cache, 1, (k, 2))
        for k in (0, 1)
    ]
    assert sum(half.readers for half in halves) == READERS


def test_the_cache_key_is_the_request_not_its_spelling() -> None:
    def key(**query: object) -> str:
        return answer_variant("stamp", RecommendationQuery(**query).to_request(), explain=True, llm=False)

    assert key() == key(n=10) == key(n=10, diversity=0.2)
    assert answer_variant("stamp", default_request(), explain=True, llm=False) == key()
    assert key(include_tags="dragons,space") == key(include_tags="space, dragons")
    assert key(n=11) != key()
    assert answer_variant("stamp", RecommendationQuery().to_request(), explain=False, llm=False) != key()


def test_the_command_needs_a_cache_the_api_processes_share(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NEXTREAD_DATABASE_URL", settings.store.database_url)
    monkeypatch.setenv("NEXTREAD_DATA_DIR", str(settings.store.data_dir))
    monkeypatch.setenv("NEXTREAD_CACHE_URL", "memory://")
    monkeypatch.setenv("COLUMNS", "300")  # the whole error message on one line
    get_settings.cache_clear()
    result = CliRunner().invoke(cli, ["precompute"])
    assert result.exit_code == 2
    assert "NEXTREAD_CACHE_URL" in result.output and "redis://" in result.output
    monkeypatch.setenv("NEXTREAD_CACHE_URL", REDIS_URL)
    get_settings.cache_clear()
    result = CliRunner().invoke(cli, ["precompute", "--shard", "2/2"])
    assert result.exit_code == 2 and "'2/2': expected K/N" in result.output
    get_settings.cache_clear()


@contextmanager
def _school(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as client:
        client.headers["Authorization"] = f"Bearer {ADMIN_KEY}"
        _library(client)
        yield client


def _answer_from_the_cache(settings: Settings) -> dict:
    """The reader's list as a process that just loaded the newest model serves it: a cache hit."""
    with TestClient(create_app(settings)) as fresh:
        hits = _hits()
        answer = fresh.get(RECS, headers={"Authorization": f"Bearer {ADMIN_KEY}"}).json()
        assert _hits() == hits + 1  # written after training, not computed now
        return answer


def test_a_scheduled_retrain_precomputes_the_new_models_lists(redis_settings: Settings) -> None:
    settings = redis_settings.model_copy(update={"precompute_after_train": True})
    with _school(settings) as client:
        old_version = client.get(RECS).json()["model_version"]
        run = Scheduler(client.app.state.session_factory, settings).run_now(1)
        assert run is not None and run.status == "succeeded"
    answer = _answer_from_the_cache(settings)
    assert answer["model_version"] == old_version + 1 and answer["data"]


def test_precomputing_after_training_needs_a_shared_cache() -> None:
    with pytest.raises(ValidationError, match="NEXTREAD_PRECOMPUTE_AFTER_TRAIN.*NEXTREAD_CACHE_URL"):
        Settings(precompute_after_train=True, cache_url="memory://")
    assert Settings(precompute_after_train=True, cache_url=REDIS_URL).cache.cache_is_shared


def test_training_from_the_api_precomputes_the_new_models_lists(redis_settings: Settings) -> None:
    settings = redis_settings.model_copy(update={"precompute_after_train": True})
    with _school(settings) as client:
        old_version = client.get(RECS).json()["model_version"]
        trained = client.post("/v1/models/train")  # the test client returns once the task after it ran
        assert trained.status_code == 201, trained.text
    answer = _answer_from_the_cache(settings)
    assert answer["model_version"] == trained.json()["version"] == old_version + 1


def test_the_train_command_precomputes_when_configured(
    redis_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    with _school(redis_settings) as client:
        old_version = client.get(RECS).json()["model_version"]
    for name, value in {
        "DATABASE_URL": redis_settings.store.database_url,
        "DATA_DIR": str(redis_settings.store.data_dir),
        "CACHE_URL": REDIS_URL,
        "CACHE_KEY_PREFIX": redis_settings.cache.cache_key_prefix,
        "PRECOMPUTE_AFTER_TRAIN": "true",
    }.items():
        monkeypatch.setenv(f"NEXTREAD_{name}", value)
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(cli, ["train"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    assert f"precomputed {READERS} readers' lists for version {old_version + 1}" in result.output
    answer = _answer_from_the_cache(redis_settings)
    assert answer["model_version"] == old_version + 1 and answer["data"]
