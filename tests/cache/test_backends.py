"""Cache backends and the per-user invalidation protocol, on memory and on the real Redis."""

from __future__ import annotations

import asyncio
import gc
import threading
import time
from collections.abc import Callable

import pytest
from prometheus_client import REGISTRY

from nextread.cache import MemoryCache, NullCache, RedisCache, ServingCache, UserEntry, open_cache
from nextread.cache.backends import open_backend
from nextread.config import Settings
from tests.conftest import REDIS_URL


@pytest.fixture(params=["memory", "redis"])
def make_cache(request: pytest.FixtureRequest) -> Callable[[float], ServingCache]:
    """A ServingCache factory over each real backend (Redis ones share one unique key prefix)."""
    if request.param == "memory":
        return lambda ttl: ServingCache(MemoryCache(1_000), ttl, "t")
    prefix = request.getfixturevalue("redis_prefix")
    return lambda ttl: ServingCache(RedisCache(REDIS_URL), ttl, prefix)


def test_memory_cache_evicts_the_least_recently_used() -> None:
    cache = MemoryCache(max_entries=3)
    for key in "abc":
        cache.set(key, key.encode(), 60)
    assert cache.get("a") == b"a"  # a is now the most recently used
    cache.set("d", b"d", 60)
    assert cache.get("b") is None
    assert [cache.get(key) for key in "acd"] == [b"a", b"c", b"d"]
    assert len(cache) == 3


def test_memory_cache_entries_expire() -> None:
    cache = MemoryCache()
    cache.set("short", b"1", 0.05)
    cache.set("long", b"2", 60)
    time.sleep(0.1)
    assert cache.get("short") is None
    assert cache.get("long") == b"2"
    assert cache.add("short", b"3", 60) == b"3"  # an expired key counts as absent


def test_memory_cache_is_thread_safe_and_bounded() -> None:
    cache = MemoryCache(max_entries=500)
    errors: list[BaseException] = []

    def hammer(worker: int) -> None:
        try:
            for n in range(2_000):
                key = f"{worker}-{n % 700}"
                cache.set(key, key.encode(), 60)
                value = cache.get(key)
                assert value in (None, key.encode())
                if n % 50 == 0:
                    cache.delete_many([key])
        except BaseException as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=hammer, args=(w,)) for w in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(cache) <= 500


def test_redis_backend_set_add_expire_delete(redis_prefix: str) -> None:
    cache = RedisCache(REDIS_URL)
    key = f"{redis_prefix}:k"
    assert cache.get(key) is None
    assert cache.add(key, b"first", 60) == b"first"
    assert cache.add(key, b"second", 60) == b"first"  # SET NX GET keeps the first writer's value
    cache.set(f"{redis_prefix}:short", b"x", 0.05)
    time.sleep(0.15)
    assert cache.get(f"{redis_prefix}:short") is None
    cache.delete_many([key])
    assert cache.get(key) is None
    cache.close()


def test_a_dead_redis_is_a_miss_not_an_error() -> None:
    cache = ServingCache(RedisCache("redis://127.0.0.1:1/0", timeout_seconds=0.05), 60, "dead")
    entry = cache.lookup_user(1, "u", "v")
    assert entry.key is None and entry.value is None
    cache.store_user(entry, b"ignored")
    cache.invalidate_user(1, "u")
    assert cache.get("similar", 1, "v") is None


def test_lookup_store_hit(make_cache: Callable[[float], ServingCache]) -> None:
    cache = make_cache(60)
    entry = cache.lookup_user(1, "ana", "n=10")
    assert entry.value is None and entry.key is not None
    cache.store_user(entry, b"[1,2,3]")
    assert cache.lookup_user(1, "ana", "n=10").value == b"[1,2,3]"
    assert cache.lookup_user(1, "ana", "n=20").value is None  # another variant of the request
    assert cache.lookup_user(2, "ana", "n=10").value is None  # another tenant
    assert cache.hit_ratio() == pytest.approx(1 / 4)


def test_invalidation_drops_every_variant_of_one_user_only(
    make_cache: Callable[[float], ServingCache],
) -> None:
    cache = make_cache(60)
    for user in ("ana", "ben"):
        for variant in ("n=10", "n=20&explain=false"):
            cache.store_user(cache.lookup_user(1, user, variant), f"{user}/{variant}".encode())
    cache.invalidate_user(1, "ana")
    assert cache.lookup_user(1, "ana", "n=10").value is None
    assert cache.lookup_user(1, "ana", "n=20&explain=false").value is None
    assert cache.lookup_user(1, "ben", "n=10").value == b"ben/n=10"


def test_an_answer_computed_before_an_invalidation_is_never_served_after_it(
    make_cache: Callable[[float], ServingCache],
) -> None:
    """The race a cache must not lose: read (miss) → the user interacts → the slow request stores."""
    cache = make_cache(60)
    slow_request = cache.lookup_user(1, "ana", "n=10")
    cache.invalidate_user(1, "ana")
    cache.store_user(slow_request, b"stale")
    assert cache.lookup_user(1, "ana", "n=10").value is None


