"""The interactive API docs work offline: every asset /docs loads comes from this server."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from nextread.app import create_app
from nextread.config import Settings

# src="…", href="…", and the JavaScript string literal the page configures (url: '/openapi.json').
REFERENCE = re.compile(r"""(?:src|href|url:)\s*=?\s*["']([^"']+)["']""")
ASSET_TYPES = {".js": "javascript", ".css": "text/css", ".png": "image/png"}


@pytest.fixture(scope="module")
def docs_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """Pages without data: an empty SQLite store is enough."""
    data_dir: Path = tmp_path_factory.mktemp("docs")
    settings = Settings(data_dir=data_dir, database_url="", log_level="WARNING", scheduler_enabled=False)
    with TestClient(create_app(settings)) as client:
        yield client


def test_docs_page_loads_only_same_origin_assets(docs_client: TestClient) -> None:
    response = docs_client.get("/docs")
    assert response.status_code == 200
    references = REFERENCE.findall(response.text)
    assert any(reference.endswith(".js") for reference in references), references
    foreign = [ref for ref in references if not ref.startswith("/") or ref.startswith("//")]
    assert foreign == [], f"/docs loads assets from elsewhere: {foreign}"
    for reference in references:
        asset = docs_client.get(reference)
        assert asset.status_code == 200, reference
        suffix = Path(reference).suffix
        if suffix in ASSET_TYPES:
            assert ASSET_TYPES[suffix] in asset.headers["content-type"], reference
            assert len(asset.content) > 1000, reference
        elif reference.endswith("openapi.json"):
            assert asset.json()["info"]["title"] == "nextread"


def test_redoc_which_needs_its_vendors_cdn_is_off(docs_client: TestClient) -> None:
    assert docs_client.get("/redoc").status_code == 404
