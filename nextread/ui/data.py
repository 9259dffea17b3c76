"""What the pages show that needs the dashboard's own context (the recommendation service, the LLM,
the cache, the settings), computed by the service functions the API's endpoints call.

Everything a client could also ask over HTTP goes through the service the HTTP endpoint uses, so the
dashboard and the API cannot disagree; the questions no endpoint answers (counts, a name search,
readers of a book) are in :mod:`nextread.services.dashboard`. Writes go through the same services
with the signed-in account's own role."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from nextread.engine.hybrid import Weights
from nextread.schemas import BatchResult, InteractionIn
from nextread.services import answers, dashboard, readers
from nextread.services.access import Principal
from nextread.services.errors import NoCatalogError
from nextread.services.interactions import record_interaction
from nextread.ui.context import cache, llm, service, settings


def profile(session: Session, identity: Principal, student_id: str) -> dict[str, Any]:
    return readers.user_profile(session, identity.tenant_id, student_id).model_dump()


def recommendations(
    session: Session, identity: Principal, student_id: str, n: int = 12, weights: Weights | None = None
) -> list[dict[str, Any]]:
    """The same service and answer shape as ``GET /v1/users/{id}/recommendations``, with optional
    weights (the staff page's sliders); computed fresh, never from the API cache."""
    request = answers.default_request(n, weights)
    try:
        out = answers.reader_recommendations(
            service(), llm(), settings(), session, identity.tenant_id, student_id, request
        )
    except NoCatalogError:
        return []
    return [row.model_dump() for row in out.data]


def tenant_weights(session: Session, identity: Principal) -> Weights:
    return service().tenant_weights(session, identity.tenant_id)


def log_interaction(
    session: Session, identity: Principal, student_id: str, item_id: str, kind: str
) -> BatchResult:
    """Through the interactions service, so the student's cached lists go too. A curator records for
    any student, a student for themself; a read-only key looks but does not write."""
    event = InteractionIn(user_id=student_id, item_id=item_id, type=kind)
    return record_interaction(session, cache(), settings(), identity, event)


MY_BOOKS = 50
"""Newest liked and saved books a student's page lists (more than a child scrolls through)."""


def my_books(session: Session, identity: Principal, student_id: str) -> dict[str, list[dict[str, Any]]]:
    """The student's own shelf, newest first: books they liked, and books they saved to read and have
    not liked since (liking a saved book means it was read). From the history ``GET
    /v1/users/{id}/history`` answers, so the shelf and the API agree."""
    shelf: dict[str, list[dict[str, Any]]] = {}
    for kind in ("like", "save"):
        events = readers.user_history(session, identity.tenant_id, student_id, MY_BOOKS, type=kind).data
        ids = list(dict.fromkeys(event.item_id for event in events))
        shelf[kind] = dashboard.books_by_id(session, identity.tenant_id, ids)
    liked = {row["id"] for row in shelf["like"]}
    shelf["save"] = [row for row in shelf["save"] if row["id"] not in liked]
    return shelf


def similar(session: Session, identity: Principal, item_id: str, n: int = 8) -> list[dict[str, Any]]:
    answer = answers.similar_items(service(), session, identity.tenant_id, item_id, n)
    return [row.model_dump() for row in answer.data]
