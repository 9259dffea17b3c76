"""Structured JSON logs carry the request id; Prometheus sees requests."""

from __future__ import annotations

import asyncio
import json

import pytest
from fastapi.testclient import TestClient

from nextread.app import create_app
from nextread.config import Settings
from nextread.observability import dump_stacks


@pytest.fixture
def json_settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"log_format": "json", "log_level": "INFO"})


def test_request_log_is_json_with_request_id(
    json_settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    with TestClient(create_app(json_settings)) as client:
        client.get("/healthz", headers={"X-Request-ID": "abc-42"})
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line.startswith("{")]
    request_lines = [line for line in lines if line.get("event") == "request"]
    assert request_lines, "no request log line"
    entry = request_lines[-1]
    assert entry["request_id"] == "abc-42"
    assert entry["path"] == "/healthz"
    assert entry["status"] == 200
    assert entry["level"] == "info"


def test_metrics_count_requests_by_route(client: TestClient) -> None:
    client.get("/v1/items/does-not-exist")
    text = client.get("/metrics").text
    assert 'nextread_http_requests_total{method="GET",route="/v1/items/{external_id}",status="404"}' in text
    assert "nextread_http_request_duration_seconds_bucket" in text


def test_stack_dump_shows_where_each_task_waits(capsys: pytest.CaptureFixture[str]) -> None:
    async def innermost_wait(release: asyncio.Event) -> None:
        await release.wait()

    async def outer(release: asyncio.Event) -> None:
        await innermost_wait(release)

    async def scenario() -> None:
        release = asyncio.Event()
        task = asyncio.create_task(outer(release), name="stuck-task")
        await asyncio.sleep(0)
        dump_stacks()
        release.set()
        await task

    asyncio.run(scenario())
    report = capsys.readouterr().err
    chain = report[report.index("--- task stuck-task") :].split("---")[2]
    assert chain.index(" in outer") < chain.index(" in innermost_wait")
    assert "--- thread MainThread ---" in report and "in dump_stacks" in report
