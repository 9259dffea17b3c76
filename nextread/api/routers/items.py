"""Items: the catalog (books, articles, products…)."""

from __future__ import annotations

from nextread.api.crud import crud_router
from nextread.schemas import ItemPatch
from nextread.services.records import ITEMS

router = crud_router(ITEMS, ItemPatch, "/v1/items", "items")
