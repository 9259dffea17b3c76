"""Covers fetched by the server from a fake Open Library covers host (a real local HTTP server): stored
once, content-addressed, checked and capped; nothing fetched with enrichment off or from another host."""

from __future__ import annotations

import struct
import threading
import zlib
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient

from nextread.app import create_app
from nextread.config import Settings
from nextread.services.covers import MAX_COVER_BYTES, covers_dir, item_cover, known_missing
from nextread.store.db import session_scope
from nextread.store.tenants import ensure_tenant
from tests.conftest import ADMIN_KEY


def png(width: int, height: int, rgb: tuple[int, int, int]) -> bytes:
    """A real PNG, so a browser test can check that the picture decodes."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\x00" + bytes(rgb) * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    body = chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")
    return b"\x89PNG\r\n\x1a\n" + body


RED = png(4, 6, (200, 30, 30))
ROUTES: dict[str, tuple[int, bytes, dict[str, str]]] = {
    "/b/isbn/111-M.jpg": (302, b"", {"Location": "/download/111.png"}),  # as covers.openlibrary.org does
    "/download/111.png": (200, RED, {}),
    "/b/id/7-M.jpg": (200, RED, {}),  # the same picture under another address
    "/b/id/404-M.jpg": (404, b"not found", {}),
    "/b/id/html-M.jpg": (200, b"<html>a captive portal</html>", {}),
    "/b/id/huge-M.jpg": (200, RED[:8] + b"\x00" * (MAX_COVER_BYTES + 10), {}),
    "/b/id/500-M.jpg": (500, b"oops", {}),
}


class CoversStub(BaseHTTPRequestHandler):
    requests: list[str] = []

    def do_GET(self) -> None:  # noqa: N802 - the http.server API
        type(self).requests.append(self.path)
        status, body, headers = ROUTES.get(urlsplit(self.path).path, (404, b"", {}))
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        """Quiet: the test output is for failures."""


@pytest.fixture(scope="module")
def covers_host() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), CoversStub)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def books(host: str) -> list[dict[str, str]]:
    return [
        {"id": "isbn", "title": "By ISBN", "cover_url": f"{host}/b/isbn/111-M.jpg"},
        {"id": "same", "title": "Same picture", "cover_url": f"{host}/b/id/7-M.jpg"},
        {"id": "none", "title": "No cover", "cover_url": f"{host}/b/id/404-M.jpg"},
        {"id": "html", "title": "Not a picture", "cover_url": f"{host}/b/id/html-M.jpg"},
        {"id": "huge", "title": "Too big", "cover_url": f"{host}/b/id/huge-M.jpg"},
        {"id": "flaky", "title": "Server error", "cover_url": f"{host}/b/id/500-M.jpg"},
        {"id": "elsewhere", "title": "Other host", "cover_url": "http://127.0.0.2:9/b/id/7-M.jpg"},
        {"id": "plain", "title": "No cover recorded"},
        {"id": "typo", "title": "Garbled address", "cover_url": "http://[::1/b/id/7-M.jpg"},
    ]


def with_books(settings: Settings, host: str) -> Settings:
    with TestClient(create_app(settings)) as client:
        client.headers["Authorization"] = f"Bearer {ADMIN_KEY}"
        for book in books(host):
            assert client.post("/v1/items", json=book).status_code == 201
    return settings


@pytest.fixture
def enabled(settings: Settings, covers_host: str) -> Settings:
    on = settings.model_copy(
        update={
            "openlibrary_enabled": True,
            "openlibrary_covers_url": covers_host,
            "openlibrary_requests_per_second": 1000.0,
            "openlibrary_timeout_seconds": 2.0,
        }
    )
    CoversStub.requests = []
    return with_books(on, covers_host)


def cover_of(settings: Settings, item_id: str):  # type: ignore[no-untyped-def]
    from nextread.store.db import make_engine, make_session_factory

    engine = make_engine(settings.store.database_url)
    try:
        with session_scope(make_session_factory(engine)) as session:
            tenant = ensure_tenant(session, settings.store.default_tenant)
            return item_cover(session, tenant.id, item_id, settings)
    finally:
        engine.dispose()


def test_a_cover_is_fetched_once_and_stored_by_its_content(enabled: Settings) -> None:
    cover = cover_of(enabled, "isbn")
    assert cover is not None and cover.media_type == "image/png"
    assert cover.path.read_bytes() == RED
    assert cover.path.parent == covers_dir(enabled)
    assert cover.path.name.startswith(cover.digest)
    fetched = len(CoversStub.requests)
    assert fetched == 2  # the redirect and the picture
    assert cover_of(enabled, "isbn") == cover
    assert len(CoversStub.requests) == fetched, "a stored cover costs no request"
    same = cover_of(enabled, "same")
    assert same is not None and same.path == cover.path, "one picture, kept once"
    assert CoversStub.requests[-1].endswith("?default=false"), "a missing cover is a 404, not a blank GIF"


def test_a_missing_cover_is_remembered_and_an_error_is_not(enabled: Settings) -> None:
    assert cover_of(enabled, "none") is None
    assert cover_of(enabled, "none") is None
    assert sum("404-M" in path for path in CoversStub.requests) == 1
    assert known_missing(enabled, f"{enabled.openlibrary.openlibrary_covers_url}/b/id/404-M.jpg")
    assert not known_missing(enabled, f"{enabled.openlibrary.openlibrary_covers_url}/b/id/7-M.jpg")
    assert cover_of(enabled, "flaky") is None
    assert cover_of(enabled, "flaky") is None
    assert sum("500-M" in path for path in CoversStub.requests) == 2, "a server error is tried again"


def test_what_is_not_a_picture_or_too_big_is_not_kept(enabled: Settings) -> None:
    assert cover_of(enabled, "html") is None
    assert cover_of(enabled, "huge") is None
    assert not list(covers_dir(enabled).glob("*.*")), "no file besides the index"


def test_only_the_covers_host_is_ever_asked(enabled: Settings) -> None:
    assert cover_of(enabled, "elsewhere") is None
    assert cover_of(enabled, "plain") is None
    assert cover_of(enabled, "typo") is None
    assert cover_of(enabled, "no-such-book") is None
    assert CoversStub.requests == []


def test_with_enrichment_off_nothing_is_fetched(settings: Settings, covers_host: str) -> None:
    off = with_books(settings.model_copy(update={"openlibrary_covers_url": covers_host}), covers_host)
    CoversStub.requests = []
    assert not off.openlibrary.openlibrary_enabled
    assert cover_of(off, "isbn") is None
    assert CoversStub.requests == []
    assert not covers_dir(off).exists()
