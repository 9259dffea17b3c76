"""Run one job under its lease and record the run (status, duration, error) in ``job_runs``."""

from __future__ import annotations

import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from nextread.jobs.locks import DatabaseLock
from nextread.observability import get_logger
from nextread.store.db import session_scope
from nextread.store.models import JobLock, JobRun

log = get_logger("nextread.jobs")


def process_owner() -> str:
    """Who holds a lease: readable in ``job_runs`` (host and pid) and unique per scheduler."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def run_job(
    sessions: sessionmaker[Session],
    job: str,
    tenant_id: int | None,
    action: Callable[[], object],
    triggered_by: str,
    owner: str,
    lease_seconds: float,
    still_due: Callable[[], bool] | None = None,
    on_start: Callable[[int], None] | None = None,
) -> JobRun | None:
    """Run ``action`` unless another process holds this job's lease (or, once we hold it,
    ``still_due`` says another process already did the work). Returns the recorded run, or None
    when it did not run. A failing action is recorded as ``failed`` with its error, never raised.
    ``on_start`` gets the run's id before the action starts (to report its progress)."""
    lock = DatabaseLock(sessions, f"{job}:{tenant_id}", owner, lease_seconds)
    if not lock.acquire():
        return None
    try:
        if still_due is not None and not still_due():
            return None
        run_id = _start(sessions, job, tenant_id, triggered_by, owner)
        if on_start is not None:
            on_start(run_id)
        started = time.perf_counter()
        status, error = "succeeded", None
        with _renewing(lock, lease_seconds / 3):
            try:
                action()
            except Exception as exc:  # a job's failure is data for job_runs, not a crash of the scheduler
                status, error = "failed", f"{type(exc).__name__}: {exc}"
                log.exception("job_failed", job=job, tenant_id=tenant_id)
        return _finish(sessions, run_id, status, error, time.perf_counter() - started)
    finally:
        lock.release()


def _start(
    sessions: sessionmaker[Session], job: str, tenant_id: int | None, triggered_by: str, owner: str
) -> int:
    with session_scope(sessions) as session:
        # We hold the lease, so an older run still marked running lost its process (and its lease).
        session.execute(
            update(JobRun)
            .where(JobRun.job == job, JobRun.tenant_id == tenant_id, JobRun.status == "running")
            .values(status="abandoned", error="its process stopped before the end (lease expired)")
        )
        run = JobRun(job=job, tenant_id=tenant_id, triggered_by=triggered_by, status="running", owner=owner)
        session.add(run)
        session.flush()
        log.info("job_started", job=job, tenant_id=tenant_id, triggered_by=triggered_by, run_id=run.id)
        return run.id


def unfinished_run(session: Session, job: str, tenant_id: int, since: datetime | None) -> JobRun | None:
    """The tenant's newest run of ``job`` when it is still running (its lease alive) or failed after
    ``since``: what a caller asking "is a new version coming?" should be told."""
    run = session.scalar(
        select(JobRun)
        .where(JobRun.job == job, JobRun.tenant_id == tenant_id)
        .order_by(JobRun.started_at.desc(), JobRun.id.desc())
        .limit(1)
    )
    if run is None or (since is not None and run.started_at <= since):
        return None
    if run.status == "failed":
        return run
    lease = session.get(JobLock, f"{job}:{tenant_id}")
    alive = lease is not None and lease.owner == run.owner and lease.expires_at > datetime.now(UTC)
    return run if run.status == "running" and alive else None


def report_progress(sessions: sessionmaker[Session], run_id: int, progress: dict[str, object]) -> None:
    """Record how far a running job has got, for ``/v1/models`` and the dashboard of every process."""
    with session_scope(sessions) as session:
        session.execute(update(JobRun).where(JobRun.id == run_id).values(progress=progress))


def _finish(
    sessions: sessionmaker[Session], run_id: int, status: str, error: str | None, duration: float
) -> JobRun:
    with session_scope(sessions) as session:
        run = session.get_one(JobRun, run_id)
        run.status, run.error = status, error
        run.finished_at = datetime.now(UTC)
        run.duration_seconds = round(duration, 3)
        log.info("job_finished", job=run.job, tenant_id=run.tenant_id, status=status, seconds=duration)
        return run


@contextmanager
def _renewing(lock: DatabaseLock, every_seconds: float) -> Iterator[None]:
    """Keep the lease alive while a long job (a big retrain) runs."""
    stop = threading.Event()

    def renew() -> None:
        while not stop.wait(every_seconds):
            if not lock.renew():
                log.warning("job_lease_lost", lock=lock.name)
                return

    thread = threading.Thread(target=renew, name=f"lease-{lock.name}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
