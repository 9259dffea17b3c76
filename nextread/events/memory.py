"""``memory://``: the embedded event bus, in-process, with the same consumer-group semantics as Redis.

Not a test fake: it is what a laptop install runs. Buses opened with the same URL and topic in one
process share one log, so the API's relay and an in-process worker meet without configuration. The
state is guarded by a thread lock and waiters are woken with ``call_soon_threadsafe``, because FastAPI
runs sync endpoints in threads and tests drive several event loops.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from nextread.events.bus import DeadLetter, Message


@dataclass
class _Delivery:
    consumer: str
    delivered_at: float
    attempts: int


@dataclass
class _Group:
    cursor: int  # absolute index of the next never-delivered entry
    pending: dict[int, _Delivery] = field(default_factory=dict)  # delivered, not acked, oldest first


class _Log:
    """One topic's entries, groups and dead letters; shared by every bus object on the same name."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.entries: dict[int, tuple[str, bytes]] = {}
        self.first = 0  # absolute index of the oldest retained entry
        self.next = 0  # absolute index the next published entry gets
        self.groups: dict[str, _Group] = {}
        self.waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = []
        self.dead_letters: list[DeadLetter] = []

    def group(self, name: str) -> _Group:
        """Groups start at the oldest retained entry, so events published before a worker starts count."""
        if name not in self.groups:
            self.groups[name] = _Group(cursor=self.first)
        return self.groups[name]

    def append(self, messages: Sequence[tuple[str, bytes]], max_len: int) -> None:
        for key, payload in messages:
            self.entries[self.next] = (key, payload)
            self.next += 1
        self._trim(max_len)
        for loop, waiter in self.waiters:
            loop.call_soon_threadsafe(_wake, waiter)
        self.waiters.clear()

    def take(self, group_name: str, consumer: str, limit: int, claim_idle_s: float) -> list[Message]:
        """Stale deliveries of crashed consumers first (like XAUTOCLAIM), then never-delivered entries."""
        group = self.group(group_name)
        now = time.monotonic()
        batch: list[Message] = []
        stale: list[tuple[int, int]] = []
        for index, delivery in group.pending.items():  # ordered by delivery time: stop at the first fresh
            if len(stale) >= limit or now - delivery.delivered_at < claim_idle_s:
                break
            stale.append((index, delivery.attempts + 1))
        for index, attempts in stale:
            del group.pending[index]  # re-inserted below, so the dict stays ordered by delivery time
            if index in self.entries:  # a trimmed entry just leaves the pending list, as in Redis
                group.pending[index] = _Delivery(consumer, now, attempts)
                batch.append(self._message(index, attempts))
        group.cursor = max(group.cursor, self.first)
        while len(batch) < limit and group.cursor < self.next:
            index = group.cursor
            group.cursor += 1
            group.pending[index] = _Delivery(consumer, now, 1)
            batch.append(self._message(index, 1))
        return batch

    def next_claim_in(self, group_name: str, claim_idle_s: float) -> float | None:
        """Seconds until the oldest pending delivery may be claimed, None when nothing is pending."""
        pending = self.group(group_name).pending
        if not pending:
            return None
        oldest = next(iter(pending.values())).delivered_at
        return max(0.0, oldest + claim_idle_s - time.monotonic())

    def ack(self, group_name: str, indexes: Sequence[int]) -> None:
        pending = self.group(group_name).pending
        for index in indexes:
            pending.pop(index, None)
        self._release_consumed()

    def lag(self, group_name: str) -> int:
        if group_name not in self.groups:
            return len(self.entries)
        group = self.groups[group_name]
        return max(0, self.next - max(group.cursor, self.first)) + len(group.pending)

    def _message(self, index: int, attempts: int) -> Message:
        key, payload = self.entries[index]
        return Message(id=str(index), key=key, payload=payload, attempts=attempts)

    def _trim(self, max_len: int) -> None:
        """Cap memory like Redis ``MAXLEN``: the oldest entries go first, even if unconsumed."""
        while self.next - self.first > max_len:
            self.entries.pop(self.first, None)
            self.first += 1

    def _release_consumed(self) -> None:
        """Forget entries every group has acked, so a long-running embedded install does not grow."""
        if not self.groups:
            return
        horizon = min(
            min([group.cursor, *group.pending.keys()]) if group.pending else group.cursor
            for group in self.groups.values()
        )
        while self.first < horizon:
            self.entries.pop(self.first, None)
            self.first += 1


def _wake(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


_LOGS: dict[tuple[str, str], _Log] = {}
_LOGS_LOCK = threading.Lock()


def _shared_log(name: str, topic: str) -> _Log:
    with _LOGS_LOCK:
        return _LOGS.setdefault((name, topic), _Log())


class MemoryBus:
    """In-process at-least-once bus; ``memory://name`` selects an independent namespace."""

    def __init__(
        self, url: str, *, topic: str, dead_letter_topic: str, claim_idle_ms: int, max_len: int
    ) -> None:
        name = url.split("://", 1)[1].strip("/")
        self.topic = topic
        self.dead_letter_topic = dead_letter_topic
        self._log = _shared_log(name, topic)
        self._dead = _shared_log(name, dead_letter_topic)
        self._claim_idle_s = claim_idle_ms / 1000
        self._max_len = max_len

    async def publish(self, messages: Sequence[tuple[str, bytes]]) -> None:
        with self._log.lock:
            self._log.append(messages, self._max_len)

    async def consume(
        self, group: str, consumer: str, max_messages: int = 500, block_ms: int = 1000
    ) -> list[Message]:
        deadline = time.monotonic() + block_ms / 1000
        loop = asyncio.get_running_loop()
        while True:
            waiter: asyncio.Future[None] = loop.create_future()
            with self._log.lock:
                batch = self._log.take(group, consumer, max_messages, self._claim_idle_s)
                remaining = deadline - time.monotonic()
                if batch or remaining <= 0:
                    return batch
                claim_in = self._log.next_claim_in(group, self._claim_idle_s)
                self._log.waiters.append((loop, waiter))
            timeout = remaining if claim_in is None else min(remaining, claim_in + 0.001)
            try:
                await asyncio.wait_for(waiter, timeout)
            except TimeoutError:
                with self._log.lock:
                    if (loop, waiter) in self._log.waiters:
                        self._log.waiters.remove((loop, waiter))

    async def ack(self, group: str, messages: Sequence[Message]) -> None:
        with self._log.lock:
            self._log.ack(group, [int(message.id) for message in messages])

    async def dead_letter(self, group: str, message: Message, reason: str) -> None:
        letter = DeadLetter(message.key, message.payload, reason, group, message.id, message.attempts)
        with self._dead.lock:
            self._dead.dead_letters.append(letter)
            del self._dead.dead_letters[: -self._max_len]
        await self.ack(group, [message])

    async def dead_letters(self, limit: int = 100) -> list[DeadLetter]:
        with self._dead.lock:
            return list(self._dead.dead_letters[:limit])

    async def ping(self) -> bool:
        return True

    async def lag(self, group: str) -> int:
        with self._log.lock:
            return self._log.lag(group)

    async def close(self) -> None:
        """Nothing to release: the log outlives this handle so other handles in the process keep it."""
