"""Jobs that run one at a time across every process (a lease row in the database), each run recorded
in ``job_runs``; what runs when is decided by ``nextread.services.scheduler``."""

from nextread.jobs.locks import DatabaseLock
from nextread.jobs.runner import run_job

__all__ = ["DatabaseLock", "run_job"]
