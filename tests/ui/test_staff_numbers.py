"""The numbers the staff pages show, per school: the cache hit rate, paged student search and history,
and the printed reading list's order."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from nextread.cache import MemoryCache, ServingCache
from nextread.services import dashboard
from nextread.services.access import ADMIN, Principal
from nextread.store.db import make_engine, make_session_factory, session_scope
from nextread.store.models import Item, User
from nextread.store.tenants import ensure_tenant
from tests.ui.conftest import demo_settings


@pytest.fixture
def school(school_copy: Path) -> Iterator[tuple[Session, int]]:
    settings = demo_settings(school_copy)
    engine = make_engine(settings.store.database_url)
    with session_scope(make_session_factory(engine)) as session:
        yield session, ensure_tenant(session, settings.store.default_tenant).id
    engine.dispose()


def test_each_school_sees_its_own_cache_hit_rate() -> None:
    cache = ServingCache(MemoryCache(100), 60, "t")
    entry = cache.lookup_user(1, "st-1", "v")
    cache.store_user(entry, b"list")
    for _ in range(3):
        cache.lookup_user(1, "st-1", "v")
    cache.lookup_user(2, "st-9", "v")
    cache.get("similar", 2, "book")
    assert cache.school_lookups(1) == (3, 4)
    assert cache.school_lookups(2) == (0, 2)
    assert cache.school_lookups(3) == (0, 0)


def test_student_search_pages_through_every_student(school: tuple[Session, int]) -> None:
    session, tenant_id = school
    students = session.scalar(select(func.count()).select_from(User).where(User.tenant_id == tenant_id))
    seen: list[str] = []
    for offset in range(0, students, 40):
        page = dashboard.search_students(session, tenant_id, "", offset, 40)
        assert page.total == students
        seen += [row["id"] for row in page.rows]
    assert len(seen) == len(set(seen)) == students
    found = dashboard.search_students(session, tenant_id, "ETHAN", 0, 40)
    assert found.total == len(found.rows) > 0
    assert all("ethan" in row["name"].lower() for row in found.rows)
    assert all(row["class"] for row in found.rows), "each demo student's class is named"


def test_history_pages_reach_the_oldest_event(school: tuple[Session, int]) -> None:
    session, tenant_id = school
    identity = Principal(tenant_id, "demo", ADMIN)
    first = dashboard.history(session, identity, "st-001", 0, 20)
    assert first.total > 40
    last = dashboard.history(session, identity, "st-001", (first.total - 1) // 20 * 20, 20)
    assert 0 < len(last.rows) <= 20
    dates = [row["date"] for row in first.rows + last.rows]
    assert dates == sorted(dates, reverse=True), "newest first, across pages"
    words = set(dashboard.EVENT_WORDS.values())
    assert all(row["what"] in words or row["what"].startswith("Rated ") for row in first.rows)
    assert "checkout" not in {row["what"] for row in first.rows}, "types are shown in words"


def test_reading_list_files_by_title_ignoring_articles(school: tuple[Session, int]) -> None:
    session, tenant_id = school
    ids = list(session.scalars(select(Item.external_id).where(Item.tenant_id == tenant_id).limit(30)))
    rows = dashboard.reading_list(session, tenant_id, ids)
    assert len(rows) == 30
    filed = [dashboard.filing_title(row["title"]) for row in rows]
    assert filed == sorted(filed)
    assert dashboard.filing_title("The Hobbit") == "hobbit"
    assert dashboard.filing_title("A") == "a"
    assert all("level" in row and "copies" in row for row in rows)


def test_an_empty_school_has_no_students_and_no_classes(school: tuple[Session, int]) -> None:
    session, _ = school
    empty = ensure_tenant(session, "empty-school").id
    assert dashboard.search_students(session, empty).total == 0
    assert dashboard.list_classes(session, empty) == []
    overview = dashboard.overview(session, Principal(empty, "empty-school", ADMIN))
    assert not any(overview.counts.values()) and overview.per_day == []
