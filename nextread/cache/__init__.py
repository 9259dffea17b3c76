"""The serving cache: per-user recommendation lists and other hot, shared answers.

One small interface over the backends in :mod:`nextread.cache.backends`. Whoever writes a user's
interactions (the API directly, and the event worker) calls :meth:`ServingCache.invalidate_user`.

Invalidation is O(1) and race-free through a per-user *generation token*: every entry of a user is
stored under ``…:<token>:…``, and invalidating deletes only the token key. The next lookup mints a
fresh random token, so every older entry becomes unreachable (and expires by its TTL). A request that
read the old token before the invalidation and finishes after it writes under the old token, which
nobody reads any more: a stale list can never be cached past an invalidation. Random tokens (not
counters) mean an evicted or expired token can never be reborn and resurrect old entries.

:meth:`ServingCache.lookup_user` serves threads; :meth:`ServingCache.alookup_user` is the same lookup
for an event loop, the token and the entry read in one step (one round trip to Redis).
"""

from __future__ import annotations

import hashlib
import threading
import uuid
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import event
from sqlalchemy.orm import Session

from nextread.cache.backends import (
    CacheBackend,
    EntryKey,
    MemoryCache,
    NullCache,
    RedisCache,
    open_backend,
)
from nextread.cache.metrics import CACHE_HIT_RATIO, CACHE_INVALIDATIONS, CACHE_LOOKUPS
from nextread.config import Settings

__all__ = [
    "CacheBackend",
    "MemoryCache",
    "NullCache",
    "RedisCache",
    "ServingCache",
    "UserEntry",
    "invalidate_after_commit",
    "open_cache",
]


@dataclass(frozen=True)
class UserEntry:
    """Where a user's answer for one request variant lives (``key`` None: caching is off)."""

    key: str | None
    value: bytes | None


