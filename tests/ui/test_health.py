"""The Overview page's event-lag reading names published events the workers have not applied in time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from nextread.events.reconcile import Gap
from nextread.ui.health import unapplied


def test_unapplied_events_are_named_with_the_oldest_age() -> None:
    gap = Gap(events=3000, oldest_stored_at=datetime.now(UTC) - timedelta(seconds=95))
    assert unapplied(gap) == "; 3,000 published events not applied yet, the oldest stored 95 s ago"
    assert unapplied(Gap()) == ""
    assert unapplied(None) == ""
