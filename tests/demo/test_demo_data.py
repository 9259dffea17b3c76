"""The committed demo school is valid, believable and exactly what the generator produces."""

from __future__ import annotations

import filecmp
import json
from collections import Counter
from pathlib import Path

import pytest

from nextread.demo.generate import DATA_DIR, generate
from nextread.levels import level_from
from nextread.schemas import GroupIn, InteractionIn, ItemIn, UserIn

MODELS = {"items": ItemIn, "users": UserIn, "groups": GroupIn, "interactions": InteractionIn}


def _rows(kind: str) -> list[dict]:
    return [json.loads(line) for line in (DATA_DIR / f"{kind}.jsonl").read_text().splitlines()]


def test_regenerating_gives_identical_files(tmp_path: Path) -> None:
    generate(tmp_path)
    for kind in MODELS:
        assert filecmp.cmp(tmp_path / f"{kind}.jsonl", DATA_DIR / f"{kind}.jsonl", shallow=False), kind


@pytest.mark.parametrize("kind", list(MODELS))
def test_every_row_validates_and_ids_are_unique(kind: str) -> None:
    rows = [MODELS[kind].model_validate(row) for row in _rows(kind)]
    key = "event_id" if kind == "interactions" else "id"
    ids = [getattr(row, key) for row in rows]
    assert len(ids) == len(set(ids))


def test_references_sizes_and_levels() -> None:
    items = {row["id"]: row for row in _rows("items")}
    users = {row["id"]: row for row in _rows("users")}
    events = _rows("interactions")
    assert 250 <= len(items) <= 400
    assert 140 <= len(users) <= 160
    assert len(_rows("groups")) == 6
    assert sum(len(group["members"]) for group in _rows("groups")) == len(users)
    assert all(e["user_id"] in users and e["item_id"] in items for e in events)
    assert {row["guided_reading_level"] for row in items.values()} >= set("ABCDEFGHIJKLMNOPQRSTU")
    assert {row["grade"] for row in users.values()} == {0, 1, 2, 3, 4, 5}
    assert Counter(e["type"] for e in events)["checkout"] >= 1500


def test_students_mostly_read_near_their_level() -> None:
    items = {row["id"]: row for row in _rows("items")}
    users = {row["id"]: row for row in _rows("users")}
    checkouts = [e for e in _rows("interactions") if e["type"] == "checkout"]
    near = sum(
        abs(
            level_from(lexile=users[e["user_id"]]["lexile"])
            - level_from(lexile=items[e["item_id"]]["lexile"])
        )
        <= 1
        for e in checkouts
    )
    assert near / len(checkouts) >= 0.7


def test_series_are_continued_in_order() -> None:
    items = {row["id"]: row for row in _rows("items")}
    read_next = continued = 0
    finished: dict[str, set[tuple[str, int]]] = {}
    for event in _rows("interactions"):
        item = items[event["item_id"]]
        if "series_name" not in item:
            continue
        key = (item["series_name"], item["series_position"])
        done = finished.setdefault(event["user_id"], set())
        if event["type"] == "checkout" and key[1] > 1:
            read_next += 1
            continued += (key[0], key[1] - 1) in done
        if event["type"] == "finished":
            done.add(key)
    assert read_next > 100
    assert continued / read_next >= 0.5
