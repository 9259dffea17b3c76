"""How big a field is, measured one way for imported rows and API requests, so the same
``NEXTREAD_MAX_FIELD_CHARS`` means the same thing in both; and the refusal of a request body over its
byte limit, which the API and the dashboard's uploads share."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from fastapi import HTTPException, status

FIELD_LIMIT_SETTING = "NEXTREAD_MAX_FIELD_CHARS"


def field_chars(value: Any) -> int:
    """Text counts its characters; lists and objects (``extra``, ``tags``) the characters of their JSON
    text, as they are stored and served; numbers and booleans are small by nature and count 0."""
    if isinstance(value, str):
        return len(value)
    if isinstance(value, list | dict):
        return len(json.dumps(value, default=str, ensure_ascii=False))
    return 0


def oversized_field(values: Mapping[str, Any], max_chars: int) -> tuple[str, int] | None:
    """The first field over the limit and its size, or None."""
    for name, value in values.items():
        size = field_chars(value)
        if size > max_chars:
            return str(name), size
    return None


def field_limit_reason(size: int, max_chars: int) -> str:
    return f"{size} characters, more than the limit of {max_chars} ({FIELD_LIMIT_SETTING})"


class BodyTooLarge(HTTPException):
    """An HTTPException, so FastAPI passes it through its body reading and the app answers it like any
    other error; :class:`LimitBodySize` answers it itself if nothing else did."""

    def __init__(self, limit: int, setting: str) -> None:
        super().__init__(
            status.HTTP_413_CONTENT_TOO_LARGE,
            f"request body is larger than the limit of {limit} bytes ({setting})",
        )


def body_too_large(exc: BaseException) -> BodyTooLarge | None:
    """The :class:`BodyTooLarge` behind ``exc``: middleware that reads the body in a task group
    (Starlette's ``BaseHTTPMiddleware``, which NiceGUI uses) raises it inside an exception group."""
    if isinstance(exc, BodyTooLarge):
        return exc
    if isinstance(exc, BaseExceptionGroup):
        return next(filter(None, map(body_too_large, exc.exceptions)), None)
    return None
