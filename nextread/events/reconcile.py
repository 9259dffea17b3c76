"""The reconciler: finds published events no worker applied, and re-publishes those the bus lost.

A bus without persistence forgets what it held when it restarts (Redis without AOF, the embedded
``memory://`` bus with its process): the outbox rows say "sent", the stream is empty, and nothing would
ever apply those events. Every half ``NEXTREAD_EVENT_RECONCILE_SECONDS`` each process's reconciler

1. asks the bus for the consumer group's lag (events never delivered plus delivered and not acked);
2. looks up, in ``processed_events``, the events of the sent, unsettled outbox rows stored more than
   ``NEXTREAD_EVENT_RECONCILE_SECONDS`` ago: a row whose events are all applied is settled; the others
   are the gap ``/readyz`` reports as ``lagging``;
3. re-publishes the unapplied events when the bus cannot account for them. A worker acks an event only
   after applying it, so an event published before step 1 and unapplied at step 2 is part of that lag
   unless the bus lost it: more unapplied events than lag prove a loss, while a slow or stopped worker
   never does (its stream is not flooded with copies). Which events were lost is unknown, so every
   unapplied one not (re-)published within the last period is sent again; the workers'
   ``processed_events`` drop the copies of the others.

A row still not fully applied after ``MAX_REPUBLISH`` re-publications (the worker parks the event as
poison each time) is settled with the reason in ``last_error`` and logged as an error.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from prometheus_client import Counter, Gauge
from sqlalchemy import Connection, Engine

from nextread.events.bus import EventBus
from nextread.observability import get_logger
from nextread.store.outbox import (
    PublishedBatch,
    mark_republished,
    mark_settled,
    published_unsettled,
    unapplied_messages,
)

log = get_logger("nextread.events.reconcile")

REPUBLISHED = Counter(
    "nextread_reconciler_republished_events_total",
    "Published events the bus lost, re-published from the outbox",
)
UNAPPLIED = Gauge(
    "nextread_events_unapplied", "Published events not applied within NEXTREAD_EVENT_RECONCILE_SECONDS"
)

PAGE_ROWS = 200  # outbox rows looked up (and re-published) per transaction
SURVEY_MAX_EVENTS = 200_000  # events looked up per round; a longer gap is counted from its oldest part
MAX_REPUBLISH = 5
BUS_CALL_TIMEOUT_SECONDS = 10.0


@dataclass(frozen=True)
class Gap:
    """Published events not applied within the reconcile period, at the last check."""

    events: int = 0
    oldest_stored_at: datetime | None = None

    def oldest_seconds(self) -> float | None:
        if self.oldest_stored_at is None:
            return None
        return round((datetime.now(UTC) - self.oldest_stored_at).total_seconds(), 1)


@dataclass(frozen=True)
class _Window:
    """The rows one round looks at: stored before ``stored_before``, last sent before ``sent_before``."""

    stored_before: datetime
    sent_before: datetime
    last_id: int | None = None  # the re-publish pass stays within the rows the survey counted


class OutboxReconciler:
    def __init__(self, engine: Engine, bus: EventBus, group: str, *, after_seconds: float) -> None:
        self.engine = engine
        self.bus = bus
        self.group = group
        self.after = timedelta(seconds=after_seconds)
        self.gap = Gap()

    async def run(self, stop: asyncio.Event) -> None:
        """Reconcile at once, then every half period, until ``stop``; failures are logged and retried."""
        interval = self.after.total_seconds() / 2
        while not stop.is_set():
            try:
                await self.reconcile_once()
            except Exception as exc:  # noqa: BLE001 - the reconciler must outlive bus and database outages
                log.warning("reconcile_round_failed", error=f"{type(exc).__name__}: {exc}")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), interval)

    async def reconcile_once(self) -> int:
        """One round (see the module docstring); returns the number of events re-published."""
        now = datetime.now(UTC)
        try:
            lag: int | None = await asyncio.wait_for(self.bus.lag(self.group), BUS_CALL_TIMEOUT_SECONDS)
        except Exception as exc:  # noqa: BLE001 - without the lag the gap is still measured, not acted on
            log.warning("reconcile_lag_unavailable", error=f"{type(exc).__name__}: {exc}")
            lag = None
        gap, last_id = await asyncio.to_thread(_survey, self.engine, _Window(now - self.after, now))
        self.gap = gap
        UNAPPLIED.set(gap.events)
        if lag is None or gap.events <= lag:
            return 0
        log.warning("events_lost_by_the_bus", unapplied=gap.events, bus_lag=lag, group=self.group)
        return await self._republish(_Window(now - self.after, now - self.after, last_id))

    async def _republish(self, window: _Window) -> int:
        sent, after_id = 0, 0
        while True:
            page_sent, after_id = await self._republish_page(window, after_id)
            sent += page_sent
            if after_id == 0:
                return sent

    async def _republish_page(self, window: _Window, after_id: int) -> tuple[int, int]:
        """Re-publish one page's unapplied events; returns (events sent, last row id or 0 at the end).

        On PostgreSQL the page's rows stay locked until they are marked, so reconcilers in several
        processes never re-publish the same row at once; SQLite (one process) holds no transaction
        across the publish."""
        connection = await asyncio.to_thread(self.engine.connect)
        try:
            transaction = await asyncio.to_thread(connection.begin)
            try:
                rows, missing = await asyncio.to_thread(_read_page, connection, window, after_id, True)
                holds_locks = connection.dialect.name == "postgresql"
                if not holds_locks:
                    await asyncio.to_thread(transaction.commit)
                resend = [row for row in rows if missing[row.id] and row.republished < MAX_REPUBLISH]
                messages = [message for row in resend for message in missing[row.id]]
                if messages:
                    await asyncio.wait_for(self.bus.publish(messages), BUS_CALL_TIMEOUT_SECONDS)
                if not holds_locks:
                    transaction = await asyncio.to_thread(connection.begin)
                await asyncio.to_thread(_record, connection, rows, missing, [row.id for row in resend])
                await asyncio.to_thread(transaction.commit)
            except BaseException:
                if transaction.is_active:
                    await asyncio.to_thread(transaction.rollback)
                raise
        finally:
            await asyncio.to_thread(connection.close)
        if messages:
            REPUBLISHED.inc(len(messages))
            log.warning("events_republished", events=len(messages), rows=len(resend))
        return len(messages), rows[-1].id if rows else 0


def _read_page(
    connection: Connection, window: _Window, after_id: int, lock: bool
) -> tuple[list[PublishedBatch], dict[int, list[tuple[str, bytes]]]]:
    rows = published_unsettled(
        connection,
        stored_before=window.stored_before,
        sent_before=window.sent_before,
        after_id=after_id,
        limit=PAGE_ROWS,
        lock=lock,
    )
    if window.last_id is not None:
        rows = [row for row in rows if row.id <= window.last_id]
    return rows, unapplied_messages(connection, rows)


def _survey(engine: Engine, window: _Window) -> tuple[Gap, int]:
    """Settle the rows whose events were all applied; returns the gap and the last row id looked at."""
    events, oldest, after_id, looked_at = 0, None, 0, 0
    while looked_at < SURVEY_MAX_EVENTS:
        with engine.begin() as connection:
            rows, missing = _read_page(connection, window, after_id, False)
            mark_settled(connection, [row.id for row in rows if not missing[row.id]])
        if not rows:
            break
        for row in rows:
            if missing[row.id]:
                events += len(missing[row.id])
                oldest = row.created_at if oldest is None else min(oldest, row.created_at)
        looked_at += sum(row.events for row in rows)
        after_id = rows[-1].id
    return Gap(events, oldest), after_id


def _record(
    connection: Connection,
    rows: list[PublishedBatch],
    missing: dict[int, list[tuple[str, bytes]]],
    resent: list[int],
) -> None:
    mark_republished(connection, resent)
    mark_settled(connection, [row.id for row in rows if not missing[row.id]])
    given_up = [row for row in rows if missing[row.id] and row.id not in resent]
    for row in given_up:
        reason = (
            f"{len(missing[row.id])} of {row.events} events still not applied after {row.republished} "
            "re-publications; see the dead-letter stream"
        )
        log.error("outbox_row_given_up", row=row.id, tenant_id=row.tenant_id, reason=reason)
        mark_settled(connection, [row.id], note=reason)
