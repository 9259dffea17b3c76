"""Rows stored before today's input rules (by an older release) are still readable: an upgrade never
turns a stored row into a 500, even though the same values are now refused on the way in."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import text

from tests.conftest import Database


def _store_legacy_values(database: Database) -> None:
    """What older releases let through: a control character in a title, and on SQLite a NaN in extra."""
    extra = '{"score": NaN}' if database.dialect == "sqlite" else '{"note": "ok"}'
    with database.engine.begin() as connection:
        connection.execute(
            text("UPDATE items SET title = :title, extra = :extra WHERE external_id = 'old'"),
            {"title": "Old\x07Book", "extra": extra},
        )
        connection.execute(text("UPDATE users SET display_name = 'Bell\x07' WHERE external_id = 'u-old'"))


def test_a_row_that_breaks_todays_rules_is_still_answered(client: TestClient, database: Database) -> None:
    assert client.post("/v1/items", json={"id": "old", "title": "Old book"}).status_code == 201
    assert client.post("/v1/users", json={"id": "u-old"}).status_code == 201
    _store_legacy_values(database)

    item = client.get("/v1/items/old")
    assert item.status_code == 200 and item.json()["title"] == "Old\x07Book"
    if database.dialect == "sqlite":
        assert item.json()["extra"] == {"score": None}  # valid JSON: a non-finite number is written as null
    listed = client.get("/v1/items")
    assert listed.status_code == 200 and [row["id"] for row in listed.json()["data"]] == ["old"]
    user = client.get("/v1/users/u-old")
    assert user.status_code == 200 and user.json()["display_name"] == "Bell\x07"
    # The same value sent again is refused, naming the field.
    refused = client.put("/v1/items/old", json={"id": "old", "title": "Old\x07Book"})
    assert refused.status_code == 422 and refused.json()["detail"].startswith("title")
