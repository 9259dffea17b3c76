"""Size limits: a body over NEXTREAD_MAX_REQUEST_BYTES (declared or streamed) and a field over
NEXTREAD_MAX_FIELD_CHARS are answered 413 naming the limit, and nothing is stored."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.types import Message, Receive, Scope, Send

from nextread.api.limits import LimitBodySize
from nextread.app import create_app
from nextread.config import Settings
from tests.conftest import ADMIN_KEY

MAX_BODY = 20_000


@pytest.fixture
def limited(settings: Settings) -> Iterator[TestClient]:
    small = settings.model_copy(update={"max_request_bytes": MAX_BODY, "max_field_chars": 1_000})
    with TestClient(create_app(small)) as client:
        client.headers["Authorization"] = f"Bearer {ADMIN_KEY}"
        yield client


def nothing_stored(client: TestClient) -> bool:
    return all(client.get(path).json()["data"] == [] for path in ("/v1/items", "/v1/users", "/v1/groups"))


def test_a_body_over_the_limit_is_413_naming_the_limit(limited: TestClient) -> None:
    book = {"id": "b1", "title": "Holes", "description": "x" * (MAX_BODY + 10)}
    response = limited.post("/v1/items", json=book)
    assert response.status_code == 413
    assert str(MAX_BODY) in response.text and "NEXTREAD_MAX_REQUEST_BYTES" in response.text
    assert nothing_stored(limited)


def test_a_streamed_body_without_content_length_is_cut_off_at_the_limit(limited: TestClient) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"id": "b1", "title": "Holes", "description": "'
        for _ in range(200):
            yield b"x" * 1000
        yield b'"}'

    response = limited.post("/v1/items", content=chunks(), headers={"Content-Type": "application/json"})
    assert response.status_code == 413
    assert str(MAX_BODY) in response.text
    assert nothing_stored(limited)


def test_a_body_under_the_limit_is_served(limited: TestClient) -> None:
    response = limited.post("/v1/items", json={"id": "b1", "title": "Holes", "description": "x" * 900})
    assert response.status_code == 201, response.text


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/v1/items", {"id": "b1", "title": "Holes", "extra": {"notes": "x" * 2_000}}),
        ("PUT", "/v1/items/b1", {"id": "b1", "title": "Holes", "extra": {"notes": "x" * 2_000}}),
        ("POST", "/v1/users", {"id": "st-1", "extra": {"notes": ["x" * 100] * 20}}),
        ("POST", "/v1/groups", {"id": "g1", "name": "Class", "extra": {"notes": "x" * 2_000}}),
    ],
)
def test_a_field_over_the_limit_is_413_naming_the_field(
    limited: TestClient, method: str, path: str, body: dict[str, object]
) -> None:
    response = limited.request(method, path, json=body)
    assert response.status_code == 413, response.text
    detail = response.json()["detail"]
    assert "extra" in str(detail) and "1000" in str(detail) and "NEXTREAD_MAX_FIELD_CHARS" in str(detail)
    assert nothing_stored(limited)


@pytest.mark.parametrize("path", ["/v1/items/b1", "/v1/groups/g1"])
def test_a_patch_cannot_grow_a_field_over_the_limit(limited: TestClient, path: str) -> None:
    assert limited.post("/v1/items", json={"id": "b1", "title": "Holes"}).status_code == 201
    assert limited.post("/v1/groups", json={"id": "g1", "name": "Class"}).status_code == 201
    response = limited.patch(path, json={"extra": {"notes": "x" * 2_000}})
    assert response.status_code == 413, response.text
    assert limited.get(path).json()["extra"] == {}


def test_the_413_is_documented_for_operations_with_a_body(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert "413" in paths["/v1/items"]["post"]["responses"]
    assert "413" in paths["/v1/items/{external_id}"]["patch"]["responses"]
    assert "413" in paths["/v1/interactions/batch"]["post"]["responses"]
    assert "413" not in paths["/v1/items/{external_id}"]["get"]["responses"]


def test_the_middleware_stops_reading_a_chunked_body_at_the_limit() -> None:
    """No Content-Length: the body is read chunk by chunk and reading stops at the first chunk past it."""
    pulled: list[int] = []
    sent: list[Message] = []

    async def receive() -> Message:
        pulled.append(1)
        return {"type": "http.request", "body": b"x" * 1000, "more_body": len(pulled) < 1000}

    async def send(message: Message) -> None:
        sent.append(message)

    async def endpoint(scope: Scope, receive: Receive, send: Send) -> None:
        body = await Request(scope, receive).body()
        await PlainTextResponse(f"read {len(body)}")(scope, receive, send)

    middleware = LimitBodySize(endpoint, max_request_bytes=5_500, max_upload_bytes=10**9)
    scope = {"type": "http", "method": "POST", "path": "/v1/items", "headers": [], "query_string": b""}
    asyncio.run(middleware(scope, receive, send))
    assert len(pulled) == 6
    assert sent[0]["status"] == 413 and b"5500" in sent[1]["body"]
