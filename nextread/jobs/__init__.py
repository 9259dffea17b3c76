"""Background jobs: retraining on a cron schedule and after enough new interactions, one run at a time
across every process (a lease row in the database), each run recorded in ``job_runs``."""

from nextread.jobs.locks import DatabaseLock
from nextread.jobs.runner import run_job
from nextread.jobs.scheduler import BackgroundScheduler, Scheduler, next_fire_time

__all__ = ["BackgroundScheduler", "DatabaseLock", "Scheduler", "next_fire_time", "run_job"]
