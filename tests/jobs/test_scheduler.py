"""Scheduler: the lease admits one runner across processes, cron and interaction-count triggers, and
failed runs recorded with their error — on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from nextread.config import Settings
from nextread.jobs import DatabaseLock, run_job
from nextread.schemas import InteractionIn, ItemIn
from nextread.services.scheduler import Scheduler, new_interactions, next_fire_time
from nextread.store.db import make_engine, make_session_factory, session_scope
from nextread.store.models import JobRun, ModelVersion
from nextread.store.tenants import ensure_tenant
from nextread.store.writes import upsert_items, write_interactions
from tests.conftest import Database

UTC_NOON = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def _settings(**overrides: object) -> Settings:
    defaults: dict[str, object] = {"retrain_cron": "0 2 * * *", "retrain_after_interactions": 0}
    return Settings(**{**defaults, **overrides})


def _tenant_with_items(database: Database) -> int:
    with session_scope(database.sessions) as session:
        tenant_id = ensure_tenant(session, "school").id
        upsert_items(session, tenant_id, [ItemIn(id=f"book-{n}", title=f"Book {n}") for n in range(3)])
    return tenant_id


def _interact(database: Database, tenant_id: int, count: int) -> None:
    rows = [InteractionIn(user_id=f"u{n}", item_id=f"book-{n % 3}", type="view") for n in range(count)]
    with session_scope(database.sessions) as session:
        write_interactions(session, tenant_id, rows)


def _runs(database: Database) -> list[JobRun]:
    with session_scope(database.sessions) as session:
        return list(session.scalars(select(JobRun).order_by(JobRun.id)))


def test_next_fire_time_follows_the_cron_expression() -> None:
    assert next_fire_time("0 2 * * *", UTC_NOON) == datetime(2026, 11, 28, 2, 0, tzinfo=UTC)
    assert next_fire_time("0 2 * * *", datetime(2026, 11, 28, 1, 59, tzinfo=UTC)).day == 28
    assert next_fire_time("*/15 * * * *", UTC_NOON) == UTC_NOON + timedelta(minutes=15)
    assert next_fire_time("0 2 * * 1", UTC_NOON) == datetime(2026, 11, 30, 2, 0, tzinfo=UTC)  # Monday
    with pytest.raises(ValueError, match="NEXTREAD_RETRAIN_CRON"):
        next_fire_time("every night", UTC_NOON)


def test_two_processes_racing_for_the_lease_run_the_job_once(database: Database) -> None:
    """Two schedulers with their own engines (own connections, as two processes) start together."""
    tenant_id = _tenant_with_items(database)
    calls: list[str] = []
    barrier = threading.Barrier(2)
    results: dict[str, JobRun | None] = {}

    def contender(owner: str) -> None:
        engine = make_engine(database.url)
        sessions = make_session_factory(engine)
        barrier.wait()
        results[owner] = run_job(
            sessions, "retrain", tenant_id, lambda: (calls.append(owner), time.sleep(0.5)), "cron", owner, 30
        )
        engine.dispose()

    threads = [threading.Thread(target=contender, args=(name,)) for name in ("api-1", "api-2")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(calls) == 1
    winners = [owner for owner, run in results.items() if run is not None]
    assert winners == calls
    (run,) = _runs(database)
    assert (run.owner, run.status, run.triggered_by) == (calls[0], "succeeded", "cron")
    assert run.duration_seconds is not None and run.duration_seconds >= 0.5


def test_two_schedulers_at_the_cron_time_retrain_once(database: Database) -> None:
    """Even when the second one wakes after the first has finished and released the lease."""
    tenant_id = _tenant_with_items(database)
    trained: list[int] = []
    started = datetime.now(UTC) - timedelta(days=2)  # both started two days ago: 02:00 has passed since
    first = Scheduler(database.sessions, _settings(), retrain=trained.append, now=started)
    second = Scheduler(database.sessions, _settings(), retrain=trained.append, now=started)
    fire = first.next_fire
    assert fire is not None and fire.hour == 2
    assert first.tick(now=fire - timedelta(minutes=1)) == []  # not due before 02:00
    assert [run.triggered_by for run in first.tick()] == ["cron"]
    assert second.tick() == []
    assert trained == [tenant_id]
    assert first.next_fire == next_fire_time("0 2 * * *", datetime.now(UTC))


def test_retrain_after_n_new_interactions(database: Database) -> None:
    tenant_id = _tenant_with_items(database)
    trained: list[int] = []
    scheduler = Scheduler(
        database.sessions, _settings(retrain_after_interactions=5), retrain=trained.append, now=UTC_NOON
    )
    _interact(database, tenant_id, 4)
    assert scheduler.tick(now=UTC_NOON) == []
    _interact(database, tenant_id, 6)
    with session_scope(database.sessions) as session:  # the check counts no further than it asks
        assert new_interactions(session, tenant_id) == 10
        assert new_interactions(session, tenant_id, at_most=5) == 5
    (run,) = scheduler.tick(now=UTC_NOON)
    assert (run.triggered_by, run.status, trained) == ("interactions", "succeeded", [tenant_id])
    with session_scope(database.sessions) as session:  # what training registers: a newer model
        session.add(ModelVersion(tenant_id=tenant_id, version=1, path="v1.pkl"))
    assert scheduler.tick(now=UTC_NOON) == []  # counted again from the new model


def test_a_failed_job_is_recorded_with_its_error_and_frees_the_lease(database: Database) -> None:
    tenant_id = _tenant_with_items(database)

    def broken() -> None:
        raise RuntimeError("catalog has no interactions to learn from")

    run = run_job(database.sessions, "retrain", tenant_id, broken, "manual", "cli", 30)
    assert run is not None and run.status == "failed"
    assert run.error == "RuntimeError: catalog has no interactions to learn from"
    assert run.finished_at is not None and run.duration_seconds is not None
    again = run_job(database.sessions, "retrain", tenant_id, lambda: None, "manual", "cli", 30)
    assert again is not None and again.status == "succeeded"


def test_an_expired_lease_is_taken_over_and_a_live_one_is_not(database: Database) -> None:
    crashed = DatabaseLock(database.sessions, "retrain:1", "crashed", lease_seconds=0.2)
    alive = DatabaseLock(database.sessions, "retrain:2", "alive", lease_seconds=30)
    assert crashed.acquire() and alive.acquire()
    assert not DatabaseLock(database.sessions, "retrain:2", "other", 30).acquire()
    time.sleep(0.3)
    successor = DatabaseLock(database.sessions, "retrain:1", "successor", 30)
    assert successor.acquire()
    assert not crashed.renew()  # the crashed holder learns it lost the lease
    assert alive.renew()


def test_a_run_whose_process_died_is_marked_abandoned_by_the_next(database: Database) -> None:
    tenant_id = _tenant_with_items(database)
    with session_scope(database.sessions) as session:
        session.add(JobRun(job="retrain", tenant_id=tenant_id, triggered_by="cron", owner="killed"))
    run = run_job(database.sessions, "retrain", tenant_id, lambda: None, "manual", "cli", 30)
    assert run is not None and run.status == "succeeded"
    assert [(r.owner, r.status) for r in _runs(database)] == [("killed", "abandoned"), ("cli", "succeeded")]
