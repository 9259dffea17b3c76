"""Bus fixtures: the real Redis at 127.0.0.1:6379 and librdkafka's in-process mock Kafka cluster.

Each test gets its own topic (Redis stream / Kafka topic) so concurrent test runs never meet; Redis
streams are deleted afterwards. The mock cluster speaks the real Kafka protocol over TCP and lives as
long as the confluent-kafka producer that started it, so it is kept for the whole session.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

from tests.conftest import require_service

REDIS_URL = os.environ.get("NEXTREAD_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
BACKENDS = ["memory", "redis", "kafka"]


@pytest.fixture(scope="session")
def kafka_url() -> Iterator[str]:
    try:
        from confluent_kafka import Producer
    except ImportError as exc:  # pragma: no cover - the test extra installs it
        require_service("Kafka mock cluster", f"confluent-kafka is not installed ({exc})")
    anchor = Producer({"test.mock.num.brokers": 3, "log_level": 0})
    brokers = anchor.list_topics(timeout=10).brokers.values()
    yield "kafka://" + ",".join(f"{broker.host}:{broker.port}" for broker in brokers)
    del anchor


@pytest.fixture(scope="session")
def redis_url() -> str:
    import redis

    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.RedisError as exc:
        require_service("Redis", f"{REDIS_URL}: {exc}")
    finally:
        client.close()
    return REDIS_URL


@pytest.fixture
def topic(request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh topic name; its Redis streams (if the test made any) are deleted afterwards."""
    name = f"test.{uuid.uuid4().hex[:12]}"
    yield name
    if "redis" in request.node.name:
        import redis

        client = redis.Redis.from_url(REDIS_URL)
        client.delete(name, f"{name}.dead")
        client.close()


@pytest.fixture(params=BACKENDS)
def bus_url(request: pytest.FixtureRequest) -> str:
    """Each backend in turn: shared behaviour must hold on all three."""
    if request.param == "memory":
        return f"memory://{uuid.uuid4().hex[:8]}"
    return request.getfixturevalue(f"{request.param}_url")
