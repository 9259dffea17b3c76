"""enrich_book_metadata over MCP: admin only, off by default, and a real fill from a local server that
serves the recorded Open Library answers of tests/ingest/openlibrary."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from mcp import Client
from sqlalchemy import select

from nextread.mcp.backend import Backend
from nextread.mcp.server import create_mcp_server
from nextread.store.db import REFUSED, UNAVAILABLE
from nextread.store.models import Item
from tests.commit_faults import CommitFault
from tests.conftest import ADMIN_KEY
from tests.mcp.conftest import data, error_text, principal
from tests.school import DRAGONS

pytestmark = pytest.mark.anyio
RECORDED = Path(__file__).resolve().parents[1] / "ingest" / "openlibrary"
ISBN = "9780064400558"
ROUTES = {
    f"/isbn/{ISBN}.json": "edition_9780064400558.json",
    "/books/OL24226883M.json": "edition_9780064400558.json",
    "/works/OL45804W.json": "work_OL45804W.json",
}


@pytest.fixture
def open_library() -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the http.server API
            name = ROUTES.get(self.path.split("?")[0])
            body = (RECORDED / (name or "notfound.json")).read_bytes()
            self.send_response(200 if name else 404)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture
async def mcp_enricher(school: TestClient, open_library: str) -> AsyncIterator[Client]:
    school.post("/v1/items", json={"id": "charlotte", "title": "Charlotte's Web", "isbn": ISBN})
    backend = Backend.of_app(school.app)
    enabled = backend.settings.model_copy(
        update={
            "openlibrary_enabled": True,
            "openlibrary_url": open_library,
            "openlibrary_timeout_seconds": 5,
        }
    )
    server = create_mcp_server(replace(backend, settings=enabled), principal(school, ADMIN_KEY))
    async with Client(server) as client:
        yield client


async def test_enrichment_fills_missing_fields_and_stores_them(
    mcp_enricher: Client, school: TestClient
) -> None:
    out = data(await mcp_enricher.call_tool("enrich_book_metadata", {"book_id": "charlotte"}))
    assert out["item_id"] == "charlotte" and out["filled"] and not out["errors"]
    stored = school.get("/v1/items/charlotte").json()
    for field in out["filled"]:
        assert stored[field], field


def _description(school: TestClient) -> str | None:
    """Read on a connection of the test's own, not the tool's."""
    with school.app.state.session_factory() as session:
        return session.scalar(select(Item.description).where(Item.external_id == "charlotte"))


async def test_enrichment_answers_once_committed_and_a_failed_commit_is_the_tools_error(
    mcp_enricher: Client, school: TestClient, commit_fault: CommitFault
) -> None:
    commit_fault.set("fail")
    message = error_text(await mcp_enricher.call_tool("enrich_book_metadata", {"book_id": "charlotte"}))
    assert message.endswith((REFUSED.message, UNAVAILABLE.message))  # PostgreSQL refuses, SQLite's disk fails
    assert _description(school) is None
    commit_fault.set("slow")
    out = data(await mcp_enricher.call_tool("enrich_book_metadata", {"book_id": "charlotte"}))
    assert "description" in out["filled"] and _description(school)


async def test_enrichment_needs_an_admin_key(mcp_reader: Client) -> None:
    message = error_text(await mcp_reader.call_tool("enrich_book_metadata", {"book_id": DRAGONS[0]}))
    assert "admin" in message


async def test_enrichment_is_off_by_default_and_unknown_books_are_named(mcp_admin: Client) -> None:
    message = error_text(await mcp_admin.call_tool("enrich_book_metadata", {"book_id": DRAGONS[0]}))
    assert "NEXTREAD_OPENLIBRARY_ENABLED" in message
    message = error_text(await mcp_admin.call_tool("enrich_book_metadata", {"book_id": "no-such-book"}))
    assert "book_id" in message and "no-such-book" in message
