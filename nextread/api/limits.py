"""Size limits of requests: the whole body (``NEXTREAD_MAX_REQUEST_BYTES``, or
``NEXTREAD_MAX_UPLOAD_BYTES`` for the dashboard's file uploads) and each field of a written object
(``NEXTREAD_MAX_FIELD_CHARS``). Both answer 413 with the limit in the message, before anything is stored.
"""

from __future__ import annotations

import re

from fastapi import HTTPException, Request, status
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from nextread.api.errors import problem_response
from nextread.sizes import BodyTooLarge, body_too_large, field_limit_reason, oversized_field

# NiceGUI's ui.upload posts each file to /_nicegui/client/<client>/upload/<element> (under /ui here).
UPLOAD_PATH = re.compile(r"/_nicegui/client/[^/]+/upload/[^/]+$")
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH"})


class LimitBodySize:
    """Counts a request body's bytes as they arrive, as a plain ASGI middleware: a body sent without
    Content-Length (chunked) is cut off like one that declares its size: reading stops at the first
    chunk past the limit. A declared size over the limit fails the first read, so nothing is read."""

    def __init__(self, app: ASGIApp, max_request_bytes: int, max_upload_bytes: int) -> None:
        self.app = app
        self.max_request_bytes = max_request_bytes
        self.max_upload_bytes = max_upload_bytes

    def _limit(self, path: str) -> tuple[int, str]:
        if UPLOAD_PATH.search(path):
            return self.max_upload_bytes, "NEXTREAD_MAX_UPLOAD_BYTES"
        return self.max_request_bytes, "NEXTREAD_MAX_REQUEST_BYTES"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit, setting = self._limit(scope["path"])
        declared = _content_length(scope)
        received = 0
        started = False

        async def counted_receive() -> Message:
            nonlocal received
            if declared is not None and declared > limit:
                raise BodyTooLarge(limit, setting)
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit, setting)
            return message

        async def watched_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted_receive, watched_send)
        except Exception as exc:
            too_large = body_too_large(exc)
            if too_large is None or started:
                raise
            answer = problem_response(scope["path"], too_large.status_code, too_large.detail)
            await answer(scope, receive, send)


def _content_length(scope: Scope) -> int | None:
    value = Headers(scope=scope).get("content-length")
    return int(value) if value is not None and value.isdigit() else None


async def fields_within_limit(request: Request) -> None:
    """A router dependency for writes: each top-level field of the JSON body (text, list, or object such
    as ``extra``, measured as JSON text) must fit ``NEXTREAD_MAX_FIELD_CHARS``. It runs before the body
    is validated, on the JSON FastAPI has already parsed."""
    if request.method not in WRITE_METHODS:
        return
    try:
        body = await request.json()
    except ValueError:
        return  # not JSON: the body's validation says so
    if not isinstance(body, dict):
        return
    limit = request.app.state.settings.intake.max_field_chars
    found = oversized_field(body, limit)
    if found is not None:
        name, size = found
        raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, f"{name}: {field_limit_reason(size, limit)}")
