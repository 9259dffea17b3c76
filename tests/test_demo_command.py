"""The demo command's setup path end to end: migrate, load the bundled school, keys, then serve it."""

from __future__ import annotations

import json

from fastapi.testclient import TestClient

from nextread.api.app import create_app
from nextread.cli import prepare_demo
from nextread.config import Settings


def test_demo_loads_once_and_serves(settings: Settings) -> None:
    settings = settings.model_copy(update={"admin_api_key": "", "read_api_key": ""})
    counts, keys = prepare_demo(settings)
    assert counts["items"] >= 200
    assert counts["users"] >= 100
    assert counts["groups"] == 6
    assert counts["interactions"] >= 2000
    stored_keys = json.loads((settings.data_dir / "demo-keys.json").read_text())
    assert stored_keys == keys

    again, same_keys = prepare_demo(settings)
    assert again == {}
    assert same_keys == keys

    with TestClient(create_app(settings)) as client:
        reader = {"Authorization": f"Bearer {keys['read']}"}
        items = client.get("/v1/items", params={"limit": 5}, headers=reader).json()
        assert len(items["data"]) == 5
        assert items["next_cursor"] is not None
        student = client.get("/v1/users", params={"limit": 1}, headers=reader).json()["data"][0]
        history = client.get(f"/v1/users/{student['id']}/history", headers=reader).json()["data"]
        assert history, "demo students have reading history"
        profile = client.get(f"/v1/users/{student['id']}/profile", headers=reader).json()
        assert profile["interactions"] >= len(history)
        classes = client.get("/v1/groups", headers=reader).json()["data"]
        assert sum(len(group["members"]) for group in classes) == counts["users"]
        recommended = client.get(f"/v1/users/{student['id']}/recommendations", headers=reader).json()
        assert recommended["model_version"] == 1
        assert len(recommended["data"]) == 10
        assert all(row["explanation"] for row in recommended["data"])
        write = client.post("/v1/items", json={"id": "x", "title": "x"}, headers=reader)
        assert write.status_code == 403
        admin = {"Authorization": f"Bearer {keys['admin']}"}
        assert client.post("/v1/items", json={"id": "x", "title": "x"}, headers=admin).status_code == 201
