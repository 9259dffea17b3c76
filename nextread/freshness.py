"""How long a process may trust what it copied from the database: one rule for models, saved settings
and API keys.

Each copy is checked again once it is ``interval`` old, so a change made by another process (a new
model, a saved setting, a revoked key) reaches this one within that bound. A busy process re-checks
ahead, once a copy is half that old (:meth:`Freshness.due`), so no request finds it expired and has to
wait for the check.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, MutableMapping
from typing import Generic, NamedTuple, TypeVar

K = TypeVar("K")
V = TypeVar("V")

NEVER = float("-inf")


class Checked(NamedTuple, Generic[V]):
    """A value and when (monotonic) it was read from the database."""

    at: float
    value: V


class Freshness(Generic[K, V]):
    """Per key, the value last read from the database and when; fresh while younger than ``interval``.

    ``interval`` is read at every call, so a setting changed at run time applies at once. ``entries``
    lets a bounded mapping (a ``cachetools`` cache) hold them; every access holds one lock, since
    such caches are not safe across threads."""

    def __init__(
        self,
        interval: Callable[[], float],
        entries: MutableMapping[K, Checked[V]] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.interval = interval
        self.clock = clock
        self._entries: MutableMapping[K, Checked[V]] = {} if entries is None else entries
        self._lock = threading.Lock()

    def check(self, key: K, read: Callable[[], V]) -> V:
        """Read ``key``'s value from the database now and remember it, as checked when the read began:
        whatever changed after that moment is seen by the next check, within the interval."""
        started = self.clock()
        value = read()
        with self._lock:
            self._entries[key] = Checked(started, value)
        return value

    def fresh(self, key: K) -> Checked[V] | None:
        """The last check of ``key`` while it is younger than the interval, else None."""
        entry = self._entry(key)
        if entry is None or self.clock() - entry.at >= self.interval():
            return None
        return entry

    def due(self, key: K) -> bool:
        """Whether ``key`` is half an interval old (or never checked): time to re-check it ahead."""
        return self.clock() - self.checked_at(key) >= self.interval() / 2

    def checked_at(self, key: K) -> float:
        entry = self._entry(key)
        return NEVER if entry is None else entry.at

    def forget(self, key: K) -> None:
        with self._lock:
            self._entries.pop(key, None)

    def __len__(self) -> int:
        return len(self._entries)

    def _entry(self, key: K) -> Checked[V] | None:
        with self._lock:
            return self._entries.get(key)
