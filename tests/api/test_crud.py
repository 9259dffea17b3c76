"""CRUD, pagination and error paths for items, users and groups, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

BOOK = {
    "id": "bk-1",
    "title": "The Dragon Egg",
    "authors": ["Ada Quill"],
    "tags": ["dragons", "fantasy"],
    "lexile": 450,
    "guided_reading_level": "k",
    "grade_min": "1st",
    "grade_max": 3,
    "staff_pick": True,
    "available_copies": 2,
    "extra": {"shelf": "F QUI"},
}


def test_item_lifecycle(client: TestClient) -> None:
    created = client.post("/v1/items", json=BOOK)
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["id"] == "bk-1"
    assert body["guided_reading_level"] == "K"
    assert body["grade_min"] == 1
    assert body["extra"] == {"shelf": "F QUI"}

    assert client.get("/v1/items/bk-1").json()["title"] == "The Dragon Egg"
    patched = client.patch("/v1/items/bk-1", json={"available_copies": 0})
    assert patched.json()["available_copies"] == 0
    assert patched.json()["title"] == "The Dragon Egg"

    replaced = client.put("/v1/items/bk-1", json={"id": "bk-1", "title": "The Dragon Egg (2nd ed.)"})
    assert replaced.json()["title"] == "The Dragon Egg (2nd ed.)"
    assert replaced.json()["tags"] == []

    assert client.delete("/v1/items/bk-1").status_code == 204
    missing = client.get("/v1/items/bk-1")
    assert missing.status_code == 404
    assert "bk-1" in missing.json()["detail"]


def test_duplicate_create_is_409(client: TestClient) -> None:
    assert client.post("/v1/items", json=BOOK).status_code == 201
    again = client.post("/v1/items", json=BOOK)
    assert again.status_code == 409
    assert "already exists" in again.json()["detail"]


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"id": "x"}, "title"),
        ({"id": "x", "title": "T", "lexile": "tall"}, "lexile"),
        ({"id": "x", "title": "T", "guided_reading_level": "AA"}, "guided_reading_level"),
        ({"id": "x", "title": "T", "average_rating": 7}, "average_rating"),
        ({"id": "x", "title": "T", "colour": "red"}, "colour"),
        ({"id": "has space", "title": "T"}, "id"),
        ({"id": "x", "title": "T" * 1001}, "title"),
    ],
)
def test_invalid_item_is_422_naming_the_field(client: TestClient, payload: dict, field: str) -> None:
    response = client.post("/v1/items", json=payload)
    assert response.status_code == 422
    assert field in response.json()["detail"]
    assert client.get("/v1/items").json()["data"] == []


def test_patch_cannot_null_a_required_field(client: TestClient) -> None:
    client.post("/v1/items", json=BOOK)
    response = client.patch("/v1/items/bk-1", json={"title": None})
    assert response.status_code == 422
    assert "title" in response.json()["detail"]
    assert client.get("/v1/items/bk-1").json()["title"] == BOOK["title"]


def test_put_with_mismatched_id_is_422(client: TestClient) -> None:
    response = client.put("/v1/items/a", json={"id": "b", "title": "T"})
    assert response.status_code == 422
    assert "id" in response.json()["detail"]


def test_cursor_pagination_visits_every_row_once(client: TestClient) -> None:
    for n in range(7):
        client.post("/v1/users", json={"id": f"st-{n}", "grade": n % 6})
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        params = {"limit": 3} | ({"cursor": cursor} if cursor else {})
        page = client.get("/v1/users", params=params).json()
        seen += [user["id"] for user in page["data"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert sorted(seen) == sorted(f"st-{n}" for n in range(7))
    assert pages == 3


def test_garbage_cursor_is_422(client: TestClient) -> None:
    response = client.get("/v1/items", params={"cursor": "!!notacursor"})
    assert response.status_code == 422
    assert "cursor" in response.json()["detail"]


def test_user_lifecycle(client: TestClient) -> None:
    created = client.post(
        "/v1/users", json={"id": "st-1", "display_name": "Mia R.", "grade": "K", "interests": "horses"}
    )
    assert created.status_code == 201
    assert created.json()["grade"] == 0
    assert client.patch("/v1/users/st-1", json={"grade": 1}).json()["grade"] == 1
    assert client.post("/v1/users", json={"id": "st-1"}).status_code == 409
    assert client.post("/v1/users", json={"id": "st-2", "grade": 40}).status_code == 422
    assert client.delete("/v1/users/st-1").status_code == 204
    assert client.get("/v1/users/st-1").status_code == 404


def test_group_membership(client: TestClient) -> None:
    for n in range(3):
        client.post("/v1/users", json={"id": f"st-{n}"})
    created = client.post(
        "/v1/groups",
        json={"id": "2b", "name": "Ms. Lee's 2nd Grade", "grade": 2, "members": ["st-0", "st-1"]},
    )
    assert created.status_code == 201, created.text
    assert created.json()["members"] == ["st-0", "st-1"]

    patched = client.patch("/v1/groups/2b", json={"members": ["st-1", "st-2"]})
    assert patched.json()["members"] == ["st-1", "st-2"]
    assert patched.json()["grade"] == 2

    unknown = client.put("/v1/groups/2b", json={"id": "2b", "name": "x", "members": ["st-1", "nobody"]})
    assert unknown.status_code == 404  # an unknown id in the body, as for an interaction
    assert unknown.json()["detail"] == "members: unknown user(s) 'nobody'"
    assert client.get("/v1/groups/2b").json()["members"] == ["st-1", "st-2"]

    client.delete("/v1/users/st-1")
    assert client.get("/v1/groups/2b").json()["members"] == ["st-2"]
    assert client.delete("/v1/groups/2b").status_code == 204
    assert client.get("/v1/users/st-2").status_code == 200
