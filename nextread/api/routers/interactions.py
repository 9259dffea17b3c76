"""Interactions: one event at a time, or batches of up to ``max_batch_size`` (10,000 by default)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Request

from nextread.api.deps import AdminDep, SessionDep, SettingsDep
from nextread.api.errors import problems
from nextread.schemas import BatchResult, InteractionIn
from nextread.services.interactions import record_batch, record_interaction

router = APIRouter(prefix="/v1/interactions", tags=["interactions"])


@router.post(
    "",
    response_model=BatchResult,
    status_code=201,
    summary="Record one interaction (404 for an unknown item, or user without auto-creation)",
    responses=problems(404),
)
def post_interaction(
    body: InteractionIn, request: Request, session: SessionDep, principal: AdminDep, settings: SettingsDep
) -> BatchResult:
    return record_interaction(session, request.app.state.cache, settings, principal, body)


@router.post(
    "/batch",
    response_model=BatchResult,
    status_code=201,
    summary="Record a batch of interactions (413 above the batch limit)",
    description="A JSON array of interaction objects (same shape as `POST /v1/interactions`). Answers "
    "201 like a single write once the batch is processed: valid rows are stored; invalid ones are listed "
    "in `rejected` with their index, field and reason. Rows whose `event_id` is already stored count as "
    "duplicates, so retrying a batch is safe.",
)
def post_batch(
    request: Request,
    session: SessionDep,
    principal: AdminDep,
    settings: SettingsDep,
    events: list[dict[str, Any]] = Body(..., description="Interaction objects."),
) -> BatchResult:
    return record_batch(session, request.app.state.cache, settings, principal, events)
