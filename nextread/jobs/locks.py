"""A lease on a job name, held in the ``job_locks`` table.

Acquiring is one conditional UPDATE (take the row if its lease expired or is already ours) and, when
there is no row yet, one INSERT whose primary key lets exactly one contender win. Both statements are
atomic on SQLite and PostgreSQL alike, so no advisory locks or Redis are needed; a holder that
crashes stops renewing and its lease expires after ``lease_seconds``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, insert, or_, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from nextread.store.db import session_scope
from nextread.store.models import JobLock


class DatabaseLock:
    def __init__(self, sessions: sessionmaker[Session], name: str, owner: str, lease_seconds: float):
        self.sessions = sessions
        self.name = name
        self.owner = owner
        self.lease = timedelta(seconds=lease_seconds)

    def acquire(self) -> bool:
        """True when this owner now holds the lease (taking over an expired one)."""
        if self._extend(allow_takeover=True):
            return True
        try:
            with session_scope(self.sessions) as session:
                expires_at = datetime.now(UTC) + self.lease
                session.execute(
                    insert(JobLock).values(name=self.name, owner=self.owner, expires_at=expires_at)
                )
        except IntegrityError:
            return False
        return True

    def renew(self) -> bool:
        """Push the expiry forward; False means the lease was lost (expired and taken by another)."""
        return self._extend(allow_takeover=False)

    def release(self) -> None:
        with session_scope(self.sessions) as session:
            session.execute(delete(JobLock).where(JobLock.name == self.name, JobLock.owner == self.owner))

    def _extend(self, allow_takeover: bool) -> bool:
        now = datetime.now(UTC)
        condition = JobLock.owner == self.owner
        if allow_takeover:
            condition = or_(condition, JobLock.expires_at < now)
        with session_scope(self.sessions) as session:
            result = session.execute(
                update(JobLock)
                .where(JobLock.name == self.name, condition)
                .values(owner=self.owner, expires_at=now + self.lease)
            )
            return result.rowcount == 1
