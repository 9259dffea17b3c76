"""MCP tools take ids and times under the API's rules: a bad one is a tool error naming the argument."""

from __future__ import annotations

from typing import Any

import pytest
from mcp import Client

from tests.mcp.conftest import error_text
from tests.school import FAN

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize(
    ("tool", "arguments", "argument"),
    [
        ("get_recommendations_for_student", {"student_id": "a\x00b"}, "student_id"),
        ("get_student_reading_level", {"student_id": ".."}, "student_id"),
        ("explain_recommendation", {"student_id": FAN, "book_id": "b\x00"}, "book_id"),
        ("query_checkout_history", {"book_id": "b\x00"}, "book_id"),
        ("query_checkout_history", {"since": "0001-01-01T00:00:00+14:00"}, "since"),
        ("query_checkout_history", {"until": "9999-12-31T23:59:59Z"}, "until"),
        ("query_checkout_history", {"cursor": "OTk5OTk5OTk5OTk5OTk5OTk5OTk5OTk5OTk5"}, "cursor"),
    ],
)
async def test_bad_arguments_are_tool_errors_naming_them(
    mcp_reader: Client, tool: str, arguments: dict[str, Any], argument: str
) -> None:
    message = error_text(await mcp_reader.call_tool(tool, arguments))
    assert argument in message, message
