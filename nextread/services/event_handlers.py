"""What a worker does with interaction events: idempotent effects, one transaction per batch.

For each new event (its id not yet in ``processed_events``) the worker
* counts it in ``item_daily_counts`` (events and positive events per item and UTC day), which
  ``GET /v1/items/trending`` reads, and
* invalidates the reader's cached recommendations, so the next request recomputes them. The reader's
  real-time state itself needs no copy: serving folds the reader's stored events in on every request,
  so once the cache entry is gone the new event counts.

The event ids go into ``processed_events`` in the same transaction as the counts, so a redelivered
event (a worker crashed before its ack, a relay re-published after a lost commit) changes nothing.
A batch is applied in one transaction for speed; when that fails for a reason other than an
unreachable database, the batch is retried event by event so one poison event cannot block the rest.
"""

from __future__ import annotations

import json
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError
from sqlalchemy import Connection
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from nextread.events.bus import Message
from nextread.observability import get_logger
from nextread.store.db import session_scope
from nextread.store.models import ItemDailyCount, ProcessedEvent, utcnow
from nextread.store.outbox import EVENT_KIND, EVENT_VERSION
from nextread.store.tenants import interaction_weights
from nextread.store.writes import driver_errors

log = get_logger("nextread.services.event_handlers")

# Consumer group of the interaction workers (one group: every event is applied once in all).
INTERACTIONS_GROUP = "nextread-interactions"
# Which event types count as positive is a tenant setting; re-read it at most this often.
WEIGHTS_SECONDS = 30.0

# Called with (tenant_id, user external ids) after the effects are committed.
InvalidateUsers = Callable[[int, list[str]], None]


class InteractionEvent(BaseModel):
    """The event contract written by ``nextread.store.outbox.encode_event``."""

    model_config = ConfigDict(extra="ignore")

    kind: Literal["interaction"]
    v: Literal[1]
    tenant_id: int
    event_id: str
    user: str
    user_pk: int
    item_pk: int
    type: str
    value: float | None = None
    occurred_at: datetime


class PoisonEvent(Exception):
    """An event that can never be applied (malformed, unknown kind): dead-letter it, do not retry."""


def parse_event(payload: bytes) -> InteractionEvent:
    """The event, or ``PoisonEvent`` saying what is wrong (the fast path parses in pydantic-core; the
    slow path only runs for bad events, to name the problem)."""
    try:
        return InteractionEvent.model_validate_json(payload)
    except ValidationError:
        pass
    try:
        raw = json.loads(payload)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PoisonEvent(f"malformed event: not JSON ({exc})") from exc
    if not isinstance(raw, dict):
        raise PoisonEvent(f"malformed event: expected a JSON object, got {type(raw).__name__}")
    if raw.get("kind") != EVENT_KIND:
        raise PoisonEvent(f"unknown event kind {raw.get('kind')!r}")
    if raw.get("v") != EVENT_VERSION:
        raise PoisonEvent(f"unknown event version {raw.get('v')!r} of kind {EVENT_KIND!r}")
    try:
        return InteractionEvent.model_validate(raw)
    except ValidationError as exc:
        error = exc.errors()[0]
        field_name = ".".join(str(part) for part in error["loc"]) or "event"
        raise PoisonEvent(f"malformed event: {field_name}: {error['msg']}") from exc


@dataclass
class BatchOutcome:
    applied: int = 0
    duplicates: int = 0
    poison: list[tuple[Message, str]] = field(default_factory=list)


class InteractionHandler:
    """Applies batches of interaction events to the store (thread-safe; sync, call it in a thread)."""

    def __init__(self, sessions: sessionmaker[Session], invalidate: InvalidateUsers | None = None):
        self.sessions = sessions
        self.invalidate = invalidate
        self._positive: dict[int, tuple[float, frozenset[str]]] = {}

    def apply(self, messages: Sequence[Message]) -> BatchOutcome:
        """Apply what can be applied; poison events are returned with their reason, not raised.

        Raises only when the database is unreachable (the caller retries the whole batch later)."""
        outcome = BatchOutcome()
        parsed: list[tuple[Message, InteractionEvent]] = []
        for message in messages:
            try:
                parsed.append((message, parse_event(message.payload)))
            except PoisonEvent as exc:
                outcome.poison.append((message, str(exc)))
        if not parsed:
            return outcome
        try:
            self._apply_events(outcome, [event for _, event in parsed])
        except DBAPIError as exc:
            if _unreachable(exc):
                raise
            log.warning("event_batch_failed_retrying_one_by_one", error=_reason(exc), size=len(parsed))
            for message, event in parsed:
                try:
                    self._apply_events(outcome, [event])
                except DBAPIError as single_exc:
                    if _unreachable(single_exc):
                        raise
                    outcome.poison.append((message, f"rejected by the database: {_reason(single_exc)}"))
        return outcome

    def _apply_events(self, outcome: BatchOutcome, events: list[InteractionEvent]) -> None:
        with session_scope(self.sessions) as session:
            connection = session.connection()
            new_ids = _record_processed(connection, events)
            fresh = [event for event in events if (event.tenant_id, event.event_id) in new_ids]
            fresh = list({(e.tenant_id, e.event_id): e for e in fresh}.values())
            if fresh:
                _count_items(connection, fresh, self._positive_types(session, fresh))
        outcome.applied += len(fresh)
        outcome.duplicates += len(events) - len(fresh)
        self._invalidate(fresh)

    def _positive_types(self, session: Session, events: list[InteractionEvent]) -> dict[int, frozenset[str]]:
        now = time.monotonic()
        result = {}
        for tenant_id in {event.tenant_id for event in events}:
            cached = self._positive.get(tenant_id)
            if cached is None or now - cached[0] > WEIGHTS_SECONDS:
                weights = interaction_weights(session, tenant_id)
                cached = (now, frozenset(kind for kind, (_, positive) in weights.items() if positive))
                self._positive[tenant_id] = cached
            result[tenant_id] = cached[1]
        return result

    def _invalidate(self, events: list[InteractionEvent]) -> None:
        """After the commit: a crash right here leaves a cache entry to expire by its TTL, never a
        double count. Invalidation failures are the cache's to log; they never fail the batch."""
        if self.invalidate is None or not events:
            return
        users: dict[int, set[str]] = defaultdict(set)
        for event in events:
            users[event.tenant_id].add(event.user)
        for tenant_id, externals in users.items():
            try:
                self.invalidate(tenant_id, sorted(externals))
            except Exception as exc:  # noqa: BLE001 - a cache problem must not undo applied events
                log.warning("cache_invalidation_failed", tenant_id=tenant_id, error=str(exc))


