"""Interactions: one event at a time, or batches of up to ``max_batch_size`` (10,000 by default)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, HTTPException, Request, status
from pydantic import ValidationError

from nextread.api.deps import AdminDep, SessionDep, SettingsDep
from nextread.api.errors import problems
from nextread.cache import invalidate_after_commit
from nextread.schemas import BatchResult, InteractionIn
from nextread.store.writes import write_interactions

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
    result = write_interactions(session, principal.tenant_id, [body], settings.intake.auto_create_users)
    invalidate_after_commit(session, request.app.state.cache, principal.tenant_id, [body.user_id])
    if result.errors:
        field, reason = result.errors[0]
        code = (
            status.HTTP_404_NOT_FOUND
            if reason.startswith("unknown")
            else status.HTTP_422_UNPROCESSABLE_CONTENT
        )
        raise HTTPException(code, f"{field}: {reason}")
    return BatchResult(received=1, stored=result.written, duplicates=result.unchanged, rejected=[])


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
    if len(events) > settings.intake.max_batch_size:
        raise HTTPException(
            status.HTTP_413_CONTENT_TOO_LARGE,
            f"batch of {len(events)} events exceeds the limit of {settings.intake.max_batch_size}; split it",
        )
    valid: list[InteractionIn] = []
    positions: list[int] = []
    rejected: list[dict[str, Any]] = []
    for index, raw in enumerate(events):
        try:
            valid.append(InteractionIn.model_validate(raw))
            positions.append(index)
        except ValidationError as exc:
            error = exc.errors()[0]
            field = ".".join(str(part) for part in error["loc"]) or "body"
            rejected.append({"index": index, "field": field, "reason": error["msg"]})
    result = write_interactions(session, principal.tenant_id, valid, settings.intake.auto_create_users)
    invalidate_after_commit(session, request.app.state.cache, principal.tenant_id, [r.user_id for r in valid])
    for row_index, (field, reason) in result.errors.items():
        rejected.append({"index": positions[row_index], "field": field, "reason": reason})
    rejected.sort(key=lambda row: row["index"])
    return BatchResult(
        received=len(events), stored=result.written, duplicates=result.unchanged, rejected=rejected
    )
