"""The outbox relay: publishes unsent outbox rows to the bus, oldest first, and marks them sent.

It runs in every API process and every worker. On PostgreSQL the rows being published stay locked
(``FOR UPDATE SKIP LOCKED``) until they are marked sent, so relays in several processes share the work
and never publish a row at the same time; on SQLite (one process) the read and the mark are two short
transactions. A crash between publish and mark re-publishes the row later: delivery is at least once,
and the workers' ``processed_events`` make that exactly-once in effect.

When the bus is down the rows simply stay in the outbox (API writes keep succeeding) and the relay
retries with exponential backoff; when the database is down it does the same. It also holds back while
the consumers lag by more than half the bus's retention, so a trimmed stream never loses an event.
A sent row stays until the reconciler (``nextread.events.reconcile``) finds its events applied.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from datetime import timedelta
from typing import Any

from prometheus_client import Counter, Gauge
from sqlalchemy import Engine

from nextread.events.bus import EventBus
from nextread.observability import get_logger
from nextread.store.outbox import (
    any_pending,
    backlog,
    claim_pending,
    decode_payload,
    mark_sent,
    purge_settled,
    record_failure,
)

log = get_logger("nextread.events.relay")

RELAY_PUBLISHED = Counter("nextread_relay_published_events_total", "Outbox events published to the bus")
RELAY_FAILURES = Counter("nextread_relay_failures_total", "Relay rounds that failed", ["stage"])
OUTBOX_BACKLOG = Gauge("nextread_outbox_backlog_events", "Outbox events not yet published (last check)")

ROWS_PER_ROUND = 10  # outbox rows (each up to a whole batch of events) published per transaction
BUS_CALL_TIMEOUT_SECONDS = 10.0  # a publish or a lag query that takes longer counts as failed
MAX_BACKOFF_SECONDS = 5.0
PURGE_EVERY_SECONDS = 60.0
KEEP_SETTLED = timedelta(hours=1)
LAG_CHECK_SECONDS = 5.0  # asking the bus for the lag may scan the stream; the margin is large


class OutboxRelay:
    def __init__(
        self,
        engine: Engine,
        bus: EventBus,
        *,
        poll_seconds: float = 0.05,
        consumer_group: str | None = None,
        max_lag: int | None = None,
    ) -> None:
        self.engine = engine
        self.bus = bus
        self.poll_seconds = poll_seconds
        self.consumer_group = consumer_group
        self.max_lag = max_lag
        self.bus_ok = True
        self._wake: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._purged_at = 0.0
        self._lag_checked_at = 0.0
        self._paused = False

    def wake(self, *_: Any) -> None:
        """Publish now rather than at the next poll (thread-safe: called from a commit hook)."""
        if self._loop is not None and self._wake is not None:
            self._loop.call_soon_threadsafe(self._wake.set)

    async def run(self, stop: asyncio.Event) -> None:
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        delay = 0.0
        while not stop.is_set():
            try:
                published = await self.publish_once()
                delay = 0.0 if published else self.poll_seconds
            except Exception as exc:  # noqa: BLE001 - the relay must outlive any bus or database outage
                delay = min(MAX_BACKOFF_SECONDS, max(self.poll_seconds, delay * 2))
                log.warning("relay_round_failed", error=f"{type(exc).__name__}: {exc}", retry_in=delay)
            if delay:
                await _wait_any(stop, self._wake, delay)
                self._wake.clear()

    async def publish_once(self) -> int:
        """One round: publish up to ``ROWS_PER_ROUND`` rows; returns the number of events published."""
        if not await self._consumers_keep_up():
            return 0
        await self._purge_now_and_then()
        if not await asyncio.to_thread(_any_pending, self.engine):
            # Most rounds find nothing: one thread hop and no transaction for them, instead of five
            # (every API process polls, beside the requests it serves).
            return 0
        connection = await asyncio.to_thread(self.engine.connect)
        try:
            return await self._publish_rows(connection)
        finally:
            await asyncio.to_thread(connection.close)

    async def _publish_rows(self, connection: Any) -> int:
        transaction = await asyncio.to_thread(connection.begin)
        try:
            rows = await asyncio.to_thread(claim_pending, connection, ROWS_PER_ROUND)
            if not rows:
                await asyncio.to_thread(transaction.commit)
                return 0
            if connection.dialect.name != "postgresql":  # SQLite: do not hold a transaction across I/O
                await asyncio.to_thread(transaction.commit)
            ids = [row.id for row in rows]
            try:
                messages = [m for row in rows for m in decode_payload(row.payload)]
                await asyncio.wait_for(self.bus.publish(messages), BUS_CALL_TIMEOUT_SECONDS)
            except Exception as exc:
                self._bus_state(False, exc)
                RELAY_FAILURES.labels("publish").inc()
                await asyncio.to_thread(_note_failure, connection, transaction, ids, exc)
                raise
            self._bus_state(True)
            if connection.dialect.name != "postgresql":
                transaction = await asyncio.to_thread(connection.begin)
            await asyncio.to_thread(mark_sent, connection, ids)
            await asyncio.to_thread(transaction.commit)
        except BaseException:
            if transaction.is_active:
                await asyncio.to_thread(transaction.rollback)
            raise
        events = sum(row.events for row in rows)
        RELAY_PUBLISHED.inc(events)
        return events

    def _bus_state(self, ok: bool, exc: Exception | None = None) -> None:
        if ok != self.bus_ok:
            if ok:
                log.info("event_bus_recovered")
            else:
                log.warning("event_bus_unavailable", error=f"{type(exc).__name__}: {exc}")
        self.bus_ok = ok

    async def _consumers_keep_up(self) -> bool:
        if self.consumer_group is None or self.max_lag is None:
            return True
        now = time.monotonic()
        if now - self._lag_checked_at < LAG_CHECK_SECONDS:
            return True
        self._lag_checked_at = now
        lag = await asyncio.wait_for(self.bus.lag(self.consumer_group), BUS_CALL_TIMEOUT_SECONDS)
        paused = lag > self.max_lag
        if paused != self._paused:  # log the change, not every round of a long pause
            event = "relay_paused_consumers_lag" if paused else "relay_resumed"
            (log.warning if paused else log.info)(event, lag=lag, max_lag=self.max_lag)
        self._paused = paused
        if paused:
            self._lag_checked_at = 0.0  # check again next round
        return not paused

    async def _purge_now_and_then(self) -> None:
        now = time.monotonic()
        if now - self._purged_at >= PURGE_EVERY_SECONDS:
            self._purged_at = now
            await asyncio.to_thread(_purge, self.engine)

    async def backlog(self) -> tuple[int, int]:
        """(rows, events) waiting in the outbox."""
        result = await asyncio.to_thread(_backlog, self.engine)
        OUTBOX_BACKLOG.set(result[1])
        return result


def _note_failure(connection: Any, transaction: Any, ids: list[int], exc: Exception) -> None:
    """Release the rows and count the failed attempt on them (best effort: the database may be the
    thing that failed)."""
    if transaction.is_active:
        transaction.rollback()
    with contextlib.suppress(Exception), connection.begin():
        record_failure(connection, ids, f"{type(exc).__name__}: {exc}")


def _purge(engine: Engine) -> None:
    with engine.begin() as connection:
        purge_settled(connection, KEEP_SETTLED)


def _any_pending(engine: Engine) -> bool:
    with engine.connect() as connection:
        return any_pending(connection)


def _backlog(engine: Engine) -> tuple[int, int]:
    with engine.connect() as connection:
        return backlog(connection)


async def _wait_any(stop: asyncio.Event, wake: asyncio.Event, timeout: float) -> None:
    waiters = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(wake.wait())]
    try:
        await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
