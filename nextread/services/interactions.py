"""Recording what readers did: one event, or a batch of up to ``max_batch_size``. The reader's cached
answers go once the events are committed, and the events are committed before the caller is answered."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError
from sqlalchemy.orm import Session

from nextread.cache import ServingCache, invalidate_after_commit
from nextread.config import Settings
from nextread.schemas import BatchResult, InteractionIn
from nextread.services.access import Principal, require_recorder, require_writer
from nextread.services.errors import InvalidError, TooLargeError
from nextread.store.unknown import UnknownIdError
from nextread.store.writes import write_interactions


def record_interaction(
    session: Session,
    cache: ServingCache,
    settings: Settings,
    principal: Principal,
    event: InteractionIn,
) -> BatchResult:
    """A writer records anyone's; a student's own account only their own. Raises
    :class:`UnknownIdError` for an unknown item (or user, without ``NEXTREAD_AUTO_CREATE_USERS``)."""
    require_recorder(principal, event.user_id)
    result = write_interactions(session, principal.tenant_id, [event], settings.intake.auto_create_users)
    invalidate_after_commit(session, cache, principal.tenant_id, [event.user_id])
    if result.errors:
        field, reason = result.errors[0]
        if reason.startswith("unknown"):
            raise UnknownIdError(field, reason)
        raise InvalidError(field, reason)
    session.commit()
    return BatchResult(received=1, stored=result.written, duplicates=result.unchanged, rejected=[])


def record_batch(
    session: Session,
    cache: ServingCache,
    settings: Settings,
    principal: Principal,
    events: list[dict[str, Any]],
) -> BatchResult:
    """Valid rows are stored; invalid ones are listed in ``rejected`` with their index, field and
    reason. Rows whose ``event_id`` is already stored count as duplicates, so a retry is safe."""
    require_writer(principal)
    if len(events) > settings.intake.max_batch_size:
        raise TooLargeError(
            f"batch of {len(events)} events exceeds the limit of {settings.intake.max_batch_size}; split it"
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
    invalidate_after_commit(session, cache, principal.tenant_id, [row.user_id for row in valid])
    for row_index, (field, reason) in result.errors.items():
        rejected.append({"index": positions[row_index], "field": field, "reason": reason})
    rejected.sort(key=lambda row: row["index"])
    session.commit()
    return BatchResult(
        received=len(events), stored=result.written, duplicates=result.unchanged, rejected=rejected
    )
