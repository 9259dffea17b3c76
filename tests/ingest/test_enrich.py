"""Metadata enrichment against a local HTTP server that serves recorded Open Library answers, including
a redirect, a 404, malformed JSON and a reply slower than the timeout."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from nextread.app import create_app
from nextread.cli import app as cli
from nextread.config import Settings, get_settings
from nextread.services.enrich import (
    EnrichmentDisabledError,
    OpenLibraryClient,
    RateLimiter,
    enrich_book_metadata,
    items_to_enrich,
)
from nextread.store.db import session_scope
from nextread.store.models import Item
from nextread.store.tenants import ensure_tenant
from tests.conftest import ADMIN_KEY, READ_KEY, Database

RECORDED = Path(__file__).parent / "openlibrary"
CHARLOTTE = "9780064400558"
UNKNOWN_ISBN = "9780000000019"
MALFORMED_ISBN = "9780000000026"
SLOW_ISBN = "9780000000033"
TIMEOUT = 0.5


def _recorded(name: str) -> bytes:
    return (RECORDED / name).read_bytes()


ROUTES: dict[tuple[str, frozenset], tuple[int, bytes, dict[str, str]]] = {
    (f"/isbn/{CHARLOTTE}.json", frozenset()): (302, b"", {"Location": "/books/OL24226883M.json"}),
    ("/books/OL24226883M.json", frozenset()): (200, _recorded(f"edition_{CHARLOTTE}.json"), {}),
    ("/works/OL45804W.json", frozenset()): (200, _recorded("work_OL45804W.json"), {}),
    ("/works/OL1988947W.json", frozenset()): (200, _recorded("work_OL1988947W.json"), {}),
    (
        "/search.json",
        frozenset({("title", "The Very Hungry Caterpillar"), ("author", "Eric Carle"), ("limit", "1")}),
    ): (200, _recorded("search_caterpillar.json"), {}),
    ("/search.json", frozenset({("title", "Dragons"), ("limit", "1")})): (
        200,
        _recorded("search_other_title.json"),
        {},
    ),
    (f"/isbn/{MALFORMED_ISBN}.json", frozenset()): (200, b'{"key": "/books/OL1M", "title": ', {}),
    (f"/isbn/{SLOW_ISBN}.json", frozenset()): (200, _recorded(f"edition_{CHARLOTTE}.json"), {"X-Delay": "2"}),
}


class OpenLibraryStub(BaseHTTPRequestHandler):
    requests: list[str] = []

    def do_GET(self) -> None:  # noqa: N802 - the http.server API
        parts = urlsplit(self.path)
        type(self).requests.append(self.path)
        status, body, headers = ROUTES.get(
            (parts.path, frozenset(parse_qsl(parts.query))),
            (404, _recorded("notfound.json"), {}) if not parts.path.startswith("/search") else (
                200, _recorded("search_empty.json"), {}
            ),
        )  # fmt: skip
        if "X-Delay" in headers:
            time.sleep(float(headers["X-Delay"]))
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        """Quiet: the test output is for failures."""


@pytest.fixture
def open_library() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), OpenLibraryStub)
    server.daemon_threads = True
    OpenLibraryStub.requests = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def enabled(settings: Settings, open_library: str) -> Settings:
    return settings.model_copy(
        update={
            "openlibrary_enabled": True,
            "openlibrary_url": open_library,
            "openlibrary_covers_url": "https://covers.example",
            "openlibrary_requests_per_second": 1000.0,
            "openlibrary_timeout_seconds": TIMEOUT,
        }
    )


BOOKS = [
    {"id": "charlotte", "title": "Charlotte's Web", "authors": ["E. B. White"], "isbn": CHARLOTTE},
    {"id": "caterpillar", "title": "The Very Hungry Caterpillar", "authors": ["Eric Carle"]},
    {"id": "dragons", "title": "Dragons", "isbn": UNKNOWN_ISBN},
    {"id": "broken", "title": "Broken", "isbn": MALFORMED_ISBN},
    {"id": "slow", "title": "Slow", "isbn": SLOW_ISBN},
    {
        "id": "complete",
        "title": "Complete",
        "description": "Ours.",
        "tags": ["ours"],
        "page_count": 10,
        "cover_url": "https://covers.example/ours.jpg",
    },
    {
        "id": "partial",
        "title": "Charlotte's Web",
        "isbn": CHARLOTTE,
        "description": "Our own words.",
        "tags": ["farm"],
    },
]


@pytest.fixture
def api(enabled: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(enabled)) as client:
        client.headers["Authorization"] = f"Bearer {ADMIN_KEY}"
        for book in BOOKS:
            assert client.post("/v1/items", json=book).status_code == 201
        yield client


def _enrich(client: TestClient, item_id: str) -> dict:
    response = client.post(f"/v1/items/{item_id}/enrich")
    assert response.status_code == 200, response.text
    return response.json()


def test_isbn_lookup_fills_every_missing_field_and_records_where_from(
    api: TestClient, open_library: str
) -> None:
    result = _enrich(api, "charlotte")
    assert result["errors"] == [] and result["still_missing"] == []
    assert set(result["filled"]) == {"description", "tags", "page_count", "cover_url"}
    assert result["filled"]["page_count"] == f"{open_library}/isbn/{CHARLOTTE}.json"
    assert result["filled"]["description"] == f"{open_library}/works/OL45804W.json"
    item = api.get("/v1/items/charlotte").json()
    assert item["description"].startswith("Wilbur the pig")
    assert item["tags"] == ["pigs", "spiders"]  # the edition's subjects win over the work's
    assert item["page_count"] == 184
    assert item["cover_url"] == f"https://covers.example/b/isbn/{CHARLOTTE}-M.jpg"
    provenance = item["extra"]["enrichment"]
    assert provenance["source"] == "openlibrary" and provenance["fields"] == result["filled"]


def test_present_values_are_never_overwritten(api: TestClient) -> None:
    result = _enrich(api, "partial")
    assert set(result["filled"]) == {"page_count", "cover_url"}
    item = api.get("/v1/items/partial").json()
    assert item["description"] == "Our own words." and item["tags"] == ["farm"]
    before = OpenLibraryStub.requests[:]
    complete = _enrich(api, "complete")
    assert complete["filled"] == {} and complete["requests"] == 0
    assert OpenLibraryStub.requests == before
    assert "enrichment" not in api.get("/v1/items/complete").json()["extra"]


def test_search_by_title_and_author_without_isbn(api: TestClient) -> None:
    result = _enrich(api, "caterpillar")
    assert set(result["filled"]) == {"description", "tags", "page_count", "cover_url"}
    item = api.get("/v1/items/caterpillar").json()
    assert item["page_count"] == 26
    assert item["cover_url"] == "https://covers.example/b/id/6538401-M.jpg"
    assert item["description"].startswith("A hungry little caterpillar")
    assert item["tags"] == ["caterpillars", "food habits"]  # the work wins over the search hit


def test_an_unknown_isbn_falls_back_to_search_and_a_different_title_is_not_used(api: TestClient) -> None:
    result = _enrich(api, "dragons")
    assert result["filled"] == {} and result["errors"] == []
    assert result["still_missing"] == ["description", "tags", "page_count", "cover_url"]
    assert any(path.startswith(f"/isbn/{UNKNOWN_ISBN}") for path in OpenLibraryStub.requests)
    assert any(path.startswith("/search.json") for path in OpenLibraryStub.requests)


def test_answers_are_cached_on_disk_including_not_found(api: TestClient, enabled: Settings) -> None:
    _enrich(api, "charlotte")
    _enrich(api, "dragons")
    made = len(OpenLibraryStub.requests)
    api.patch("/v1/items/charlotte", json={"page_count": None, "description": None})
    again = _enrich(api, "charlotte")
    assert set(again["filled"]) == {"page_count", "description"} and again["requests"] == 0
    assert _enrich(api, "dragons")["requests"] == 0
    assert len(OpenLibraryStub.requests) == made
    assert list((enabled.store.data_dir / "cache" / "openlibrary").glob("*.json"))


def test_malformed_json_is_reported_and_not_cached(api: TestClient) -> None:
    response = api.post("/v1/items/broken/enrich")
    assert response.status_code == 502
    assert "malformed JSON" in response.json()["detail"]
    api.post("/v1/items/broken/enrich")
    assert sum(path.startswith(f"/isbn/{MALFORMED_ISBN}") for path in OpenLibraryStub.requests) == 2
    assert api.get("/v1/items/broken").json()["title"] == "Broken"


def test_a_slow_server_times_out(api: TestClient) -> None:
    started = time.monotonic()
    response = api.post("/v1/items/slow/enrich")
    assert time.monotonic() - started < 1.9
    assert response.status_code == 502
    assert "timeout" in response.json()["detail"]


def test_endpoint_rules(api: TestClient, settings: Settings) -> None:
    assert api.post("/v1/items/nope/enrich").status_code == 404
    reader = api.post("/v1/items/charlotte/enrich", headers={"Authorization": f"Bearer {READ_KEY}"})
    assert reader.status_code == 403
    with TestClient(create_app(settings)) as off:
        off.headers["Authorization"] = f"Bearer {ADMIN_KEY}"
        off.post("/v1/items", json=BOOKS[0])
        response = off.post("/v1/items/charlotte/enrich")
        assert response.status_code == 409
        assert "NEXTREAD_OPENLIBRARY_ENABLED" in response.json()["detail"]


def test_function_is_off_by_default_and_tenant_scoped(
    database: Database, settings: Settings, enabled: Settings
) -> None:
    assert settings.openlibrary.openlibrary_enabled is False
    with session_scope(database.sessions) as session:
        ours = ensure_tenant(session, "ours").id
        theirs = ensure_tenant(session, "theirs").id
        session.add(Item(tenant_id=ours, external_id="charlotte", title="Charlotte's Web", isbn=CHARLOTTE))
        session.flush()
        with pytest.raises(EnrichmentDisabledError):
            enrich_book_metadata(session, ours, "charlotte", settings)
        with pytest.raises(LookupError):
            enrich_book_metadata(session, theirs, "charlotte", enabled)
        assert items_to_enrich(session, ours, None) == ["charlotte"]
        assert items_to_enrich(session, theirs, None) == []
        result = enrich_book_metadata(session, ours, "charlotte", enabled)
        assert result.still_missing == []
        assert items_to_enrich(session, ours, None) == []


def test_rate_limiter_spaces_requests() -> None:
    limiter = RateLimiter(20.0)
    started = time.monotonic()
    for _ in range(5):
        limiter.wait()
    assert time.monotonic() - started >= 4 / 20 - 0.01


def test_client_rate_limits_uncached_requests(enabled: Settings) -> None:
    slow = enabled.model_copy(update={"openlibrary_requests_per_second": 10.0})
    client = OpenLibraryClient(slow)
    started = time.monotonic()
    for n in range(4):
        client.get(f"/isbn/97800000{n:05d}.json")
    client.close()
    assert time.monotonic() - started >= 0.29
    assert client.requests == 4


def test_cli_enriches_with_a_limit(
    enabled: Settings, monkeypatch: pytest.MonkeyPatch, api: TestClient
) -> None:
    for name, value in {
        "NEXTREAD_DATA_DIR": str(enabled.store.data_dir),
        "NEXTREAD_DATABASE_URL": enabled.store.database_url,
        "NEXTREAD_OPENLIBRARY_ENABLED": "true",
        "NEXTREAD_OPENLIBRARY_URL": enabled.openlibrary.openlibrary_url,
        "NEXTREAD_OPENLIBRARY_REQUESTS_PER_SECOND": "1000",
        "NEXTREAD_OPENLIBRARY_TIMEOUT_SECONDS": str(TIMEOUT),
        "NEXTREAD_LOG_LEVEL": "WARNING",
    }.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(cli, ["enrich", "--limit", "2"])
        assert result.exit_code == 0, result.output
        assert "charlotte: filled cover_url, description, page_count, tags" in result.output
        assert "enriched 2 books" in result.output
        assert api.get("/v1/items/caterpillar").json()["page_count"] == 26
        assert api.get("/v1/items/dragons").json()["page_count"] is None  # beyond the limit
        monkeypatch.setenv("NEXTREAD_OPENLIBRARY_ENABLED", "false")
        get_settings.cache_clear()
        off = CliRunner().invoke(cli, ["enrich"])
        assert off.exit_code == 1
        assert "NEXTREAD_OPENLIBRARY_ENABLED" in off.output
    finally:
        get_settings.cache_clear()


def test_recorded_answers_are_valid_json() -> None:
    for path in RECORDED.glob("*.json"):
        json.loads(path.read_text())
