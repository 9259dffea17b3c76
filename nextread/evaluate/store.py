"""``nextread evaluate`` without ``--data``: the protocol on a tenant's own interactions."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from sqlalchemy import select

from nextread.config import Settings
from nextread.evaluate.data import InteractionData, from_arrays, item_level_values, with_consumed
from nextread.store.db import make_engine, make_session_factory, session_scope
from nextread.store.models import Item, User
from nextread.store.reading_data import load_events, load_items
from nextread.store.tenants import ensure_tenant, interaction_weights


def load_store_dataset(
    settings: Settings, tenant: str, threshold: float, min_positives: int
) -> InteractionData:
    """Positives are the tenant's positive interaction types (ratings only at or above ``threshold``);
    lower ratings are consumed-not-liked (``InteractionData.consumed``);
    item levels are on the grade-equivalent scale, computed from the item rows as serving's catalogue
    computes them."""
    engine = make_engine(settings.store.database_url)
    with session_scope(make_session_factory(engine)) as session:
        tenant_id = ensure_tenant(session, tenant).id
        events = load_events(session, tenant_id)
        positive_types = {
            name for name, (_, positive) in interaction_weights(session, tenant_id).items() if positive
        }
        items = load_items(session, tenant_id)
        profiles = {
            user.id: _profile(user)
            for user in session.scalars(select(User).where(User.tenant_id == tenant_id))
        }
    engine.dispose()
    positive = np.isin(events.type, list(positive_types))
    positive &= (events.type != "rating") | (np.nan_to_num(events.value) >= threshold)
    data = from_arrays(events.user, events.item, events.timestamp, min_positives, f"store:{tenant}", positive)
    consumed = events.subset(~positive & (events.type == "rating"))
    data = with_consumed(data, consumed.user, consumed.item, consumed.timestamp)
    by_pk = {item.id: item for item in items}
    rows = tuple(
        {c.name: getattr(by_pk[int(pk)], c.name) for c in Item.__table__.c} if int(pk) in by_pk else {}
        for pk in data.item_ids
    )
    user_rows = tuple(profiles.get(int(pk), {}) for pk in data.user_ids)
    return replace(data, item_levels=item_level_values(rows), item_rows=rows, user_rows=user_rows)


def _profile(user: User) -> dict[str, object]:
    """What serving reads from a user's record: stated level fields and interests (unknown left out)."""
    fields = {
        "interests": user.interests,
        "lexile": user.lexile,
        "guided_reading_level": user.guided_reading_level,
        "grade": user.grade,
    }
    return {name: value for name, value in fields.items() if value is not None}
