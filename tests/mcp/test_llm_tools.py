"""The MCP tools' use_llm flag against the scripted chat server: used only when the school allows it,
and the same re-ranking and query reading as the REST API."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace

import pytest
from fastapi.testclient import TestClient
from mcp import Client

from nextread.cache.backends import MemoryCache
from nextread.llm.client import LLMClient
from nextread.mcp.backend import Backend
from nextread.mcp.server import create_mcp_server
from nextread.store.db import session_scope
from nextread.store.tenant_settings import load_tenant_settings, save_tenant_settings
from tests.conftest import READ_KEY
from tests.llm.conftest import ScriptedLLM, scripted_llm  # noqa: F401 - the fixture
from tests.mcp.conftest import data, principal
from tests.school import FAN, FAN_NAME

pytestmark = pytest.mark.anyio


def _allow(client: TestClient, allowed: bool) -> None:
    with session_scope(client.app.state.session_factory) as session:
        tenant_id = principal(client, READ_KEY).tenant_id
        values = load_tenant_settings(session, tenant_id).model_copy(update={"llm_enabled": allowed})
        save_tenant_settings(session, tenant_id, values)


@pytest.fixture
async def mcp_with_llm(school: TestClient, scripted_llm: ScriptedLLM) -> AsyncIterator[Client]:  # noqa: F811
    llm = LLMClient(scripted_llm.base_url, "scripted", timeout=2.0, cache=MemoryCache(16))
    backend = replace(Backend.of_app(school.app), llm=llm)
    async with Client(create_mcp_server(backend, principal(school, READ_KEY))) as client:
        yield client


async def test_recommendations_use_the_llm_only_when_the_school_allows_it(
    mcp_with_llm: Client,
    school: TestClient,
    scripted_llm: ScriptedLLM,  # noqa: F811
) -> None:
    arguments = {"student_id": FAN, "n": 3, "use_llm": True}
    assert (
        data(await mcp_with_llm.call_tool("get_recommendations_for_student", arguments))["ranked_by"]
        == "engine"
    )
    assert scripted_llm.requests == []
    _allow(school, True)
    scripted_llm.answer(lambda user: {"ranking": [c["id"] for c in user["candidates"]][::-1]})
    out = data(await mcp_with_llm.call_tool("get_recommendations_for_student", arguments))
    assert out["ranked_by"] == "engine+llm" and "llm" in out["books"][0]["components"]
    assert FAN not in str(scripted_llm.requests) and FAN_NAME not in str(scripted_llm.requests)


async def test_search_reads_the_query_with_the_llm(
    mcp_with_llm: Client,
    school: TestClient,
    scripted_llm: ScriptedLLM,  # noqa: F811
) -> None:
    _allow(school, True)
    scripted_llm.answer({"text": "rocket", "tags": ["space"], "grade": 2})
    query = f"rocket books {FAN_NAME} would like"
    out = data(await mcp_with_llm.call_tool("search_catalog", {"query": query, "use_llm": True}))
    assert "tags space (LLM)" in out["understood"] and out["filters"]["tags"] == ["space"]
    assert out["data"] and all(hit["id"].startswith("space-") for hit in out["data"])
    sent = scripted_llm.user_payloads()[0]
    assert "zelda" not in sent["query"].casefold() and "space" in sent["catalog_tags"]
