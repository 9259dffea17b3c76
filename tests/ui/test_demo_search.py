"""Catalog search on the bundled demo school: a filter that keeps no book about the query lists none."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from nextread.app import create_app
from tests.ui.conftest import ADMIN_KEY, demo_settings


def _search(client: TestClient, query: str) -> list[dict]:
    response = client.get("/v1/search", params={"q": query, "limit": 10})
    assert response.status_code == 200, response.text
    return response.json()["data"]


def test_a_language_filter_never_passes_off_other_topics_as_matches(school_copy: Path) -> None:
    with TestClient(create_app(demo_settings(school_copy))) as client:
        client.headers["Authorization"] = f"Bearer {ADMIN_KEY}"
        # The demo's space books are all in English; its Spanish books are about other things.
        assert all("space" in hit["tags"] for hit in _search(client, "space books")[:5])
        assert _search(client, "space books in Spanish") == []
        # A filter that keeps books about the query still finds them by meaning.
        spanish_friends = _search(client, "books about friendship in Spanish")
        assert spanish_friends and all(hit["language"] == "es" for hit in spanish_friends)
        assert any("friendship" in hit["tags"] for hit in spanish_friends[:3])


# The demo's dragon books levelled 1.0–1.5 (Lexile 10L–140L), that a range read "1" as mid-year 1.5 left out.
EARLY_GRADE_1_DRAGONS = {"bk-0055", "bk-0061", "bk-0063", "bk-0065", "bk-0076"}
DRAGON_BOOKS = 33


def _pages(client: TestClient, params: dict[str, str]) -> tuple[list[dict], set[int]]:
    """Every hit, page after page, and the totals each page reported."""
    hits: list[dict] = []
    totals: set[int] = set()
    while True:
        response = client.get("/v1/search", params={**params, "limit": "10", "offset": str(len(hits))})
        assert response.status_code == 200, response.text
        body = response.json()
        totals.add(body["total"])
        hits += body["data"]
        if not body["data"] or len(hits) >= body["total"]:
            return hits, totals


def test_a_level_range_includes_both_whole_grades(school_copy: Path) -> None:
    with TestClient(create_app(demo_settings(school_copy))) as client:
        client.headers["Authorization"] = f"Bearer {ADMIN_KEY}"
        hits, _ = _pages(client, {"q": "dragons", "level_min": "1", "level_max": "2"})
        found = {hit["id"] for hit in hits}
        assert found >= EARLY_GRADE_1_DRAGONS
        levels = sorted(hit["level"] for hit in hits)
        assert levels[0] >= 1.0 and levels[-1] < 3.0, levels
        # Both the bare numbers and the labels a person writes mean the same range.
        labelled, _ = _pages(client, {"q": "dragons", "level_min": "grade 1", "level_max": "2nd grade"})
        assert {hit["id"] for hit in labelled} == found
        assert (
            client.get("/v1/search", params={"q": "dragons", "level_min": "1"}).json()["filters"]["level_min"]
            == 1.0
        )


def test_every_match_is_reachable_page_by_page(school_copy: Path) -> None:
    with TestClient(create_app(demo_settings(school_copy))) as client:
        client.headers["Authorization"] = f"Bearer {ADMIN_KEY}"
        tagged, totals = _pages(client, {"q": "dragons", "tags": "dragons"})
        assert totals == {DRAGON_BOOKS} and len({hit["id"] for hit in tagged}) == DRAGON_BOOKS
        everything, totals = _pages(client, {"q": "books"})
        assert totals == {300} and len({hit["id"] for hit in everything}) == 300
        past_the_end = client.get("/v1/search", params={"q": "dragons", "offset": "500"}).json()
        assert past_the_end["data"] == [] and past_the_end["total"] >= DRAGON_BOOKS
        assert past_the_end["notes"] == []
