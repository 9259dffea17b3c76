"""Bad input (issue 24, items 5, 6, 9, 12): every request here is refused with a 4xx naming the field,
on SQLite and PostgreSQL, and the tenant's stored rows are the same afterwards."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from nextread.store.models import Group, GroupMember, Interaction, Item, User
from tests.conftest import READ_KEY, Database
from tests.school import CLASS, DRAGONS, FAN, build_school

HUGE_CURSOR = "OTk5OTk5OTk5OTk5OTk5OTk5OTk5OTk5OTk5"  # base64 of 30 nines
BOOK = {"id": "ok-book", "title": "A Fine Book", "grade_min": 1, "grade_max": 3, "extra": {"shelf": "F"}}
EVENT = {"user_id": FAN, "item_id": DRAGONS[0], "type": "like"}


def assert_refused(response: Response, field: str) -> None:
    assert 400 <= response.status_code < 500, (response.status_code, response.text)
    assert field in response.text, response.text


def raw_json(client: TestClient, method: str, path: str, text: str) -> Response:
    """JSON the standard library writes but the JSON spec forbids (NaN, Infinity) goes as raw text."""
    return client.request(method, path, content=text, headers={"Content-Type": "application/json"})


@pytest.fixture
def school(client: TestClient) -> TestClient:
    build_school(client)
    assert client.post("/v1/items", json=BOOK).status_code == 201
    # trained before the dump: training (which also estimates books' levels) is not a bad input's doing
    assert client.get(f"/v1/users/{FAN}/recommendations").status_code == 200
    return client


def reader(client: TestClient) -> TestClient:
    return TestClient(
        client.app, headers={"Authorization": f"Bearer {READ_KEY}"}, raise_server_exceptions=False
    )


# (description, request, field the answer must name)
BadRequest = tuple[str, Callable[[TestClient], Response], str]

BAD_REQUESTS: list[BadRequest] = [
    ("NUL in an id", lambda c: c.post("/v1/items", json={**BOOK, "id": "a\x00b"}), "id"),
    ("escape in an id", lambda c: c.post("/v1/users", json={"id": "u\x1b[31m"}), "id"),
    ("id '.'", lambda c: c.post("/v1/items", json={**BOOK, "id": "."}), "id"),
    ("id '..'", lambda c: c.post("/v1/users", json={"id": ".."}), "id"),
    ("NUL in a title", lambda c: c.post("/v1/items", json={**BOOK, "id": "n1", "title": "A\x00B"}), "title"),
    (
        "bell in a name",
        lambda c: c.post("/v1/users", json={"id": "u1", "display_name": "Ada\x07"}),
        "display_name",
    ),
    (
        "NUL in a description",
        lambda c: c.post("/v1/items", json={**BOOK, "id": "n2", "description": "x\x00"}),
        "description",
    ),
    ("NUL in a tag", lambda c: c.post("/v1/items", json={**BOOK, "id": "n3", "tags": ["a\x00"]}), "tags"),
    ("NUL in a group name", lambda c: c.post("/v1/groups", json={"id": "g1", "name": "G\x00"}), "name"),
    (
        "NUL in an interaction type",
        lambda c: c.post("/v1/interactions", json={**EVENT, "type": "li\x00ke"}),
        "type",
    ),
    (
        "NaN in extra",
        lambda c: raw_json(c, "POST", "/v1/items", '{"id": "n4", "title": "T", "extra": {"a": NaN}}'),
        "extra",
    ),
    (
        "Infinity deep in extra",
        lambda c: raw_json(c, "POST", "/v1/users", '{"id": "n5", "extra": {"a": [1, {"b": -Infinity}]}}'),
        "extra",
    ),
    (
        "NUL in a key of extra",
        lambda c: c.post("/v1/items", json={**BOOK, "id": "n6", "extra": {"a\x00": 1}}),
        "extra",
    ),
    (
        "NUL in a value of extra",
        lambda c: c.post("/v1/groups", json={"id": "g2", "name": "G", "extra": {"a": "\x00"}}),
        "extra",
    ),
    (
        "NaN by PUT",
        lambda c: raw_json(c, "PUT", "/v1/items/n7", '{"id": "n7", "title": "T", "extra": {"a": NaN}}'),
        "extra",
    ),
    (
        "NaN by PATCH",
        lambda c: raw_json(c, "PATCH", "/v1/items/ok-book", '{"extra": {"a": NaN}}'),
        "extra",
    ),
    (
        "Infinity as a series position",
        lambda c: raw_json(c, "POST", "/v1/items", '{"id": "n8", "title": "T", "series_position": Infinity}'),
        "series_position",
    ),
    (
        "integer beyond 64 bits",
        lambda c: c.post("/v1/items", json={**BOOK, "id": "n9", "available_copies": 2**70}),
        "available_copies",
    ),
    (
        "integer beyond the column",
        lambda c: c.patch("/v1/items/ok-book", json={"ratings_count": 2**40}),
        "ratings_count",
    ),
    ("NUL in a looked-up id", lambda c: reader(c).get("/v1/items/a%00b"), "item"),
    ("NUL in a looked-up group", lambda c: reader(c).get("/v1/groups/a%00b"), "group"),
    ("NUL in a user's recommendations", lambda c: reader(c).get("/v1/users/a%00b/recommendations"), "user"),
    ("NUL in a search", lambda c: reader(c).get("/v1/search", params={"q": "dragon\x00"}), "q"),
    ("NUL in a history filter", lambda c: reader(c).get("/v1/history", params={"user": "a\x00"}), "user"),
    (
        "NUL in a history type",
        lambda c: reader(c).get("/v1/history", params={"type": "checkout,\x00"}),
        "type",
    ),
    (
        "NUL in a user's history type",
        lambda c: reader(c).get(f"/v1/users/{FAN}/history", params={"type": "\x00"}),
        "type",
    ),
    ("NUL in a similar item", lambda c: reader(c).get("/v1/items/a%00/similar"), "item"),
    ("NUL in a reading level", lambda c: reader(c).get("/v1/users/a%00/reading-level"), "user"),
    ("NUL in a class list", lambda c: reader(c).get("/v1/groups/a%00/recommendations"), "group"),
    ("NUL in similar readers", lambda c: reader(c).get("/v1/users/a%00/similar"), "user"),
    ("huge cursor, items", lambda c: reader(c).get("/v1/items", params={"cursor": HUGE_CURSOR}), "cursor"),
    ("huge cursor, users", lambda c: reader(c).get("/v1/users", params={"cursor": HUGE_CURSOR}), "cursor"),
    ("huge cursor, groups", lambda c: reader(c).get("/v1/groups", params={"cursor": HUGE_CURSOR}), "cursor"),
    (
        "huge cursor, a user's history",
        lambda c: reader(c).get(f"/v1/users/{FAN}/history", params={"cursor": HUGE_CURSOR}),
        "cursor",
    ),
    (
        "huge cursor, history",
        lambda c: reader(c).get("/v1/history", params={"cursor": HUGE_CURSOR}),
        "cursor",
    ),
    ("negative cursor", lambda c: reader(c).get("/v1/items", params={"cursor": "LTU"}), "cursor"),
    (
        "event in year 9999",
        lambda c: c.post("/v1/interactions", json={**EVENT, "timestamp": "9999-12-31T23:59:59Z"}),
        "timestamp",
    ),
    (
        "event in year 1",
        lambda c: c.post("/v1/interactions", json={**EVENT, "timestamp": "0001-01-01T00:00:00+14:00"}),
        "timestamp",
    ),
    (
        "event before 1970",
        lambda c: c.post("/v1/interactions", json={**EVENT, "timestamp": "1969-12-31T23:59:59Z"}),
        "timestamp",
    ),
    (
        "event next year",
        lambda c: c.post("/v1/interactions", json={**EVENT, "timestamp": "2999-01-01T00:00:00Z"}),
        "timestamp",
    ),
    (
        "history since year 1",
        lambda c: reader(c).get("/v1/history", params={"since": "0001-01-01T00:00:00+14:00"}),
        "since",
    ),
    (
        "history until year 9999",
        lambda c: reader(c).get("/v1/history", params={"until": "9999-12-31T23:59:59Z"}),
        "until",
    ),
    (
        "a user's history since year 1",
        lambda c: reader(c).get(f"/v1/users/{FAN}/history", params={"since": "0001-01-01T00:00:00+14:00"}),
        "since",
    ),
    (
        "weights cf:inf",
        lambda c: reader(c).get(f"/v1/users/{FAN}/recommendations", params={"weights": "cf:inf"}),
        "weights",
    ),
    (
        "weights cf:nan",
        lambda c: reader(c).post("/v1/recommendations", params={"weights": "cf:nan"}, json={}),
        "weights",
    ),
    (
        "weights as JSON with Infinity",
        lambda c: reader(c).get(f"/v1/users/{FAN}/recommendations", params={"weights": '{"cf": Infinity}'}),
        "weights",
    ),
    (
        "PATCH a group's name to '' with members",
        lambda c: c.patch(f"/v1/groups/{CLASS}", json={"name": "", "members": []}),
        "name",
    ),
    ("PATCH a group's name to ''", lambda c: c.patch(f"/v1/groups/{CLASS}", json={"name": ""}), "name"),
    ("PATCH a group's name to null", lambda c: c.patch(f"/v1/groups/{CLASS}", json={"name": None}), "name"),
    ("PATCH an item's title to ''", lambda c: c.patch("/v1/items/ok-book", json={"title": ""}), "title"),
    (
        "PATCH an item's title to blanks",
        lambda c: c.patch("/v1/items/ok-book", json={"title": "   "}),
        "title",
    ),
    (
        "PATCH lowest grade above highest",
        lambda c: c.patch("/v1/items/ok-book", json={"grade_min": 5}),
        "grade_min",
    ),
    (
        "POST lowest grade above highest",
        lambda c: c.post("/v1/items", json={**BOOK, "id": "n10", "grade_min": 4, "grade_max": 2}),
        "grade_min",
    ),
    (
        "PUT lowest age above highest",
        lambda c: c.put("/v1/items/ok-book", json={**BOOK, "age_min": 9, "age_max": 6}),
        "age_min",
    ),
    (
        "rating without a value",
        lambda c: c.post("/v1/interactions", json={**EVENT, "type": "rating"}),
        "value",
    ),
    (
        "rating with a null value",
        lambda c: c.post("/v1/interactions", json={**EVENT, "type": "rating", "value": None}),
        "value",
    ),
]


def tenant_dump(database: Database) -> dict[str, list[Any]]:
    """Every row of the tenant's tables, every column."""
    dump: dict[str, list[Any]] = {}
    with Session(database.engine) as session:
        for model in (Item, User, Group, GroupMember, Interaction):
            table = model.__table__
            order = [column for column in table.primary_key.columns]
            rows = session.execute(select(table).order_by(*order)).all()
            dump[table.name] = [tuple(row) for row in rows]
    return dump


