"""Engine, sessions and schema migration. The same code drives SQLite (embedded) and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def normalise_url(url: str) -> str:
    """Plain ``postgresql://`` URLs get the psycopg 3 driver we ship, not psycopg2."""
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


# FastAPI runs sync endpoints on a 40-thread pool; each request holds one connection (two while a
# model refresh runs), so the pool must not be the bottleneck under load.
POOL_SIZE, MAX_OVERFLOW = 40, 40


def make_engine(url: str) -> Engine:
    url = normalise_url(url)
    if url.startswith("sqlite"):
        path = make_url(url).database
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": 30},
            pool_size=POOL_SIZE,
            max_overflow=MAX_OVERFLOW,
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    # A PostgreSQL server allows ~100 connections in all; several API and worker processes share them.
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)


def ping(engine: Engine) -> None:
    """Run a trivial query; the driver's error, if any, says why the database does not answer."""
    with engine.connect() as connection:
        connection.execute(text("SELECT 1"))


def database_answers(engine: Engine) -> bool:
    """Whether the database runs a trivial query; any driver error means no."""
    try:
        ping(engine)
    except Exception:  # noqa: BLE001 - unreachable, refused, timed out: all the same answer
        return False
    return True


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def session_scope(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One unit of work: commit on success, roll back everything on any error."""
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


@dataclass(frozen=True)
class DatabaseFailure:
    """What a failed statement or commit means to whoever asked for the write: the HTTP status that
    fits and the words every adapter (REST, dashboard, MCP) shows. The request's transaction was rolled
    back, so nothing of it is stored."""

    status: int
    message: str


UNAVAILABLE = DatabaseFailure(503, "database unavailable; nothing was written, retry later")
CONFLICT = DatabaseFailure(
    409, "the write conflicted with stored data or a concurrent write; nothing was written"
)
REFUSED = DatabaseFailure(500, "the database refused the request; nothing was written")
# PostgreSQL's serialization failure and deadlock: the transaction lost a race, a retry may succeed.
CONFLICT_SQLSTATES = frozenset({"40001", "40P01"})


def database_failure(exc: DBAPIError) -> DatabaseFailure:
    if isinstance(exc, IntegrityError) or getattr(exc.orig, "sqlstate", None) in CONFLICT_SQLSTATES:
        return CONFLICT
    if isinstance(exc, OperationalError) or exc.connection_invalidated:
        return UNAVAILABLE
    return REFUSED


def alembic_config(engine: Engine) -> Config:
    # Alembic is imported here, not at the top: commands that never migrate (``--help``) skip its load.
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["engine"] = engine
    return config


# Tables the migrations create that the SQLAlchemy models cannot describe (the SQLite FTS5 virtual table
# and its shadow tables, the PostgreSQL tsvector side table): autogenerate must neither drop nor diff them.
UNMODELLED_TABLE_PREFIXES = ("items_fts",)


def include_in_autogenerate(name: str | None, type_: str, _parent_names: object) -> bool:
    """``include_name`` hook for Alembic's autogenerate and schema comparison."""
    return not (type_ == "table" and name is not None and name.startswith(UNMODELLED_TABLE_PREFIXES))


def upgrade(engine: Engine, revision: str = "heads") -> None:
    """Bring the schema to ``revision`` with Alembic (safe to call on every start)."""
    from alembic import command

    command.upgrade(alembic_config(engine), revision)
