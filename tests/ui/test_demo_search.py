"""Catalog search on the bundled demo school: a filter that keeps no book about the query lists none."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from nextread.app import create_app
from tests.ui.conftest import ADMIN_KEY, demo_settings


def _search(client: TestClient, query: str) -> list[dict]:
    response = client.get("/v1/search", params={"q": query, "limit": 10})
    assert response.status_code == 200, response.text
    return response.json()["data"]


def test_a_language_filter_never_passes_off_other_topics_as_matches(school_copy: Path) -> None:
    with TestClient(create_app(demo_settings(school_copy))) as client:
        client.headers["Authorization"] = f"Bearer {ADMIN_KEY}"
        # The demo's space books are all in English; its Spanish books are about other things.
        assert all("space" in hit["tags"] for hit in _search(client, "space books")[:5])
        assert _search(client, "space books in Spanish") == []
        # A filter that keeps books about the query still finds them by meaning.
        spanish_friends = _search(client, "books about friendship in Spanish")
        assert spanish_friends and all(hit["language"] == "es" for hit in spanish_friends)
        assert any("friendship" in hit["tags"] for hit in spanish_friends[:3])
