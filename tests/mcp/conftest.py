"""An MCP client connected in-process (the SDK's memory transport) to the server the API app builds,
acting as the default tenant's read or admin key, over the small school of tests/school.py."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from mcp import Client
from mcp.types import CallToolResult

from nextread.mcp.backend import Backend
from nextread.mcp.server import create_mcp_server
from nextread.services.access import Principal, principal_of_key
from tests.conftest import ADMIN_KEY, READ_KEY
from tests.school import build_school


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def school(client: TestClient) -> TestClient:
    build_school(client)
    return client


def principal(client: TestClient, key: str) -> Principal:
    with client.app.state.session_factory() as session:
        found = principal_of_key(session, key)
    assert found is not None
    return found


async def _connected(app_client: TestClient, key: str) -> AsyncIterator[Client]:
    server = create_mcp_server(Backend.of_app(app_client.app), principal(app_client, key))
    async with Client(server) as client:
        yield client


@pytest.fixture
async def mcp_reader(school: TestClient) -> AsyncIterator[Client]:
    async for client in _connected(school, READ_KEY):
        yield client


@pytest.fixture
async def mcp_admin(school: TestClient) -> AsyncIterator[Client]:
    async for client in _connected(school, ADMIN_KEY):
        yield client


def data(result: CallToolResult) -> dict[str, Any]:
    """A successful tool result's structured output."""
    assert not result.is_error, result.content
    if result.structured_content is not None:
        return result.structured_content
    return json.loads(result.content[0].text)


def error_text(result: CallToolResult) -> str:
    assert result.is_error, result
    return " ".join(block.text for block in result.content)
