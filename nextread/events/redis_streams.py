"""``redis://``: Redis Streams with consumer groups.

One stream per topic; each entry holds the partition key (``k``) and the JSON payload (``p``). Consumer
groups give each entry to one consumer (``XREADGROUP``); entries a crashed consumer never acked are taken
over with ``XAUTOCLAIM`` once idle longer than the claim time, and their delivery count (``XPENDING``)
becomes ``Message.attempts``. Acked entries are trimmed (``XTRIM MINID``) once every group has passed
them; ``MAXLEN ~`` on ``XADD`` is only a safety cap against a group that never comes back. A consumer
that has not read for the dead-consumer time and holds nothing (its entries were claimed) is deleted
from the group (``XGROUP DELCONSUMER``), so restarted workers' old names do not pile up.

The stream lives in Redis memory: without persistence (AOF) a Redis restart loses every event not yet
applied; the outbox reconciler (``nextread.events.reconcile``) re-publishes them.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ResponseError

from nextread.events.bus import DeadLetter, Message
from nextread.observability import get_logger

log = get_logger("nextread.events.redis")

CONNECT_TIMEOUT_S = 2.0
# Every reply is bounded: without a read timeout a connection whose peer vanished without a FIN or
# RST (a restarted pod, a dropped NAT entry) waits forever, and the worker or relay stops with no error.
# ``consume``'s blocking read is capped below it, so a quiet stream is never mistaken for a dead one.
SOCKET_TIMEOUT_S = 15.0
MAX_BLOCK_MS = 10_000
HEALTH_CHECK_S = 30  # a connection idle this long is pinged before it is used again
TRIM_EVERY_S = 5.0
LAG_SCAN_LIMIT = 100_000  # when Redis cannot tell a group's lag (after trimming), count at most this many
# Deletes the group's consumers idle at least ARGV[2] ms that hold no pending entry, atomically: a
# consumer that read something between a check and the delete would lose its pending entries.
FORGET_DEAD_CONSUMERS = """
local removed = {}
for _, consumer in ipairs(redis.call('XINFO', 'CONSUMERS', KEYS[1], ARGV[1])) do
  local info = {}
  for i = 1, #consumer, 2 do info[consumer[i]] = consumer[i + 1] end
  if info['pending'] == 0 and info['idle'] >= tonumber(ARGV[2]) then
    redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], info['name'])
    table.insert(removed, info['name'])
  end
