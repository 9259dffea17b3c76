"""Items: the catalog (books, articles, products…)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from nextread.api.crud import Resource, crud_router
from nextread.schemas import ItemIn, ItemOut, ItemPatch
from nextread.store.models import Item
from nextread.store.writes import upsert_items

ITEMS = Resource("item", Item, ItemIn, ItemOut, ItemPatch, upsert_items)
router = crud_router(ITEMS, "/v1/items", "items")


def find_item(session: Session, tenant_id: int, item_id: str) -> Item:
    return ITEMS.find(session, tenant_id, item_id)
