"""Runtime health for the Overview page, read from this process's Prometheus registry: the same numbers
``/metrics`` exports, so the dashboard never computes its own version of them."""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import REGISTRY

CACHE_LOOKUPS = "nextread_cache_lookups"
EVENT_LAG_METRICS = ("nextread_event_lag_seconds", "nextread_outbox_backlog_events")


@dataclass(frozen=True)
class Reading:
    available: bool
    text: str


def _samples(metric: str) -> list[tuple[dict[str, str], float]]:
    return [
        (sample.labels, sample.value)
        for family in REGISTRY.collect()
        if family.name == metric
        for sample in family.samples
        if sample.name in {metric, f"{metric}_total"}
    ]


def cache_hit_rate() -> Reading:
    lookups = _samples(CACHE_LOOKUPS)
    if not lookups:
        return Reading(False, "the serving cache exports no metrics in this process")
    hits = sum(value for labels, value in lookups if labels.get("result") == "hit")
    total = sum(value for _, value in lookups)
    if total == 0:
        return Reading(True, "no cache lookups yet since this process started")
    return Reading(True, f"{hits / total:.0%} of {int(total):,} lookups since this process started")


def event_lag() -> Reading:
    for metric in EVENT_LAG_METRICS:
        samples = _samples(metric)
        if samples:
            value = max(value for _, value in samples)
            unit = "s behind" if metric.endswith("_seconds") else "events waiting to be published"
            return Reading(True, f"{value:,.1f} {unit}" if unit.startswith("s") else f"{int(value):,} {unit}")
    return Reading(False, "no event stream metrics in this process (events are written directly)")
