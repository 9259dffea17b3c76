"""A tenant's first model trains in the background while requests answer at once; model files are
found from any working directory; a retrain embeds only new or changed books."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from nextread.app import create_app
from nextread.config import Settings
from nextread.embed.select import Embedder, get_embedder
from nextread.schemas import InteractionIn, ItemIn
from nextread.services.registry import ModelRegistry
from nextread.services.training import TrainingProgress, train_tenant
from nextread.store.db import session_scope
from nextread.store.models import ModelVersion
from nextread.store.tenants import ensure_tenant
from nextread.store.writes import upsert_items, write_interactions
from nextread.ui.pages.overview import training_text
from tests.conftest import ADMIN_KEY, Database


class CountingEmbedder:
    """The real embedder, counting the texts it is asked to embed."""

    def __init__(self, inner: Embedder) -> None:
        self.inner = inner
        self.texts = 0

    @property
    def dimension(self) -> int | None:
        return self.inner.dimension

    def embed(self, texts: list[str]) -> np.ndarray:
        self.texts += len(texts)
        return self.inner.embed(texts)


class GatedTrainer:
    """The real training, held after its first progress report until the test opens the gate: a
    training that takes as long as the test needs, without timing anything."""

    def __init__(self, database: Database, settings: Settings) -> None:
        self.database, self.settings = database, settings
        self.reported = threading.Event()
        self.gate = threading.Event()
        self.calls = 0

    def __call__(self, tenant_id: int, progress: TrainingProgress) -> ModelVersion:
        self.calls += 1
        progress("embed", 3, 10)
        self.reported.set()
        assert self.gate.wait(60), "the test never opened the gate"
        return train_tenant(self.database.sessions, tenant_id, self.settings, progress=progress)


def _default_tenant(database: Database) -> int:
    with session_scope(database.sessions) as session:
        return ensure_tenant(session, "default").id


def _books(n: int, start: int = 0) -> list[ItemIn]:
    topics = ["dragons", "space", "the sea"]
    return [
        ItemIn(
            id=f"bk-{i}",
            title=f"Book {i} about {topics[i % 3]}",
            description=f"A story about {topics[i % 3]} for young readers.",
            lexile=300 + 10 * i,
        )
        for i in range(start, start + n)
    ]


@pytest.fixture
def background(settings: Settings) -> Settings:
    return settings.model_copy(update={"train_in_background": True})


@pytest.fixture
def school(background: Settings, database: Database) -> Iterator[tuple[TestClient, GatedTrainer]]:
    """An API whose first training waits at the gate, over a just-imported catalog."""
    with TestClient(create_app(background)) as client:
        client.headers["Authorization"] = f"Bearer {ADMIN_KEY}"
        trainer = GatedTrainer(database, background)
        client.app.state.recommendations.registry.trainer = trainer
        for book in _books(12):
            assert client.post("/v1/items", json=book.model_dump(mode="json")).status_code == 201
        client.post("/v1/users", json={"id": "st-1", "grade": 2})
        events = [{"user_id": f"st-{u}", "item_id": f"bk-{u}", "type": "checkout"} for u in range(2, 6)]
        assert client.post("/v1/interactions/batch", json=events).json()["rejected"] == []
        yield client, trainer
        trainer.gate.set()
        client.app.state.recommendations.registry.wait_for_training(_default_tenant(database), timeout=60)


def test_requests_right_after_an_import_answer_while_the_first_model_trains(
    school: tuple[TestClient, GatedTrainer], database: Database
) -> None:
    client, trainer = school
    tenant_id = _default_tenant(database)
    search = client.get("/v1/search", params={"q": "dragons"})
    assert search.status_code == 200, search.text
    assert search.json()["semantic"] is False
    assert {hit["id"] for hit in search.json()["data"]} == {"bk-0", "bk-3", "bk-6", "bk-9"}
    mine = client.get("/v1/users/st-1/recommendations", params={"n": 5})
    assert mine.status_code == 200, mine.text
    assert (mine.json()["model_version"], mine.json()["provisional"]) == (0, True)
    assert len(mine.json()["data"]) == 5
    cold = client.post("/v1/recommendations", json={"grade": 1})
    assert cold.status_code == 200 and cold.json()["provisional"] is True and cold.json()["data"]
    popular = client.get("/v1/items/popular").json()["data"]
    assert {item["id"] for item in popular} == {"bk-2", "bk-3", "bk-4", "bk-5"}
    similar = client.get("/v1/items/bk-0/similar")
    assert similar.status_code == 200, similar.text

    assert trainer.reported.wait(60)
    training = client.get("/v1/models").json()
    assert [(row["version"], row["status"]) for row in training] == [(1, "training")]
    assert training[0]["progress"] == {"stage": "embed", "done": 3, "total": 10}
    dashboard = "Training version 1: embedding book descriptions (3 of 10 new or changed books)…"
    assert training_text(training[0]) == dashboard
    assert trainer.calls == 1  # many requests, one training

    trainer.gate.set()
    assert client.app.state.recommendations.registry.wait_for_training(tenant_id, timeout=60)
    ready = client.get("/v1/models").json()
    assert [(row["version"], row["status"]) for row in ready] == [(1, "ready")]
    assert ready[0]["progress"] is None
    trained = client.get("/v1/users/st-1/recommendations", params={"n": 5}).json()
    assert (trained["model_version"], trained["provisional"]) == (1, False)
    assert client.get("/v1/search", params={"q": "dragons"}).json()["semantic"] is True


def test_another_process_serves_without_training_while_the_lease_is_held(
    school: tuple[TestClient, GatedTrainer], database: Database, background: Settings
) -> None:
    client, trainer = school
    assert client.get("/v1/users/st-1/recommendations").status_code == 200
    assert trainer.reported.wait(60)
    other_trainer = GatedTrainer(database, background)
    other = ModelRegistry(database.sessions, background, trainer=other_trainer)
    tenant_id = _default_tenant(database)
    artifact = other.ensure(tenant_id)
    assert artifact is not None and artifact.provisional
    assert other.wait_for_training(tenant_id, timeout=60)
    assert other_trainer.calls == 0  # the first process holds the retrain lease


def test_a_failed_first_training_is_shown_and_not_retried_on_every_request(
    background: Settings, database: Database
) -> None:
    calls: list[int] = []

    def broken(tenant_id: int, progress: TrainingProgress) -> ModelVersion:
        calls.append(tenant_id)
        raise RuntimeError("disk full")

    with TestClient(create_app(background)) as client:
        client.headers["Authorization"] = f"Bearer {ADMIN_KEY}"
        registry = client.app.state.recommendations.registry
        registry.trainer = broken
        client.post("/v1/items", json=_books(1)[0].model_dump(mode="json"))
        tenant_id = _default_tenant(database)
        for _ in range(3):
            assert client.get("/v1/search", params={"q": "dragons"}).status_code == 200
            assert registry.wait_for_training(tenant_id, timeout=60)
            registry._provisional.forget(tenant_id)  # as if model_refresh_seconds had passed
        rows = client.get("/v1/models").json()
    assert calls == [tenant_id]
    assert [(row["status"], row["error"]) for row in rows] == [("failed", "RuntimeError: disk full")]


def _school(database: Database) -> int:
    with session_scope(database.sessions) as session:
        tenant_id = ensure_tenant(session, "school").id
        upsert_items(session, tenant_id, _books(20))
        write_interactions(
            session, tenant_id, [InteractionIn(user_id="st-1", item_id="bk-0", type="checkout")]
        )
    return tenant_id


def test_a_model_trained_in_one_folder_loads_from_another(
    database: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The server ran with the default relative data dir; the MCP server a desktop app starts runs in
    another folder with the same data dir given as an absolute path."""
    tenant_id = _school(database)
    (tmp_path / "server").mkdir()
    (tmp_path / "desktop").mkdir()
    monkeypatch.chdir(tmp_path / "server")
    trained = train_tenant(database.sessions, tenant_id, Settings(database_url=database.url))
    assert not Path(trained.path).is_absolute()

    monkeypatch.chdir(tmp_path / "desktop")
    elsewhere = Settings(data_dir=tmp_path / "server" / "nextread-data", database_url=database.url)
    registry = ModelRegistry(database.sessions, elsewhere)
    artifact = registry.ensure(tenant_id)
    assert artifact is not None and artifact.version == 1 and not artifact.provisional
    assert registry.wait_for_training(tenant_id, timeout=1)
    with session_scope(database.sessions) as session:
        assert session.query(ModelVersion).count() == 1  # loaded, not retrained


