"""Key/value stores behind the serving cache, chosen by ``NEXTREAD_CACHE_URL``.

``memory://`` is a bounded LRU with per-entry expiry inside one process (the embedded default);
``redis://…`` is shared by every API and worker process, so an invalidation made by one of them is
seen by all; ``none://`` stores nothing (every lookup is a miss), which is how serving is checked to be
correct without a cache. A cache is an optimisation: a backend that fails reports a miss and logs,
it never fails the request.

Every backend also answers :meth:`CacheBackend.get_under_token` from an event loop, without a
thread: the read a cache hit is made of, the per-user token and the entry stored under it together.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import parse_qs, urlsplit

from nextread.cache.metrics import CACHE_ERRORS
from nextread.observability import get_logger

log = get_logger("nextread.cache")

# After a Redis error, skip Redis for this long instead of paying a timeout on every request.
REDIS_RETRY_AFTER_SECONDS = 1.0


class CacheBackend(Protocol):
    def get(self, key: str) -> bytes | None: ...

    def set(self, key: str, value: bytes, ttl_seconds: float) -> None: ...

    def add(self, key: str, value: bytes, ttl_seconds: float) -> bytes | None:
        """Store ``value`` unless the key exists; return what the key holds afterwards
        (None when the backend could not tell)."""
        ...

    def incr(self, key: str, ttl_seconds: float) -> int | None:
        """Add one to the counter at ``key`` and return its new value; a new counter expires after
        ``ttl_seconds`` (later increments keep that expiry, so it counts within a fixed window).
        None when the backend could not tell."""
        ...

    def delete_many(self, keys: list[str]) -> None: ...

    async def get_under_token(
        self, token_key: str, new_token: bytes, token_ttl_seconds: float, entry_key: EntryKey
    ) -> tuple[bytes | None, bytes | None]:
        """The token at ``token_key`` (``new_token``, stored, when there is none) and the value at
        ``entry_key.under(token)``, as one operation that never blocks the event loop.
        ``(None, None)`` when the backend could not tell."""
        ...

    def close(self) -> None: ...

    async def aclose(self) -> None:
        """Release what the event loop side holds (call on the loop that used it)."""
        ...


@dataclass(frozen=True)
class EntryKey:
    """A key that embeds a token not known yet: ``head + token + tail``."""

    head: str
    tail: str

    def under(self, token: bytes) -> str:
        return f"{self.head}{token.decode()}{self.tail}"


class NullCache:
    """Caching off: nothing is kept, so every request is computed from the store."""

    def get(self, key: str) -> bytes | None:
        return None

    def set(self, key: str, value: bytes, ttl_seconds: float) -> None:
        return None

    def add(self, key: str, value: bytes, ttl_seconds: float) -> bytes | None:
        return None

    def incr(self, key: str, ttl_seconds: float) -> int | None:
        return None

    def delete_many(self, keys: list[str]) -> None:
        return None

    async def get_under_token(
        self, token_key: str, new_token: bytes, token_ttl_seconds: float, entry_key: EntryKey
    ) -> tuple[bytes | None, bytes | None]:
        return None, None

    def close(self) -> None:
        return None

    async def aclose(self) -> None:
        return None


class MemoryCache:
    """A thread-safe LRU of at most ``max_entries`` keys, each with its own expiry time.

    FastAPI runs sync endpoints on a thread pool, so every operation holds one lock; each is O(1)."""

    def __init__(self, max_entries: int = 10_000):
        self.max_entries = max_entries
        self._entries: OrderedDict[str, tuple[float, bytes]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str) -> bytes | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            if entry[0] <= time.monotonic():
                del self._entries[key]
                return None
            self._entries.move_to_end(key)
            return entry[1]

    def set(self, key: str, value: bytes, ttl_seconds: float) -> None:
        with self._lock:
            self._put(key, value, ttl_seconds)

    def add(self, key: str, value: bytes, ttl_seconds: float) -> bytes:
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and entry[0] > time.monotonic():
                return entry[1]
            self._put(key, value, ttl_seconds)
            return value

    def incr(self, key: str, ttl_seconds: float) -> int:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None or entry[0] <= time.monotonic():
                self._put(key, b"1", ttl_seconds)
                return 1
            count = int(entry[1]) + 1
            self._entries[key] = (entry[0], str(count).encode())
            self._entries.move_to_end(key)
            return count

    def delete_many(self, keys: list[str]) -> None:
        with self._lock:
            for key in keys:
                self._entries.pop(key, None)

    async def get_under_token(
        self, token_key: str, new_token: bytes, token_ttl_seconds: float, entry_key: EntryKey
    ) -> tuple[bytes | None, bytes | None]:
        token = self.add(token_key, new_token, token_ttl_seconds)
        return token, self.get(entry_key.under(token))

    def close(self) -> None:
        with self._lock:
            self._entries.clear()

    async def aclose(self) -> None:
        return None

    def __len__(self) -> int:
        return len(self._entries)

    def _put(self, key: str, value: bytes, ttl_seconds: float) -> None:
        self._entries[key] = (time.monotonic() + ttl_seconds, value)
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)


# The token, minted when missing, and the entry under it, in one round trip. The entry's key is built
# inside the script because it contains the token, so it cannot be declared in KEYS: fine on one Redis
# (what ``redis://`` means here), not on Redis Cluster.
GET_UNDER_TOKEN = """
local token = redis.call('GET', KEYS[1])
if not token then
  token = ARGV[1]
  redis.call('SET', KEYS[1], token, 'PX', ARGV[2])
