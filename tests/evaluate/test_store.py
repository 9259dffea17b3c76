"""``nextread evaluate`` on a tenant's own store: positives, levels and the catalog rows line up."""

from __future__ import annotations

import numpy as np

from nextread.config import Settings
from nextread.demo import load_demo
from nextread.evaluate.store import load_store_dataset
from nextread.store.db import session_scope
from nextread.store.models import Item, User
from nextread.store.tenants import ensure_tenant
from tests.conftest import Database


def test_store_dataset_carries_levels_catalog_rows_and_profiles(
    database: Database, settings: Settings
) -> None:
    with session_scope(database.sessions) as session:
        load_demo(session, ensure_tenant(session, settings.store.default_tenant).id)
        titles = {item.id: item.title for item in session.query(Item)}
        interests = {user.id: user.interests for user in session.query(User)}
    data = load_store_dataset(settings, settings.store.default_tenant, threshold=4.0, min_positives=5)
    assert data.n_users > 100 and data.matrix.nnz > 1000
    assert data.item_rows is not None and len(data.item_rows) == data.n_items
    assert [row["title"] for row in data.item_rows] == [titles[int(pk)] for pk in data.item_ids]
    assert data.item_levels is not None and np.isfinite(data.item_levels).mean() > 0.9
    assert data.user_rows is not None
    assert [row.get("interests") for row in data.user_rows] == [interests[int(pk)] for pk in data.user_ids]
    assert all(row.get("lexile") is not None for row in data.user_rows)  # every demo student has one
