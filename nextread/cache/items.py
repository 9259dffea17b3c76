"""Display fields of recommended items, kept in process per catalog version.

Every recommendation answer shows id, title, authors and cover of its items. Those change only when
the items table changes, which the serving layer already detects (its catalog stamp: model version,
newest ``updated_at`` and row count, re-read every ``model_refresh_seconds``), so the fields are cached
under that stamp and a new stamp simply starts a fresh map.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import NamedTuple

from sqlalchemy import select
from sqlalchemy.orm import Session

from nextread.cache.metrics import CACHE_LOOKUPS
from nextread.store.models import Item


class ItemCard(NamedTuple):
    external_id: str
    title: str
    authors: list[str]
    cover_url: str | None


class ItemMetadataCache:
    def __init__(self, max_catalogs: int = 64):
        self.max_catalogs = max_catalogs
        self._cards: OrderedDict[tuple[int, str], dict[int, ItemCard]] = OrderedDict()
        self._lock = threading.Lock()

    def cards(self, session: Session, tenant_id: int, stamp: str, pks: list[int]) -> dict[int, ItemCard]:
        """Cards of the given items that still exist; only the ones not seen under this stamp are read."""
        with self._lock:
            known = self._cards.setdefault((tenant_id, stamp), {})
            self._cards.move_to_end((tenant_id, stamp))
            while len(self._cards) > self.max_catalogs:
                self._cards.popitem(last=False)
            missing = [pk for pk in pks if pk not in known]
        CACHE_LOOKUPS.labels("items", "hit").inc(len(pks) - len(missing))
        if missing:
            CACHE_LOOKUPS.labels("items", "miss").inc(len(missing))
            rows = session.execute(
                select(Item.id, Item.external_id, Item.title, Item.authors, Item.cover_url).where(
                    Item.tenant_id == tenant_id, Item.id.in_(missing)
                )
            )
            fresh = {row.id: ItemCard(row.external_id, row.title, row.authors, row.cover_url) for row in rows}
            with self._lock:
                known.update(fresh)
        return {pk: known[pk] for pk in pks if pk in known}
