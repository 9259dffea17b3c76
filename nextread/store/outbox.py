"""The transactional outbox: interaction events stored beside the interactions, published by the relay.

One outbox row per written batch carries every newly stored interaction of that batch as ready-made
bus messages (``key<TAB>JSON`` lines), so writing 10,000 events costs one extra row, and the relay
publishes without decoding anything. The event JSON is the contract with the workers
(``nextread.services.event_handlers.InteractionEvent``).
"""

from __future__ import annotations

import json
import math
import re
from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from json.encoder import encode_basestring_ascii as _json_string  # type: ignore[attr-defined]
from typing import Any, NamedTuple

from sqlalchemy import Connection, func, insert, select, text, update
from sqlalchemy.orm import Session

from nextread.store.models import OutboxEntry, ProcessedEvent, utcnow

EVENT_KIND = "interaction"
EVENT_VERSION = 1
# The event id as ``encode_event`` writes it: a JSON string (inside one, a quote is always escaped, so
# this cannot match text within another field).
_EVENT_ID = re.compile(r'"event_id":("(?:[^"\\]|\\.)*")')
LOOKUP_CHUNK = 1000  # event ids per processed_events query on SQLite; PostgreSQL takes 10x in one array


class StoredEvent(NamedTuple):
    """A newly stored interaction as the database returned it (internal ids, DB timestamp form)."""

    user_id: int
    item_id: int
    type: str
    value: float | None
    occurred_at: Any  # datetime (PostgreSQL) or ISO text (SQLite), naive UTC either way
    event_id: str


class PendingBatch(NamedTuple):
    id: int
    events: int
    payload: str


class PublishedBatch(NamedTuple):
    """A sent row whose events were not all found applied yet."""

    id: int
    tenant_id: int
    events: int
    payload: str
    created_at: datetime
    republished: int


def _utc_iso(value: Any) -> str:
    if isinstance(value, datetime):
        value = value.replace(tzinfo=None).isoformat()
    return str(value).replace(" ", "T") + "Z"


def message_key(tenant_id: int, user_external_id: str) -> str:
    """Events of one reader share a key, so every backend keeps them in order (Kafka: one partition)."""
    return f"{tenant_id}:{user_external_id}"


def encode_event(tenant_id: int, event: StoredEvent, user_external_id: str, occurred_at: str) -> str:
    """The event as compact JSON, assembled by hand: ``json.dumps`` of a dict per event was a tenth of
    a 1,000-event batch request. Free text goes through the C string encoder; ``type`` is ``[a-z_]+``
    by validation and the numbers are ints or finite floats."""
    value = "null" if event.value is None or not math.isfinite(event.value) else repr(float(event.value))
    return (
        f'{{"kind":"{EVENT_KIND}","v":{EVENT_VERSION},"tenant_id":{tenant_id},'
        f'"event_id":{_json_string(event.event_id)},"user":{_json_string(user_external_id)},'
        f'"user_pk":{int(event.user_id)},"item_pk":{int(event.item_id)},"type":{_json_string(event.type)},'
        f'"value":{value},"occurred_at":"{occurred_at}"}}'
    )


def add_to_outbox(
    session: Session, tenant_id: int, events: list[StoredEvent], user_external: dict[int, str]
) -> None:
    """Queue the events in the caller's transaction; marks the session so the local relay is woken
    right after the commit instead of at its next poll."""
    lines = []
    timestamps: dict[Any, str] = {}  # events of one request mostly share their timestamp
    for event in events:
        external = user_external[event.user_id]
        occurred_at = timestamps.get(event.occurred_at)
        if occurred_at is None:
            occurred_at = timestamps[event.occurred_at] = _utc_iso(event.occurred_at)
        body = encode_event(tenant_id, event, external, occurred_at)
        lines.append(f"{message_key(tenant_id, external)}\t{body}")
    session.execute(
        insert(OutboxEntry).values(
            tenant_id=tenant_id, events=len(lines), payload="\n".join(lines), created_at=utcnow(), attempts=0
        )
    )
    session.info["outbox_written"] = True


def decode_payload(payload: str) -> list[tuple[str, bytes]]:
    """An outbox payload as ``(key, payload)`` pairs for ``EventBus.publish``."""
    messages = []
    for line in payload.split("\n"):
        key, _, body = line.partition("\t")
        messages.append((key, body.encode()))
    return messages


def claim_pending(connection: Connection, max_rows: int) -> list[PendingBatch]:
    """The oldest unsent rows. On PostgreSQL they stay locked until the caller's transaction ends and
    rows another relay holds are skipped, so several relays never publish the same row concurrently."""
    statement = (
        select(OutboxEntry.id, OutboxEntry.events, OutboxEntry.payload)
        .where(OutboxEntry.sent_at.is_(None))
        .order_by(OutboxEntry.id)
        .limit(max_rows)
    )
    if connection.dialect.name == "postgresql":
        statement = statement.with_for_update(skip_locked=True)
    return [PendingBatch(*row) for row in connection.execute(statement)]


def any_pending(connection: Connection) -> bool:
    """Whether an unsent row exists (an index lookup; no row is locked)."""
    statement = select(OutboxEntry.id).where(OutboxEntry.sent_at.is_(None)).limit(1)
    return connection.execute(statement).first() is not None


def mark_sent(connection: Connection, ids: list[int]) -> None:
    connection.execute(update(OutboxEntry).where(OutboxEntry.id.in_(ids)).values(sent_at=utcnow()))


def record_failure(connection: Connection, ids: list[int], error: str) -> None:
    connection.execute(
        update(OutboxEntry)
        .where(OutboxEntry.id.in_(ids))
        .values(attempts=OutboxEntry.attempts + 1, last_error=error[:500])
    )