def _insert(connection: Connection, table: Any) -> Any:
    return (postgresql.insert if connection.dialect.name == "postgresql" else sqlite.insert)(table)


def _record_processed(connection: Connection, events: list[InteractionEvent]) -> set[tuple[int, str]]:
    """Insert the event ids; returns those that were not processed before (RETURNING names exactly the
    rows this statement inserted, so two workers racing on one event cannot both apply it)."""
    table = ProcessedEvent.__table__
    now = utcnow()
    if connection.dialect.name == "postgresql":
        return set(
            _postgresql(
                connection,
                "INSERT INTO processed_events (tenant_id, event_id, processed_at) "
                "SELECT t, e, %s FROM unnest(%s::integer[], %s::varchar[]) AS x(t, e) "
                "ON CONFLICT DO NOTHING RETURNING tenant_id, event_id",
                (now.replace(tzinfo=None), [e.tenant_id for e in events], [e.event_id for e in events]),
            )
        )
    rows = [{"tenant_id": e.tenant_id, "event_id": e.event_id, "processed_at": now} for e in events]
    statement = (
        _insert(connection, table)
        .on_conflict_do_nothing(index_elements=["tenant_id", "event_id"])
        .returning(table.c.tenant_id, table.c.event_id)
    )
    return {(row.tenant_id, row.event_id) for row in connection.execute(statement, rows)}


def _count_items(
    connection: Connection, events: list[InteractionEvent], positive: dict[int, frozenset[str]]
) -> None:
    counts: dict[tuple[int, int, date], list[int]] = defaultdict(lambda: [0, 0])
    for event in events:
        cell = counts[(event.tenant_id, event.item_pk, event.occurred_at.date())]
        cell[0] += 1
        cell[1] += event.type in positive[event.tenant_id]
    table = ItemDailyCount.__table__
    # Sorted keys: concurrent workers lock the same rows in the same order, so they never deadlock.
    cells = sorted(counts.items())
    if connection.dialect.name == "postgresql":
        _postgresql(
            connection,
            "INSERT INTO item_daily_counts (tenant_id, item_id, day, events, positive) "
            "SELECT * FROM unnest(%s::integer[], %s::integer[], %s::date[], %s::integer[], %s::integer[]) "
            "ON CONFLICT (tenant_id, item_id, day) DO UPDATE SET "
            "events = item_daily_counts.events + excluded.events, "
            "positive = item_daily_counts.positive + excluded.positive",
            tuple(list(column) for column in zip(*((*key, *value) for key, value in cells), strict=True)),
        )
        return
    rows = [
        {"tenant_id": t, "item_id": i, "day": d, "events": n, "positive": p} for (t, i, d), (n, p) in cells
    ]
    statement = _insert(connection, table)
    statement = statement.on_conflict_do_update(
        index_elements=["tenant_id", "item_id", "day"],
        set_={
            "events": table.c.events + statement.excluded.events,
            "positive": table.c.positive + statement.excluded.positive,
        },
    )
    connection.execute(statement, rows)


def _postgresql(connection: Connection, sql: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
    """One statement over whole columns (``unnest`` of arrays) straight on the driver: SQLAlchemy's
    executemany sent the daily-count upsert row by row, and its per-row parameter handling was half
    of a worker's time."""
    cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
    with driver_errors(sql):
        cursor.execute(sql, params)
        return cursor.fetchall() if cursor.description else []


def _unreachable(exc: DBAPIError) -> bool:
    return isinstance(exc, OperationalError) or exc.connection_invalidated


def _reason(exc: DBAPIError) -> str:
    return str(exc.orig).strip().splitlines()[0][:300] if exc.orig is not None else str(exc)[:300]
