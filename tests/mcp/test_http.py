"""The streamable-HTTP endpoint mounted at /mcp, served by a real uvicorn on 127.0.0.1 and called with
real HTTP clients: the SDK's streamable-HTTP client for tools, httpx for the auth answers."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import httpx
import httpx2
import pytest
import uvicorn
from fastapi.testclient import TestClient
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from nextread.app import create_app
from nextread.config import Settings
from nextread.store.db import session_scope
from nextread.store.tenants import create_api_key, ensure_tenant
from tests.conftest import ADMIN_KEY, READ_KEY
from tests.mcp.conftest import data, error_text
from tests.school import DRAGONS, FAN, build_school

pytestmark = pytest.mark.anyio


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def served(settings: Settings) -> Iterator[tuple[str, str]]:
    """(base URL, read key of a second tenant) for an app whose default tenant holds the school."""
    app = create_app(settings)
    with TestClient(app) as setup:
        setup.headers["Authorization"] = f"Bearer {ADMIN_KEY}"
        build_school(setup)
        with session_scope(app.state.session_factory) as session:
            other_key = create_api_key(session, ensure_tenant(session, "other-school"), "read", "test")
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}", other_key
    server.should_exit = True
    thread.join(10)


def _mcp(base_url: str, key: str) -> Client:
    http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {key}"}, timeout=60)
    return Client(streamable_http_client(f"{base_url}/mcp", http_client=http))


def test_the_endpoint_needs_a_valid_api_key(served: tuple[str, str]) -> None:
    base_url, _ = served
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}
    headers = {"Accept": "application/json, text/event-stream"}
    missing = httpx.post(f"{base_url}/mcp", json=body, headers=headers)
    assert missing.status_code == 401 and "missing API key" in missing.json()["detail"]
    assert missing.headers["WWW-Authenticate"] == "Bearer"
    wrong = httpx.post(f"{base_url}/mcp", json=body, headers={**headers, "Authorization": "Bearer nope"})
    assert wrong.status_code == 401 and "invalid" in wrong.json()["detail"]


async def test_tools_over_http_with_a_read_key(served: tuple[str, str]) -> None:
    base_url, _ = served
    async with _mcp(base_url, READ_KEY) as client:
        names = {tool.name for tool in (await client.list_tools()).tools}
        assert "get_recommendations_for_student" in names
        arguments = {"student_id": FAN, "n": 2, "diversity": 0}
        out = data(await client.call_tool("get_recommendations_for_student", arguments))
        assert {book["id"] for book in out["books"]} <= set(DRAGONS[2:])


async def test_another_tenants_key_cannot_see_this_schools_students(served: tuple[str, str]) -> None:
    base_url, other_key = served
    async with _mcp(base_url, other_key) as client:
        for tool in ("get_recommendations_for_student", "get_student_reading_level"):
            message = error_text(await client.call_tool(tool, {"student_id": FAN}))
            assert FAN in message and "unknown user" in message
        explained = await client.call_tool(
            "explain_recommendation", {"student_id": FAN, "book_id": DRAGONS[0]}
        )
        assert explained.is_error
