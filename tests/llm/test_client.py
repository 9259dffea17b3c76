"""LLMClient and the advisor against the scripted OpenAI-compatible server: good, slow, malformed,
hallucinating and failing replies, the circuit breaker and the response cache."""

from __future__ import annotations

import time

import numpy as np
import pytest

from nextread.cache.backends import MemoryCache
from nextread.config import Settings
from nextread.llm.advisor import advise, blend, valid_explanations, valid_ranking
from nextread.llm.client import CircuitBreaker, LLMClient, parse_json_object
from tests.llm.conftest import ScriptedLLM

CANDIDATES = [{"id": f"b{n}", "title": f"Book {n}"} for n in range(1, 5)]
READER = {"reading_level": 2.0, "top_tags": ["dragons"]}


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _client(server: ScriptedLLM, *, timeout: float = 5.0, clock: Clock | None = None) -> LLMClient:
    breaker = CircuitBreaker(failures=2, cooldown=30.0, clock=clock or Clock())
    return LLMClient(
        server.base_url, "scripted-model", "sk-test", timeout=timeout, breaker=breaker, cache=MemoryCache(64)
    )


def test_a_good_reply_is_parsed_and_sent_as_an_openai_chat_request(scripted_llm: ScriptedLLM) -> None:
    scripted_llm.answer({"ranking": ["b3", "b1"], "explanations": {"b3": "You will love the dragon!"}})
    advice = advise(_client(scripted_llm), READER, CANDIDATES)
    assert advice.ranking == ["b3", "b1"]
    assert advice.explanations == {"b3": "You will love the dragon!"}
    request = scripted_llm.requests[0]
    assert scripted_llm.paths == ["/v1/chat/completions"]
    assert request["model"] == "scripted-model"
    assert [m["role"] for m in request["messages"]] == ["system", "user"]
    assert scripted_llm.user_payloads()[0] == {
        "tasks": ["ranking", "explanations"],
        "reader": READER,
        "candidates": CANDIDATES,
    }


def test_hallucinated_and_repeated_ids_are_dropped(scripted_llm: ScriptedLLM) -> None:
    scripted_llm.answer(
        {
            "ranking": ["b9", "b2", "dragon-7", "b2", 4, "b1"],
            "explanations": {"b2": "Fun!", "b77": "Not a candidate.", "b1": 42},
        }
    )
    advice = advise(_client(scripted_llm), READER, CANDIDATES)
    assert advice.ranking == ["b2", "b1"]
    assert advice.explanations == {"b2": "Fun!"}


def test_a_ranking_of_only_unknown_ids_keeps_the_engine_order(scripted_llm: ScriptedLLM) -> None:
    scripted_llm.answer({"ranking": ["b99", "x"]})
    assert advise(_client(scripted_llm), READER, CANDIDATES).ranking is None


@pytest.mark.parametrize(
    "content", ["this is not json", '["b1", "b2"]', '{"ranking": "b1"}', '{"ranking": [1, 2]}', ""]
)
def test_malformed_answers_fall_back_without_opening_the_circuit(
    scripted_llm: ScriptedLLM, content: str
) -> None:
    client = _client(scripted_llm)
    for _ in range(3):
        scripted_llm.answer(content)
        advice = advise(client, READER, CANDIDATES)
        assert advice.ranking is None and advice.explanations == {}
        client.cache.close()  # type: ignore[union-attr]
    assert client.breaker.state == "closed"
    assert len(scripted_llm.requests) == 3


def test_json_in_code_fences_is_accepted() -> None:
    assert parse_json_object('```json\n{"ranking": ["b1"]}\n```') == {"ranking": ["b1"]}
    assert parse_json_object("[1]") is None


def test_a_slow_reply_times_out_and_falls_back(scripted_llm: ScriptedLLM) -> None:
    scripted_llm.answer({"ranking": ["b1"]}, delay=1.5)
    client = _client(scripted_llm, timeout=0.3)
    started = time.perf_counter()
    assert advise(client, READER, CANDIDATES).ranking is None
    assert time.perf_counter() - started < 1.2
    assert client.breaker.state == "closed"  # one failure, threshold 2


