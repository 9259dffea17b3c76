"""The generic worker runtime: consume a group's batches, hand them to a handler, retry, park poison.

The handler is an object with ``apply(messages)`` (or a plain callable), sync or async; a sync one runs
in a thread so a database call never blocks the event loop. It returns an outcome with

* ``poison``: ``(message, reason)`` pairs that can never succeed (undecodable, unknown type): parked on the
  dead-letter stream at once;
* ``failed`` (optional): ``(message, reason)`` pairs worth another try: retried in-process with
  exponential backoff until ``max_attempts`` tries (bus redeliveries count), then parked;

and every other message counts as done and is acked. ``None`` means all done.

A handler that *raises* is judged by ``is_unavailable(exc)``: an outage (database or network down)
retries the whole batch with capped backoff for as long as it lasts, parking nothing, because the events
are fine; any other exception is a bug or a bad event, so a multi-event batch is split and each event
retried alone, which isolates the culprit and lets the rest through.

An ack or a park that fails (the bus went down mid-batch) leaves the batch's rest unacked for
redelivery; the worker backs off and carries on.

Messages delivered more than ``max_attempts`` times (their handling crashed the process each time) are
parked without another try. Stopping (the ``stop`` event, or cancelling ``run``) finishes and acks the
batch in hand; retries still waiting are abandoned unacked, so the bus redelivers them later.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

from nextread.events.bus import EventBus, Message
from nextread.observability import (
    EVENT_BATCH_DURATION,
    EVENT_LAG,
    EVENTS_DEAD_LETTERED,
    EVENTS_FAILED,
    EVENTS_PROCESSED,
    EVENTS_RETRIED,
    get_logger,
)

if TYPE_CHECKING:
    from nextread.config import Settings

log = get_logger("nextread.events.worker")

RETRY_MAX_SECONDS = 30.0  # backoff cap, for outages and per-event retries alike
LAG_REPORT_SECONDS = 5.0
BUS_ERROR_BACKOFF_SECONDS = 1.0


class Outcome(Protocol):
    poison: list[tuple[Message, str]]


@dataclass
class HandlerOutcome:
    """What a handler reports; messages named in neither list are done."""

    poison: list[tuple[Message, str]] = field(default_factory=list)
    failed: list[tuple[Message, str]] = field(default_factory=list)


def database_or_network_down(exc: BaseException) -> bool:
    """Outages that say nothing about the events: retry the batch until the service is back."""
    if isinstance(exc, OperationalError | InterfaceError | ConnectionError | TimeoutError):
        return True
    return isinstance(exc, DBAPIError) and bool(exc.connection_invalidated)


class EventWorker:
    """One consumer of a group; run several (processes, or names in one process) to share the load."""

    def __init__(
        self,
        bus: EventBus,
        group: str,
        consumer: str,
        handler: Any,
        settings: Settings | None = None,
        *,
        batch_size: int | None = None,
        max_attempts: int | None = None,
        retry_base_seconds: float | None = None,
        block_ms: int = 1000,
        is_unavailable: Callable[[BaseException], bool] = database_or_network_down,
    ) -> None:
        self.bus = bus
        self.group = group
        self.consumer = consumer
        self._apply = getattr(handler, "apply", handler)
        self._apply_is_async = inspect.iscoroutinefunction(self._apply)
        self.batch_size = _pick(batch_size, settings, "worker_batch_size", 500)
        self.max_attempts = _pick(max_attempts, settings, "worker_max_attempts", 5)
        self.retry_base_seconds = _pick(retry_base_seconds, settings, "worker_retry_base_seconds", 0.1)
        self.block_ms = block_ms
        self.is_unavailable = is_unavailable
        self._halt = asyncio.Event()
        self._last_lag_report = 0.0

    async def run(self, stop: asyncio.Event | None = None) -> None:
        """Consume until ``stop`` is set or the task is cancelled; the batch in hand is finished first."""
        self._halt = asyncio.Event()
        relay = asyncio.create_task(_forward(stop, self._halt)) if stop is not None else None
        log.info("event_worker_started", group=self.group, consumer=self.consumer)
        try:
            while not self._halt.is_set():
                batch = await self._consume()
                if batch:
                    await self._process_or_leave(batch)
                await self._report_lag()
        finally:
            if relay is not None:
                relay.cancel()
            log.info("event_worker_stopped", group=self.group, consumer=self.consumer)

    async def process(self, batch: Sequence[Message]) -> None:
        """Handle one consumed batch to the end: every message acked, parked, or left for redelivery."""
        started = time.perf_counter()
        overdue = [message for message in batch if message.attempts > self.max_attempts]
        for message in overdue:
            reason = (
                f"delivered {message.attempts} times (max {self.max_attempts}): its handling kept crashing"
            )
            await self._dead_letter(message, reason)
        fresh = [message for message in batch if message.attempts <= self.max_attempts]
        await self._handle(fresh, {message.id: message.attempts for message in fresh})
        EVENT_BATCH_DURATION.labels(self.group).observe(time.perf_counter() - started)

    async def _handle(self, messages: list[Message], tries: dict[str, int]) -> None:
        outage_tries = 0
        while messages:  # the batch in hand gets its first try even when a stop was just requested
            try:
                outcome = await self._call(messages)
            except Exception as exc:  # noqa: BLE001 - a handler bug must not kill the worker
                EVENTS_FAILED.labels(self.group).inc(len(messages))
                if self.is_unavailable(exc):
                    outage_tries += 1
                    log.warning("event_handler_unavailable", error=_describe(exc), events=len(messages))
                    await self._sleep(self._delay(outage_tries))
                    if self._halt.is_set():
                        return  # left unacked: the bus redelivers it to this worker's successor
                    continue
                if len(messages) > 1:  # isolate the event that breaks the handler; the rest go through
                    log.warning("event_batch_failed_splitting", error=_describe(exc), events=len(messages))
                    for message in messages:
                        await self._handle([message], tries)
                    return
                failures = [(messages[0], _describe(exc))]
            else:
                failures = await self._settle(messages, outcome)
            messages = await self._retry_or_park(failures, tries)

    async def _settle(self, messages: list[Message], outcome: Outcome | None) -> list[tuple[Message, str]]:
        """Ack what succeeded, park the poison; returns the failures worth another try."""
        poison = list(outcome.poison) if outcome is not None else []
        failed = list(getattr(outcome, "failed", None) or [])
        EVENTS_FAILED.labels(self.group).inc(len(failed))
        unfinished = {message.id for message, _ in poison + failed}
        done = [message for message in messages if message.id not in unfinished]
        if done:
            await self.bus.ack(self.group, done)
            EVENTS_PROCESSED.labels(self.group).inc(len(done))
        for message, reason in poison:
            await self._dead_letter(message, reason)
        return failed

    async def _retry_or_park(
        self, failures: list[tuple[Message, str]], tries: dict[str, int]
    ) -> list[Message]:
        retry: list[Message] = []
        for message, reason in failures:
            if tries[message.id] >= self.max_attempts:
                await self._dead_letter(message, f"failed {tries[message.id]} times, last: {reason}")
            else:
                retry.append(message)
        if not retry or self._halt.is_set():
            return []  # stopping: unacked retries are redelivered later
        EVENTS_RETRIED.labels(self.group).inc(len(retry))
        await self._sleep(self._delay(min(tries[message.id] for message in retry)))
        if self._halt.is_set():
            return []
        for message in retry:
            tries[message.id] += 1
        return retry

    async def _call(self, messages: list[Message]) -> Outcome | None:
        if self._apply_is_async:
            return await self._apply(messages)
        return await asyncio.to_thread(self._apply, messages)

    async def _dead_letter(self, message: Message, reason: str) -> None:
        log.warning("event_dead_lettered", group=self.group, id=message.id, key=message.key, reason=reason)
        await self.bus.dead_letter(self.group, message, reason)
        EVENTS_DEAD_LETTERED.labels(self.group).inc()

    async def _consume(self) -> list[Message]:
        try:
            return await self.bus.consume(self.group, self.consumer, self.batch_size, self.block_ms)
        except Exception as exc:  # noqa: BLE001 - a bus outage is waited out, not fatal
            log.warning("event_bus_unavailable", group=self.group, error=_describe(exc))
            await self._sleep(BUS_ERROR_BACKOFF_SECONDS)
            return []

    async def _process_or_leave(self, batch: list[Message]) -> None:
        """A bus that fails mid-batch (an ack, a park) must not end the worker: what was not acked is
        redelivered once the bus is back, and the handlers dedup by event id."""
        try:
            await self._finish(asyncio.ensure_future(self.process(batch)))
        except Exception as exc:  # noqa: BLE001 - the bus went away between apply and ack
            log.warning("event_batch_left_unacked", group=self.group, events=len(batch), error=_describe(exc))
            await self._sleep(BUS_ERROR_BACKOFF_SECONDS)

    async def _finish(self, task: asyncio.Future[None]) -> None:
        """Cancelling the worker stops new work but lets the batch in hand complete and be acked."""
        try:
            await asyncio.shield(task)
        except asyncio.CancelledError:
            self._halt.set()
            await task
            raise

    async def _report_lag(self) -> None:
        now = time.monotonic()
        if now - self._last_lag_report < LAG_REPORT_SECONDS:
            return
        self._last_lag_report = now
        try:
            EVENT_LAG.labels(self.group).set(await asyncio.wait_for(self.bus.lag(self.group), 5.0))
        except Exception as exc:  # noqa: BLE001 - a missing lag figure must not stop the work
            log.warning("event_lag_unavailable", group=self.group, error=_describe(exc))

    def _delay(self, tries: int) -> float:
        """Exponential backoff: base, 2×base, 4×base… after the 1st, 2nd, 3rd… failed try, capped."""
        return min(RETRY_MAX_SECONDS, self.retry_base_seconds * 2 ** max(0, tries - 1))

    async def _sleep(self, seconds: float) -> None:
        """A backoff that ends early when the worker is asked to stop."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._halt.wait(), seconds)


async def _forward(stop: asyncio.Event, halt: asyncio.Event) -> None:
    await stop.wait()
    halt.set()


def _pick(value: Any, settings: Settings | None, name: str, default: Any) -> Any:
    if value is not None:
        return value
    return getattr(settings.events, name) if settings is not None else default


def _describe(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}"[:300] if text else type(exc).__name__