end
return removed
"""


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


class RedisBus:
    """Consumer-group bus on one Redis stream (plus a dead-letter stream)."""

    def __init__(
        self,
        url: str,
        *,
        topic: str,
        dead_letter_topic: str,
        claim_idle_ms: int,
        max_len: int,
        dead_consumer_idle_ms: int,
    ) -> None:
        self.topic = topic
        self.dead_letter_topic = dead_letter_topic
        self._claim_idle_ms = claim_idle_ms
        self._max_len = max_len
        self._dead_consumer_idle_ms = dead_consumer_idle_ms
        # Few, short retries: a dead Redis must show up quickly in /readyz and in the relay's error path.
        self._redis = aioredis.from_url(
            url,
            socket_connect_timeout=CONNECT_TIMEOUT_S,
            socket_timeout=SOCKET_TIMEOUT_S,
            socket_keepalive=True,
            health_check_interval=HEALTH_CHECK_S,
            retry=Retry(ExponentialBackoff(cap=0.5, base=0.05), retries=2),
        )
        self._groups: set[str] = set()
        self._last_claim: dict[str, float] = {}
        self._claim_cursor: dict[str, str] = {}
        self._last_trim = 0.0
        self._last_sweep: dict[str, float] = {}
        self._forget_dead = self._redis.register_script(FORGET_DEAD_CONSUMERS)

    async def publish(self, messages: Sequence[tuple[str, bytes]]) -> None:
        if not messages:
            return
        async with self._redis.pipeline(transaction=False) as pipe:
            for key, payload in messages:
                pipe.xadd(self.topic, {"k": key, "p": payload}, maxlen=self._max_len, approximate=True)
            await pipe.execute()

    async def consume(
        self, group: str, consumer: str, max_messages: int = 500, block_ms: int = 1000
    ) -> list[Message]:
        await self._ensure_group(group)
        block_ms = min(block_ms, MAX_BLOCK_MS)
        try:
            batch = await self._claim_and_read(group, consumer, max_messages, block_ms)
        except ResponseError as exc:
            if "NOGROUP" not in str(exc):
                raise
            self._groups.discard(group)  # the stream was deleted (or Redis lost it): recreate, read again
            await self._ensure_group(group)
            batch = await self._claim_and_read(group, consumer, max_messages, 0)
        await self._trim_acked()
        await self._forget_dead_consumers(group)
        return batch

    async def ack(self, group: str, messages: Sequence[Message]) -> None:
        if messages:
            await self._redis.xack(self.topic, group, *[message.id for message in messages])

    async def dead_letter(self, group: str, message: Message, reason: str) -> None:
        """Park and ack in one MULTI/EXEC, so a crash cannot leave it both parked and pending."""
        fields = {
            "k": message.key,
            "p": message.payload,
            "reason": reason,
            "group": group,
            "id": message.id,
            "attempts": message.attempts,
        }
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.xadd(self.dead_letter_topic, fields, maxlen=self._max_len, approximate=True)
            pipe.xack(self.topic, group, message.id)
            await pipe.execute()

    async def dead_letters(self, limit: int = 100) -> list[DeadLetter]:
        entries = await self._redis.xrange(self.dead_letter_topic, "-", "+", count=limit)
        return [
            DeadLetter(
                key=_text(fields[b"k"]),
                payload=fields[b"p"],
                reason=_text(fields[b"reason"]),
                group=_text(fields[b"group"]),
                original_id=_text(fields[b"id"]),
                attempts=int(fields[b"attempts"]),
            )
            for _, fields in entries
        ]

    async def ping(self) -> bool:
        try:
            return bool(await self._redis.ping())
        except Exception:  # noqa: BLE001 - any failure means "not reachable", never a crash of /readyz
            return False

    async def lag(self, group: str) -> int:
        try:
            groups = await self._redis.xinfo_groups(self.topic)
        except ResponseError:  # the stream does not exist yet: nothing was published
            return 0
        info = next((entry for entry in groups if _text(entry["name"]) == group), None)
        if info is None:
            return int(await self._redis.xlen(self.topic))
        undelivered = info.get("lag")
        if undelivered is None:  # Redis lost track after a trim; count what follows the group's cursor
            after = f"({_text(info['last-delivered-id'])}"
            undelivered = len(await self._redis.xrange(self.topic, after, "+", count=LAG_SCAN_LIMIT))
        return int(undelivered) + int(info["pending"])

    async def close(self) -> None:
        await self._redis.aclose()

    async def _ensure_group(self, group: str) -> None:
        """Groups start at the stream's beginning so events published before the first worker count."""
        if group in self._groups:
            return
        try:
            await self._redis.xgroup_create(self.topic, group, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise
        self._groups.add(group)

    async def _claim_stale(self, group: str, consumer: str, limit: int) -> list[Message]:
        """Take over entries idle past the claim time; scanned at most twice per claim period."""
        cursor = self._claim_cursor.get(group, "0-0")
        now = time.monotonic()
        if cursor == "0-0" and now - self._last_claim.get(group, 0.0) < self._claim_idle_ms / 2000:
            return []
        self._last_claim[group] = now
        next_cursor, entries, _deleted = await self._redis.xautoclaim(
            self.topic, group, consumer, min_idle_time=self._claim_idle_ms, start_id=cursor, count=limit
        )
        self._claim_cursor[group] = _text(next_cursor)
        entries = [(entry_id, fields) for entry_id, fields in entries if fields]
        if not entries:
            return []
        first, last = entries[0][0], entries[-1][0]
        pending = await self._redis.xpending_range(
            self.topic, group, min=first, max=last, count=len(entries), consumername=consumer
        )
        deliveries = {_text(row["message_id"]): int(row["times_delivered"]) for row in pending}
        return [self._message(entry, fields, deliveries.get(_text(entry), 2)) for entry, fields in entries]

    async def _claim_and_read(self, group: str, consumer: str, limit: int, block_ms: int) -> list[Message]:
        batch = await self._claim_stale(group, consumer, limit)
        if len(batch) < limit:
            # Block only when nothing was claimed, so claimed messages are not held back.
            block = block_ms if not batch and block_ms > 0 else None
            response = await self._redis.xreadgroup(
                group, consumer, {self.topic: ">"}, count=limit - len(batch), block=block
            )
            batch += [self._message(entry, fields, 1) for _, entries in response for entry, fields in entries]
        return batch

    async def _trim_acked(self) -> None:
        """Drop entries every group has acked: the stream holds the backlog, not the history."""
        now = time.monotonic()
        if now - self._last_trim < TRIM_EVERY_S:
            return
        self._last_trim = now
        groups = await self._redis.xinfo_groups(self.topic)
        horizons = []
        for info in groups:
            name = _text(info["name"])
            oldest_pending = (await self._redis.xpending(self.topic, name))["min"]
            delivered = _text(info["last-delivered-id"])
            horizons.append(_text(oldest_pending) if oldest_pending else _after(delivered))
        if horizons:
            await self._redis.xtrim(self.topic, minid=min(horizons, key=_id_order), approximate=True)

    async def _forget_dead_consumers(self, group: str) -> None:
        """After their entries were claimed (``_claim_stale``), delete consumers gone quiet; checked at
        most twice per dead-consumer time. A live consumer reads at least every ``MAX_BLOCK_MS``, and one
        deleted while busy is recreated by its next read."""
        now = time.monotonic()
        every = min(TRIM_EVERY_S, self._dead_consumer_idle_ms / 2000)
        if now - self._last_sweep.get(group, 0.0) < every:
            return
        self._last_sweep[group] = now
        try:
            removed = await self._forget_dead(keys=[self.topic], args=[group, self._dead_consumer_idle_ms])
        except ResponseError:  # the stream or group vanished: nothing to forget
            return
        if removed:
            log.info("dead_consumers_removed", group=group, consumers=[_text(name) for name in removed])

    def _message(self, entry_id: bytes | str, fields: dict[bytes, bytes], attempts: int) -> Message:
        return Message(id=_text(entry_id), key=_text(fields[b"k"]), payload=fields[b"p"], attempts=attempts)


def _id_order(entry_id: str) -> tuple[int, int]:
    millis, _, sequence = entry_id.partition("-")
    return int(millis), int(sequence or 0)


def _after(entry_id: str) -> str:
    """The smallest id greater than ``entry_id``: everything before it was delivered and acked."""
    millis, sequence = _id_order(entry_id)
    return f"{millis}-{sequence + 1}"