class ServingCache:
    def __init__(self, backend: CacheBackend, ttl_seconds: float = 300.0, prefix: str = "nextread"):
        self.backend = backend
        self.ttl_seconds = ttl_seconds
        self.prefix = prefix
        self.enabled = not isinstance(backend, NullCache)
        self._counts: dict[str, list[int]] = {}
        self._school_counts: dict[int, list[int]] = {}
        self._count_lock = threading.Lock()

    def lookup_user(self, tenant_id: int, user_external_id: str, variant: str) -> UserEntry:
        """The cached answer for this user and request variant (every parameter that changes the
        answer, model and catalog version included), or a miss with the key to store it under."""
        token = self._user_token(tenant_id, user_external_id)
        if token is None:
            self._record("recommendations", tenant_id, hit=False)
            return UserEntry(None, None)
        key = self._entry_key(tenant_id, user_external_id, variant).under(token)
        value = self.backend.get(key)
        self._record("recommendations", tenant_id, hit=value is not None)
        return UserEntry(key, value)

    async def alookup_user(self, tenant_id: int, user_external_id: str, variant: str) -> UserEntry:
        """:meth:`lookup_user` on an event loop: no thread, and the token (minted when missing) and
        the entry are read in one step, so a hit costs one round trip to a shared cache."""
        entry_key = self._entry_key(tenant_id, user_external_id, variant)
        token, value = await self.backend.get_under_token(
            self._token_key(tenant_id, user_external_id), _new_token(), 2 * self.ttl_seconds, entry_key
        )
        self._record("recommendations", tenant_id, hit=value is not None)
        return UserEntry(None if token is None else entry_key.under(token), value)

    def store_user(self, entry: UserEntry, value: bytes) -> None:
        if entry.key is not None:
            self.backend.set(entry.key, value, self.ttl_seconds)

    def invalidate_user(self, tenant_id: int, user_external_id: str) -> None:
        """Forget every cached answer of this user (call after their new interaction is committed)."""
        self.invalidate_users(tenant_id, [user_external_id])

    def invalidate_users(self, tenant_id: int, user_external_ids: Iterable[str]) -> None:
        keys = [self._token_key(tenant_id, user) for user in set(user_external_ids)]
        if keys and self.enabled:
            self.backend.delete_many(keys)
            CACHE_INVALIDATIONS.inc(len(keys))

    def get(self, cache: str, tenant_id: int, variant: str) -> bytes | None:
        """A shared (not per-user) answer, e.g. a book's similar items; its variant names every input."""
        value = self.backend.get(self._shared_key(cache, tenant_id, variant))
        self._record(cache, tenant_id, hit=value is not None)
        return value

    def put(self, cache: str, tenant_id: int, variant: str, value: bytes) -> None:
        self.backend.set(self._shared_key(cache, tenant_id, variant), value, self.ttl_seconds)

    def hit_ratio(self, cache: str = "recommendations") -> float:
        hits, lookups = self._counts.get(cache, [0, 0])
        return hits / lookups if lookups else 0.0

    def school_lookups(self, tenant_id: int) -> tuple[int, int]:
        """(hits, lookups) of one school in this process, every cache together: a school sees its own
        rate, not one diluted or lifted by the other schools the server holds."""
        with self._count_lock:
            hits, lookups = self._school_counts.get(tenant_id, [0, 0])
        return hits, lookups

    def close(self) -> None:
        self.backend.close()

    async def aclose(self) -> None:
        """Close the backend, the clients of the running event loop included."""
        await self.backend.aclose()
        self.backend.close()

    def _user_token(self, tenant_id: int, user_external_id: str) -> bytes | None:
        key = self._token_key(tenant_id, user_external_id)
        token = self.backend.get(key)
        if token is None:
            # Tokens outlive the entries written under them, so a live entry always has its token.
            token = self.backend.add(key, _new_token(), 2 * self.ttl_seconds)
        return token

    def _token_key(self, tenant_id: int, user_external_id: str) -> str:
        return f"{self.prefix}:gen:{tenant_id}:{user_external_id}"

    def _entry_key(self, tenant_id: int, user_external_id: str, variant: str) -> EntryKey:
        return EntryKey(f"{self.prefix}:rec:{tenant_id}:{user_external_id}:", f":{_digest(variant)}")

    def _shared_key(self, cache: str, tenant_id: int, variant: str) -> str:
        return f"{self.prefix}:{cache}:{tenant_id}:{_digest(variant)}"

    def _record(self, cache: str, tenant_id: int, hit: bool) -> None:
        CACHE_LOOKUPS.labels(cache, "hit" if hit else "miss").inc()
        with self._count_lock:
            counts = self._counts.setdefault(cache, [0, 0])
            counts[0] += hit
            counts[1] += 1
            school = self._school_counts.setdefault(tenant_id, [0, 0])
            school[0] += hit
            school[1] += 1
            CACHE_HIT_RATIO.labels(cache).set(counts[0] / counts[1])


def _new_token() -> bytes:
    return uuid.uuid4().hex.encode()


def _digest(variant: str) -> str:
    return hashlib.blake2b(variant.encode(), digest_size=12).hexdigest()


def open_cache(settings: Settings) -> ServingCache:
    """The cache configured by ``NEXTREAD_CACHE_URL`` (``memory://`` by default)."""
    backend = open_backend(settings.cache.cache_url, settings.cache.cache_max_entries)
    return ServingCache(backend, settings.cache.cache_ttl_seconds, settings.cache.cache_key_prefix)


def invalidate_after_commit(
    session: Session, cache: ServingCache, tenant_id: int, user_external_ids: Iterable[str]
) -> None:
    """Invalidate once the session commits: invalidating earlier would let a concurrent request
    recompute from the not-yet-committed store and cache the old answer under the new token."""
    users = sorted(set(user_external_ids))
    if not users or not cache.enabled:
        return
    event.listen(session, "after_commit", lambda _s: cache.invalidate_users(tenant_id, users), once=True)
