"""OpenAIEmbedder against a real HTTP server on 127.0.0.1 that answers like an embeddings API."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import numpy as np
import pytest

from nextread.config import Settings
from nextread.embed.openai import EmbedderError, OpenAIEmbedder
from nextread.embed.select import _embedder, get_embedder, text_embedding_function


@dataclass
class FakeAPI:
    """What the server saw and how it should answer; tests change ``status`` / ``raw`` to misbehave."""

    port: int
    requests: list[dict[str, Any]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    status: int = 200
    raw: bytes | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"


def _vector(text: str) -> list[float]:
    """A deterministic, deliberately unnormalised vector: length 4, norm depends on the text."""
    n = float(len(text))
    return [n, 1.0, 0.0, 2.0 * n]


@pytest.fixture
def api() -> Iterator[FakeAPI]:
    state: FakeAPI

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            state.requests.append({"path": self.path, **body})
            state.headers.append(dict(self.headers))
            if state.raw is not None:
                payload = state.raw
            elif state.status != 200:
                payload = b'{"error": {"message": "upstream exploded"}}'
            else:
                rows = [
                    {"object": "embedding", "index": i, "embedding": _vector(t)}
                    for i, t in enumerate(body["input"])
                ]
                # Answer in reverse order: clients must place rows by ``index``, not by position.
                payload = json.dumps({"object": "list", "data": rows[::-1], "model": body["model"]}).encode()
            self.send_response(state.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state = FakeAPI(port=server.server_address[1])
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def _expected(texts: list[str]) -> np.ndarray:
    vectors = np.array([_vector(t) for t in texts], dtype=np.float64)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def test_embeds_in_input_order_normalised_and_in_batches(api: FakeAPI) -> None:
    embedder = OpenAIEmbedder(api.base_url, "text-embedding-3-small", "sk-test", batch_size=2)
    assert embedder.dimension is None
    texts = ["a", "dragons", "the moon", "rockets and astronauts", "owls"]
    vectors = embedder.embed(texts)
    assert vectors.dtype == np.float32 and vectors.shape == (5, 4)
    np.testing.assert_allclose(vectors, _expected(texts), rtol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-6)
    assert embedder.dimension == 4
    assert [r["input"] for r in api.requests] == [
        ["a", "dragons"],
        ["the moon", "rockets and astronauts"],
        ["owls"],
    ]
    assert all(r["model"] == "text-embedding-3-small" and r["path"] == "/v1/embeddings" for r in api.requests)
    assert all("dimensions" not in r for r in api.requests)
    assert api.headers[0]["Authorization"] == "Bearer sk-test"
    assert embedder.embed([]).shape == (0, 4)


def test_a_server_error_names_the_url_and_status(api: FakeAPI) -> None:
    api.status = 500
    with pytest.raises(EmbedderError) as raised:
        OpenAIEmbedder(api.base_url, "m", "sk-secret").embed(["hello"])
    message = str(raised.value)
    assert "500" in message and f"{api.base_url}/embeddings" in message and "upstream exploded" in message
    assert "sk-secret" not in message


@pytest.mark.parametrize(
    "raw",
    [
        b"not json",
        b'{"data": [{"index": 0}]}',
        b'{"data": []}',
        b'{"data": [{"index": 5, "embedding": [1.0]}]}',
    ],
)
def test_a_malformed_answer_is_an_embedder_error(api: FakeAPI, raw: bytes) -> None:
    api.raw = raw
    with pytest.raises(EmbedderError, match="malformed response"):
        OpenAIEmbedder(api.base_url, "m", "").embed(["hello"])
    assert "Authorization" not in api.headers[0]


def test_an_unreachable_server_and_a_silent_one_are_embedder_errors() -> None:
    closed = OpenAIEmbedder("http://127.0.0.1:9/v1", "m", "")  # the discard port: nothing listens
    with pytest.raises(EmbedderError, match="127.0.0.1:9/v1/embeddings"):
        closed.embed(["x"])
    with socket.socket() as listener:  # accepts the connection (kernel backlog) and never answers
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        silent = OpenAIEmbedder(f"http://127.0.0.1:{listener.getsockname()[1]}/v1", "m", "", timeout=0.2)
        with pytest.raises(EmbedderError, match="timeout"):
            silent.embed(["x"])


def test_get_embedder_builds_an_openai_embedder_from_the_spec(api: FakeAPI) -> None:
    settings = Settings(embedder=f"openai+{api.base_url}?model=x&dimensions=4", embedder_api_key="k")
    embedder = get_embedder(settings)
    assert isinstance(embedder, OpenAIEmbedder)
    assert embedder.url == f"{api.base_url}/embeddings" and embedder.model == "x"
    assert embedder.dimension == 4
    vector = text_embedding_function(settings)("dragons")
    np.testing.assert_allclose(vector, _expected(["dragons"])[0], rtol=1e-6)
    assert api.requests[-1]["model"] == "x" and api.requests[-1]["dimensions"] == 4
    assert api.headers[-1]["Authorization"] == "Bearer k"
    plain = get_embedder(Settings(embedder=f"openai+{api.base_url}?model=x"))
    assert isinstance(plain, OpenAIEmbedder) and plain.dimension is None


@pytest.mark.parametrize(
    "spec",
    [
        "word2vec",
        "openai+ftp://host/v1?model=x",
        "openai+https://host/v1",
        "openai+https:///v1?model=x",
        "openai+https://host/v1?model=x&dimensions=-3",
        "openai+https://host/v1?model=x&temperature=1",
    ],
)
def test_a_bad_spec_names_the_setting(spec: str) -> None:
    with pytest.raises(ValueError, match="NEXTREAD_EMBEDDER"):
        _embedder(spec, "")
