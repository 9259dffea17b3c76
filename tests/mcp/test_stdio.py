"""`nextread mcp` as an assistant runs it: a child process speaking MCP on stdin/stdout, reached with the
SDK's stdio client, acting for the tenant and role given on the command line."""

from __future__ import annotations

import os
import sys

import pytest
from fastapi.testclient import TestClient
from mcp import Client, StdioServerParameters
from typer.testing import CliRunner

from nextread.cli import app as cli
from nextread.config import Settings, get_settings
from tests.mcp.conftest import data, error_text
from tests.school import DRAGONS, FAN


def _command(settings: Settings, *options: str) -> StdioServerParameters:
    env = {
        **os.environ,
        "NEXTREAD_DATABASE_URL": settings.store.database_url,
        "NEXTREAD_DATA_DIR": str(settings.store.data_dir),
        "NEXTREAD_LOG_LEVEL": "WARNING",
    }
    return StdioServerParameters(command=sys.executable, args=["-m", "nextread", "mcp", *options], env=env)


@pytest.mark.anyio
async def test_the_stdio_server_answers_for_its_tenant_and_role(
    school: TestClient, settings: Settings
) -> None:
    async with Client(
        _command(settings, "--tenant", settings.store.default_tenant), read_timeout_seconds=120
    ) as client:
        out = data(await client.call_tool("get_recommendations_for_student", {"student_id": FAN, "n": 2}))
        assert out["books"] and out["student_id"] == FAN
        assert "admin" in error_text(await client.call_tool("enrich_book_metadata", {"book_id": DRAGONS[0]}))


def test_an_unknown_tenant_or_role_is_refused(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("NEXTREAD_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("NEXTREAD_DATABASE_URL", raising=False)
    get_settings.cache_clear()
    try:
        unknown = CliRunner().invoke(cli, ["mcp", "--tenant", "nope"])
        assert unknown.exit_code == 2 and "no tenant 'nope'" in unknown.output
        role = CliRunner().invoke(cli, ["mcp", "--role", "owner"])
        assert role.exit_code == 2 and "read, admin" in role.output
    finally:
        get_settings.cache_clear()