def test_server_errors_open_the_circuit_then_half_open_recovers(scripted_llm: ScriptedLLM) -> None:
    clock = Clock()
    client = _client(scripted_llm, clock=clock)
    scripted_llm.default.status = 500
    payloads = [{"n": n} for n in range(10)]  # distinct prompts: no cache hits
    assert client.complete_json("t", "s", payloads[0]) is None
    assert client.complete_json("t", "s", payloads[1]) is None
    assert client.breaker.state == "open"
    assert client.complete_json("t", "s", payloads[2]) is None
    assert len(scripted_llm.requests) == 2  # the open circuit did not call the server

    clock.now += 31  # cooldown over: one trial call, which fails and re-opens
    assert client.complete_json("t", "s", payloads[3]) is None
    assert len(scripted_llm.requests) == 3
    assert client.breaker.state == "open"
    assert client.complete_json("t", "s", payloads[4]) is None
    assert len(scripted_llm.requests) == 3

    clock.now += 31  # next trial succeeds and closes the circuit
    scripted_llm.default.status = 200
    scripted_llm.answer({"ok": True})
    assert client.complete_json("t", "s", payloads[5]) == {"ok": True}
    assert client.breaker.state == "closed"
    assert client.complete_json("t", "s", payloads[6]) == {}
    assert len(scripted_llm.requests) == 5


def test_half_open_lets_a_single_trial_through() -> None:
    clock = Clock()
    breaker = CircuitBreaker(failures=1, cooldown=5.0, clock=clock)
    breaker.record_failure()
    assert not breaker.allow()
    clock.now += 5
    assert breaker.allow()
    assert breaker.state == "half_open"
    assert not breaker.allow()  # a second caller waits for the trial's outcome


def test_an_identical_prompt_is_answered_from_the_cache(scripted_llm: ScriptedLLM) -> None:
    client = _client(scripted_llm)
    scripted_llm.answer({"ranking": ["b2"]})
    first = advise(client, READER, CANDIDATES)
    second = advise(client, READER, CANDIDATES)
    assert first.ranking == second.ranking == ["b2"]
    assert len(scripted_llm.requests) == 1
    advise(client, {**READER, "reading_level": 3.0}, CANDIDATES)
    assert len(scripted_llm.requests) == 2  # a different prompt is a different key


def test_the_llm_is_off_without_a_base_url(tmp_path) -> None:  # type: ignore[no-untyped-def]
    assert LLMClient.from_settings(Settings(data_dir=tmp_path)) is None
    on = LLMClient.from_settings(Settings(data_dir=tmp_path, llm_base_url="http://127.0.0.1:9/v1"))
    assert on is not None and on.breaker.threshold == 3


def test_blend_is_a_weighted_mean_of_normalised_engine_and_llm_rank() -> None:
    order, final, llm = blend([0.9, 0.8, 0.5], ["b1", "b2", "b3"], ["b3", "b2"], weight=0.4)
    np.testing.assert_allclose(llm, [0.0, 0.5, 1.0])
    np.testing.assert_allclose(final, [0.6 * 1.0, 0.6 * 0.75 + 0.4 * 0.5, 0.4 * 1.0])
    assert order.tolist() == [1, 0, 2]
    assert blend([0.9, 0.8], ["b1", "b2"], ["b2"], weight=0.0)[0].tolist() == [0, 1]


def test_validators_reject_wrong_shapes() -> None:
    assert valid_ranking({"b1": 1}, ["b1"]) is None
    assert valid_explanations(["b1"], ["b1"]) == {}
    assert valid_explanations({"b1": "word " * 50}, ["b1"]) == {}
    assert valid_explanations({"b1": "Two\nlines"}, ["b1"]) == {"b1": "Two lines"}
