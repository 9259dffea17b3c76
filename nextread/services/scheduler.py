"""Retraining on a cron expression and after ``retrain_after_interactions`` new interactions.

Every API process may run a scheduler (``NEXTREAD_SCHEDULER_ENABLED``) and ``nextread jobs schedule``
runs one alone; they all wake up at the same cron time, and the job lease plus a second look after
taking it ("did someone already retrain since the fire time / since the threshold was crossed?")
make exactly one of them train.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime

from croniter import croniter
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from nextread.config import Settings
from nextread.jobs.runner import process_owner, run_job
from nextread.observability import get_logger
from nextread.store.db import session_scope
from nextread.store.models import Interaction, Item, JobRun, ModelVersion

log = get_logger("nextread.scheduler")

RETRAIN = "retrain"


def next_fire_time(expression: str, after: datetime) -> datetime:
    """The first time strictly after ``after`` that the cron expression (UTC) matches."""
    if not croniter.is_valid(expression):
        raise ValueError(f"NEXTREAD_RETRAIN_CRON: not a valid cron expression: {expression!r}")
    return croniter(expression, after.astimezone(UTC)).get_next(datetime)


def retrain_action(sessions: sessionmaker[Session], settings: Settings) -> Callable[[int], object]:
    """Train; then, with ``NEXTREAD_PRECOMPUTE_AFTER_TRAIN``, write every reader's list for the new
    model into the shared cache while still holding the job's lease (a new model changes every key,
    so until this runs requests compute their lists)."""

    def retrain(tenant_id: int) -> object:
        from nextread.services.precompute import train_then_precompute

        return train_then_precompute(sessions, settings, tenant_id)[0]

    return retrain


class Scheduler:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        settings: Settings,
        retrain: Callable[[int], object] | None = None,
        now: datetime | None = None,
    ):
        self.sessions = sessions
        self.settings = settings
        self.retrain = retrain or retrain_action(sessions, settings)
        self.owner = process_owner()
        start = now or datetime.now(UTC)
        self.next_fire = (
            next_fire_time(settings.jobs.retrain_cron, start) if settings.jobs.retrain_cron else None
        )

    def tick(self, now: datetime | None = None) -> list[JobRun]:
        """One look at the clock and the interaction counts; returns the runs this instance made."""
        now = now or datetime.now(UTC)
        fire = self.next_fire
        cron_due = fire is not None and now >= fire
        if cron_due:
            self.next_fire = next_fire_time(self.settings.jobs.retrain_cron, now)
        runs = []
        for tenant_id in self._tenants():
            run = None
            if cron_due:
                run = self._run(tenant_id, "cron", lambda t=tenant_id: not self._retrained_since(t, fire))
            elif self._enough_new_interactions(tenant_id):
                run = self._run(
                    tenant_id, "interactions", lambda t=tenant_id: self._enough_new_interactions(t)
                )
            if run is not None:
                runs.append(run)
        return runs

    def run_now(self, tenant_id: int, triggered_by: str = "manual") -> JobRun | None:
        """A retrain requested by hand (``nextread jobs run retrain``); None if one is running."""
        return self._run(tenant_id, triggered_by, None)

    async def run_forever(self, stop: asyncio.Event) -> None:
        """The loop inside ``nextread serve``: training runs in a thread, so serving goes on."""
        while not stop.is_set():
            try:
                await asyncio.wait_for(stop.wait(), timeout=self.settings.jobs.scheduler_poll_seconds)
            except TimeoutError:
                try:
                    await asyncio.to_thread(self.tick)
                except Exception:  # a database hiccup must not end the scheduler
                    log.exception("scheduler_tick_failed")

    def _run(self, tenant_id: int, triggered_by: str, still_due: Callable[[], bool] | None) -> JobRun | None:
        return run_job(
            self.sessions,
            RETRAIN,
            tenant_id,
            lambda: self.retrain(tenant_id),
            triggered_by,
            self.owner,
            self.settings.jobs.job_lease_seconds,
            still_due,
        )

    def _tenants(self) -> list[int]:
        with session_scope(self.sessions) as session:
            return list(session.scalars(select(Item.tenant_id).distinct().order_by(Item.tenant_id)))

    def _retrained_since(self, tenant_id: int, moment: datetime | None) -> bool:
        with session_scope(self.sessions) as session:
            return (
                session.scalar(
                    select(JobRun.id)
                    .where(JobRun.job == RETRAIN, JobRun.tenant_id == tenant_id, JobRun.started_at >= moment)
                    .limit(1)
                )
                is not None
            )

    def _enough_new_interactions(self, tenant_id: int) -> bool:
        threshold = self.settings.jobs.retrain_after_interactions
        if threshold <= 0:
            return False
        with session_scope(self.sessions) as session:
            return new_interactions(session, tenant_id, at_most=threshold) >= threshold


def new_interactions(session: Session, tenant_id: int, at_most: int | None = None) -> int:
    """Interactions stored since the tenant's newest model was registered (all of them without one),
    counted up to ``at_most``: the scheduler only asks "at least N?", and a capped count over the
    arrival-time index stays cheap however large the table grows."""
    trained_at = session.scalar(
        select(func.max(ModelVersion.created_at)).where(
            ModelVersion.tenant_id == tenant_id, ModelVersion.status == "ready"
        )
    )
    arrived = select(Interaction.id).where(Interaction.tenant_id == tenant_id)
    if trained_at is not None:
        arrived = arrived.where(Interaction.created_at > trained_at)
    if at_most is not None:
        arrived = arrived.limit(at_most)
    return session.scalar(select(func.count()).select_from(arrived.subquery())) or 0


class BackgroundScheduler:
    """The scheduler as an asyncio task of an API process (off with NEXTREAD_SCHEDULER_ENABLED=false).

    Stopping waits for a retrain already running, so a model is never half-registered."""

    def __init__(self, sessions: sessionmaker[Session], settings: Settings):
        self.scheduler = Scheduler(sessions, settings) if settings.jobs.scheduler_enabled else None
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self.scheduler is not None:
            self._task = asyncio.create_task(self.scheduler.run_forever(self._stop))

    async def stop(self) -> None:
        self._stop.set()
        if self._task is not None:
            await self._task
