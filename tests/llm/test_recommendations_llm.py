"""The REST endpoints with ?llm=true against the scripted chat server: re-ranking of recommendations,
fallbacks, the school's switch, exactly what leaves the server about a student, and search queries."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from nextread.app import create_app
from nextread.config import Settings
from nextread.llm.privacy import BOOK_FIELDS, READER_FIELDS
from nextread.services.access import principal_of_key
from nextread.store.db import session_scope
from nextread.store.tenant_settings import load_tenant_settings, save_tenant_settings
from tests.conftest import ADMIN_KEY
from tests.llm.conftest import ScriptedLLM
from tests.school import CLASS, DRAGONS, FAN, FAN_INTERESTS, FAN_NAME, SPACE, build_school

URL = f"/v1/users/{FAN}/recommendations"
TITLE_TO_ID = {f"The Dragon Egg {n}": item for n, item in enumerate(DRAGONS)} | {
    f"Rocket Kids {n}": item for n, item in enumerate(SPACE)
}


def _app(
    settings: Settings, scripted_llm: ScriptedLLM, allowed: bool, **overrides: Any
) -> Iterator[TestClient]:
    configured = settings.model_copy(
        update={
            "llm_base_url": scripted_llm.base_url,
            "llm_model": "scripted",
            "llm_timeout_seconds": 1.0,
            "cache_url": "none://",
            **overrides,
        }
    )
    with TestClient(create_app(configured)) as client:
        client.headers["Authorization"] = f"Bearer {ADMIN_KEY}"
        build_school(client)
        with session_scope(client.app.state.session_factory) as session:
            tenant_id = principal_of_key(session, ADMIN_KEY).tenant_id
            values = load_tenant_settings(session, tenant_id)
            save_tenant_settings(session, tenant_id, values.model_copy(update={"llm_enabled": allowed}))
        yield client


@pytest.fixture
def school(settings: Settings, scripted_llm: ScriptedLLM) -> Iterator[TestClient]:
    yield from _app(settings, scripted_llm, allowed=True)


def _reverse_and_cheer(user: dict[str, Any]) -> dict[str, Any]:
    keys = [candidate["id"] for candidate in user["candidates"]]
    return {
        "ranking": keys[::-1],
        "explanations": {c["id"]: f"You will love {c['title']}!" for c in user["candidates"]},
    }


def _ids(response) -> list[str]:  # type: ignore[no-untyped-def]
    assert response.status_code == 200, response.text
    return [row["id"] for row in response.json()["data"]]


def test_the_llm_reranks_and_rewords_within_the_engines_candidates(
    settings: Settings, scripted_llm: ScriptedLLM
) -> None:
    for client in _app(settings, scripted_llm, allowed=True, llm_weight=1.0, llm_candidates=6):
        engine = _ids(client.get(URL, params={"n": 6, "diversity": 0}))
        scripted_llm.answer(_reverse_and_cheer)
        response = client.get(URL, params={"n": 3, "diversity": 0, "llm": True})
        body = response.json()
        sent = [TITLE_TO_ID[c["title"]] for c in scripted_llm.user_payloads()[0]["candidates"]]
        assert sent == engine  # the LLM saw the engine's top 6, in the engine's order
        assert _ids(response) == engine[::-1][:3]  # weight 1.0: the LLM's order
        assert body["ranked_by"] == "engine+llm"
        top = body["data"][0]
        assert top["explanation"] == f"You will love {top['title']}!"
        assert top["components"]["llm"] == 1.0


def test_the_default_blend_keeps_the_engine_in_charge(school: TestClient, scripted_llm: ScriptedLLM) -> None:
    engine = _ids(school.get(URL, params={"n": 10, "diversity": 0}))
    scripted_llm.answer(_reverse_and_cheer)
    blended = school.get(URL, params={"n": 10, "diversity": 0, "llm": True}).json()
    scores = [row["score"] for row in blended["data"]]
    assert scores == sorted(scores, reverse=True)
    assert set(_ids(school.get(URL, params={"n": 10, "diversity": 0}))) == set(engine)
    assert blended["data"][0]["components"]["llm"] < 1.0  # 0.6 × engine outweighs 0.4 × LLM at the top


def test_hallucinated_ids_are_dropped(school: TestClient, scripted_llm: ScriptedLLM) -> None:
    engine = _ids(school.get(URL, params={"n": 5, "diversity": 0}))
    scripted_llm.answer({"ranking": ["b999", "dragon-0", "space-5", "b2"], "explanations": {"b77": "Hi!"}})
    body = school.get(URL, params={"n": 5, "diversity": 0, "llm": True}).json()
    assert body["ranked_by"] == "engine+llm"
    ids = [row["id"] for row in body["data"]]
    assert "dragon-0" not in ids and "space-5" not in ids  # already read / abandoned: never served
    assert set(ids) <= set(_ids(school.get(URL, params={"n": 20, "diversity": 0})))
    assert ids[0] == engine[1] or ids[0] == engine[0]  # only b2 was ranked: it can only move up
    assert all(row["explanation"] != "Hi!" for row in body["data"])


@pytest.mark.parametrize(
    "reply",
    [
        {"content": "Sure! Here are some books: 1. The Dragon Egg"},
        {"content": '{"ranking": ["nope"], "explanations": []}'},
        {"content": "{}", "status": 500},
        {"content": '{"ranking": ["b1"]}', "delay": 2.5},
    ],
    ids=["prose", "nothing-usable", "http-500", "timeout"],
)
def test_any_llm_failure_serves_the_engines_answer(
    school: TestClient, scripted_llm: ScriptedLLM, reply: dict[str, Any]
) -> None:
    engine = school.get(URL, params={"n": 5}).json()
    scripted_llm.answer(reply["content"], status=reply.get("status", 200), delay=reply.get("delay", 0.0))
    fallback = school.get(URL, params={"n": 5, "llm": True}).json()
    assert fallback["ranked_by"] == "engine"
    assert fallback["data"] == engine["data"]
    assert len(scripted_llm.requests) == 1


def test_nothing_is_sent_without_the_schools_switch(settings: Settings, scripted_llm: ScriptedLLM) -> None:
    for client in _app(settings, scripted_llm, allowed=False):
        assert client.get(URL, params={"llm": True}).json()["ranked_by"] == "engine"
    assert scripted_llm.requests == []


def test_nothing_is_sent_unless_the_request_asks(school: TestClient, scripted_llm: ScriptedLLM) -> None:
    assert school.get(URL).json()["ranked_by"] == "engine"
    assert scripted_llm.requests == []


def _everything_sent(scripted_llm: ScriptedLLM) -> str:
    return json.dumps(scripted_llm.requests, ensure_ascii=False).casefold()


def test_only_the_listed_pseudonymous_fields_leave_the_server(
    school: TestClient, scripted_llm: ScriptedLLM
) -> None:
    scripted_llm.answer(_reverse_and_cheer)
    assert school.get(URL, params={"llm": True, "explain": True}).json()["ranked_by"] == "engine+llm"
    sent = _everything_sent(scripted_llm)
    forbidden = [
        FAN,
        FAN_NAME,
        *FAN_NAME.split(),
        *FAN_NAME.split("-"),
        "biscuit",
        "scared",
        "castles",
        "dark",
    ]
    forbidden += [CLASS, "rivera", "the dragon egg 0", "the dragon egg 1", "rocket kids 5"]  # class, history
    forbidden += [*DRAGONS, *SPACE]  # catalog ids: candidates travel as request-local b1, b2, …
    leaked = [text for text in forbidden if text.casefold() in sent]
    assert leaked == []
    assert FAN_INTERESTS.casefold() not in sent
    payload = scripted_llm.user_payloads()[0]
    assert set(payload) == {"tasks", "reader", "candidates"}
    assert set(payload["reader"]) == set(READER_FIELDS)
    assert payload["reader"]["interest_tags"] == ["dragons"]  # a catalog tag, not the child's words
    assert payload["reader"]["top_tags"] == ["dragons", "fantasy"]
    assert payload["reader"]["books_enjoyed"] == 2 and payload["reader"]["books_abandoned"] == 1
    assert all(set(candidate) == set(BOOK_FIELDS) for candidate in payload["candidates"])
    assert [c["id"] for c in payload["candidates"]] == [
        f"b{n}" for n in range(1, len(payload["candidates"]) + 1)
    ]


def test_the_shared_fields_setting_narrows_what_is_sent(
    settings: Settings, scripted_llm: ScriptedLLM
) -> None:
    for client in _app(settings, scripted_llm, allowed=True, llm_shared_fields="reading_level,grade"):
        scripted_llm.answer(_reverse_and_cheer)
        client.get(URL, params={"llm": True})
    reader = scripted_llm.user_payloads()[0]["reader"]
    assert set(reader) == {"reading_level", "grade"} and reader["grade"] == 2
    assert "dragons" not in json.dumps(scripted_llm.user_payloads()[0]["reader"])


def test_an_unknown_shared_field_is_a_startup_error(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match="unknown field.*student_name"):
        Settings(data_dir=tmp_path, llm_shared_fields="reading_level,student_name")


def test_search_reads_the_query_with_the_llm_only_when_asked(
    school: TestClient, scripted_llm: ScriptedLLM
) -> None:
    query = {"q": f"rocket stories for {FAN_NAME}"}
    assert school.get("/v1/search", params=query).status_code == 200
    assert scripted_llm.requests == []
    scripted_llm.answer({"text": "rocket", "tags": ["space", "robots"]})
    body = school.get("/v1/search", params={**query, "llm": True}).json()
    assert body["filters"]["tags"] == ["space"] and "tags space (LLM)" in body["understood"]
    assert body["data"] and all(hit["id"] in SPACE for hit in body["data"])
    assert "zelda" not in _everything_sent(scripted_llm)


def test_without_explanations_only_a_ranking_is_asked_for(
    school: TestClient, scripted_llm: ScriptedLLM
) -> None:
    scripted_llm.answer(_reverse_and_cheer)
    body = school.get(URL, params={"llm": True, "explain": False}).json()
    assert body["ranked_by"] == "engine+llm" and body["data"][0]["explanation"] is None
    assert scripted_llm.user_payloads()[0]["tasks"] == ["ranking"]
