"""Runtime health for the Overview page.

Event lag is read where every process can see it: the outbox backlog (stored interactions not yet
published) from the database, the consumer group's lag from the configured bus itself, and the
published events not applied in time from this process's reconciler (what ``/readyz`` reports). The cache
hit rate is the signed-in school's own, counted by this process's serving cache."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from nextread.config import Settings
from nextread.events.bus import bus_from_settings
from nextread.events.reconcile import Gap
from nextread.services.event_handlers import INTERACTIONS_GROUP
from nextread.store.outbox import backlog
from nextread.ui.context import api_app

BUS_TIMEOUT_SECONDS = 3.0


@dataclass(frozen=True)
class Reading:
    available: bool
    text: str


def cache_hit_rate(tenant_id: int) -> Reading:
    """This school's own hits and lookups (counted by the serving cache per school in this process);
    ``/metrics`` keeps the server-wide counter for operators."""
    cache = api_app().state.cache
    if not cache.enabled:
        return Reading(False, "the serving cache is turned off (NEXTREAD_CACHE_URL=none://)")
    hits, total = cache.school_lookups(tenant_id)
    if total == 0:
        return Reading(True, "no lookups for this school since this server process started")
    return Reading(
        True, f"{hits / total:.0%} of {total:,} lookups for this school since this server process started"
    )


def outbox_backlog() -> int:
    with api_app().state.engine.connect() as connection:
        return backlog(connection)[1]


def unapplied(gap: Gap | None) -> str:
    """The reconciler's last count of published events not applied in time, as a clause ("" if none)."""
    if gap is None or not gap.events:
        return ""
    age = gap.oldest_seconds() or 0.0
    return f"; {gap.events:,} published events not applied yet, the oldest stored {age:.0f} s ago"


def _gap() -> Gap | None:
    pipeline = getattr(api_app().state, "events", None)
    return pipeline.reconciler.gap if pipeline is not None else None


async def event_lag(settings: Settings) -> Reading:
    """Outbox backlog + events on the bus the workers have not acknowledged yet."""
    try:
        waiting = await asyncio.to_thread(outbox_backlog)
    except Exception as exc:  # noqa: BLE001 - the page shows what it could not read instead of failing
        return Reading(False, f"outbox not readable: {exc}")
    text = f"{waiting:,} events waiting to be published" + unapplied(_gap())
    if settings.events.event_bus_url.startswith("memory://"):
        return Reading(True, text + " (in-process bus: no separate workers)")
    bus = bus_from_settings(settings)
    try:
        lag = await asyncio.wait_for(bus.lag(INTERACTIONS_GROUP), BUS_TIMEOUT_SECONDS)
    except Exception as exc:  # noqa: BLE001
        return Reading(False, f"{text}; the event bus did not answer ({type(exc).__name__})")
    finally:
        await bus.close()
    return Reading(True, f"{text}; {lag:,} published but not yet applied by the workers")
