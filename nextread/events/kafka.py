"""``kafka://host:port[,host:port…]``: Kafka through aiokafka.

The partition key is the message key, so one user's events land on one partition and stay ordered;
consumer groups split partitions between workers. Offsets are committed by hand, after ``ack``: per
partition, up to the highest offset below which everything was acked (a message in flight holds the
commit back, so a crash redelivers it rather than losing it). A dead consumer's partitions are moved to
the survivors by the group protocol after its session timeout; there is no per-message claim.

Kafka keeps no delivery count: ``Message.attempts`` is 1 on every delivery, so poison events are bounded by
the worker's in-process retries. Topics must exist or the broker must auto-create them; create
``<topic>`` with at least as many partitions as workers, and ``<topic>.dead``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import CommitFailedError, IllegalStateError, KafkaError
from aiokafka.structs import ConsumerRecord

from nextread.events.bus import DeadLetter, Message
from nextread.observability import get_logger

PING_TIMEOUT_S = 3.0
DEAD_LETTER_READ_TIMEOUT_MS = 1000

log = get_logger(__name__)


@dataclass
class _Partition:
    """Delivered offsets of one assigned partition, to commit only what was acked without a gap."""

    consumer: AIOKafkaConsumer
    next_offset: int
    outstanding: set[int] = field(default_factory=set)
    committed: int = -1

    def commit_point(self) -> int:
        return min(self.outstanding) if self.outstanding else self.next_offset


class _ForgetRevoked(ConsumerRebalanceListener):
    """A revoked partition's unacked messages go to its new owner; stop tracking them here."""

    def __init__(self, partitions: dict[TopicPartition, _Partition]) -> None:
        self._partitions = partitions
        self.consumer: AIOKafkaConsumer | None = None

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        for partition in revoked:
            state = self._partitions.get(partition)
            if state is not None and state.consumer is self.consumer:
                del self._partitions[partition]

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        """Nothing to do: the consumer resumes from the group's committed offsets."""


