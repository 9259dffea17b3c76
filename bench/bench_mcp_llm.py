"""Latency of the MCP tools and of the optional LLM path on the bundled demo school, in-process.

    OPENBLAS_NUM_THREADS=1 .venv/bin/python bench/bench_mcp_llm.py [--requests 50] [--llm-delay 0]

The LLM is a local OpenAI-compatible stub on 127.0.0.1 that answers at once (or after ``--llm-delay``
seconds) with a valid ranking and sentences, so the LLM numbers are nextread's own overhead — reader
facts, prompt, HTTP round trip, validation, blending — not a model's thinking time; add your model's
latency to them. The REST calls go through FastAPI's ASGI TestClient (no sockets, cache ``none://`` so
every request computes), the MCP calls through the SDK's in-memory client. Other processes on a
shared machine disturb the numbers: re-run on a quiet one for the ones to quote.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from mcp import Client
from sqlalchemy import func, select

from nextread.app import create_app
from nextread.cli import prepare_demo
from nextread.config import Settings
from nextread.mcp.backend import Backend
from nextread.mcp.server import create_mcp_server
from nextread.services.access import principal_of_key
from nextread.store.db import session_scope
from nextread.store.models import Group, Interaction, User
from nextread.store.tenant_settings import load_tenant_settings, save_tenant_settings

ADMIN_KEY = "bench-admin-key"


def llm_stub(delay: float) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - the http.server API
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            user = json.loads(body["messages"][-1]["content"])
            keys = [candidate["id"] for candidate in user.get("candidates", [])]
            answer = {"ranking": keys[::-1], "explanations": {key: "You will love this one!" for key in keys}}
            time.sleep(delay)
            message = {"role": "assistant", "content": json.dumps(answer)}
            payload = json.dumps({"choices": [{"index": 0, "message": message, "finish_reason": "stop"}]})
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload.encode())

        def log_message(self, *args: object) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def report(name: str, seconds: list[float]) -> None:
    ms = sorted(1000 * s for s in seconds)
    p95 = ms[min(len(ms) - 1, int(0.95 * len(ms)))]
    print(f"{name:<48} p50 {statistics.median(ms):7.1f} ms   p95 {p95:7.1f} ms   (n={len(ms)})")


def timed(call: Callable[[], Any], requests: int) -> list[float]:
    call()  # warm-up: model load, first catalog build
    times = []
    for _ in range(requests):
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
    return times


async def timed_async(call: Callable[[], Awaitable[Any]], requests: int) -> list[float]:
    await call()
    times = []
    for _ in range(requests):
        started = time.perf_counter()
        result = await call()
        times.append(time.perf_counter() - started)
        assert not result.is_error, result.content
    return times


def demo_ids(client: TestClient) -> tuple[str, str, str]:
    """A student with the most history, their tenant's first class, and one of its books."""
    with session_scope(client.app.state.session_factory) as session:
        reader = session.scalar(
            select(User.external_id)
            .join(Interaction, Interaction.user_id == User.id)
            .group_by(User.external_id)
            .order_by(func.count().desc(), User.external_id)
            .limit(1)
        )
        group = session.scalar(select(Group.external_id).order_by(Group.id).limit(1))
    book = client.get(f"/v1/users/{reader}/recommendations", params={"n": 1}).json()["data"][0]["id"]
    return reader, group, book


async def mcp_timings(client: TestClient, student: str, group: str, book: str, requests: int) -> None:
    with session_scope(client.app.state.session_factory) as session:
        principal = principal_of_key(session, ADMIN_KEY)
    server = create_mcp_server(Backend.of_app(client.app), principal)
    calls = {
        "get_recommendations_for_student": {"student_id": student, "n": 10},
        "get_recommendations_for_student use_llm": {"student_id": student, "n": 10, "use_llm": True},
        "explain_recommendation": {"student_id": student, "book_id": book},
        "get_student_reading_level": {"student_id": student},
        "find_similar_students": {"student_id": student, "n": 10},
        "search_catalog": {"query": "funny books about dragons for a 2nd grader", "limit": 10},
        "query_checkout_history": {"class_id": group},
        "get_book_recommendations_for_group": {"class_id": group, "n": 20},
    }
    async with Client(server) as mcp:
        for name, arguments in calls.items():
            tool = name.split()[0]
            count = max(5, requests // 5) if tool == "get_book_recommendations_for_group" else requests
            report(f"MCP {name}", await timed_async(lambda t=tool, a=arguments: mcp.call_tool(t, a), count))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=50)
    parser.add_argument("--llm-delay", type=float, default=0.0, help="Seconds the stub LLM waits.")
    args = parser.parse_args()
    stub = llm_stub(args.llm_delay)
    with tempfile.TemporaryDirectory() as data_dir:
        settings = Settings(
            data_dir=Path(data_dir),
            admin_api_key=ADMIN_KEY,
            cache_url="none://",
            log_format="console",
            log_level="WARNING",
            llm_base_url=f"http://127.0.0.1:{stub.server_address[1]}/v1",
            llm_model="stub",
            llm_cache_seconds=0,
        )
        prepare_demo(settings)
        with TestClient(create_app(settings)) as client:
            client.headers["Authorization"] = f"Bearer {ADMIN_KEY}"
            with session_scope(client.app.state.session_factory) as session:
                tenant_id = principal_of_key(session, ADMIN_KEY).tenant_id
                allowed = load_tenant_settings(session, tenant_id).model_copy(update={"llm_enabled": True})
                save_tenant_settings(session, tenant_id, allowed)
            student, group, book = demo_ids(client)
            url = f"/v1/users/{student}/recommendations"
            print(f"demo school, student {student}, class {group}; LLM stub delay {args.llm_delay}s")
            report("REST recommendations (engine)", timed(lambda: client.get(url), args.requests))
            llm = lambda: client.get(url, params={"llm": True})  # noqa: E731
            assert llm().json()["ranked_by"] == "engine+llm"
            report("REST recommendations llm=true (no LLM cache)", timed(llm, args.requests))
            client.app.state.llm.cache_seconds = 3600.0
            report("REST recommendations llm=true (LLM cache hit)", timed(llm, args.requests))
            client.app.state.llm.cache_seconds = 0.0
            asyncio.run(mcp_timings(client, student, group, book, args.requests))
    stub.shutdown()


if __name__ == "__main__":
    main()
