"""A demo school prepared once per run (loaded and trained), copied for each test module; a served copy
and Debian's Chromium for the browser tests (helpers: :mod:`tests.ui.browser_kit`)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from nextread.cli import prepare_demo
from nextread.config import Settings
from nextread.store.accounts import create_account, set_account_classes
from nextread.store.db import make_engine, make_session_factory, session_scope
from nextread.store.tenants import ensure_tenant

ADMIN_KEY = "ui-admin-key"
READ_KEY = "ui-read-key"
LIBRARIAN = ("libby", "shelves-and-stacks")
STUDENT = ("ethan", "dragons-are-cool", "st-001")
# Ms. Lee teaches the kindergarten class, which Ethan (st-001) is in.
TEACHER = ("ms-lee", "kindergarten-stars", "class-0")


def demo_settings(data_dir: Path, **overrides: object) -> Settings:
    return Settings(
        data_dir=data_dir,
        database_url="",
        admin_api_key=ADMIN_KEY,
        read_api_key=READ_KEY,
        log_format="console",
        log_level="WARNING",
        scheduler_enabled=False,
        **overrides,
    )


@pytest.fixture(scope="session")
def demo_school(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bundled demo (loaded, trained) plus a librarian, a teacher and a student account."""
    data_dir = tmp_path_factory.mktemp("demo-school")
    settings = demo_settings(data_dir)
    prepare_demo(settings)
    engine = make_engine(settings.store.database_url)
    with session_scope(make_session_factory(engine)) as session:
        tenant = ensure_tenant(session, settings.store.default_tenant)
        create_account(session, tenant.id, LIBRARIAN[0], LIBRARIAN[1], "librarian")
        create_account(session, tenant.id, STUDENT[0], STUDENT[1], "student", STUDENT[2])
        create_account(session, tenant.id, TEACHER[0], TEACHER[1], "teacher")
        set_account_classes(session, tenant.id, TEACHER[0], [TEACHER[2]])
    engine.dispose()
    return data_dir


@pytest.fixture
def school_copy(demo_school: Path, tmp_path: Path) -> Path:
    target = tmp_path / "school"
    shutil.copytree(demo_school, target)
    return target


@pytest.fixture(scope="module")
def server(demo_school: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The demo school served by a real ``nextread serve``, one per test module."""
    from tests.ui.browser_kit import serve

    with serve(demo_school, tmp_path_factory.mktemp("browser")) as base:
        yield base


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Debian's Chromium (never a browser Playwright downloads); missing, it skips locally, fails in CI."""
    from playwright.sync_api import sync_playwright

    from tests.conftest import require_service
    from tests.ui.browser_kit import CHROMIUM, CHROMIUM_ARGS

    if not CHROMIUM.exists():
        require_service("Chromium", f"{CHROMIUM} is missing (apt-get install chromium)")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()
