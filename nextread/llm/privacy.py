"""Exactly what the optional LLM may learn about a reader and about the books we ask it to judge.

Student data never leaves the server in identifiable form: no name, no id (internal or external), no
free text written by or about the student, and no individual reading history (titles they read). The
LLM sees only pseudonymous, aggregated preferences — the fields of :data:`READER_FIELDS`, further
narrowed by the operator with ``NEXTREAD_LLM_SHARED_FIELDS`` — and, per candidate book, the catalog
facts of :data:`BOOK_FIELDS`. Interests are free text about a student, so they are never sent: only
the catalog's own tags that the text mentions go out (``interest_tags``), a controlled vocabulary
that cannot carry anything the library did not already write itself.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from nextread.config import READER_FIELDS  # the reader fields the LLM may receive (README: "LLM privacy")

# Per-candidate fields; ``id`` is a key local to one request ("b1", "b2", …), never a catalog id.
BOOK_FIELDS = (
    "id",
    "title",
    "authors",
    "tags",
    "reading_level",
    "series",
    "description",
    "engine_score",
    "reasons",
)
TOP_TAGS = 5
MAX_BOOK_TAGS = 8
MAX_DESCRIPTION_CHARS = 300
# Generic phrases for the engine's components: no class name, no title of a book the reader enjoyed.
REASON_PHRASES = {
    "cf": "readers with similar taste liked it",
    "semantic": "like books this reader enjoyed",
    "reading_match": "fits the reader's level",
    "social": "popular with classmates",
    "rating": "highly rated",
    "recency": "new",
    "staff_pick": "a librarian's pick",
    "series": "next in a series the reader enjoyed",
    "popularity": "popular at this reading level",
}
STRONG_COMPONENT = 0.5


@dataclass(frozen=True)
class ReaderFacts:
    """Everything the server knows that could be shared, already aggregated; :func:`shared_reader`
    picks the allowed subset."""

    reading_level: float | None = None
    just_right_band: tuple[float, float] | None = None
    grade: int | None = None
    top_tags: list[str] = field(default_factory=list)
    interest_tags: list[str] = field(default_factory=list)
    books_enjoyed: int = 0
    books_abandoned: int = 0


def parse_fields(setting: str) -> tuple[str, ...]:
    """``NEXTREAD_LLM_SHARED_FIELDS`` as a tuple (the settings validator already rejected unknown names)."""
    return tuple(name.strip() for name in setting.split(",") if name.strip() in READER_FIELDS)


def shared_reader(facts: ReaderFacts, fields: Sequence[str]) -> dict[str, object]:
    """The reader as the LLM sees it: only the listed fields, rounded so no value is more precise than
    a librarian would say aloud."""
    values: dict[str, object] = {
        "reading_level": None if facts.reading_level is None else round(facts.reading_level * 2) / 2,
        "just_right_band": None
        if facts.just_right_band is None
        else [round(edge, 1) for edge in facts.just_right_band],
        "grade": facts.grade,
        "top_tags": list(facts.top_tags),
        "interest_tags": list(facts.interest_tags),
        "books_enjoyed": facts.books_enjoyed,
        "books_abandoned": facts.books_abandoned,
    }
    return {name: values[name] for name in READER_FIELDS if name in fields}


def top_tags(tag_sets: Iterable[frozenset[str]], limit: int = TOP_TAGS) -> list[str]:
    """Most frequent tags among the books a reader enjoyed (ties alphabetical, so prompts are stable
    and cacheable)."""
    counts = Counter(tag for tags in tag_sets for tag in tags)
    return [tag for tag, _ in sorted(counts.items(), key=lambda pair: (-pair[1], pair[0]))[:limit]]


def interest_tags(interests: str | None, vocabulary: Iterable[str], limit: int = TOP_TAGS) -> list[str]:
    """Catalog tags named in a reader's interests text ("I love dragons and space" → dragons, space),
    as whole words, singular or plural. Only vocabulary entries come out, never the text itself."""
    if not interests:
        return []
    text = interests.casefold()
    found = []
    for tag in sorted(set(vocabulary)):
        stem = tag[:-1] if tag.endswith("s") and len(tag) > 3 else tag
        if stem and re.search(rf"(?<!\w){re.escape(stem)}(?:s|es)?(?!\w)", text):
            found.append(tag)
    return found[:limit]


def reasons(components: Mapping[str, float], weights: Mapping[str, float] | None = None) -> list[str]:
    """The engine's strongest components as generic phrases, strongest first."""
    weights = weights or {}
    strong = [
        name
        for name, value in components.items()
        if name in REASON_PHRASES and value >= STRONG_COMPONENT and weights.get(name, 1.0) > 0
    ]
    strong.sort(key=lambda name: -weights.get(name, 1.0) * components[name])
    return [REASON_PHRASES[name] for name in strong[:3]]


def book_payload(
    key: str,
    *,
    title: str,
    authors: Sequence[str],
    tags: Iterable[str],
    level: float | None,
    series: str | None,
    description: str | None,
    engine_score: float,
    reason_phrases: Sequence[str],
) -> dict[str, object]:
    """One candidate as sent: catalog facts only, trimmed (long descriptions cost tokens, not quality)."""
    text = " ".join((description or "").split())
    payload: dict[str, object] = {
        "id": key,
        "title": title,
        "authors": list(authors)[:3],
        "tags": sorted(tags)[:MAX_BOOK_TAGS],
        "reading_level": None if level is None or np.isnan(level) else round(float(level), 1),
        "series": series or None,
        "description": text[:MAX_DESCRIPTION_CHARS] or None,
        "engine_score": round(float(engine_score), 3),
        "reasons": list(reason_phrases),
    }
    return payload
