"""Book level estimates: the signals, the stored job, and the error on the demo books with levels hidden."""

from __future__ import annotations

import json
from collections import defaultdict
from importlib import resources

import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from nextread.engine.pipeline import Catalog
from nextread.levels import item_level, level_from, lexile_to_level
from nextread.services.level_estimates import (
    LevelEstimate,
    estimate_book_level,
    estimate_missing_levels,
    readability_grade,
    reader_levels_by_item,
)
from nextread.store.models import Item
from nextread.store.reading_data import EventArrays
from nextread.store.tenants import ensure_tenant
from tests.conftest import Database

EASY_TEXT = "The cat sat. The cat ran. The dog ran too. They had fun. The sun was hot. They went home."
HARD_TEXT = (
    "Notwithstanding considerable institutional opposition, the commission's comprehensive "
    "investigation substantiated allegations concerning systematic administrative irregularities "
    "and recommended fundamental organisational restructuring."
)


def test_nothing_to_go_on_is_no_estimate() -> None:
    assert estimate_book_level(title="Untitled") is None


def test_formats_lengths_and_audiences_place_books_where_expected() -> None:
    board = estimate_book_level(tags=["Board-Books"], page_count=12)
    picture = estimate_book_level(tags=["picture book"], page_count=32, age_min=4, age_max=7)
    chapter = estimate_book_level(tags=["chapter_book"], page_count=96, grade_min=2, grade_max=4)
    middle = estimate_book_level(tags=["Middle Grade"], page_count=320)
    assert board.level < picture.level < chapter.level < middle.level
    assert board.level < 0.5 and 0.5 < picture.level < 2.0 and 2.5 < chapter.level < 4.0 and middle.level > 5
    assert all(isinstance(e, LevelEstimate) and e.estimated for e in (board, picture, chapter, middle))
    assert any("Format" in line for line in chapter.evidence)


def test_readability_of_a_real_excerpt_counts_more_than_a_blurb() -> None:
    assert readability_grade("Too short.") is None
    assert readability_grade(EASY_TEXT) < 2 < 10 < readability_grade(HARD_TEXT)
    excerpt = estimate_book_level(text=HARD_TEXT * 2, tags=["chapter book"])
    blurb = estimate_book_level(description=HARD_TEXT * 2, tags=["chapter book"])
    assert excerpt.level > blurb.level > estimate_book_level(tags=["chapter book"]).level


def test_readers_pull_the_estimate_and_raise_confidence_as_they_agree() -> None:
    alone = estimate_book_level(tags=["chapter book"])
    read = estimate_book_level(tags=["chapter book"], reader_levels=[4.0, 4.2, 3.9, 4.1, 4.0, 4.0])
    assert read.level > alone.level + 0.4
    assert read.confidence > alone.confidence
    assert "6 readers" in read.evidence[-1]


def test_conflicting_signals_lower_confidence() -> None:
    agree = estimate_book_level(tags=["picture book"], page_count=32, age_min=4, age_max=7)
    clash = estimate_book_level(tags=["young adult"], page_count=32, age_min=4, age_max=7)
    assert clash.confidence < agree.confidence


def _demo(name: str) -> list[dict]:
    text = resources.files("nextread.demo").joinpath(f"data/{name}.jsonl").read_text("utf-8")
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_mean_absolute_error_on_demo_books_with_their_levels_hidden() -> None:
    """Every demo book has a Lexile and a guided reading level: hide both, estimate, compare (grades)."""
    books = _demo("items")
    users = {user["id"]: user for user in _demo("users")}
    readers: dict[str, dict[str, float]] = defaultdict(dict)
    for event in _demo("interactions"):
        liked = event["type"] in {"finished", "like", "checkout"} or (
            event["type"] == "rating" and (event.get("value") or 0) >= 4
        )
        user = users[event["user_id"]]
        level = level_from(user.get("lexile"), user.get("guided_reading_level"), user.get("grade"))
        if liked and level is not None:
            readers[event["item_id"]][event["user_id"]] = level
    truth = np.array([item_level(book["lexile"], book["guided_reading_level"]) for book in books])

    def mae(audience: bool, with_readers: bool) -> float:
        errors = []
        for book, true_level in zip(books, truth, strict=True):
            known = {key: book.get(key) for key in ("grade_min", "grade_max", "age_min", "age_max")}
            estimate = estimate_book_level(
                title=book["title"],
                description=book.get("description"),
                tags=book.get("tags", []),
                page_count=book.get("page_count"),
                reader_levels=list(readers[book["id"]].values()) if with_readers else (),
                **(known if audience else {}),
            )
            errors.append(abs(estimate.level - true_level))
        return float(np.mean(errors))

    results = {
        "format + pages + description": mae(False, False),
        "+ readers who liked it": mae(False, True),
        "+ grade/age range": mae(True, False),
        "everything": mae(True, True),
        "baseline: every book at the median": float(np.mean(np.abs(truth - np.median(truth)))),
    }
    print("\nEstimated book level, MAE in grade levels over 300 demo books (levels hidden):")
    for name, value in results.items():
        print(f"  {name:<38} {value:.2f}")
    assert results["everything"] < 0.6
    assert results["format + pages + description"] < 0.9
    assert (
        max(v for k, v in results.items() if not k.startswith("baseline"))
        < results["baseline: every book at the median"] / 2
    )


