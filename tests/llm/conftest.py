"""A scripted OpenAI-compatible chat server: a real HTTP server on 127.0.0.1 in a thread.

Each test queues the replies it wants (a JSON answer, a slow one, garbage, an HTTP 500) and reads back
every request body the server received, which is how the privacy tests see exactly what left.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest


@dataclass
class Reply:
    """``content`` is the assistant's text, or a function of the request's user payload that makes it
    (to answer about the candidates actually sent)."""

    content: str | Callable[[dict[str, Any]], str] = "{}"
    status: int = 200
    delay: float = 0.0


@dataclass
class ScriptedLLM:
    port: int
    replies: deque[Reply] = field(default_factory=deque)
    default: Reply = field(default_factory=Reply)
    requests: list[dict[str, Any]] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def answer(
        self,
        payload: dict[str, Any] | str | Callable[[dict[str, Any]], dict[str, Any]],
        *,
        status: int = 200,
        delay: float = 0.0,
    ) -> None:
        content: str | Callable[[dict[str, Any]], str]
        if callable(payload):
            content = lambda user: json.dumps(payload(user))  # noqa: E731
        else:
            content = payload if isinstance(payload, str) else json.dumps(payload)
        self.replies.append(Reply(content, status, delay))

    def user_payloads(self) -> list[dict[str, Any]]:
        """The JSON user message of every request received, in order."""
        return [json.loads(request["messages"][-1]["content"]) for request in self.requests]


def _completion(model: str, content: str) -> bytes:
    return json.dumps(
        {
            "id": "chatcmpl-scripted",
            "object": "chat.completion",
            "created": 0,
            "model": model,
            "choices": [
                {"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}
            ],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
        }
    ).encode()


@pytest.fixture
def scripted_llm() -> Iterator[ScriptedLLM]:
    state: ScriptedLLM

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            state.requests.append(body)
            state.paths.append(self.path)
            reply = state.replies.popleft() if state.replies else state.default
            time.sleep(reply.delay)
            content = reply.content
            if callable(content):
                content = content(json.loads(body["messages"][-1]["content"]))
            payload = (
                _completion(body.get("model", ""), content)
                if reply.status == 200
                else b'{"error": {"message": "scripted failure"}}'
            )
            try:
                self.send_response(reply.status if self.path == "/v1/chat/completions" else 404)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (timeout test): nothing to answer

        def log_message(self, *args: object) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state = ScriptedLLM(port=server.server_address[1])
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()