class KafkaBus:
    """Keyed, partitioned bus; one aiokafka consumer per (group, consumer name) in this process."""

    def __init__(self, url: str, *, topic: str, dead_letter_topic: str) -> None:
        self.topic = topic
        self.dead_letter_topic = dead_letter_topic
        self._servers = url.split("://", 1)[1].strip("/")
        self._producer: AIOKafkaProducer | None = None
        self._admin: AIOKafkaAdminClient | None = None
        self._reader: AIOKafkaConsumer | None = None  # group-less, for offset look-ups
        self._consumers: dict[tuple[str, str], AIOKafkaConsumer] = {}
        self._partitions: dict[str, dict[TopicPartition, _Partition]] = {}
        self._lock = asyncio.Lock()

    async def publish(self, messages: Sequence[tuple[str, bytes]]) -> None:
        if not messages:
            return
        producer = await self._started_producer()
        sent = [await producer.send(self.topic, payload, key=key.encode()) for key, payload in messages]
        await asyncio.gather(*sent)

    async def consume(
        self, group: str, consumer: str, max_messages: int = 500, block_ms: int = 1000
    ) -> list[Message]:
        kafka_consumer = await self._started_consumer(group, consumer)
        try:
            fetched = await kafka_consumer.getmany(timeout_ms=block_ms, max_records=max_messages)
        except KafkaError as exc:  # a failed group sync or lost coordinator: the consumer rejoins by itself
            log.warning("kafka_consume_retry", group=group, consumer=consumer, error=repr(exc))
            return []
        partitions = self._partitions.setdefault(group, {})
        batch: list[Message] = []
        for topic_partition, records in fetched.items():
            state = partitions.get(topic_partition)
            if state is None:
                state = partitions[topic_partition] = _Partition(kafka_consumer, records[0].offset)
            for record in records:
                state.outstanding.add(record.offset)
                state.next_offset = record.offset + 1
                key = record.key.decode() if record.key else ""
                batch.append(Message(f"{record.partition}:{record.offset}", key, record.value or b"", 1))
        return batch

    async def ack(self, group: str, messages: Sequence[Message]) -> None:
        partitions = self._partitions.get(group, {})
        touched: dict[TopicPartition, _Partition] = {}
        for message in messages:
            number, _, offset = message.id.partition(":")
            topic_partition = TopicPartition(self.topic, int(number))
            state = partitions.get(topic_partition)
            if state is not None:  # else revoked meanwhile: the new owner gets it again
                state.outstanding.discard(int(offset))
                touched[topic_partition] = state
        await self._commit(touched)

    async def dead_letter(self, group: str, message: Message, reason: str) -> None:
        producer = await self._started_producer()
        headers = [
            ("reason", reason.encode()),
            ("group", group.encode()),
            ("original_id", message.id.encode()),
            ("attempts", str(message.attempts).encode()),
        ]
        await producer.send_and_wait(
            self.dead_letter_topic, message.payload, key=message.key.encode(), headers=headers
        )
        await self.ack(group, [message])

    async def dead_letters(self, limit: int = 100) -> list[DeadLetter]:
        """Read the dead-letter topic from the beginning with a group-less consumer (commits nothing)."""
        reader = AIOKafkaConsumer(
            self.dead_letter_topic, bootstrap_servers=self._servers, auto_offset_reset="earliest"
        )
        await reader.start()
        letters: list[DeadLetter] = []
        try:
            while len(letters) < limit:
                fetched = await reader.getmany(timeout_ms=DEAD_LETTER_READ_TIMEOUT_MS, max_records=limit)
                if not fetched:
                    break
                letters += [_dead_letter(record) for records in fetched.values() for record in records]
        finally:
            await reader.stop()
        return letters[:limit]

    async def ping(self) -> bool:
        try:
            producer = await asyncio.wait_for(self._started_producer(), PING_TIMEOUT_S)
            await asyncio.wait_for(producer.client.fetch_all_metadata(), PING_TIMEOUT_S)
        except Exception:  # noqa: BLE001 - any failure means "not reachable", never a crash of /readyz
            return False
        return True

    async def lag(self, group: str) -> int:
        """End offsets minus the group's committed offsets (from the start where it never committed)."""
        producer = await self._started_producer()
        numbers = await producer.partitions_for(self.topic)
        partitions = [TopicPartition(self.topic, number) for number in sorted(numbers)]
        admin = await self._started_admin()
        committed = await admin.list_consumer_group_offsets(group, partitions=partitions)
        reader = await self._started_reader()
        ends = await reader.end_offsets(partitions)
        starts = await reader.beginning_offsets(partitions)
        total = 0
        for partition in partitions:
            done = committed[partition].offset if partition in committed else -1
            total += ends[partition] - max(done, starts[partition])
        return total

    async def close(self) -> None:
        for consumer in self._consumers.values():
            await consumer.stop()
        self._consumers.clear()
        if self._producer is not None:
            await self._producer.stop()
        if self._admin is not None:
            await self._admin.close()
        if self._reader is not None:
            await self._reader.stop()

    async def _commit(self, touched: dict[TopicPartition, _Partition]) -> None:
        by_consumer: dict[AIOKafkaConsumer, dict[TopicPartition, int]] = {}
        for topic_partition, state in touched.items():
            point = state.commit_point()
            if point > state.committed:
                by_consumer.setdefault(state.consumer, {})[topic_partition] = point
        for consumer, offsets in by_consumer.items():
            try:
                await consumer.commit(offsets)
            except (CommitFailedError, IllegalStateError) as exc:  # rebalanced away: redelivered elsewhere
                log.warning("kafka_commit_skipped", error=str(exc), offsets=str(offsets))
                continue
            for topic_partition, point in offsets.items():
                touched[topic_partition].committed = point

    async def _started_producer(self) -> AIOKafkaProducer:
        async with self._lock:
            if self._producer is None:
                producer = AIOKafkaProducer(
                    bootstrap_servers=self._servers, acks="all", linger_ms=2, max_batch_size=1 << 20
                )
                try:
                    await producer.start()
                except KafkaError:
                    await producer.stop()
                    raise
                self._producer = producer
            return self._producer

    async def _started_admin(self) -> AIOKafkaAdminClient:
        async with self._lock:
            if self._admin is None:
                admin = AIOKafkaAdminClient(bootstrap_servers=self._servers)
                await admin.start()
                self._admin = admin
            return self._admin

    async def _started_reader(self) -> AIOKafkaConsumer:
        async with self._lock:
            if self._reader is None:
                reader = AIOKafkaConsumer(bootstrap_servers=self._servers)
                await reader.start()
                self._reader = reader
            return self._reader

    async def _started_consumer(self, group: str, name: str) -> AIOKafkaConsumer:
        if (group, name) not in self._consumers:
            consumer = AIOKafkaConsumer(
                bootstrap_servers=self._servers,
                group_id=group,
                client_id=name,
                enable_auto_commit=False,
                auto_offset_reset="earliest",
            )
            listener = _ForgetRevoked(self._partitions.setdefault(group, {}))
            listener.consumer = consumer
            consumer.subscribe([self.topic], listener=listener)
            self._consumers[(group, name)] = consumer
            try:
                await consumer.start()
            except KafkaError as exc:  # joined but the first sync failed: it keeps rejoining in background
                log.warning("kafka_join_retry", group=group, consumer=name, error=repr(exc))
        return self._consumers[(group, name)]


def _dead_letter(record: ConsumerRecord[bytes, bytes]) -> DeadLetter:
    headers = {name: value.decode() for name, value in record.headers}
    return DeadLetter(
        key=record.key.decode() if record.key else "",
        payload=record.value or b"",
        reason=headers.get("reason", ""),
        group=headers.get("group", ""),
        original_id=headers.get("original_id", ""),
        attempts=int(headers.get("attempts", "1")),
    )
