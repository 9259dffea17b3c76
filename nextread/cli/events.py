"""``nextread worker``: relays the outbox and applies interaction events until SIGTERM or Ctrl-C."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
from typing import TYPE_CHECKING

import typer

from nextread.config import get_settings
from nextread.observability import get_logger, install_stack_dump
from nextread.store.db import make_engine, make_session_factory, upgrade

if TYPE_CHECKING:
    from nextread.services.event_pipeline import EventPipeline

log = get_logger("nextread.worker")


def worker_command(
    consumer: str = typer.Option(
        None, help="Consumer name in the group (default: host-pid); unique per live worker process."
    ),
    concurrency: int = typer.Option(1, min=1, max=64, help="Batches applied concurrently in this process."),
) -> None:
    """Apply interaction events (trending counters, cache invalidation) and relay the outbox.

    Several workers share the stream through one consumer group; each event is applied once. SIGTERM
    finishes and acknowledges the batches in hand, then exits."""
    from nextread.cache import open_cache  # the cache and bus clients: only when the worker runs
    from nextread.services.event_pipeline import EventPipeline

    settings = get_settings()
    name = consumer or f"{socket.gethostname()}-{os.getpid()}"
    engine = make_engine(settings.store.database_url)
    upgrade(engine)
    cache = open_cache(settings)
    pipeline = EventPipeline(
        settings,
        engine,
        make_session_factory(engine),
        consumers=concurrency,
        consumer_name=name,
        invalidate=cache.invalidate_users,
    )
    try:
        asyncio.run(_run(pipeline, name, concurrency))
    finally:
        cache.close()
        engine.dispose()


async def _run(pipeline: EventPipeline, name: str, concurrency: int) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    install_stack_dump(loop)
    log.info("worker_started", consumer=name, concurrency=concurrency, bus=pipeline.bus.topic)
    await pipeline.run_until(stop)
    log.info("worker_stopped", consumer=name)
