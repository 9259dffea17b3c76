"""Long-lived serving state is frozen out of full GC passes, and frozen state is still freed."""

from __future__ import annotations

import gc
import weakref

from fastapi.testclient import TestClient

from nextread.app import create_app
from nextread.config import Settings
from tests.api.test_recommendations import _ids, _library
from tests.conftest import ADMIN_KEY


def test_the_app_freezes_its_state_while_it_runs(settings: Settings) -> None:
    with TestClient(create_app(settings)):
        assert gc.get_freeze_count() > 0
    assert gc.get_freeze_count() == 0  # a test process makes many apps: they are collected again


def test_a_catalog_replaced_by_a_rebuild_is_freed_though_frozen(settings: Settings) -> None:
    with TestClient(create_app(settings.model_copy(update={"model_refresh_seconds": 0.0}))) as client:
        client.headers["Authorization"] = f"Bearer {ADMIN_KEY}"
        _library(client)
        _ids(client.get("/v1/users/st-0/recommendations"))
        catalogs = client.app.state.recommendations._catalogs
        ((tenant_id, first),) = catalogs.items()
        frozen = gc.get_freeze_count()
        old = weakref.ref(first)
        del first
        assert client.patch("/v1/items/dragon-1", json={"title": "Renamed Dragon"}).status_code == 200
        _ids(client.get("/v1/users/st-0/recommendations"))
        assert catalogs[tenant_id] is not old()
        assert gc.get_freeze_count() > frozen  # the new catalog joined the frozen state
        assert old() is None  # and the old one went by reference counting
