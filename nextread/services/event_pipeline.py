"""Everything event-related one process runs: the outbox relay and, where wanted, interaction workers.

* API process: always the relay (so the outbox drains even with no worker process); with the embedded
  ``memory://`` bus also one in-process worker, since nothing outside the process can read that bus.
* ``nextread worker``: the relay too (any process may drain the outbox) plus ``--concurrency``
  consumers of the shared consumer group.

Every process also runs the reconciler, which re-publishes events the bus lost and measures the gap
``/readyz`` reports.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import Engine, event
from sqlalchemy.orm import Session, sessionmaker

from nextread.cache import ServingCache
from nextread.config import Settings
from nextread.events.bus import EventBus, bus_from_settings
from nextread.events.reconcile import OutboxReconciler
from nextread.events.relay import OutboxRelay
from nextread.events.worker import EventWorker
from nextread.observability import get_logger
from nextread.services.event_handlers import INTERACTIONS_GROUP, InteractionHandler, InvalidateUsers

log = get_logger("nextread.services.event_pipeline")

STOP_TIMEOUT_SECONDS = 15.0
BUS_PING_TIMEOUT_SECONDS = 1.0
# How long an idle in-process worker waits on the embedded bus per poll; publishing wakes it at once,
# so this only bounds how long stopping the app waits for it (tests, which stop hundreds of apps,
# lower it).
EMBEDDED_WORKER_BLOCK_MS = 1000
_APP_NUMBERS = itertools.count(1)


def embedded_bus(settings: Settings) -> bool:
    return urlsplit(settings.events.event_bus_url).scheme == "memory"


def api_event_pipeline(
    settings: Settings, engine: Engine, sessions: sessionmaker[Session], cache: ServingCache
) -> EventPipeline:
    """The API process's pipeline: the relay, plus one worker when the bus is in-process.

    An in-process bus gets a name of its own per app, so two apps in one process (tests) never
    consume each other's events; nothing outside the process can reach it anyway."""
    factory = None
    if embedded_bus(settings):
        namespace = settings.events.event_bus_url.split("://", 1)[1].strip("/") or "nextread"
        factory = partial(bus_from_url_of, settings, f"memory://{namespace}-api-{next(_APP_NUMBERS)}")
    return EventPipeline(
        settings,
        engine,
        sessions,
        consumers=1 if embedded_bus(settings) else 0,
        consumer_name=f"api-{os.getpid()}",
        invalidate=cache.invalidate_users,
        bus_factory=factory,
        worker_block_ms=EMBEDDED_WORKER_BLOCK_MS,
    )


def bus_from_url_of(settings: Settings, url: str) -> EventBus:
    """The configured bus options on another URL."""
    return bus_from_settings(settings.model_copy(update={"event_bus_url": url}))


@dataclass
class BusStatus:
    ok: bool
    backlog_events: int
    unapplied_events: int  # published, not applied within NEXTREAD_EVENT_RECONCILE_SECONDS
    oldest_unapplied_seconds: float | None


class EventPipeline:
    def __init__(
        self,
        settings: Settings,
        engine: Engine,
        sessions: sessionmaker[Session],
        *,
        consumers: int,
        consumer_name: str,
        invalidate: InvalidateUsers | None = None,
        bus_factory: Callable[[], EventBus] | None = None,
        worker_block_ms: int = 1000,
    ) -> None:
        self.settings = settings
        self.sessions = sessions
        self.bus = (bus_factory or (lambda: bus_from_settings(settings)))()
        self.relay = OutboxRelay(
            engine,
            self.bus,
            poll_seconds=settings.events.outbox_poll_seconds,
            consumer_group=INTERACTIONS_GROUP,
            max_lag=settings.events.event_bus_max_len // 2,
        )
        self.reconciler = OutboxReconciler(
            engine, self.bus, INTERACTIONS_GROUP, after_seconds=settings.events.event_reconcile_seconds
        )
        self.handler = InteractionHandler(sessions, invalidate)
        self.workers = [
            EventWorker(
                self.bus,
                INTERACTIONS_GROUP,
                f"{consumer_name}-{n}",
                self.handler,
                settings,
                block_ms=worker_block_ms,
            )
            for n in range(consumers)
        ]
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[Any]] = []

    async def start(self) -> None:
        """Start the background tasks; the relay is woken by every commit that wrote the outbox."""
        event.listen(self.sessions, "after_commit", self._after_commit)
        self._tasks = [
            asyncio.create_task(self.relay.run(self._stop), name="outbox-relay"),
            asyncio.create_task(self.reconciler.run(self._stop), name="outbox-reconciler"),
        ]
        self._tasks += [
            asyncio.create_task(worker.run(self._stop), name=f"worker-{n}")
            for n, worker in enumerate(self.workers)
        ]

    async def run_until(self, stop: asyncio.Event) -> None:
        """Run until ``stop`` is set (the worker command's main loop)."""
        await self.start()
        await stop.wait()
        await self.stop()

    async def stop(self) -> None:
        """Finish the batches in hand (they are acked), then release the bus."""
        self._stop.set()
        if event.contains(self.sessions, "after_commit", self._after_commit):
            event.remove(self.sessions, "after_commit", self._after_commit)
        if self._tasks:
            _, pending = await asyncio.wait(self._tasks, timeout=STOP_TIMEOUT_SECONDS)
            for task in pending:
                task.cancel()
            for task in self._tasks:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        await self.bus.close()

    async def status(self) -> BusStatus:
        """For ``/readyz``: does the bus answer, how many events wait in the outbox, and how many
        published ones were not applied in time (the reconciler's last check)."""
        try:
            ok = await asyncio.wait_for(self.bus.ping(), BUS_PING_TIMEOUT_SECONDS)
        except Exception:  # noqa: BLE001 - a bus that cannot even be asked is a degraded bus
            ok = False
        _, events = await self.relay.backlog()
        # A failed publish only matters while something waits: another process's relay may have
        # published the backlog since.
        gap = self.reconciler.gap
        return BusStatus(
            ok=ok and (self.relay.bus_ok or events == 0),
            backlog_events=events,
            unapplied_events=gap.events,
            oldest_unapplied_seconds=gap.oldest_seconds(),
        )

    def _after_commit(self, session: Session) -> None:
        if session.info.pop("outbox_written", False):
            self.relay.wake()
