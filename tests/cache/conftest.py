"""Cache fixtures: a real Redis at 127.0.0.1:6379 with a unique key prefix per test (never FLUSHDB)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

from tests.conftest import require_service

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
