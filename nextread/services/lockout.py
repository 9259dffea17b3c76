"""Slows down password and key guessing on the dashboard's sign-in page.

Failures are counted per *subject* (a username as typed, or a client address for API keys) in the
serving cache's backend, not the database: with Redis every API process sees the same counts, so a lockout
holds whichever process answers, and no migration is needed. The subject is counted whether or not such an
account exists, so a lockout says nothing about which usernames are real.

After ``max_failures`` failures within ``window_seconds`` the subject is locked for a cool-down that
doubles with each lockout in a row (up to ``lockout_max_seconds``); a successful sign-in forgets both.
A cache that cannot answer (Redis down) lets attempts through: the cache logs the error, and sign-in stays
possible rather than locking every school out.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from nextread.cache import CacheBackend, MemoryCache, NullCache
from nextread.config import Settings
from nextread.observability import get_logger
from nextread.services.errors import NotAllowedError

log = get_logger("nextread.sign_in")

USERNAME = "username"
CLIENT = "client"
STRIKES_REMEMBERED_SECONDS = 86_400.0
"""Lockouts in a row are counted for a day, so a slow, patient guesser keeps the long cool-down."""


class LockedOut(NotAllowedError):
    """Too many failed attempts: refused until the cool-down ends, whatever the password."""

    def __init__(self, seconds_left: float) -> None:
        self.seconds_left = seconds_left
        minutes = max(1, math.ceil(seconds_left / 60))
        super().__init__(f"Too many attempts; try again in {minutes} minute{'s' if minutes > 1 else ''}.")


@dataclass(frozen=True)
class Policy:
    max_failures: int = 5
    window_seconds: float = 900.0
    lockout_seconds: float = 60.0
    lockout_max_seconds: float = 3600.0

    @classmethod
    def of(cls, settings: Settings) -> Policy:
        accounts = settings.accounts
        return cls(
            accounts.sign_in_max_failures,
            accounts.sign_in_failure_window_seconds,
            accounts.sign_in_lockout_seconds,
            accounts.sign_in_lockout_max_seconds,
        )

    def cool_down(self, strike: int) -> float:
        return min(self.lockout_seconds * 2 ** max(0, strike - 1), self.lockout_max_seconds)


class Lockout:
    """Failed attempts and lockouts, per kind of subject. ``clock`` is wall time: lockout ends are shared
    between processes (and hosts), so they are absolute times, not a process's monotonic clock."""

    def __init__(
        self,
        backend: CacheBackend,
        policy: Policy,
        prefix: str = "nextread",
        clock: Callable[[], float] = time.time,
    ) -> None:
        # With caching off there is nothing shared to count in; one process's memory still stops a guesser.
        self.backend = MemoryCache(10_000) if isinstance(backend, NullCache) else backend
        self.policy = policy
        self.prefix = prefix
        self.clock = clock

    def check(self, kind: str, subject: str) -> None:
        """Raise :class:`LockedOut` while ``subject`` is locked out."""
        until = self.backend.get(self._key(kind, subject, "until"))
        left = float(until) - self.clock() if until is not None else 0.0
        if left > 0:
            raise LockedOut(left)

    def failed(self, kind: str, subject: str) -> None:
        """Count a failed attempt; raise :class:`LockedOut` when it is one too many."""
        failures = self.backend.incr(self._key(kind, subject, "failures"), self.policy.window_seconds)
        if failures is None or failures < self.policy.max_failures:
            return
        strike = self.backend.incr(self._key(kind, subject, "strikes"), STRIKES_REMEMBERED_SECONDS) or 1
        seconds = self.policy.cool_down(strike)
        self.backend.set(self._key(kind, subject, "until"), str(self.clock() + seconds).encode(), seconds)
        self.backend.delete_many([self._key(kind, subject, "failures")])
        log.warning(
            "sign_in_locked_out",
            kind=kind,
            subject=subject,
            failures=failures,
            strike=strike,
            seconds=seconds,
        )
        raise LockedOut(seconds)

    def succeeded(self, kind: str, subject: str) -> None:
        self.backend.delete_many([self._key(kind, subject, part) for part in ("failures", "strikes")])

    def _key(self, kind: str, subject: str, part: str) -> str:
        digest = hashlib.blake2b(subject.encode(), digest_size=12).hexdigest()
        return f"{self.prefix}:sign-in:{kind}:{digest}:{part}"


def lockout_of(backend: CacheBackend, settings: Settings) -> Lockout:
    return Lockout(backend, Policy.of(settings), settings.cache.cache_key_prefix)
