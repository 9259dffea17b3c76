"""The privacy helpers on their own: what a reader and a book become before anything is sent."""

from __future__ import annotations

from nextread.llm.privacy import (
    BOOK_FIELDS,
    READER_FIELDS,
    ReaderFacts,
    book_payload,
    interest_tags,
    parse_fields,
    reasons,
    shared_reader,
    top_tags,
)

VOCABULARY = ["dragons", "space", "picture-book", "cats", "art"]


def test_interest_tags_are_catalog_tags_named_in_the_text_never_the_text() -> None:
    text = "Loves a dragon, outer SPACE and picture-books; her cat is called Biscuit"
    assert interest_tags(text, VOCABULARY) == ["cats", "dragons", "picture-book", "space"]
    assert interest_tags("partners in crime", ["art"]) == []  # whole words only
    assert interest_tags(None, VOCABULARY) == []


def test_shared_reader_keeps_only_the_listed_fields_rounded() -> None:
    facts = ReaderFacts(2.37, (1.87, 3.37), 2, ["dragons"], ["space"], 7, 1)
    everything = shared_reader(facts, READER_FIELDS)
    assert tuple(everything) == READER_FIELDS
    assert everything["reading_level"] == 2.5 and everything["just_right_band"] == [1.9, 3.4]
    assert shared_reader(facts, parse_fields("grade, top_tags")) == {"grade": 2, "top_tags": ["dragons"]}


def test_top_tags_are_stable() -> None:
    tags = [frozenset({"b", "a"}), frozenset({"b"}), frozenset({"c", "a"})]
    assert top_tags(tags, 2) == ["a", "b"]


def test_a_book_carries_exactly_the_book_fields() -> None:
    payload = book_payload(
        "b1",
        title="The Dragon Egg",
        authors=["A", "B", "C", "D"],
        tags={"fantasy", "dragons"},
        level=float("nan"),
        series=None,
        description="  A long\\n description " + "x" * 500,
        engine_score=0.91234,
        reason_phrases=reasons({"cf": 0.9, "reading_match": 0.95, "rating": 0.1}, {"cf": 0.5}),
    )
    assert tuple(payload) == BOOK_FIELDS
    assert payload["authors"] == ["A", "B", "C"] and payload["tags"] == ["dragons", "fantasy"]
    assert payload["reading_level"] is None and len(payload["description"]) == 300
    assert payload["reasons"] == ["fits the reader's level", "readers with similar taste liked it"]
