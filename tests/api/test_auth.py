"""API keys, roles and tenant isolation."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from nextread.store.db import session_scope
from nextread.store.tenants import create_api_key, ensure_tenant
from tests.conftest import READ_KEY, Database


@pytest.fixture
def other_tenant_key(client: TestClient, database: Database) -> str:
    with session_scope(database.sessions) as session:
        return create_api_key(session, ensure_tenant(session, "riverside"), "admin", "riverside admin")


def test_missing_and_wrong_keys_are_401(anonymous: TestClient) -> None:
    assert anonymous.get("/v1/items").status_code == 401
    wrong = anonymous.get("/v1/items", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401
    assert "invalid" in wrong.json()["detail"]


def test_read_key_reads_but_cannot_write(client: TestClient, anonymous: TestClient) -> None:
    client.post("/v1/items", json={"id": "bk-1", "title": "T"})
    reader = {"Authorization": f"Bearer {READ_KEY}"}
    assert anonymous.get("/v1/items/bk-1", headers=reader).status_code == 200
    denied = anonymous.post("/v1/items", json={"id": "bk-2", "title": "T"}, headers=reader)
    assert denied.status_code == 403
    assert "read-only" in denied.json()["detail"]
    assert anonymous.delete("/v1/items/bk-1", headers=reader).status_code == 403
    assert (
        anonymous.post(
            "/v1/interactions", json={"user_id": "u", "item_id": "bk-1", "type": "view"}, headers=reader
        ).status_code
        == 403
    )


def test_probes_need_no_key(anonymous: TestClient) -> None:
    assert anonymous.get("/healthz").json() == {"status": "ok"}
    assert anonymous.get("/readyz").json()["database"] == "ok"
    assert "nextread_http_requests_total" in anonymous.get("/metrics").text


def test_tenants_cannot_see_or_touch_each_others_rows(
    client: TestClient, anonymous: TestClient, other_tenant_key: str
) -> None:
    other = {"Authorization": f"Bearer {other_tenant_key}"}
    client.post("/v1/items", json={"id": "bk-1", "title": "Ours"})
    client.post("/v1/users", json={"id": "st-1"})
    client.post("/v1/groups", json={"id": "g-1", "name": "Ours", "members": ["st-1"]})
    client.post("/v1/interactions", json={"user_id": "st-1", "item_id": "bk-1", "type": "checkout"})

    assert anonymous.get("/v1/items", headers=other).json()["data"] == []
    assert anonymous.get("/v1/items/bk-1", headers=other).status_code == 404
    assert anonymous.get("/v1/users/st-1/history", headers=other).status_code == 404
    assert anonymous.get("/v1/groups/g-1", headers=other).status_code == 404
    assert anonymous.delete("/v1/items/bk-1", headers=other).status_code == 404
    assert anonymous.patch("/v1/users/st-1", json={"grade": 3}, headers=other).status_code == 404
    # Their own item with the same id is a different row; events cannot reference our item.
    assert (
        anonymous.post("/v1/items", json={"id": "bk-1", "title": "Theirs"}, headers=other).status_code == 201
    )
    cross = anonymous.post("/v1/groups", json={"id": "g-2", "name": "x", "members": ["st-1"]}, headers=other)
    assert cross.status_code == 404  # an unknown member, as an unknown user of an interaction
    assert cross.json()["detail"] == "members: unknown user(s) 'st-1'"

    assert client.get("/v1/items/bk-1").json()["title"] == "Ours"
    assert client.get("/v1/users/st-1").json()["grade"] is None
    assert len(client.get("/v1/users/st-1/history").json()["data"]) == 1
    assert anonymous.get("/v1/items/bk-1", headers=other).json()["title"] == "Theirs"


def test_request_id_is_echoed_or_generated(client: TestClient) -> None:
    echoed = client.get("/healthz", headers={"X-Request-ID": "trace-123"})
    assert echoed.headers["X-Request-ID"] == "trace-123"
    assert len(client.get("/healthz").headers["X-Request-ID"]) == 32


def test_openapi_documents_the_v1_api(anonymous: TestClient) -> None:
    paths = anonymous.get("/openapi.json").json()["paths"]
    for path in (
        "/v1/items",
        "/v1/users/{user_id}/history",
        "/v1/users/{user_id}/profile",
        "/v1/interactions/batch",
    ):
        assert path in paths
    assert anonymous.get("/docs").status_code == 200
