"""Structured logs (structlog) and Prometheus metrics shared by the API, CLI and importers."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
import threading
import traceback
from collections.abc import Iterator
from types import FrameType
from typing import Any

import structlog
from prometheus_client import Counter, Gauge, Histogram

HTTP_REQUESTS = Counter(
    "nextread_http_requests_total", "HTTP requests handled", ["method", "route", "status"]
)
HTTP_LATENCY = Histogram(
    "nextread_http_request_duration_seconds",
    "HTTP request latency",
    ["method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
IMPORT_ROWS = Counter("nextread_import_rows_total", "Rows read by imports", ["kind", "outcome"])
IMPORT_DURATION = Histogram("nextread_import_duration_seconds", "Duration of whole imports", ["kind"])
EVENTS_PROCESSED = Counter("nextread_events_processed_total", "Events a worker handled and acked", ["group"])
EVENTS_FAILED = Counter(
    "nextread_events_failed_total", "Failed tries at handling an event (outages and errors)", ["group"]
)
EVENTS_RETRIED = Counter("nextread_events_retried_total", "Events tried again after a failure", ["group"])
EVENTS_DEAD_LETTERED = Counter(
    "nextread_events_dead_lettered_total", "Events parked on the dead-letter stream", ["group"]
)
EVENT_LAG = Gauge("nextread_event_lag", "Events published but not yet acked by the consumer group", ["group"])
EVENT_BATCH_DURATION = Histogram(
    "nextread_event_batch_duration_seconds",
    "Time to handle one consumed batch, retries included",
    ["group"],
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)


def configure_logging(log_format: str = "json", level: str = "INFO") -> None:
    """JSON lines for machines by default; ``console`` for people at a terminal."""
    renderer = (
        structlog.processors.JSONRenderer() if log_format == "json" else structlog.dev.ConsoleRenderer()
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelNamesMapping()[level.upper()]),
        logger_factory=_stderr_logger,
        cache_logger_on_first_use=False,
    )


def _stderr_logger(*_args: object) -> structlog.PrintLogger:
    """A logger on ``sys.stderr`` as it is now, not as it was at configuration: a stream swapped since
    (a test's captured output, closed after the test) must never be written to."""
    return structlog.PrintLogger(sys.stderr)


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    return structlog.get_logger(name)


def install_stack_dump(loop: asyncio.AbstractEventLoop) -> None:
    """``kill -USR1 <pid>`` prints every asyncio task's and thread's stack to stderr: a process that
    stopped making progress without an error (a read that never returns, a lock wait) shows where."""
    # Signals reach the main thread only: an app run by a test client in another thread goes without.
    if sys.platform != "win32" and threading.current_thread() is threading.main_thread():
        loop.add_signal_handler(signal.SIGUSR1, dump_stacks)


def dump_stacks() -> None:
    for task in asyncio.all_tasks():
        print(f"--- task {task.get_name()} (outermost first) ---", file=sys.stderr)
        for frame in _awaited_frames(task.get_coro()):
            code = frame.f_code
            print(f"  {code.co_filename}:{frame.f_lineno} in {code.co_name}", file=sys.stderr)
    names = {thread.ident: thread.name for thread in threading.enumerate()}
    for ident, frame in sys._current_frames().items():
        print(f"--- thread {names.get(ident, ident)} ---", file=sys.stderr)
        print("".join(traceback.format_stack(frame)), file=sys.stderr, end="")
    sys.stderr.flush()


def _awaited_frames(awaitable: Any) -> Iterator[FrameType]:
    """The chain of coroutine frames a task is suspended in (``Task.get_stack`` shows only the first)."""
    while awaitable is not None:
        frame = getattr(awaitable, "cr_frame", None) or getattr(awaitable, "gi_frame", None)
        if frame is None:
            return
        yield frame
        awaitable = getattr(awaitable, "cr_await", None) or getattr(awaitable, "gi_yieldfrom", None)
