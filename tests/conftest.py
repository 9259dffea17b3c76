"""Shared fixtures. Store and API tests run on both SQLite and the real PostgreSQL.

Each test gets a fresh, migrated database: a copy of a SQLite file, or a PostgreSQL database cloned
from a migrated template (``CREATE DATABASE … TEMPLATE``), dropped afterwards. With ``CI=true`` a
missing PostgreSQL fails the run instead of skipping.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.orm import Session, sessionmaker

from nextread.app import create_app
from nextread.config import Settings
from nextread.store.db import make_engine, make_session_factory, upgrade

if TYPE_CHECKING:
    from tests.commit_faults import CommitFault

POSTGRES_ADMIN_URL = os.environ.get(
    "NEXTREAD_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def _shared_data() -> Path:
    """``../shared/data`` beside the checkout; a clone elsewhere (a CI workspace) names it with
    ``NEXTREAD_SHARED_DATA`` or finds the machine's copy under /work."""
    beside = Path(__file__).resolve().parents[1].parent / "shared" / "data"
    candidates = [Path(os.environ["NEXTREAD_SHARED_DATA"])] if os.environ.get("NEXTREAD_SHARED_DATA") else []
    candidates += [beside, Path("/work/shared/data")]
    return next((path for path in candidates if path.is_dir()), beside)


SHARED_DATA = _shared_data()

ADMIN_KEY = "test-admin-key"
READ_KEY = "test-read-key"


def require_service(name: str, reason: str) -> None:
    """Skip locally, fail in CI: a CI run must never silently drop the real-server tests."""
    message = f"{name} is not reachable: {reason}"
    if IN_CI:
        pytest.fail(message + " (CI=true: tests that need it must run)")
    pytest.skip(message)


@pytest.fixture(autouse=True, scope="session")
def _quick_app_stop() -> Iterator[None]:
    """Stopping an app waits for its idle in-process worker's poll on the embedded bus (1 s in
    production); the suite stops hundreds of apps, so here the poll is short. Events still wake it at
    once, so no test waits longer for one to be applied."""
    from nextread.services import event_pipeline

    default = event_pipeline.EMBEDDED_WORKER_BLOCK_MS
    event_pipeline.EMBEDDED_WORKER_BLOCK_MS = 50
    yield
    event_pipeline.EMBEDDED_WORKER_BLOCK_MS = default


def _admin_engine() -> Engine:
    return create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")


@pytest.fixture(scope="session")
def _sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    engine.dispose()
    return path


@pytest.fixture(scope="session")
def _postgres_template() -> Iterator[str]:
    name = f"nextread_tmpl_{uuid.uuid4().hex[:10]}"
    try:
        admin = _admin_engine()
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # noqa: BLE001 - any failure to reach the server is reported the same way
        require_service("PostgreSQL", f"{POSTGRES_ADMIN_URL}: {exc}")
    url = POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    yield name
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@dataclass
class Database:
    url: str
    engine: Engine
    sessions: sessionmaker[Session]

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """A fresh migrated database on each backend."""
    if request.param == "sqlite":
        path = tmp_path / "nextread.db"
        shutil.copy(request.getfixturevalue("_sqlite_template"), path)
        url = f"sqlite:///{path}"
        engine = make_engine(url)
        yield Database(url, engine, make_session_factory(engine))
        engine.dispose()
        return
    template = request.getfixturevalue("_postgres_template")
    name = f"nextread_test_{uuid.uuid4().hex[:10]}"
    admin = _admin_engine()
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{template}"'))
    url = POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    engine = make_engine(url)
    yield Database(url, engine, make_session_factory(engine))
    engine.dispose()
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def settings(database: Database, tmp_path: Path) -> Settings:
    return Settings(
        data_dir=tmp_path / "data",
        database_url=database.url,
        admin_api_key=ADMIN_KEY,
        read_api_key=READ_KEY,
        log_format="console",
        log_level="WARNING",
        # Most tests ask about a trained model right after writing their data; the background first
        # training has its own tests (tests/recommend/test_background_training.py).
        train_in_background=False,
    )


@pytest.fixture
def commit_fault(database: Database, monkeypatch: pytest.MonkeyPatch) -> CommitFault:
    """Later commits that write can be made slow or failing (tests/commit_faults.py)."""
    from tests.commit_faults import CommitFault

    return CommitFault(monkeypatch, database.engine if database.dialect == "postgresql" else None)


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    """The whole app in-process, authenticated as the default tenant's admin."""
    with TestClient(create_app(settings)) as test_client:
        test_client.headers["Authorization"] = f"Bearer {ADMIN_KEY}"
        yield test_client


@pytest.fixture
def anonymous(client: TestClient) -> TestClient:
    """Same app, no credentials."""
    return TestClient(client.app)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """With ``-n`` (scripts/test.sh), tests sharing a module-scoped fixture (a served app, a browser, a
    trained model) stay on one worker, so it is built once, not once per worker."""
    for item in items:
        fixtures = getattr(item, "_fixtureinfo", None)
        if fixtures is None:
            continue
        scopes = {definition.scope for defs in fixtures.name2fixturedefs.values() for definition in defs}
        if "module" in scopes and not item.get_closest_marker("xdist_group"):
            item.add_marker(pytest.mark.xdist_group(item.nodeid.split("::", 1)[0]))


# A real Redis at 127.0.0.1:6379, shared by every test through a unique key prefix (never FLUSHDB).
REDIS_URL = os.environ.get("NEXTREAD_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


@pytest.fixture
def redis_prefix() -> Iterator[str]:
    """A key prefix no other test uses; its keys are deleted afterwards (SCAN is fine in a test)."""
    import redis

    client = redis.Redis.from_url(REDIS_URL, socket_timeout=2)
    try:
        client.ping()
    except (redis.RedisError, OSError) as exc:
        require_service("Redis", f"{REDIS_URL}: {exc}")
    prefix = f"nextread-test-{uuid.uuid4().hex[:12]}"
    yield prefix
    keys = list(client.scan_iter(match=f"{prefix}:*", count=1000))
    if keys:
        client.delete(*keys)
    client.close()