def test_reader_levels_count_each_liking_reader_once() -> None:
    """Finished, liked, checked out or rated 4-5 stars; a view, a low rating or an unlevelled reader
    is no evidence; two events of one reader on one book are one reader."""
    rows = [
        (1, 10, "finished", None),
        (1, 10, "like", None),  # the same reader again
        (2, 10, "rating", 4.0),
        (3, 10, "rating", 3.0),  # not liked
        (4, 10, "view", None),
        (9, 10, "finished", None),  # no level known
        (2, 20, "checkout", None),
        (3, 30, "rating", None),
    ]
    users, items, types, values = zip(*rows, strict=True)
    events = EventArrays(
        np.array(users), np.array(items), np.array(types, dtype=object), np.array(values, float), np.zeros(8)
    )
    levels = {1: 1.5, 2: 3.0, 3: 2.0, 4: 4.0}
    readers = reader_levels_by_item(events, levels)
    assert {book: sorted(found) for book, found in readers.items()} == {10: [1.5, 3.0], 20: [3.0]}
    assert reader_levels_by_item(events, {3: 2.0, 4: 1.0}) == {}  # the levelled readers liked nothing
    assert reader_levels_by_item(events, {}) == {}


def test_stored_estimates_never_touch_given_levels(database: Database) -> None:
    with database.sessions() as session:
        tenant_id = ensure_tenant(session, "default").id
        session.add_all(
            [
                Item(tenant_id=tenant_id, external_id="given", title="G", lexile=500, tags=["board book"]),
                Item(
                    tenant_id=tenant_id,
                    external_id="picture",
                    title="P",
                    tags=["picture book"],
                    page_count=32,
                ),
                Item(tenant_id=tenant_id, external_id="blank", title="Nothing known"),
            ]
        )
        session.commit()
        assert estimate_missing_levels(session, tenant_id) == 1
        session.commit()
        rows = {item.external_id: item for item in session.scalars(select(Item))}
        assert rows["given"].lexile == 500 and rows["given"].estimated_level is None
        assert rows["blank"].estimated_level is None
        picture = rows["picture"]
        assert 0.5 < picture.estimated_level < 1.5 and 0 < picture.estimated_level_confidence < 1
        assert picture.estimated_level_evidence and picture.lexile is None
        assert estimate_missing_levels(session, tenant_id) == 0  # idempotent
        picture.lexile = 600
        session.commit()
        assert estimate_missing_levels(session, tenant_id) == 1
        assert picture.estimated_level is None
        # The recommender's catalog falls back to the estimate only when nothing is given.
        catalog = Catalog.from_items(
            [{"lexile": None, "estimated_level": 2.2}, {"lexile": 600, "estimated_level": 2.2}, {}]
        )
        assert catalog.levels[0] == 2.2 and catalog.levels[1] == lexile_to_level(600)
        assert np.isnan(catalog.levels[2])


def test_training_estimates_and_search_marks_them(client: TestClient) -> None:
    book = {"id": "pb", "title": "Bear Naps", "tags": ["picture book"], "page_count": 30, "description": "x"}
    assert client.post("/v1/items", json=book).status_code == 201
    assert client.post("/v1/models/train").status_code == 201
    hit = client.get("/v1/search", params={"q": "bear naps"}).json()["data"][0]
    assert hit["id"] == "pb" and hit["level_estimated"] is True
    assert hit["level"] == pytest.approx(0.8, abs=0.3)


def test_levels_estimate_command(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    from typer.testing import CliRunner

    from nextread.cli import app
    from nextread.config import get_settings
    from nextread.store.db import make_engine, make_session_factory, upgrade

    monkeypatch.setenv("NEXTREAD_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("NEXTREAD_LOG_LEVEL", "WARNING")
    get_settings.cache_clear()
    try:
        engine = make_engine(get_settings().store.database_url)
        upgrade(engine)
        with make_session_factory(engine)() as session:
            tenant_id = ensure_tenant(session, "default").id
            session.add(Item(tenant_id=tenant_id, external_id="b", title="B", tags=["chapter book"]))
            session.commit()
        result = CliRunner().invoke(app, ["levels", "estimate"])
        assert result.exit_code == 0, result.output
        assert "changed for 1 book" in result.output
        with make_session_factory(engine)() as session:
            assert session.scalar(select(Item.estimated_level)) == pytest.approx(3.0)
        engine.dispose()
    finally:
        get_settings.cache_clear()
