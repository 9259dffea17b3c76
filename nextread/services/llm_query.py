"""Natural-language catalog queries read by the LLM: a :class:`~nextread.search.query.QueryParser` for
``search_catalog`` that asks the model for structured filters and keeps the rule-based parse whenever
the model is off, fails, or answers something that does not validate.

A librarian's query is free text and may name a student ("books for Zelda, who loves space"), so the
names and ids of the tenant's students are replaced by "a student" before it is sent; when that
happened, the words searched for are the rules' (the model never saw the name, nor should the search
lose it). Tags the model proposes are kept only if the catalog has them, as with candidate ids.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from nextread.llm.client import LLMClient
from nextread.llm.privacy import top_tags
from nextread.search.query import ParsedQuery, QueryParser, parse_query
from nextread.services.recommend import RecommendationService
from nextread.store.models import User

MAX_TAGS_SENT = 200
MIN_NAME_PART = 3
REDACTED = "a student"
QUERY_PROMPT = (
    "You turn a school librarian's catalog search into filters. Reply with one JSON object and nothing "
    'else: {"text": the words to search for (topic, genre, mood; no grade, age, level or language '
    'words), "grade": the reader\'s US grade 0-12 (K = 0) or null, "level_min" and "level_max": '
    "reading level on the US grade-equivalent scale (K = 0) or null, "
    '"tags": tags from catalog_tags that the query asks for (else []), "language": an ISO 639-1 code '
    'or null, "available": true when only books on the shelf are wanted, else null}.'
)


class LLMQueryParser:
    def __init__(
        self,
        client: LLMClient,
        *,
        private_names: Collection[str] = (),
        catalog_tags: Collection[str] = (),
        fallback: QueryParser = parse_query,
    ) -> None:
        self.client = client
        self.private_names = private_names
        self.catalog_tags = catalog_tags
        self.fallback = fallback

    def __call__(self, text: str) -> ParsedQuery:
        rules = self.fallback(text)
        safe = redact(text, self.private_names)
        payload = {"query": safe, "catalog_tags": list(self.catalog_tags)[:MAX_TAGS_SENT]}
        parsed = validated(
            self.client.complete_json("search_query", QUERY_PROMPT, payload), self.catalog_tags
        )
        if parsed is None:
            return rules
        if safe != text or not parsed.text:
            parsed.text = rules.text
        return parsed


def validated(answer: dict[str, Any] | None, catalog_tags: Collection[str]) -> ParsedQuery | None:
    """The model's filters as a :class:`ParsedQuery`, or ``None`` when they do not validate (a grade of
    40, a reversed level range, text that is not text)."""
    if answer is None:
        return None
    known = {tag.casefold() for tag in catalog_tags}
    tags = answer.get("tags") or []
    language = answer.get("language")
    try:
        parsed = ParsedQuery(
            text=answer.get("text") or "",
            grade=answer.get("grade"),
            level_min=answer.get("level_min"),
            level_max=answer.get("level_max"),
            tags=[tag.casefold() for tag in tags if isinstance(tag, str) and tag.casefold() in known],
            language=language.lower()
            if isinstance(language, str) and re.fullmatch(r"[a-zA-Z]{2}", language)
            else None,
            available=True if answer.get("available") is True else None,
        )
    except (ValidationError, TypeError, AttributeError):
        return None
    low, high = parsed.level_min, parsed.level_max
    if any(v is not None and not -1 <= v <= 13 for v in (low, high)) or (
        low is not None and high is not None and low > high
    ):
        return None
    parsed.understood = _understood(parsed)
    return parsed


def _understood(parsed: ParsedQuery) -> list[str]:
    said = []
    if parsed.grade is not None:
        said.append("grade " + ("K" if parsed.grade == 0 else str(parsed.grade)))
    if parsed.level_min is not None or parsed.level_max is not None:
        said.append(
            f"level {parsed.level_min if parsed.level_min is not None else '…'}–"
            f"{parsed.level_max if parsed.level_max is not None else '…'}"
        )
    if parsed.tags:
        said.append("tags " + ", ".join(parsed.tags))
    if parsed.language:
        said.append(f"language {parsed.language}")
    if parsed.available:
        said.append("available now")
    return [f"{phrase} (LLM)" for phrase in said]


def redact(text: str, names: Iterable[str]) -> str:
    """Every whole-word occurrence of a private name or id, longest first, becomes "a student"."""
    for name in sorted(set(names), key=len, reverse=True):
        text = re.sub(rf"(?<!\w){re.escape(name)}(?!\w)", REDACTED, text, flags=re.IGNORECASE)
    return text


def student_names(session: Session, tenant_id: int) -> set[str]:
    """Display names, their parts of three letters or more, and external ids of the tenant's users."""
    names: set[str] = set()
    for display_name, external_id in session.execute(
        select(User.display_name, User.external_id).where(User.tenant_id == tenant_id)
    ):
        names.add(external_id)
        if display_name:
            names.add(display_name)
            names.update(part for part in re.split(r"[\s\-.,']+", display_name) if len(part) >= MIN_NAME_PART)
    return names


def search_parser(
    llm: LLMClient | None, service: RecommendationService, session: Session, tenant_id: int
) -> QueryParser:
    """The parser a search should use: the LLM's when one is given, else the rules. The catalog's
    most common tags (from the served catalog) are what the model may choose from."""
    if llm is None:
        return parse_query
    artifact = service.registry.ensure(tenant_id)
    tag_sets = service.catalog(session, tenant_id, artifact).catalog.tags if artifact is not None else []
    return LLMQueryParser(
        llm,
        private_names=student_names(session, tenant_id),
        catalog_tags=top_tags(tag_sets, MAX_TAGS_SENT),
    )
