"""parse_query: grade, age and level phrases become filters and leave the text; nothing else is lost."""

from __future__ import annotations

import pytest

from nextread.levels import parse_level
from nextread.search.fulltext import query_terms
from nextread.search.query import ParsedQuery, QueryParser, parse_query


@pytest.mark.parametrize(
    ("query", "text", "grade"),
    [
        ("funny books about dragons for a 2nd grader", "funny books about dragons", 2),
        ("second grader mystery", "mystery", 2),
        ("fifth grade graphic novels", "graphic novels", 5),
        ("books like Wonder for 4th-graders", "books like wonder", 4),
        ("spooky stories grade three", "spooky stories", 3),
        ("picture books for kindergarteners", "picture books", 0),
        ("books for my 7 year old about space", "books about space", 2),
        ("age 9 horses", "horses", 4),
        ("an 8-year-old who loves soccer", "an who loves soccer", 3),
    ],
)
def test_grade_and_age_phrases_become_a_grade(query: str, text: str, grade: int) -> None:
    parsed = parse_query(query)
    assert (parsed.text, parsed.grade) == (text, grade)
    assert parsed.level_min is None and parsed.level_max is None
    assert len(parsed.understood) == 1


@pytest.mark.parametrize(
    ("query", "text", "low", "high"),
    [
        ("level M animals", "animals", parse_level("level M") - 0.5, parse_level("level M") + 0.5),
        ("guided reading level j to l trucks", "trucks", parse_level("J"), parse_level("L")),
        ("lexile 500 science", "science", parse_level("500L") - 0.5, parse_level("500L") + 0.5),
        ("ocean books lexile 400-600", "ocean books", parse_level("400L"), parse_level("600L")),
        ("friendship 650L", "friendship", parse_level("650L") - 0.5, parse_level("650L") + 0.5),
        ("ATOS 3.5 to 4.5 adventure", "adventure", 3.5, 4.5),
        ("dinosaurs for ages 6-8", "dinosaurs", 1.0, 4.0),
    ],
)
def test_level_phrases_in_any_scale_become_a_level_band(
    query: str, text: str, low: float, high: float
) -> None:
    parsed = parse_query(query)
    assert parsed.text == text
    assert parsed.level_min == pytest.approx(low, abs=0.01)
    assert parsed.level_max == pytest.approx(high, abs=0.01)


def test_language_and_availability() -> None:
    parsed = parse_query("cat books in Spanish that are available")
    assert (parsed.text, parsed.language, parsed.available) == ("cat books", "es", True)


@pytest.mark.parametrize(
    "query",
    ["Harry Potter", "The Level Up", "a wrinkle in time", "Catch-22", "101 Dalmatians", "The BFG", "Grade A"],
)
def test_titles_without_filter_phrases_are_left_alone(query: str) -> None:
    parsed = parse_query(query)
    assert parsed.text == query.lower()
    assert parsed.grade is None and parsed.level_min is None and parsed.understood == []


def test_odd_input_never_raises() -> None:
    for query in ["", "   ", "!!!", "grade 99", "age 200", "level", "lexile", "ages 2-3", "ünïcödé 🐉"]:
        assert isinstance(parse_query(query), ParsedQuery)
    assert parse_query("grade 99").grade is None


def test_any_callable_is_a_query_parser() -> None:
    """The hook an LLM extractor plugs into: a function from text to ParsedQuery."""

    def fixed(text: str) -> ParsedQuery:
        return ParsedQuery(text="dragons", grade=1, understood=["llm"])

    parser: QueryParser = fixed
    assert parser("anything").grade == 1


def test_query_terms_drop_stopwords_and_duplicates() -> None:
    assert query_terms("Funny books about DRAGONS, dragons and knights!") == ["funny", "dragons", "knights"]
    assert query_terms("books for kids") == []