def test_bad_input_is_refused_naming_the_field_and_stores_nothing(
    school: TestClient, database: Database
) -> None:
    """One school for all the cases (building it is most of the time); each case is reported by name."""
    before = tenant_dump(database)
    wrong = []
    unraised = TestClient(school.app, headers=school.headers, raise_server_exceptions=False)
    for label, send, field in BAD_REQUESTS:
        answer = send(unraised)
        if not (400 <= answer.status_code < 500 and field in answer.text):
            wrong.append((label, answer.status_code, answer.text[:200]))
    batch = [
        {**EVENT, "timestamp": "9999-12-31T23:59:59Z"},
        {**EVENT, "timestamp": "0001-01-01T00:00:00+14:00"},
        {**EVENT, "type": "rating"},
        {**EVENT, "user_id": "a\x00b"},
    ]
    rejected = school.post("/v1/interactions/batch", json=batch).json()["rejected"]
    assert wrong == []
    assert tenant_dump(database) == before
    assert [(row["index"], row["field"]) for row in rejected] == [
        (0, "timestamp"),
        (1, "timestamp"),
        (2, "value"),
        (3, "user_id"),
    ]
    exported = school.get("/v1/items", params={"limit": 1000}).text
    json.loads(exported, parse_constant=lambda name: pytest.fail(f"{name} in the JSON"))


