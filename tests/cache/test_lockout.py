"""Sign-in lockout after repeated failures, counted in the cache backend: on memory, and on a real Redis
shared by two "processes" (two clients), as in production."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from nextread.cache import MemoryCache, NullCache, RedisCache
from nextread.cache.backends import CacheBackend
from nextread.config import Settings
from nextread.services.access import sign_in, sign_in_with_key
from nextread.services.lockout import CLIENT, USERNAME, LockedOut, Lockout, Policy
from nextread.store.accounts import create_account
from nextread.store.db import session_scope
from nextread.store.tenants import ensure_tenant, register_api_key
from tests.conftest import REDIS_URL, Database

RAW_KEY = "a-right-admin-key"
POLICY = Policy(max_failures=5, window_seconds=900, lockout_seconds=60, lockout_max_seconds=200)


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(params=["memory", "redis"])
def store(request: pytest.FixtureRequest) -> tuple[Callable[[], CacheBackend], str]:
    """A backend factory, each call another process's client of the same store (one MemoryCache has no
    other process), and a key prefix no other test uses."""
    if request.param == "memory":
        shared = MemoryCache(100)
        return (lambda: shared), "t"
    return (lambda: RedisCache(REDIS_URL)), request.getfixturevalue("redis_prefix")


def test_incr_counts_within_a_window_that_later_increments_do_not_extend(
    store: tuple[Callable[[], CacheBackend], str],
) -> None:
    backends, prefix = store
    backend = backends()
    assert [backend.incr(f"{prefix}:n", 0.3) for _ in range(3)] == [1, 2, 3]
    time.sleep(0.35)
    assert backend.incr(f"{prefix}:n", 0.3) == 1


def test_the_sixth_attempt_is_refused_even_when_right_and_in_another_process(
    store: tuple[Callable[[], CacheBackend], str],
) -> None:
    backends, prefix = store
    clock = Clock()
    first, second = (Lockout(backends(), POLICY, prefix, clock) for _ in range(2))
    for _ in range(4):
        first.check(USERNAME, "libby")
        first.failed(USERNAME, "libby")
    with pytest.raises(LockedOut, match=r"Too many attempts; try again in 1 minute\.") as locked:
        second.failed(USERNAME, "libby")
    assert locked.value.seconds_left == 60
    with pytest.raises(LockedOut):
        first.check(USERNAME, "libby")
    second.check(USERNAME, "another-user")  # counted per username
    second.check(CLIENT, "libby")  # and per kind of subject
    clock.now += 61
    first.check(USERNAME, "libby")


def test_each_lockout_in_a_row_doubles_the_cool_down_up_to_the_maximum(
    store: tuple[Callable[[], CacheBackend], str],
) -> None:
    backends, prefix = store
    clock = Clock()
    lockout = Lockout(backends(), POLICY, prefix, clock)
    seen = []
    for _ in range(4):
        for _ in range(POLICY.max_failures - 1):
            lockout.failed(USERNAME, "ghost")
        with pytest.raises(LockedOut) as locked:
            lockout.failed(USERNAME, "ghost")
        seen.append(locked.value.seconds_left)
        clock.now += locked.value.seconds_left + 1
    assert seen == [60, 120, 200, 200]
    assert str(LockedOut(seen[1])) == "Too many attempts; try again in 2 minutes."


def test_a_success_forgets_failures_and_past_lockouts(
    store: tuple[Callable[[], CacheBackend], str],
) -> None:
    backends, prefix = store
    clock = Clock()
    lockout = Lockout(backends(), POLICY, prefix, clock)
    for _ in range(POLICY.max_failures - 1):
        lockout.failed(USERNAME, "libby")
    lockout.succeeded(USERNAME, "libby")
    for _ in range(POLICY.max_failures - 1):
        lockout.failed(USERNAME, "libby")
    with pytest.raises(LockedOut) as locked:
        lockout.failed(USERNAME, "libby")
    assert locked.value.seconds_left == 60


def test_with_caching_off_one_process_still_locks_out() -> None:
    lockout = Lockout(NullCache(), POLICY)
    for _ in range(POLICY.max_failures - 1):
        lockout.failed(USERNAME, "libby")
    with pytest.raises(LockedOut):
        lockout.failed(USERNAME, "libby")


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
def test_sign_in_refuses_the_right_password_after_five_wrong_ones_same_as_for_unknown_names(
    database: Database, store: tuple[Callable[[], CacheBackend], str]
) -> None:
    backends, prefix = store
    lockout = Lockout(backends(), Policy.of(Settings()), prefix)
    with session_scope(database.sessions) as session:
        tenant = ensure_tenant(session, "school")
        create_account(session, tenant.id, "libby", "shelves-and-stacks", "librarian")
        register_api_key(session, tenant, RAW_KEY, "admin", "admin")
    refusals: dict[str, str] = {}
    for username in ("libby", "nobody"):
        with session_scope(database.sessions) as session:
            for _ in range(4):
                assert sign_in(session, username, "wrong", lockout) is None
            with pytest.raises(LockedOut) as locked:
                sign_in(session, username, "wrong", lockout)
            refusals[username] = str(locked.value)
            with pytest.raises(LockedOut):
                sign_in(session, username, "shelves-and-stacks", lockout)
    assert refusals["libby"] == refusals["nobody"] == "Too many attempts; try again in 1 minute."
    with session_scope(database.sessions) as session:
        for _ in range(4):
            assert sign_in_with_key(session, "wrong-key", "10.0.0.7", lockout) is None
        with pytest.raises(LockedOut):
            sign_in_with_key(session, "wrong-key", "10.0.0.7", lockout)
        with pytest.raises(LockedOut):
            sign_in_with_key(session, RAW_KEY, "10.0.0.7", lockout)
        assert sign_in_with_key(session, RAW_KEY, "10.0.0.8", lockout) is not None
