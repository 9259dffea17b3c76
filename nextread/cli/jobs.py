"""``nextread jobs``: list job runs, run a job now, or run the scheduler as its own process."""

from __future__ import annotations

import asyncio
import signal

import typer
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from nextread.config import get_settings
from nextread.store.db import make_engine, make_session_factory, session_scope, upgrade
from nextread.store.models import JobRun, Tenant
from nextread.store.tenants import ensure_tenant

jobs_app = typer.Typer(
    help="Background jobs: `nextread jobs` lists recent runs with status and duration.",
    invoke_without_command=True,
)
JOBS = ("retrain",)


def _sessions() -> sessionmaker[Session]:
    engine = make_engine(get_settings().store.database_url)
    upgrade(engine)
    return make_session_factory(engine)


@jobs_app.callback()
def list_runs(
    ctx: typer.Context, limit: int = typer.Option(20, min=1, help="How many of the newest runs.")
) -> None:
    """List the newest job runs: job, tenant, trigger, status, start, duration, error."""
    if ctx.invoked_subcommand is not None:
        return
    with session_scope(_sessions()) as session:
        rows = session.execute(
            select(JobRun, Tenant.slug)
            .outerjoin(Tenant, Tenant.id == JobRun.tenant_id)
            .order_by(JobRun.started_at.desc(), JobRun.id.desc())
            .limit(limit)
        ).all()
    if not rows:
        typer.echo("no job runs yet")
        return
    typer.echo(
        f"{'id':>5}  {'job':<8} {'tenant':<12} {'trigger':<12} {'status':<10} {'started (UTC)':<19} "
        f"{'duration':>9}  error"
    )
    for run, slug in rows:
        duration = f"{run.duration_seconds:.1f}s" if run.duration_seconds is not None else "-"
        typer.echo(
            f"{run.id:>5}  {run.job:<8} {slug or '-':<12} {run.triggered_by:<12} {run.status:<10} "
            f"{run.started_at:%Y-%m-%d %H:%M:%S} {duration:>9}  {run.error or ''}"
        )


@jobs_app.command("run")
def run_command(
    job: str = typer.Argument(..., help=f"One of: {', '.join(JOBS)}."),
    tenant: str | None = typer.Option(None, help="Tenant slug (default: NEXTREAD_DEFAULT_TENANT)."),
) -> None:
    """Run a job now, under the same lock as the scheduler (refused while another run holds it)."""
    from nextread.services.scheduler import Scheduler

    if job not in JOBS:
        raise typer.BadParameter(f"unknown job {job!r}; one of: {', '.join(JOBS)}", param_hint="JOB")
    settings = get_settings()
    sessions = _sessions()
    with session_scope(sessions) as session:
        tenant_id = ensure_tenant(session, tenant or settings.store.default_tenant).id
    run = Scheduler(sessions, settings).run_now(tenant_id)
    if run is None:
        typer.echo(f"{job} is already running for this tenant (another process holds its lock)", err=True)
        raise typer.Exit(1)
    typer.echo(f"{job} run {run.id}: {run.status} in {run.duration_seconds:.1f}s {run.error or ''}".rstrip())
    if run.status != "succeeded":
        raise typer.Exit(1)


@jobs_app.command("schedule")
def schedule_command() -> None:
    """Run only the scheduler (cron and interaction-count retraining) until interrupted."""
    from nextread.services.scheduler import Scheduler

    settings = get_settings()
    scheduler = Scheduler(_sessions(), settings)
    typer.echo(f"scheduler {scheduler.owner}: next cron retrain at {scheduler.next_fire or 'never'}")

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        await scheduler.run_forever(stop)

    asyncio.run(main())
