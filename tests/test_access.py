"""Access rules per role, the API key cache and the one freshness rule (nextread/services/access.py,
nextread/freshness.py)."""

from __future__ import annotations

import pytest
from sqlalchemy import update
from sqlalchemy.orm import Session

from nextread.config import Settings
from nextread.engine.hybrid import Weights
from nextread.freshness import Freshness
from nextread.schemas import UserIn
from nextread.services.access import (
    BY_ACCOUNT,
    BY_OPERATOR,
    CONFIGURE,
    READ,
    WRITE,
    AccessDenied,
    KeyCache,
    Principal,
    may,
    operator_principal,
    principal_of_key,
    require,
    sign_in,
)
from nextread.services.recommend import RecommendationService
from nextread.services.registry import ModelRegistry
from nextread.store.accounts import create_account
from nextread.store.db import session_scope
from nextread.store.models import ApiKey, utcnow
from nextread.store.tenant_settings import TenantSettings, save_tenant_settings
from nextread.store.tenants import ensure_tenant, register_api_key
from nextread.store.writes import upsert_users
from tests.conftest import Database


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _as(role: str, student: str | None = None) -> Principal:
    return Principal(1, "school", role, BY_ACCOUNT, "someone", user_external_id=student)


@pytest.mark.parametrize(
    ("role", "allowed"),
    [
        ("admin", {READ, WRITE, CONFIGURE}),
        ("librarian", {READ, WRITE}),
        ("read", {READ}),
        ("student", set()),
        ("owner", set()),  # an unknown role may nothing
    ],
)
def test_each_role_may_exactly_its_actions_in_the_whole_tenant(role: str, allowed: set[str]) -> None:
    principal = _as(role, "st-1" if role == "student" else None)
    assert {action for action in (READ, WRITE, CONFIGURE) if may(principal, action)} == allowed
    for action in {READ, WRITE, CONFIGURE} - allowed:
        with pytest.raises(AccessDenied):
            require(principal, action)


def test_a_student_may_read_and_mark_only_their_own_reading() -> None:
    student = _as("student", "st-1")
    assert may(student, READ, "st-1") and may(student, WRITE, "st-1")
    assert not may(student, READ, "st-2") and not may(student, WRITE, "st-2")
    assert not may(student, CONFIGURE, "st-1")
    # a read key has no reader of its own, even when asked about a reader
    assert not may(_as("read"), WRITE, "st-1")
    assert may(_as("librarian"), WRITE, "st-2")


def test_a_read_key_is_told_writes_need_an_admin_key() -> None:
    with pytest.raises(AccessDenied, match="read-only; writes need an admin key"):
        require(Principal(1, "school", "read"), WRITE)
    assert require(Principal(1, "school", "admin"), WRITE).role == "admin"


def test_the_operator_names_an_api_key_role() -> None:
    assert operator_principal(3, "school", "admin").via == BY_OPERATOR
    with pytest.raises(ValueError, match="read, admin"):
        operator_principal(3, "school", "librarian")


def test_freshness_holds_for_exactly_its_interval_from_when_the_read_began() -> None:
    clock = Clock()
    interval = [10.0]
    checks: Freshness[str, int] = Freshness(lambda: interval[0], clock=clock)
    assert checks.fresh("a") is None and checks.due("a")

    def slow_read() -> int:
        clock.now += 3.0  # the database answered three seconds after the check began
        return 7

    assert checks.check("a", slow_read) == 7
    started = clock.now - 3.0
    assert checks.checked_at("a") == started
    clock.now = started + 4.99
    assert checks.fresh("a").value == 7 and not checks.due("a")
    clock.now = started + 5.0
    assert checks.fresh("a") is not None and checks.due("a")  # re-check ahead from half the interval
    clock.now = started + 9.99
    assert checks.fresh("a") is not None
    clock.now = started + 10.0
    assert checks.fresh("a") is None
    interval[0] = 20.0  # the interval is read at every call
    assert checks.fresh("a") is not None
    checks.forget("a")
    assert checks.fresh("a") is None


def _school_with_keys(session: Session, *keys: str) -> None:
    tenant = ensure_tenant(session, "school")
    for key in keys:
        register_api_key(session, tenant, key, "read", key)


def test_a_revoked_key_works_until_its_check_expires_then_never(database: Database) -> None:
    with session_scope(database.sessions) as session:
        _school_with_keys(session, "key-a")
    clock = Clock()
    keys = KeyCache(ttl_seconds=10.0, clock=clock)
    with session_scope(database.sessions) as session:
        assert keys.principal(session, "key-a").tenant_slug == "school"
        session.execute(update(ApiKey).values(revoked_at=utcnow()))
    clock.now += 9.9
    assert keys.known("key-a") is not None  # within the bound: not asked again
    with session_scope(database.sessions) as session:
        assert keys.principal(session, "key-a") is not None
        clock.now += 0.1
        assert keys.known("key-a") is None
        assert keys.principal(session, "key-a") is None
        assert principal_of_key(session, "key-a") is None


def test_a_full_key_cache_makes_room_one_key_at_a_time(database: Database) -> None:
    with session_scope(database.sessions) as session:
        _school_with_keys(session, "key-a", "key-b")
    keys = KeyCache(max_entries=3)
    with session_scope(database.sessions) as session:
        principal_a = keys.principal(session, "key-a")
        principal_b = keys.principal(session, "key-b")
        assert keys.principal(session, "wrong-1") is None
        assert keys.known("key-a") == principal_a  # key-b is now the least recently used
        assert keys.principal(session, "wrong-2") is None  # a flood of wrong keys...
    assert len(keys.checks) == 3
    assert keys.known("key-a") == principal_a  # ...evicts one entry, not every valid key
    assert keys.known("key-b") is None
    assert principal_b is not None and keys.due("key-b")


def test_a_saved_setting_is_picked_up_within_the_refresh_interval(
    database: Database, settings: Settings
) -> None:
    settings.serving.model_refresh_seconds = 3600.0
    service = RecommendationService(ModelRegistry(database.sessions, settings))
    with session_scope(database.sessions) as session:
        tenant_id = ensure_tenant(session, "school").id
        assert service.tenant_weights(session, tenant_id) == Weights()
        save_tenant_settings(session, tenant_id, TenantSettings(weights=Weights(cf=0.25)))
    with session_scope(database.sessions) as session:
        assert service.tenant_weights(session, tenant_id) == Weights()  # checked lately: the copy
        assert service.weights_stamp(tenant_id) is not None
        settings.serving.model_refresh_seconds = 0.0  # the interval has passed
        assert service.weights_stamp(tenant_id) is None
        assert service.tenant_weights(session, tenant_id).cf == 0.25


def test_a_dashboard_account_signs_in_as_its_role_and_reader(database: Database) -> None:
    with session_scope(database.sessions) as session:
        tenant = ensure_tenant(session, "school")
        upsert_users(session, tenant.id, [UserIn(id="st-1")])
        account = create_account(session, tenant.id, "ada", "long-password", "student", "st-1")
        signed_in = sign_in(session, "ada", "long-password")
        assert signed_in is not None
        account_id, principal = signed_in
        assert account_id == account.id
        assert (principal.role, principal.via, principal.user_external_id) == ("student", BY_ACCOUNT, "st-1")
        assert may(principal, READ, "st-1") and not may(principal, READ, "st-2")
        assert sign_in(session, "ada", "wrong-password") is None