@pytest.mark.parametrize("stored_as", ["relative to the old working directory", "absolute"])
def test_rows_written_before_paths_were_relative_to_the_data_dir_still_load(
    database: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, stored_as: str
) -> None:
    tenant_id = _school(database)
    (tmp_path / "elsewhere").mkdir()
    settings = Settings(data_dir=tmp_path / "moved-data", database_url=database.url)
    trained = train_tenant(database.sessions, tenant_id, settings)
    assert trained.path == "models/school/v1"
    # What older versions stored: the path as the training process saw it.
    legacy = Path("models") / "school" / "v1"
    old = tmp_path / "old-data" / legacy if stored_as == "absolute" else "nextread-data" / legacy
    with session_scope(database.sessions) as session:
        session.execute(update(ModelVersion).values(path=str(old)))
    monkeypatch.chdir(tmp_path / "elsewhere")
    artifact = ModelRegistry(database.sessions, settings).current(tenant_id)
    assert artifact is not None and artifact.version == 1


def test_a_retrain_after_adding_ten_books_embeds_those_ten(database: Database, tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, database_url=database.url)
    tenant_id = _school(database)
    embedder = CountingEmbedder(get_embedder(settings))
    first = train_tenant(database.sessions, tenant_id, settings, embedder=embedder)
    assert embedder.texts == 20 and first.params["items_re_embedded"] == 20
    with session_scope(database.sessions) as session:
        upsert_items(session, tenant_id, _books(10, start=20))
    steps: list[tuple[str, int, int]] = []
    second = train_tenant(
        database.sessions,
        tenant_id,
        settings,
        embedder=embedder,
        progress=lambda stage, done, total: steps.append((stage, done, total)),
    )
    assert embedder.texts == 20 + 10
    assert second.n_items == 30 and second.params["items_re_embedded"] == 10
    assert ("embed", 10, 10) in steps and steps[-1][0] == "register"
