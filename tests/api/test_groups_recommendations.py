"""Class lists and similar readers over a small class whose right answers are known: four strong
readers who share a taste for dragons, one emerging reader who likes animal books far below them."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from nextread.store.db import session_scope
from nextread.store.tenants import create_api_key, ensure_tenant
from tests.conftest import Database

DRAGONS = [f"dragon-{n}" for n in range(8)]
ANIMALS = [f"animal-{n}" for n in range(6)]
SPACE = [f"space-{n}" for n in range(6)]
STRONG = [f"st-{n}" for n in range(4)]
EMERGING = "st-emerging"


def _book(item_id: str, title: str, tag: str, lexile: int) -> dict:
    return {
        "id": item_id,
        "title": title,
        "authors": ["Ada Quill"],
        "tags": [tag],
        "description": f"A story about {tag}.",
        "lexile": lexile,
        "grade_min": 1,
        "grade_max": 3,
        "available_copies": 2,
    }


def _class(client: TestClient) -> None:
    books = [_book(d, f"Dragon Tale {n}", "dragons", 400 + 20 * n) for n, d in enumerate(DRAGONS)]
    books += [_book(a, f"Pet Friends {n}", "animals", 100 + 20 * n) for n, a in enumerate(ANIMALS)]
    books += [_book(s, f"Moon Trip {n}", "space", 250 + 20 * n) for n, s in enumerate(SPACE)]
    for book in books:
        assert client.post("/v1/items", json=book).status_code == 201
    for student in STRONG:
        client.post(
            "/v1/users", json={"id": student, "display_name": f"Strong {student}", "grade": 2, "lexile": 420}
        )
    client.post("/v1/users", json={"id": EMERGING, "display_name": "Emerging E.", "grade": 2, "lexile": 120})
    client.post("/v1/users", json={"id": "st-elsewhere", "grade": 2, "lexile": 420})
    members = [*STRONG, EMERGING]
    assert (
        client.post(
            "/v1/groups", json={"id": "class-a", "name": "Ms. Lee's 2nd", "members": members}
        ).status_code
        == 201
    )
    events = [{"user_id": s, "item_id": d, "type": "finished"} for s in STRONG for d in DRAGONS[:4]]
    events += [{"user_id": EMERGING, "item_id": a, "type": "finished"} for a in ANIMALS[:2]]
    events += [{"user_id": "st-elsewhere", "item_id": s, "type": "finished"} for s in SPACE[:3]]
    assert client.post("/v1/interactions/batch", json=events).json()["rejected"] == []


@pytest.fixture
def school(client: TestClient) -> TestClient:
    _class(client)
    return client


@pytest.fixture
def other_school(client: TestClient, database: Database) -> dict[str, str]:
    """A second tenant with the same ids: a class-a, an st-0 and the same history."""
    with session_scope(database.sessions) as session:
        key = create_api_key(session, ensure_tenant(session, "riverside"), "admin", "riverside admin")
    headers = {"Authorization": f"Bearer {key}"}
    other = TestClient(client.app)
    other.post("/v1/items", json=_book("dragon-0", "Their Dragon", "dragons", 420), headers=headers)
    for student in ("st-0", "st-9"):
        other.post(
            "/v1/users", json={"id": student, "display_name": "Riverside kid", "grade": 2}, headers=headers
        )
        other.post(
            "/v1/interactions",
            json={"user_id": student, "item_id": "dragon-0", "type": "finished"},
            headers=headers,
        )
    other.post("/v1/groups", json={"id": "class-a", "name": "Theirs", "members": ["st-9"]}, headers=headers)
    return headers


def test_class_list_covers_every_band_and_reports_fit(school: TestClient) -> None:
    response = school.get("/v1/groups/class-a/recommendations", params={"n": 6, "min_per_student": 2})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["strategy"] == "proportional" and body["group_name"] == "Ms. Lee's 2nd"
    ids = [book["id"] for book in body["data"]]
    assert len(ids) == 6 and len(set(ids)) == 6
    assert not set(ids) & set(DRAGONS[:4]), "books 4 of 5 students read must not be listed"
    metrics = body["metrics"]
    assert metrics["students"] == 5 and metrics["students_with_level"] == 5
    assert metrics["coverage"] == 1.0 and metrics["uncovered"] == []
    assert 0 < metrics["min_utility"] <= metrics["mean_utility"] <= 1
    emerging_fits = [book for book in body["data"] if EMERGING in book["fits"]]
    assert len(emerging_fits) >= 2
    assert all(book["id"] in ANIMALS for book in emerging_fits)
    for book in body["data"]:
        assert [s["id"] for s in book["students"]] == sorted([*STRONG, EMERGING])
        for fit in book["students"]:
            assert fit["rank"] is None or fit["rank"] >= 1
            assert fit["in_band"] == (fit["id"] in book["fits"])
        assert book["explanation"] is None
    explained = school.get("/v1/groups/class-a/recommendations", params={"n": 3, "explain": True}).json()
    assert all(book["explanation"].startswith("Just right for") for book in explained["data"])


def test_strategies_and_read_share(school: TestClient) -> None:
    naive = school.get("/v1/groups/class-a/recommendations", params={"n": 6, "strategy": "sum"}).json()
    assert naive["strategy"] == "sum"
    strict = school.get("/v1/groups/class-a/recommendations", params={"n": 20}).json()
    assert max(book["read_by"] for book in strict["data"]) <= 1
    relaxed = school.get("/v1/groups/class-a/recommendations", params={"n": 20, "max_read_share": 1}).json()
    assert max(book["read_by"] for book in relaxed["data"]) == 4
    # a book its readers cannot take again is worth nothing to them: it comes last
    assert relaxed["data"][-1]["read_by"] == 4


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"n": 0}, "n"),
        ({"n": 500}, "n"),
        ({"strategy": "loudest"}, "strategy"),
        ({"max_read_share": 0}, "max_read_share"),
        ({"min_per_student": -1}, "min_per_student"),
    ],
)
def test_bad_parameters_are_422_naming_the_field(school: TestClient, params: dict, field: str) -> None:
    response = school.get("/v1/groups/class-a/recommendations", params=params)
    assert response.status_code == 422
    assert field in response.json()["detail"]


def test_unknown_group_is_404(school: TestClient) -> None:
    response = school.get("/v1/groups/class-z/recommendations")
    assert response.status_code == 404 and "class-z" in response.json()["detail"]


def test_empty_class_gets_an_empty_list(school: TestClient) -> None:
    school.post("/v1/groups", json={"id": "club", "name": "Empty club", "members": []})
    body = school.get("/v1/groups/club/recommendations").json()
    assert body["data"] == [] and body["metrics"]["students"] == 0


def test_class_lists_stay_inside_the_tenant(school: TestClient, other_school: dict[str, str]) -> None:
    theirs = TestClient(school.app).get("/v1/groups/class-a/recommendations", headers=other_school).json()
    assert theirs["group_name"] == "Theirs"
    assert {fit["id"] for book in theirs["data"] for fit in book["students"]} <= {"st-9"}
    assert {book["id"] for book in theirs["data"]} <= {"dragon-0"}
    ours = school.get("/v1/groups/class-a/recommendations").json()
    assert ours["metrics"]["students"] == 5


def test_similar_readers_are_co_readers(school: TestClient) -> None:
    response = school.get("/v1/users/st-0/similar", params={"n": 3})
    assert response.status_code == 200, response.text
    rows = response.json()
    assert [row["id"] for row in rows] == ["st-1", "st-2", "st-3"]
    assert all(row["shared_books"] == 4 and 0 < row["similarity"] <= 1 for row in rows)
    assert rows[0]["display_name"] == "Strong st-1"
    emerging = school.get("/v1/users/st-emerging/similar").json()
    assert all(row["shared_books"] == 0 for row in emerging)


def test_similar_readers_never_cross_tenants(school: TestClient, other_school: dict[str, str]) -> None:
    ours = school.get("/v1/users/st-0/similar", params={"n": 100}).json()
    assert "Riverside kid" not in {row["display_name"] for row in ours}
    assert {row["id"] for row in ours} <= {*STRONG, EMERGING, "st-elsewhere"}
    theirs = TestClient(school.app).get("/v1/users/st-0/similar", headers=other_school).json()
    assert [(row["id"], row["display_name"], row["shared_books"]) for row in theirs] == [
        ("st-9", "Riverside kid", 1)
    ]
    assert (
        TestClient(school.app).get("/v1/users/st-emerging/similar", headers=other_school).status_code == 404
    )


def test_similar_readers_bad_input(school: TestClient) -> None:
    assert school.get("/v1/users/nobody/similar").status_code == 404
    response = school.get("/v1/users/st-0/similar", params={"n": 0})
    assert response.status_code == 422 and "n" in response.json()["detail"]