end
return {token, redis.call('GET', ARGV[3] .. token .. ARGV[4])}
"""


class RedisCache:
    """Plain string keys with an expiry (``SET … PX``); no KEYS or SCAN anywhere.

    Socket timeouts are short: a slow or dead Redis turns into misses, not slow requests, and after
    an error Redis is left alone for ``REDIS_RETRY_AFTER_SECONDS``. Threads share a blocking client;
    an event loop gets its own ``redis.asyncio`` client (its connections belong to that loop)."""

    def __init__(self, url: str, timeout_seconds: float = 0.25):
        import redis

        self._url = url
        self._timeout = timeout_seconds
        self._redis = redis.Redis.from_url(
            url, socket_timeout=timeout_seconds, socket_connect_timeout=timeout_seconds
        )
        self._errors = (redis.RedisError, OSError)
        self._down_until = 0.0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._async_redis: Any = None
        self._get_under_token: Any = None

    def get(self, key: str) -> bytes | None:
        return self._call("get", lambda: self._redis.get(key))

    def set(self, key: str, value: bytes, ttl_seconds: float) -> None:
        self._call("set", lambda: self._redis.set(key, value, px=_millis(ttl_seconds)))

    def add(self, key: str, value: bytes, ttl_seconds: float) -> bytes | None:
        # SET NX GET (Redis ≥ 7.0): returns the old value if there was one, else stores ours.
        old = self._call(
            "add", lambda: self._redis.set(key, value, px=_millis(ttl_seconds), nx=True, get=True)
        )
        if old is None and self._available():
            return value
        return old

    def incr(self, key: str, ttl_seconds: float) -> int | None:
        # One MULTI/EXEC: the expiry is set only on the counter's first increment (PEXPIRE NX, Redis ≥ 7.0).
        def increment() -> int:
            with self._redis.pipeline(transaction=True) as pipe:
                pipe.incr(key)
                pipe.pexpire(key, _millis(ttl_seconds), nx=True)
                return int(pipe.execute()[0])

        return self._call("incr", increment)

    def delete_many(self, keys: list[str]) -> None:
        if keys:
            self._call("delete", lambda: self._redis.delete(*keys))

    async def get_under_token(
        self, token_key: str, new_token: bytes, token_ttl_seconds: float, entry_key: EntryKey
    ) -> tuple[bytes | None, bytes | None]:
        if not self._available():
            return None, None
        script = self._script_on_this_loop()
        args = [new_token, _millis(token_ttl_seconds), entry_key.head, entry_key.tail]
        try:
            token, value = await script(keys=[token_key], args=args)
        except self._errors as exc:
            self._failed("get_under_token", exc)
            return None, None
        return token, value

    def close(self) -> None:
        self._redis.close()

    async def aclose(self) -> None:
        if self._async_redis is not None and self._loop is asyncio.get_running_loop():
            await self._async_redis.aclose()
        self._loop = self._async_redis = self._get_under_token = None

    def _script_on_this_loop(self) -> Any:
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            import redis.asyncio

            self._async_redis = redis.asyncio.Redis.from_url(
                self._url, socket_timeout=self._timeout, socket_connect_timeout=self._timeout
            )
            self._get_under_token = self._async_redis.register_script(GET_UNDER_TOKEN)
            self._loop = loop
        return self._get_under_token

    def _available(self) -> bool:
        return time.monotonic() >= self._down_until

    def _call(self, operation: str, action):  # type: ignore[no-untyped-def]
        if not self._available():
            return None
        try:
            return action()
        except self._errors as exc:
            self._failed(operation, exc)
            return None

    def _failed(self, operation: str, exc: BaseException) -> None:
        self._down_until = time.monotonic() + REDIS_RETRY_AFTER_SECONDS
        CACHE_ERRORS.labels(operation).inc()
        log.warning("cache_unavailable", operation=operation, error=str(exc))


def _millis(seconds: float) -> int:
    return max(1, int(seconds * 1000))


def open_backend(url: str, max_entries: int = 10_000) -> CacheBackend:
    """``memory://[?max_entries=N]`` | ``redis://[:password@]host:port/db`` (or ``rediss://``) | ``none://``."""
    scheme = urlsplit(url).scheme
    if scheme == "memory":
        options = parse_qs(urlsplit(url).query)
        return MemoryCache(int(options.get("max_entries", [max_entries])[0]))
    if scheme in {"redis", "rediss", "unix"}:
        return RedisCache(url)
    if scheme == "none":
        return NullCache()
    raise ValueError(f"NEXTREAD_CACHE_URL: unknown cache scheme {scheme!r} (memory://, redis://, none://)")
