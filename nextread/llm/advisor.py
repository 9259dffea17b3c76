"""What we ask the LLM about recommendations, and how little of its answer we trust.

One call per request both re-ranks the engine's top candidates and writes short kid-friendly
sentences. The answer is only ever a choice among the request-local ids we sent: unknown or repeated
ids are dropped, a ranking with no valid id counts as no ranking (the engine's order stands), and an
unusable sentence keeps the engine's own explanation.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from nextread.llm.client import LLMClient

MAX_SENTENCE_CHARS = 200
SYSTEM_PROMPT = (
    "You help a school librarian recommend books to one elementary-school reader (grades K-5). "
    "You get an anonymous summary of the reader (reading level on a US-grade scale where K = 0, "
    "favourite tags, counts) and candidate books, each with an id. "
    "Reply with one JSON object and nothing else: "
    '{"ranking": [ids, best first], "explanations": {id: sentence}}. '
    "Use only ids from the candidates. Rank for fit to the reader's level and tastes. "
    "Each sentence speaks to the child as 'you', is at most 20 simple words, is kind and concrete, "
    "and uses only the facts given."
)


@dataclass
class Advice:
    """``ranking``: valid candidate ids in the LLM's order, or ``None`` to keep the engine's order."""

    ranking: list[str] | None = None
    explanations: dict[str, str] = field(default_factory=dict)


def advise(
    client: LLMClient,
    reader: Mapping[str, object],
    candidates: Sequence[Mapping[str, object]],
    *,
    explain: bool = True,
) -> Advice:
    """A ranking always; sentences only when the caller will show them (they cost most of the tokens)."""
    keys = [str(candidate["id"]) for candidate in candidates]
    tasks = ["ranking", "explanations"] if explain else ["ranking"]
    payload = {"tasks": tasks, "reader": dict(reader), "candidates": list(candidates)}
    answer = client.complete_json("recommendations", SYSTEM_PROMPT, payload)
    if answer is None:
        return Advice()
    return Advice(
        ranking=valid_ranking(answer.get("ranking"), keys),
        explanations=valid_explanations(answer.get("explanations"), keys) if explain else {},
    )


def valid_ranking(raw: Any, keys: Sequence[str]) -> list[str] | None:
    """Known ids in order, first occurrence only; ``None`` when nothing usable is left."""
    if not isinstance(raw, list):
        return None
    allowed = set(keys)
    ranking: list[str] = []
    for entry in raw:
        if isinstance(entry, str) and entry in allowed and entry not in ranking:
            ranking.append(entry)
    return ranking or None


def valid_explanations(raw: Any, keys: Sequence[str]) -> dict[str, str]:
    """One-line sentences for known ids; anything else (long, empty, not text) is left out."""
    if not isinstance(raw, dict):
        return {}
    allowed = set(keys)
    sentences = {}
    for key, sentence in raw.items():
        if key not in allowed or not isinstance(sentence, str):
            continue
        text = " ".join(sentence.split())
        if 0 < len(text) <= MAX_SENTENCE_CHARS:
            sentences[key] = text
    return sentences


def blend(
    engine_scores: Sequence[float], keys: Sequence[str], ranking: Sequence[str], weight: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """final = (1 − weight) × engine + weight × LLM, both in [0, 1] over the candidates: engine scores
    min-max normalised, the LLM's position k of K listed as (K − k) / K (first = 1), unlisted = 0.
    Returns ``(order, final, llm)``: candidate positions best first (ties keep engine order)."""
    engine = np.asarray(engine_scores, dtype=np.float64)
    spread = engine.max() - engine.min() if len(engine) else 0.0
    engine_norm = (engine - engine.min()) / spread if spread > 0 else np.ones(len(engine))
    position = {key: index for index, key in enumerate(ranking)}
    llm = np.array(
        [(len(ranking) - position[key]) / len(ranking) if key in position else 0.0 for key in keys]
    )
    final = (1.0 - weight) * engine_norm + weight * llm
    order = np.argsort(-final, kind="stable")
    return order, final, llm
