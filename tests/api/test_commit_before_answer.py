"""Every REST write is committed before it is answered, on SQLite and PostgreSQL.

The app runs in a real uvicorn (the in-process test client waits for the whole ASGI call, so it could
not tell a commit after the response from one before it). Each write route of the OpenAPI document has
a scenario here, so a new route without one fails :func:`test_every_write_route_has_a_scenario`. With a
slow commit, the moment the answer arrives a separate connection must see the write; with a commit
that fails, the answer must be a 409 or 5xx and nothing may be stored.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import ThreadingHTTPServer
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from sqlalchemy import text

from nextread.app import create_app
from nextread.config import Settings
from tests.commit_faults import SLOW_COMMIT_SECONDS, CommitFault, Mode
from tests.conftest import ADMIN_KEY, Database
from tests.ingest.test_enrich import CHARLOTTE, OpenLibraryStub

WRITE_METHODS = {"post", "put", "patch", "delete"}


@dataclass(frozen=True)
class Write:
    """One write request and the SQL (one boolean) that is true once the write is committed."""

    method: str
    route: str
    url: str
    body: Any
    committed: str


def _exists(table: str, where: str) -> str:
    return f"SELECT EXISTS (SELECT 1 FROM {table} WHERE {where})"


def _gone(table: str, external_id: str) -> str:
    return f"SELECT NOT EXISTS (SELECT 1 FROM {table} WHERE external_id = '{external_id}')"


ITEM, USER, GROUP = "/v1/items/{external_id}", "/v1/users/{external_id}", "/v1/groups/{group_id}"
WRITES = [
    Write("POST", "/v1/items", "/v1/items", {"id": "post-item", "title": "Posted"},
          _exists("items", "external_id = 'post-item'")),
    Write("PUT", ITEM, "/v1/items/put-item", {"id": "put-item", "title": "Replaced"},
          _exists("items", "external_id = 'put-item' AND title = 'Replaced'")),
    Write("PATCH", ITEM, "/v1/items/patch-item", {"title": "Patched"},
          _exists("items", "external_id = 'patch-item' AND title = 'Patched'")),
    Write("DELETE", ITEM, "/v1/items/delete-item", None, _gone("items", "delete-item")),
    Write("POST", "/v1/users", "/v1/users", {"id": "post-user", "grade": 3},
          _exists("users", "external_id = 'post-user'")),
    Write("PUT", USER, "/v1/users/put-user", {"id": "put-user", "grade": 4},
          _exists("users", "external_id = 'put-user' AND grade = 4")),
    Write("PATCH", USER, "/v1/users/patch-user", {"grade": 5},
          _exists("users", "external_id = 'patch-user' AND grade = 5")),
    Write("DELETE", USER, "/v1/users/delete-user", None, _gone("users", "delete-user")),
    Write("POST", "/v1/groups", "/v1/groups", {"id": "post-group", "name": "Posted"},
          _exists("groups", "external_id = 'post-group'")),
    Write("PUT", GROUP, "/v1/groups/put-group", {"id": "put-group", "name": "Replaced", "members": []},
          _exists("groups", "external_id = 'put-group' AND name = 'Replaced'")),
    Write("PATCH", GROUP, "/v1/groups/patch-group", {"name": "Patched"},
          _exists("groups", "external_id = 'patch-group' AND name = 'Patched'")),
    Write("DELETE", GROUP, "/v1/groups/delete-group", None, _gone("groups", "delete-group")),
    Write("POST", "/v1/interactions", "/v1/interactions",
          {"user_id": "reader", "item_id": "seed-book", "type": "like", "event_id": "one-like"},
          _exists("interactions", "event_id = 'one-like'")),
    Write("POST", "/v1/interactions/batch", "/v1/interactions/batch",
          [{"user_id": "reader", "item_id": "seed-book", "type": "finished", "event_id": f"batch-{n}"}
           for n in range(3)],
          "SELECT count(*) = 3 FROM interactions WHERE event_id LIKE 'batch-%'"),
    Write("POST", "/v1/items/{item_id}/enrich", "/v1/items/enrich-item/enrich", None,
          _exists("items", "external_id = 'enrich-item' AND description IS NOT NULL")),
    Write("POST", "/v1/models/train", "/v1/models/train", None,
          _exists("model_versions", "status = 'ready'")),
    Write("POST", "/api/v1/interact", "/api/v1/interact",
          {"user_id": "reader", "content_id": "seed-book", "interaction_type": "save",
           "duration_seconds": 42},
          _exists("interactions", "type = 'save' AND value = 42")),
]  # fmt: skip
# POSTs that store nothing: a query too rich for a URL.
READ_ONLY_POSTS = {("POST", "/v1/recommendations")}

SEED: list[tuple[str, dict[str, Any]]] = [
    ("/v1/items", {"id": "seed-book", "title": "Seed"}),
    *(("/v1/items", {"id": f"{verb}-item", "title": "Old"}) for verb in ("put", "patch", "delete")),
    ("/v1/items", {"id": "enrich-item", "title": "Charlotte's Web", "isbn": CHARLOTTE}),
    ("/v1/users", {"id": "reader", "grade": 2}),
    *(("/v1/users", {"id": f"{verb}-user", "grade": 1}) for verb in ("put", "patch", "delete")),
    *(("/v1/groups", {"id": f"{verb}-group", "name": "Old"}) for verb in ("put", "patch", "delete")),
]


def _write_routes(app: FastAPI) -> set[tuple[str, str]]:
    return {
        (method.upper(), path)
        for path, operations in app.openapi()["paths"].items()
        for method in operations
        if method in WRITE_METHODS
    }


@pytest.fixture
def open_library() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), OpenLibraryStub)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def app_settings(settings: Settings, open_library: str) -> Settings:
    return settings.model_copy(
        update={
            "openlibrary_enabled": True,
            "openlibrary_url": open_library,
            "openlibrary_requests_per_second": 1000.0,
            "scheduler_enabled": False,
        }
    )


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def serving(app: FastAPI) -> Iterator[httpx.Client]:
    """The app behind a real uvicorn on 127.0.0.1, and an admin client for it."""
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    headers = {"Authorization": f"Bearer {ADMIN_KEY}"}
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers=headers, timeout=120) as client:
            yield client
    finally:
        server.should_exit = True
        thread.join(30)


def _committed(database: Database, write: Write) -> bool:
    """Read on a connection of the test's own, not the server's."""
    with database.engine.connect() as connection:
        return bool(connection.scalar(text(write.committed)))


def _run_writes(settings: Settings, database: Database, fault: CommitFault, mode: Mode) -> list[str]:
    """Each write with the commit fault on; what went wrong, one line per write."""
    problems = []
    with serving(create_app(settings)) as api:
        for path, body in SEED:
            assert api.post(path, json=body).status_code == 201, (path, body)
        fault.set(mode)
        for write in WRITES:
            name = f"{write.method} {write.url}"
            assert not _committed(database, write), f"{name}: already true before the write"
            answer = api.request(write.method, write.url, json=write.body)
            committed = _committed(database, write)
            waited = answer.elapsed.total_seconds()  # the slow commit is inside the answer's time
            if mode == "slow" and not (answer.is_success and committed and waited >= SLOW_COMMIT_SECONDS):
                problems.append(
                    f"{name}: answered {answer.status_code} in {waited:.2f}s, committed: {committed}"
                )
            if mode != "slow" and (committed or not _refused(mode, answer.status_code)):
                problems.append(
                    f"{name}: answered {answer.status_code} {answer.text[:80]}, stored: {committed}"
                )
        fault.set("off")
    return problems


def _refused(mode: Mode, status: int) -> bool:
    """A lost race is the client's to retry (409); any other failed commit is the server's (5xx)."""
    return status == 409 if mode == "conflict" else status >= 500


def test_every_write_route_has_a_scenario(app_settings: Settings) -> None:
    routes = _write_routes(create_app(app_settings))
    covered = {(write.method, write.route) for write in WRITES} | READ_ONLY_POSTS
    assert routes == covered


def test_a_write_is_answered_only_once_committed(
    app_settings: Settings, database: Database, commit_fault: CommitFault
) -> None:
    assert _run_writes(app_settings, database, commit_fault, "slow") == []


@pytest.mark.parametrize("mode", ["fail", "conflict"])
def test_a_failed_commit_is_never_answered_2xx(
    app_settings: Settings, database: Database, commit_fault: CommitFault, mode: Mode
) -> None:
    assert _run_writes(app_settings, database, commit_fault, mode) == []
