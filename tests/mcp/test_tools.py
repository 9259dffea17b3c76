"""Every MCP tool called in-process through the SDK's client, with good and bad arguments."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from mcp import Client

from tests.mcp.conftest import data, error_text
from tests.school import CLASS, DRAGONS, FAN, SPACE

pytestmark = pytest.mark.anyio
TOOLS = (
    "search_catalog",
    "get_recommendations_for_student",
    "explain_recommendation",
    "get_student_reading_level",
    "get_book_recommendations_for_group",
    "find_similar_students",
    "query_checkout_history",
    "enrich_book_metadata",
)


async def test_every_tool_is_listed_with_a_description_and_typed_schemas(mcp_reader: Client) -> None:
    tools = {tool.name: tool for tool in (await mcp_reader.list_tools()).tools}
    assert set(tools) == set(TOOLS)
    for tool in tools.values():
        assert tool.description and len(tool.description) > 40, tool.name
        assert tool.input_schema["type"] == "object"
        assert tool.output_schema is not None, tool.name
        assert "ctx" not in tool.input_schema["properties"]


async def test_recommendations_for_a_student_fit_their_shelf_and_skip_what_they_read(
    mcp_reader: Client,
) -> None:
    out = data(
        await mcp_reader.call_tool(
            "get_recommendations_for_student", {"student_id": FAN, "n": 3, "diversity": 0}
        )
    )
    ids = [book["id"] for book in out["books"]]
    assert len(ids) == 3 and set(ids) <= set(DRAGONS[2:]), ids
    assert out["ranked_by"] == "engine"
    assert out["student_id"] == FAN and out["model_version"] == 1
    assert all(book["explanation"] for book in out["books"])
    assert out["books"][0]["components"]["cf"] > 0


async def test_tag_filters_reach_the_engine(mcp_reader: Client) -> None:
    arguments = {"student_id": FAN, "n": 5, "include_tags": ["space"]}
    out = data(await mcp_reader.call_tool("get_recommendations_for_student", arguments))
    assert {book["id"] for book in out["books"]} <= set(SPACE)


async def test_unknown_student_is_a_tool_error_naming_the_id(mcp_reader: Client) -> None:
    for tool in ("get_recommendations_for_student", "get_student_reading_level"):
        message = error_text(await mcp_reader.call_tool(tool, {"student_id": "nobody-42"}))
        assert "student_id" in message and "nobody-42" in message, message
    message = error_text(
        await mcp_reader.call_tool(
            "explain_recommendation", {"student_id": "nobody-42", "book_id": DRAGONS[0]}
        )
    )
    assert "nobody-42" in message


@pytest.mark.parametrize(
    "arguments, field",
    [
        ({"student_id": FAN, "n": 0}, "n"),
        ({"student_id": FAN, "n": "many"}, "n"),
        ({"n": 3}, "student_id"),
        ({"student_id": ""}, "student_id"),
        ({"student_id": FAN, "include_tags": "dragons"}, "include_tags"),
    ],
)
async def test_bad_arguments_are_tool_errors_naming_the_argument(
    mcp_reader: Client, arguments: dict, field: str
) -> None:
    message = error_text(await mcp_reader.call_tool("get_recommendations_for_student", arguments))
    assert field in message, message


async def test_explain_a_recommended_book_matches_the_list(mcp_reader: Client) -> None:
    listed = data(await mcp_reader.call_tool("get_recommendations_for_student", {"student_id": FAN, "n": 1}))
    top = listed["books"][0]
    out = data(
        await mcp_reader.call_tool("explain_recommendation", {"student_id": FAN, "book_id": top["id"]})
    )
    assert out["rank"] == 1 and out["excluded_because"] is None
    assert out["candidates"] >= 4
    assert out["explanation"] == top["explanation"]
    assert out["score"] == pytest.approx(top["score"], abs=1e-6)


async def test_explain_a_book_the_student_read_names_the_rule(mcp_reader: Client) -> None:
    out = data(
        await mcp_reader.call_tool("explain_recommendation", {"student_id": FAN, "book_id": DRAGONS[0]})
    )
    assert out["rank"] is None
    assert out["excluded_because"] == "the reader has already read it"
    assert out["explanation"] and out["components"]  # scored as if allowed


async def test_explain_a_book_the_student_dismissed_says_so(mcp_reader: Client, school: TestClient) -> None:
    event = {"user_id": FAN, "item_id": SPACE[0], "type": "dismiss", "event_id": "fan-dismisses-space"}
    assert school.post("/v1/interactions", json=event).status_code == 201
    arguments = {"student_id": FAN, "book_id": SPACE[0]}
    out = data(await mcp_reader.call_tool("explain_recommendation", arguments))
    assert out["rank"] is None
    assert out["excluded_because"] == "the reader dismissed it (not for me)"


async def test_unknown_ids_have_one_wording_in_rest_and_mcp(mcp_reader: Client, school: TestClient) -> None:
    rest = school.get("/v1/users/nobody-42/recommendations")
    assert rest.status_code == 404
    assert rest.json()["detail"] == "user_id: unknown user 'nobody-42'"
    assert rest.headers["content-type"] == "application/problem+json"
    message = error_text(await mcp_reader.call_tool("get_student_reading_level", {"student_id": "nobody-42"}))
    assert message.endswith(": student_id: unknown user 'nobody-42'")


async def test_explain_an_unknown_book_is_a_tool_error(mcp_reader: Client) -> None:
    message = error_text(
        await mcp_reader.call_tool("explain_recommendation", {"student_id": FAN, "book_id": "no-such-book"})
    )
    assert "book_id" in message and "no-such-book" in message


async def test_student_reading_level_with_evidence_and_bands(mcp_reader: Client) -> None:
    out = data(await mcp_reader.call_tool("get_student_reading_level", {"student_id": FAN}))
    assert out["user_id"] == FAN
    assert out["level"] is not None and 0 < out["confidence"] <= 1
    assert out["evidence"]
    assert out["just_right"]["low"] < out["level"] < out["just_right"]["high"]
    lexile = data(
        await mcp_reader.call_tool("get_student_reading_level", {"student_id": FAN, "scale": "lexile"})
    )
    assert lexile["shown"]["scale"] == "lexile"
    message = error_text(
        await mcp_reader.call_tool("get_student_reading_level", {"student_id": FAN, "scale": "stars"})
    )
    assert "scale" in message


async def test_a_class_list_covers_the_class_and_reports_each_students_fit(mcp_reader: Client) -> None:
    out = data(await mcp_reader.call_tool("get_book_recommendations_for_group", {"class_id": CLASS, "n": 6}))
    assert out["group_id"] == CLASS and out["metrics"]["students"] == 9
    assert 0 < len(out["data"]) <= 6
    book = out["data"][0]
    assert {student["id"] for student in book["students"]} >= {FAN}
    assert book["explanation"]


async def test_class_list_errors_name_the_argument(mcp_reader: Client) -> None:
    message = error_text(
        await mcp_reader.call_tool("get_book_recommendations_for_group", {"class_id": "class-9z"})
    )
    assert "class-9z" in message
    bad = {"class_id": CLASS, "strategy": "loudest"}
    assert "strategy" in error_text(await mcp_reader.call_tool("get_book_recommendations_for_group", bad))


async def test_similar_students_read_the_same_shelf(mcp_reader: Client) -> None:
    out = data(await mcp_reader.call_tool("find_similar_students", {"student_id": FAN, "n": 4}))
    assert out["student_id"] == FAN
    assert {student["id"] for student in out["students"]} == {f"st-{n}" for n in range(4)}
    assert all(student["shared_books"] == 2 for student in out["students"])
    message = error_text(await mcp_reader.call_tool("find_similar_students", {"student_id": "ghost"}))
    assert "student_id" in message and "ghost" in message


async def test_checkout_history_per_student_class_and_book(mcp_reader: Client) -> None:
    kinds = {"types": ["finished", "abandoned"]}
    student = data(await mcp_reader.call_tool("query_checkout_history", {"student_id": FAN, **kinds}))
    assert student["totals"] == {"events": 3, "readers": 1, "books": 3}
    assert {event["item_id"] for event in student["data"]} == {DRAGONS[0], DRAGONS[1], SPACE[5]}
    whole_class = data(await mcp_reader.call_tool("query_checkout_history", {"class_id": CLASS, **kinds}))
    assert whole_class["totals"]["readers"] == 9
    book = data(await mcp_reader.call_tool("query_checkout_history", {"book_id": DRAGONS[0], **kinds}))
    assert book["totals"]["readers"] == 5
    assert book["top_books"][0]["id"] == DRAGONS[0]


@pytest.mark.parametrize(
    "arguments, expected",
    [
        ({"student_id": "ghost"}, "student_id: unknown user 'ghost'"),
        ({"class_id": "class-9z"}, "class_id"),
        ({"book_id": "no-book"}, "book_id"),
        ({"bucket": "fortnight"}, "bucket"),
        ({"since": "2026-05-01T00:00:00", "until": "2026-01-01T00:00:00"}, "since"),
        ({"limit": 0}, "limit"),
    ],
)
async def test_checkout_history_errors_name_the_argument(
    mcp_reader: Client, arguments: dict, expected: str
) -> None:
    assert expected in error_text(await mcp_reader.call_tool("query_checkout_history", arguments))


async def test_search_finds_books_by_words_and_meaning_with_filters(mcp_reader: Client) -> None:
    out = data(await mcp_reader.call_tool("search_catalog", {"query": "dragon egg", "limit": 5}))
    assert out["data"] and all(hit["id"] in DRAGONS for hit in out["data"][:3])
    rockets = data(await mcp_reader.call_tool("search_catalog", {"query": "astronauts on the moon"}))
    assert rockets["data"][0]["id"] in SPACE
    tagged = data(await mcp_reader.call_tool("search_catalog", {"query": "books", "tags": ["space"]}))
    assert tagged["data"] and {hit["id"] for hit in tagged["data"]} <= set(SPACE)
    parsed = data(await mcp_reader.call_tool("search_catalog", {"query": "dragon books for a 2nd grader"}))
    assert parsed["filters"]["grade"] == 2 and parsed["text"] == "dragon books"


@pytest.mark.parametrize(
    "arguments, field",
    [({"query": ""}, "query"), ({"query": "x", "limit": 0}, "limit"), ({"query": "x", "grade": 40}, "grade")],
)
async def test_search_errors_name_the_argument(mcp_reader: Client, arguments: dict, field: str) -> None:
    assert field in error_text(await mcp_reader.call_tool("search_catalog", arguments))


async def test_search_level_range_must_be_ordered(mcp_reader: Client) -> None:
    arguments = {"query": "dragons", "level_min": 4, "level_max": 1}
    assert "level_min" in error_text(await mcp_reader.call_tool("search_catalog", arguments))