def test_several_processes_share_one_redis_cache(redis_prefix: str) -> None:
    """Two API processes (two clients): an invalidation by one is seen by the other."""
    api_a = ServingCache(RedisCache(REDIS_URL), 60, redis_prefix)
    api_b = ServingCache(RedisCache(REDIS_URL), 60, redis_prefix)
    api_a.store_user(api_a.lookup_user(1, "ana", "v"), b"list")
    assert api_b.lookup_user(1, "ana", "v").value == b"list"
    api_b.invalidate_user(1, "ana")
    assert api_a.lookup_user(1, "ana", "v").value is None


def test_the_event_loop_lookup_agrees_with_the_thread_lookup(
    make_cache: Callable[[float], ServingCache],
) -> None:
    """Either lookup may mint the user's token; both then find the same entries under it."""
    cache = make_cache(60)

    async def scenario() -> None:
        first = await cache.alookup_user(1, "ana", "n=10")  # mints the token
        assert first.value is None and first.key is not None
        assert cache.lookup_user(1, "ana", "n=10").key == first.key
        cache.store_user(first, b"list")
        assert await cache.alookup_user(1, "ana", "n=10") == UserEntry(first.key, b"list")
        assert (await cache.alookup_user(1, "ana", "n=20")).value is None
        assert (await cache.alookup_user(2, "ana", "n=10")).value is None
        cache.store_user(cache.lookup_user(1, "ben", "v"), b"ben")  # token minted by a thread
        assert (await cache.alookup_user(1, "ben", "v")).value == b"ben"
        await cache.aclose()

    asyncio.run(scenario())


def test_the_event_loop_lookup_never_serves_past_an_invalidation(
    make_cache: Callable[[float], ServingCache],
) -> None:
    cache = make_cache(60)

    async def scenario() -> None:
        cache.store_user(await cache.alookup_user(1, "ana", "v"), b"old")
        slow_request = await cache.alookup_user(1, "ana", "other")  # a miss, computing meanwhile
        cache.invalidate_user(1, "ana")
        assert (await cache.alookup_user(1, "ana", "v")).value is None
        cache.store_user(slow_request, b"stale")
        assert (await cache.alookup_user(1, "ana", "other")).value is None
        await cache.aclose()

    asyncio.run(scenario())


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")  # loop 1's connection
def test_each_event_loop_gets_its_own_redis_connections(redis_prefix: str) -> None:
    """Connections of redis.asyncio belong to one loop: a second loop (a test client per request,
    an app restarted in the same process) must not reuse the first one's, closed or not."""
    cache = ServingCache(RedisCache(REDIS_URL), 60, redis_prefix)
    cache.store_user(cache.lookup_user(1, "ana", "v"), b"list")
    errors = cache_errors("get_under_token")
    assert asyncio.run(cache.alookup_user(1, "ana", "v")).value == b"list"  # left open

    async def second_loop() -> bytes | None:
        entry = await cache.alookup_user(1, "ana", "v")
        await cache.aclose()
        return entry.value

    assert asyncio.run(second_loop()) == b"list"
    assert cache_errors("get_under_token") == errors
    gc.collect()  # loop 1's connection warns now, under this test's filter


def test_a_dead_redis_is_a_miss_on_the_event_loop_too() -> None:
    cache = ServingCache(RedisCache("redis://127.0.0.1:1/0", timeout_seconds=0.05), 60, "dead")
    errors = cache_errors("get_under_token")
    entry = asyncio.run(cache.alookup_user(1, "u", "v"))
    assert entry.key is None and entry.value is None
    assert cache_errors("get_under_token") == errors + 1
    assert asyncio.run(cache.alookup_user(1, "u", "v")).key is None  # left alone for a while: no retry
    assert cache_errors("get_under_token") == errors + 1


def test_no_cache_misses_on_the_event_loop() -> None:
    entry = asyncio.run(ServingCache(NullCache(), 60).alookup_user(1, "ana", "v"))
    assert entry.key is None and entry.value is None


def cache_errors(operation: str) -> float:
    return REGISTRY.get_sample_value("nextread_cache_errors_total", {"operation": operation}) or 0.0


def test_entries_expire_after_the_ttl(make_cache: Callable[[float], ServingCache]) -> None:
    cache = make_cache(0.1)
    cache.store_user(cache.lookup_user(1, "ana", "v"), b"list")
    cache.put("similar", 1, "book-1|10", b"[]")
    time.sleep(0.25)
    assert cache.lookup_user(1, "ana", "v").value is None
    assert cache.get("similar", 1, "book-1|10") is None


def test_none_cache_stores_nothing() -> None:
    cache = ServingCache(NullCache(), 60)
    assert not cache.enabled
    entry = cache.lookup_user(1, "ana", "v")
    cache.store_user(entry, b"list")
    assert cache.lookup_user(1, "ana", "v").value is None


def test_cache_url_selects_the_backend() -> None:
    assert isinstance(open_backend("memory://?max_entries=7"), MemoryCache)
    assert open_backend("memory://?max_entries=7").max_entries == 7  # type: ignore[attr-defined]
    assert isinstance(open_backend("none://"), NullCache)
    assert isinstance(open_backend(REDIS_URL), RedisCache)
    with pytest.raises(ValueError, match="NEXTREAD_CACHE_URL"):
        open_backend("memcached://x")
    assert isinstance(open_cache(Settings(cache_url="none://")).backend, NullCache)