def test_good_input_beside_the_rules_is_still_accepted(school: TestClient) -> None:
    """The rules refuse only what they must: tabs and newlines in long text, a dot inside an id,
    an event an hour ahead of the server's clock (clock skew), a rating with its value."""
    book = {**BOOK, "id": "v1.2", "description": "Line one\n\tLine two", "extra": {"big": 2**53}}
    assert school.post("/v1/items", json=book).status_code == 201
    assert school.patch("/v1/items/v1.2", json={"grade_min": 2}).json()["grade_min"] == 2
    assert school.patch("/v1/items/v1.2", json={"grade_max": None}).json()["grade_max"] is None
    assert school.patch(f"/v1/groups/{CLASS}", json={"name": "Renamed"}).json()["name"] == "Renamed"
    rating = {**EVENT, "type": "rating", "value": 4, "timestamp": "2024-05-01T10:00:00-03:00"}
    assert school.post("/v1/interactions", json=rating).status_code == 201
    page = reader(school).get("/v1/items", params={"limit": 2}).json()
    assert reader(school).get("/v1/items", params={"cursor": page["next_cursor"]}).status_code == 200


def test_history_with_an_old_since_and_a_late_until_works(school: TestClient) -> None:
    answer = reader(school).get(
        "/v1/history", params={"since": "1970-01-01T00:00:00Z", "until": "2099-12-31T00:00:00Z"}
    )
    assert answer.status_code == 200, answer.text