def backlog(connection: Connection) -> tuple[int, int]:
    """(rows, events) not yet published."""
    rows, events = connection.execute(
        select(func.count(OutboxEntry.id), func.coalesce(func.sum(OutboxEntry.events), 0)).where(
            OutboxEntry.sent_at.is_(None)
        )
    ).one()
    return int(rows), int(events)


def purge_settled(connection: Connection, older_than: timedelta) -> int:
    """Forget rows settled more than ``older_than`` ago (kept until then for inspection). A row whose
    events were not all applied stays: it is what a lost event is re-published from."""
    cutoff = datetime.now(UTC) - older_than
    result = connection.execute(
        OutboxEntry.__table__.delete().where(
            OutboxEntry.settled_at.is_not(None), OutboxEntry.settled_at < cutoff
        )
    )
    return result.rowcount or 0


def published_unsettled(
    connection: Connection,
    *,
    stored_before: datetime,
    sent_before: datetime,
    after_id: int,
    limit: int,
    lock: bool = False,
) -> list[PublishedBatch]:
    """Sent, unsettled rows in id order. With ``lock`` on PostgreSQL they stay locked until the
    caller's transaction ends and rows another process holds are skipped (as in ``claim_pending``)."""
    statement = (
        select(
            OutboxEntry.id,
            OutboxEntry.tenant_id,
            OutboxEntry.events,
            OutboxEntry.payload,
            OutboxEntry.created_at,
            OutboxEntry.republished,
        )
        .where(
            OutboxEntry.settled_at.is_(None),
            OutboxEntry.sent_at.is_not(None),
            OutboxEntry.sent_at <= sent_before,
            OutboxEntry.created_at <= stored_before,
            OutboxEntry.id > after_id,
        )
        .order_by(OutboxEntry.id)
        .limit(limit)
    )
    if lock and connection.dialect.name == "postgresql":
        statement = statement.with_for_update(skip_locked=True)
    return [PublishedBatch(*row) for row in connection.execute(statement)]


def _event_ids(payload: str) -> list[str]:
    """The event ids of a payload's lines, in line order, found in one pass over the whole text."""
    return [json.loads(token) if "\\" in token else token[1:-1] for token in _EVENT_ID.findall(payload)]


def unapplied_messages(
    connection: Connection, batches: Sequence[PublishedBatch]
) -> dict[int, list[tuple[str, bytes]]]:
    """Per row id, the ``(key, payload)`` messages whose event id is not in ``processed_events``
    (an empty list: every event of the row was applied). Mostly every event was: then nothing is
    decoded beyond the ids, and the database answers with no rows."""
    ids = {batch.id: _event_ids(batch.payload) for batch in batches}
    wanted: dict[int, set[str]] = defaultdict(set)
    for batch in batches:
        wanted[batch.tenant_id].update(ids[batch.id])
    missing = {
        tenant_id: _missing_ids(connection, tenant_id, sorted(event_ids))
        for tenant_id, event_ids in wanted.items()
    }
    result: dict[int, list[tuple[str, bytes]]] = {}
    for batch in batches:
        lost = missing[batch.tenant_id]
        if lost.isdisjoint(ids[batch.id]):
            result[batch.id] = []
            continue
        messages = decode_payload(batch.payload)
        result[batch.id] = [
            m for m, event_id in zip(messages, ids[batch.id], strict=True) if event_id in lost
        ]
    return result


_MISSING_POSTGRESQL = text(
    "SELECT wanted.id FROM unnest(CAST(:ids AS varchar[])) AS wanted(id) WHERE NOT EXISTS "
    "(SELECT 1 FROM processed_events p WHERE p.tenant_id = :tenant_id AND p.event_id = wanted.id)"
)


def _missing_ids(connection: Connection, tenant_id: int, event_ids: list[str]) -> set[str]:
    """The ids not in ``processed_events``. PostgreSQL gets each chunk as one array and returns only
    the missing ids: a thousand-item ``IN`` list, and reading back every applied id, cost more than
    the lookups themselves."""
    postgres = connection.dialect.name == "postgresql"
    chunk_size = LOOKUP_CHUNK * 10 if postgres else LOOKUP_CHUNK
    missing: set[str] = set()
    for start in range(0, len(event_ids), chunk_size):
        chunk = event_ids[start : start + chunk_size]
        if postgres:
            missing.update(connection.scalars(_MISSING_POSTGRESQL, {"ids": chunk, "tenant_id": tenant_id}))
            continue
        applied = select(ProcessedEvent.event_id).where(
            ProcessedEvent.tenant_id == tenant_id, ProcessedEvent.event_id.in_(chunk)
        )
        missing.update(set(chunk).difference(connection.scalars(applied)))
    return missing


def mark_settled(connection: Connection, ids: list[int], note: str | None = None) -> None:
    """Done with these rows: every event applied, or (with ``note``) given up on for that reason.

    Rows another process holds locked (PostgreSQL) are skipped rather than waited for: a later round
    settles them, and two processes settling overlapping rows can never deadlock."""
    if not ids:
        return
    values: dict[str, Any] = {"settled_at": utcnow()}
    if note is not None:
        values["last_error"] = note[:500]
    free = (
        select(OutboxEntry.id)
        .where(OutboxEntry.id.in_(ids), OutboxEntry.settled_at.is_(None))
        .with_for_update(skip_locked=True)
    )
    connection.execute(update(OutboxEntry).where(OutboxEntry.id.in_(free.scalar_subquery())).values(**values))


def mark_republished(connection: Connection, ids: list[int]) -> None:
    """Sent again now: the next check of these rows waits another reconcile period."""
    if ids:
        connection.execute(
            update(OutboxEntry)
            .where(OutboxEntry.id.in_(ids))
            .values(sent_at=utcnow(), republished=OutboxEntry.republished + 1)
        )
