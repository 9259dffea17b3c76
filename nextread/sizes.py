"""How big a field is, measured one way for imported rows and API requests, so the same
``NEXTREAD_MAX_FIELD_CHARS`` means the same thing in both."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

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
