"""The LLM query parser for catalog search against the scripted chat server: filters it may set, what
it may not invent, fallbacks to the rules, and students' names never sent."""

from __future__ import annotations

import pytest

from nextread.cache.backends import MemoryCache
from nextread.llm.client import LLMClient
from nextread.search.query import parse_query
from nextread.services.llm_query import LLMQueryParser, redact
from tests.llm.conftest import ScriptedLLM

QUERY = "funny books about dragons for a 2nd grader"
TAGS = ["dragons", "fantasy", "humor", "space"]


def _parser(server: ScriptedLLM, names: tuple[str, ...] = ()) -> LLMQueryParser:
    client = LLMClient(server.base_url, "scripted", timeout=1.0, cache=MemoryCache(16))
    return LLMQueryParser(client, private_names=names, catalog_tags=TAGS)


def test_the_llm_reads_filters_the_rules_cannot(scripted_llm: ScriptedLLM) -> None:
    scripted_llm.answer(
        {"text": "funny dragons", "grade": 2, "tags": ["dragons", "Humor", "unicorns", 7], "language": "EN"}
    )
    parsed = _parser(scripted_llm)(QUERY)
    assert parsed.text == "funny dragons"
    assert parsed.grade == 2
    assert parsed.tags == ["dragons", "humor"]  # "unicorns" is not a catalog tag: dropped
    assert parsed.language == "en"
    assert "tags dragons, humor (LLM)" in parsed.understood
    sent = scripted_llm.user_payloads()[0]
    assert sent == {"query": QUERY, "catalog_tags": TAGS}


@pytest.mark.parametrize(
    "reply",
    [
        "not json at all",
        '{"grade": 40}',
        '{"level_min": 5, "level_max": 2}',
        '{"text": ["dragons"]}',
        '{"level_min": 99}',
    ],
)
def test_answers_that_do_not_validate_keep_the_rules(scripted_llm: ScriptedLLM, reply: str) -> None:
    scripted_llm.answer(reply)
    assert _parser(scripted_llm)(QUERY) == parse_query(QUERY)


def test_a_dead_endpoint_keeps_the_rules(scripted_llm: ScriptedLLM) -> None:
    scripted_llm.default.status = 503
    assert _parser(scripted_llm)(QUERY) == parse_query(QUERY)


def test_students_names_and_ids_are_redacted_before_sending(scripted_llm: ScriptedLLM) -> None:
    scripted_llm.answer({"text": "space books for a student", "grade": 3})
    names = ("Zelda Quixote", "Zelda", "Quixote", "stu-42")
    query = "space books for zelda quixote (stu-42), a 3rd grader"
    parsed = _parser(scripted_llm, names)(query)
    sent = scripted_llm.user_payloads()[0]["query"]
    assert "zelda" not in sent.casefold() and "quixote" not in sent.casefold() and "stu-42" not in sent
    assert sent == "space books for a student (a student), a 3rd grader"
    assert parsed.grade == 3
    assert parsed.text == parse_query(query).text  # the model never saw the whole query


def test_redaction_is_whole_words_only() -> None:
    assert redact("Annabel reads about Ann and anne", ["Ann"]) == "Annabel reads about a student and anne"
