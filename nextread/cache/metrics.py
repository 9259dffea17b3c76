"""Prometheus metrics of the serving cache (exposed on ``/metrics`` of every API process)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

CACHE_LOOKUPS = Counter("nextread_cache_lookups_total", "Serving cache lookups", ["cache", "result"])
CACHE_HIT_RATIO = Gauge(
    "nextread_cache_hit_ratio", "Hits / lookups of the serving cache since this process started", ["cache"]
)
CACHE_INVALIDATIONS = Counter(
    "nextread_cache_invalidations_total", "Users whose cached recommendations were invalidated"
)
CACHE_ERRORS = Counter("nextread_cache_errors_total", "Cache backend operations that failed", ["operation"])
