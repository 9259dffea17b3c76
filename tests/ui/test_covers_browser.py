"""In Chromium, every request the student page, the catalog and a book page make stays on nextread: covers
recorded on another host are not shown with enrichment off, and with it on they come from /ui/covers."""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from nextread.store.db import make_engine
from tests.ingest.test_covers import png
from tests.ui.browser_kit import open_page, serve, shoot, sign_in
from tests.ui.conftest import STUDENT

BLUE = png(40, 60, (30, 60, 200))


class FakeCovers(BaseHTTPRequestHandler):
    requests: list[str] = []

    def do_GET(self) -> None:  # noqa: N802 - the http.server API
        type(self).requests.append(self.path)
        self.send_response(200)
        self.send_header("Content-Length", str(len(BLUE)))
        self.end_headers()
        self.wfile.write(BLUE)

    def log_message(self, *args: object) -> None:
        """Quiet: the test output is for failures."""


@pytest.fixture(scope="module")
def covers_host() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeCovers)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def school_with_covers(demo_school: Path, target: Path, host: str) -> Path:
    """The demo school with a cover recorded for every book, as enrichment leaves it."""
    shutil.copytree(demo_school, target)
    engine = make_engine(f"sqlite:///{target / 'nextread.db'}")
    with engine.begin() as connection:
        connection.execute(
            text("UPDATE items SET cover_url = :host || '/b/id/' || id || '-M.jpg'"), {"host": host}
        )
    engine.dispose()
    return target


def walk(browser: Any, server: str) -> tuple[list[str], list[str]]:
    """The student's page, the catalog and a book, clicked to; every request outside ``server`` refused.
    Returns those requests and the cover images' addresses."""
    elsewhere: list[str] = []

    def this_server_only(route: Any) -> None:
        if route.request.url.startswith(server + "/"):
            route.continue_()
        else:
            elsewhere.append(route.request.url)
            route.abort()

    covers: list[str] = []
    student = open_page(browser, server)
    student.context.route("**/*", this_server_only)
    sign_in(student, STUDENT[0], STUDENT[1])
    student.locator("[data-item]").first.wait_for()
    student.wait_for_load_state("networkidle")
    covers += student.eval_on_selector_all("img", "els => els.map(e => e.src)")
    shoot(student, "covers-student")
    student.context.close()

    staff = open_page(browser, server)
    staff.context.route("**/*", this_server_only)
    sign_in(staff)
    staff.get_by_role("navigation", name="Main").get_by_role("link", name="Catalog").click()
    staff.locator(".catalog-hit").first.click()
    staff.locator(".similar-book").first.wait_for()
    staff.wait_for_load_state("networkidle")
    covers += staff.eval_on_selector_all("img", "els => els.map(e => e.src)")
    if covers:
        staff.wait_for_function("() => [...document.images].every(i => i.complete)")
        assert staff.evaluate("[...document.images].every(i => i.naturalWidth > 0)"), "the covers decode"
    shoot(staff, "covers-book")
    staff.context.close()
    return elsewhere, covers


def test_with_enrichment_off_no_cover_and_no_request_elsewhere(
    demo_school: Path, tmp_path: Path, browser: Any
) -> None:
    school = school_with_covers(demo_school, tmp_path / "covered", "https://covers.openlibrary.org")
    with serve(school, tmp_path) as server:
        elsewhere, covers = walk(browser, server)
    assert elsewhere == []
    assert covers == [], "with enrichment off no cover is shown"


def test_with_enrichment_on_covers_come_from_nextread(
    demo_school: Path, tmp_path: Path, browser: Any, covers_host: str
) -> None:
    school = school_with_covers(demo_school, tmp_path / "covered", covers_host)
    FakeCovers.requests = []
    env = {
        "NEXTREAD_OPENLIBRARY_ENABLED": "true",
        "NEXTREAD_OPENLIBRARY_COVERS_URL": covers_host,
        "NEXTREAD_OPENLIBRARY_REQUESTS_PER_SECOND": "1000",
    }
    with serve(school, tmp_path, **env) as server:
        elsewhere, covers = walk(browser, server)
        stored = list((tmp_path / "school" / "covers").glob("*.png"))
    assert elsewhere == []
    assert len(covers) >= 2, "the student's cards and the book page show covers"
    assert all(src.startswith(f"{server}/ui/covers/") for src in covers), covers
    assert FakeCovers.requests, "the server, not the browser, fetched them"
    assert len(stored) == 1, "every book had the same picture: stored once"
