"""The model registry under concurrent requests, against a real store."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from nextread.config import Settings
from nextread.schemas import InteractionIn, ItemIn
from nextread.services import registry as registry_module
from nextread.services.registry import ModelRegistry
from nextread.services.training import Artifact, train_tenant
from nextread.store.db import session_scope
from nextread.store.tenants import ensure_tenant
from nextread.store.writes import upsert_items, write_interactions
from tests.conftest import Database


def _trained_tenant(database: Database, settings: Settings) -> int:
    with session_scope(database.sessions) as session:
        tenant_id = ensure_tenant(session, "school").id
        upsert_items(session, tenant_id, [ItemIn(id=f"bk-{n}", title=f"Book {n}") for n in range(3)])
        write_interactions(
            session, tenant_id, [InteractionIn(user_id="st-1", item_id="bk-0", type="checkout")]
        )
    train_tenant(database.sessions, tenant_id, settings)
    return tenant_id


def test_a_burst_of_requests_loads_the_model_once(
    database: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """32 requests on a fresh process used to load 32 copies of the artifact at once (an API worker
    was OOM-killed at 15 GB on a 10k-item model); now one loads and the others wait for it."""
    settings = Settings(data_dir=tmp_path, database_url=database.url)
    tenant_id = _trained_tenant(database, settings)
    loads: list[str] = []
    real_load = registry_module.load_artifact

    def slow_load(path: str) -> Artifact:
        loads.append(path)
        time.sleep(0.2)  # a big artifact takes a while: the window other requests arrive in
        return real_load(path)

    monkeypatch.setattr(registry_module, "load_artifact", slow_load)
    registry = ModelRegistry(database.sessions, settings)
    served: list[Artifact | None] = []
    threads = [threading.Thread(target=lambda: served.append(registry.current(tenant_id))) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(loads) == 1
    assert len(served) == 16 and all(artifact is served[0] for artifact in served)
    assert served[0] is not None and served[0].version == 1