def test_anonymous_reader_takes_n_in_the_body(school: TestClient) -> None:
    answer = school.post("/v1/recommendations", json={"n": 3, "grade": 2})
    assert answer.status_code == 200, answer.text
    assert len(answer.json()["data"]) == 3
    conflicting = school.post("/v1/recommendations", params={"n": 5}, json={"n": 3})
    assert_refused(conflicting, "n")
    assert_refused(school.post("/v1/recommendations", json={"n": 0}), "n")


@pytest.mark.parametrize(
    ("level", "expected_first"),
    [
        ({"lexile": "450L"}, {"lexile": 450}),
        ({"lexile": "BR100L"}, {"lexile": -100}),
        ({"lexile": "lexile 450"}, {"lexile": 450}),
        ({"guided_reading_level": "level M"}, {"guided_reading_level": "M"}),
        ({"grade": "2nd grade"}, {"grade": 2}),
        ({"level": "ATOS 3.4"}, {"level": "book level 3.4"}),
        ({"level": "540L"}, {"lexile": 540}),
    ],
)
def test_anonymous_reader_takes_every_level_notation_search_takes(
    school: TestClient, level: dict[str, Any], expected_first: dict[str, Any]
) -> None:
    written = school.post("/v1/recommendations", json={**level, "n": 5})
    plain = school.post("/v1/recommendations", json={**expected_first, "n": 5})
    assert written.status_code == 200, written.text
    assert written.json()["data"] == plain.json()["data"]


def test_anonymous_reader_with_a_bad_level_is_refused(school: TestClient) -> None:
    assert_refused(school.post("/v1/recommendations", json={"lexile": "tall"}), "lexile")
    assert_refused(school.post("/v1/recommendations", json={"level": "purple"}), "level")


def test_empty_body_never_claims_your_level(school: TestClient) -> None:
    answer = school.post("/v1/recommendations", json={}, params={"n": 20})
    assert answer.status_code == 200, answer.text
    explanations = [item["explanation"] or "" for item in answer.json()["data"]]
    assert explanations and not any(
        "your level" in text or "your reading level" in text for text in explanations
    )
