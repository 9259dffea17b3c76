"""Commits that take a while or fail, for the read-your-writes tests of every writer (REST, dashboard,
MCP, CLI).

On PostgreSQL the database itself does it: a ``DEFERRABLE INITIALLY DEFERRED`` constraint trigger on
every table runs at ``COMMIT`` of any transaction that wrote, and sleeps (``pg_sleep``) or refuses the
commit (``RAISE EXCEPTION``, as a serialization failure for ``conflict``) as the ``commit_fault``
table says. On SQLite the driver's commit is wrapped for every engine of the process: a transaction
that wrote sleeps before it commits, or its commit raises the driver's own error (an integrity error
for ``conflict``). Transactions that only read are never touched.
"""

from __future__ import annotations

import sqlite3
import time
from typing import Any, Literal

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.dialects.sqlite.pysqlite import SQLiteDialect_pysqlite

SLOW_COMMIT_SECONDS = 1.0
Mode = Literal["off", "slow", "fail", "conflict"]

_POSTGRES_SETUP = [
    "CREATE TABLE commit_fault (mode text NOT NULL)",
    "INSERT INTO commit_fault VALUES ('off')",
    f"""
    CREATE FUNCTION commit_fault() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE
        chosen text := (SELECT mode FROM commit_fault);
    BEGIN
        IF chosen = 'fail' THEN
            RAISE EXCEPTION 'commit refused by the test''s commit_fault trigger';
        ELSIF chosen = 'conflict' THEN
            RAISE EXCEPTION 'the test''s commit_fault trigger lost a race'
                USING ERRCODE = 'serialization_failure';
        ELSIF chosen = 'slow' AND current_setting('commit_fault.slept', true) IS DISTINCT FROM 'yes' THEN
            PERFORM set_config('commit_fault.slept', 'yes', true);  -- once per transaction
            PERFORM pg_sleep({SLOW_COMMIT_SECONDS});
        END IF;
        RETURN NULL;
    END $$
    """,
    """
    DO $$
    DECLARE
        name text;
    BEGIN
        FOR name IN SELECT tablename FROM pg_tables
                    WHERE schemaname = 'public' AND tablename <> 'commit_fault' LOOP
            EXECUTE format(
                'CREATE CONSTRAINT TRIGGER commit_fault AFTER INSERT OR UPDATE OR DELETE ON %I '
                'DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION commit_fault()',
                name
            );
        END LOOP;
    END $$
    """,
]


class CommitFault:
    """``set(mode)`` for every later commit that writes: ``slow``, ``fail``, ``conflict`` or ``off``."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, postgres: Engine | None = None) -> None:
        """``postgres``: the database to install the trigger in; without it, SQLite's commits."""
        self.postgres = postgres
        self.mode: Mode = "off"
        if postgres is not None:
            with postgres.begin() as connection:
                for statement in _POSTGRES_SETUP:
                    connection.execute(text(statement))
        else:
            wrapped = self._sqlite_commit(SQLiteDialect_pysqlite.do_commit)
            monkeypatch.setattr(SQLiteDialect_pysqlite, "do_commit", wrapped)

    def set(self, mode: Mode) -> None:
        self.mode = mode
        if self.postgres is not None:
            with self.postgres.begin() as connection:
                connection.execute(text("UPDATE commit_fault SET mode = :mode"), {"mode": mode})

    def _sqlite_commit(self, commit: Any) -> Any:
        def faulty_commit(dialect: Any, dbapi_connection: Any) -> None:
            if dbapi_connection.in_transaction:  # the driver opens a transaction only to write
                if self.mode == "slow":
                    time.sleep(SLOW_COMMIT_SECONDS)
                elif self.mode == "fail":
                    raise sqlite3.OperationalError("disk I/O error (the test's failing commit)")
                elif self.mode == "conflict":  # what a deferred foreign key says at commit
                    raise sqlite3.IntegrityError("FOREIGN KEY constraint failed (the test's commit)")
            commit(dialect, dbapi_connection)

        return faulty_commit
