"""The event bus: one small protocol, three backends chosen by URL.

Every backend gives the same at-least-once contract, so the worker and the outbox relay never need to
know which one runs underneath:

* ``publish`` appends ``(key, payload)`` pairs in order; messages with the same key are delivered to a
  consumer group in publish order (Kafka: same partition; Redis/memory: one stream).
* ``consume`` hands each message to exactly one consumer of a group. A message that is not acked within
  the claim time (its consumer crashed) is handed to another consumer, with ``attempts`` incremented.
* ``ack`` marks messages done; ``dead_letter`` parks a message with a reason and acks it.

URLs: ``memory://[name]`` (in-process, the embedded default), ``redis://host:port/db`` (Redis Streams),
``kafka://host:port[,host:port…]`` (Kafka through aiokafka).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, runtime_checkable
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from nextread.config import Settings

DEFAULT_TOPIC = "nextread.interactions"
DEFAULT_CLAIM_IDLE_MS = 30_000
DEFAULT_MAX_LEN = 1_000_000
DEFAULT_DEAD_CONSUMER_IDLE_MS = 600_000


@dataclass(frozen=True)
class Message:
    """One delivery of one event to one consumer."""

    id: str  # backend delivery id (Redis stream entry id, memory index, or "partition:offset" for Kafka)
    key: str  # partition key, e.g. f"{tenant_id}:{user_external_id}"
    payload: bytes  # JSON-encoded event
    attempts: int  # deliveries so far, 1 on first delivery


@dataclass(frozen=True)
class DeadLetter:
    """A message parked by a consumer group, with the reason, for an operator to inspect or replay."""

    key: str
    payload: bytes
    reason: str
    group: str
    original_id: str
    attempts: int


@runtime_checkable
class EventBus(Protocol):
    """At-least-once, keyed, consumer-group event stream (see the module docstring for the contract)."""

    topic: str
    dead_letter_topic: str

    async def publish(self, messages: Sequence[tuple[str, bytes]]) -> None:
        """Append ``(key, payload)`` pairs in order; returns once the backend has stored them."""

    async def consume(
        self, group: str, consumer: str, max_messages: int = 500, block_ms: int = 1000
    ) -> list[Message]:
        """Up to ``max_messages`` for this consumer, waiting at most ``block_ms`` when none is ready."""

    async def ack(self, group: str, messages: Sequence[Message]) -> None:
        """Done: these messages are never delivered to this group again."""

    async def dead_letter(self, group: str, message: Message, reason: str) -> None:
        """Park the message on the dead-letter stream with the reason, then ack it."""

    async def dead_letters(self, limit: int = 100) -> list[DeadLetter]:
        """The oldest ``limit`` parked messages (for operators and tests)."""

    async def ping(self) -> bool:
        """True when the backend answers (for /readyz); never raises."""

    async def lag(self, group: str) -> int:
        """Messages published but not yet acked by the group (never delivered + in flight)."""

    async def close(self) -> None:
        """Release connections; the bus must not be used afterwards."""


def bus_from_url(
    url: str,
    *,
    topic: str = DEFAULT_TOPIC,
    dead_letter_topic: str | None = None,
    claim_idle_ms: int = DEFAULT_CLAIM_IDLE_MS,
    max_len: int = DEFAULT_MAX_LEN,
    dead_consumer_idle_ms: int = DEFAULT_DEAD_CONSUMER_IDLE_MS,
) -> EventBus:
    """The backend named by the URL scheme.

    ``dead_letter_topic`` defaults to ``<topic>.dead``. ``claim_idle_ms`` is how long a delivered but
    unacked message waits before another consumer may take it over (Redis, memory; Kafka reassigns a
    dead consumer's partitions through its group protocol instead). ``max_len`` bounds the retained
    stream (Redis ``MAXLEN ~``, memory); Kafka retention is the broker's. ``dead_consumer_idle_ms``: a
    Redis consumer that has not read for this long and holds no pending entry leaves the group.
    """
    scheme = urlsplit(url).scheme.lower()
    options = {"topic": topic, "dead_letter_topic": dead_letter_topic or f"{topic}.dead"}
    if scheme == "memory":
        from nextread.events.memory import MemoryBus

        return MemoryBus(url, **options, claim_idle_ms=claim_idle_ms, max_len=max_len)
    if scheme in {"redis", "rediss", "unix"}:
        from nextread.events.redis_streams import RedisBus

        return RedisBus(
            url,
            **options,
            claim_idle_ms=claim_idle_ms,
            max_len=max_len,
            dead_consumer_idle_ms=dead_consumer_idle_ms,
        )
    if scheme == "kafka":
        from nextread.events.kafka import KafkaBus

        return KafkaBus(url, **options)
    raise ValueError(f"NEXTREAD_EVENT_BUS_URL: unsupported scheme {scheme!r} in {url!r} (memory/redis/kafka)")


def bus_from_settings(settings: Settings, *, topic: str = DEFAULT_TOPIC) -> EventBus:
    """The bus configured by ``NEXTREAD_EVENT_BUS_*``."""
    return bus_from_url(
        settings.events.event_bus_url,
        topic=topic,
        dead_letter_topic=settings.events.event_bus_dead_letter_topic or None,
        claim_idle_ms=int(settings.events.event_bus_claim_idle_seconds * 1000),
        max_len=settings.events.event_bus_max_len,
        dead_consumer_idle_ms=int(settings.events.event_bus_dead_consumer_seconds * 1000),
    )
