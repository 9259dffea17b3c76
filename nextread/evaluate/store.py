"""``nextread evaluate`` without ``--data``: the protocol on a tenant's own interactions."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from sqlalchemy import select

from nextread.config import Settings
from nextread.evaluate.data import InteractionData, from_arrays, with_consumed
from nextread.levels import item_level, level_to_lexile
from nextread.store.db import make_engine, make_session_factory, session_scope
from nextread.store.models import Item, User
from nextread.store.reading_data import load_events, load_items
from nextread.store.tenants import ensure_tenant, interaction_weights


def load_store_dataset(
    settings: Settings, tenant: str, threshold: float, min_positives: int
) -> InteractionData:
    """Positives are the tenant's positive interaction types (ratings only at or above ``threshold``);
    lower ratings are consumed-not-liked (``InteractionData.consumed``);
    item levels are Lexile measures (given, or converted from guided reading level / grade range)."""
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
    levels = np.array([_lexile(by_pk[int(pk)]) if int(pk) in by_pk else np.nan for pk in data.item_ids])
    rows = tuple(
        {c.name: getattr(by_pk[int(pk)], c.name) for c in Item.__table__.c} if int(pk) in by_pk else {}
        for pk in data.item_ids
    )
    user_rows = tuple(profiles.get(int(pk), {}) for pk in data.user_ids)
    return replace(
        data, item_levels=None if np.isnan(levels).all() else levels, item_rows=rows, user_rows=user_rows
    )


def _lexile(item: Item) -> float:
    if item.lexile is not None:
        return float(item.lexile)
    level = item_level(
        None, item.guided_reading_level, item.grade_min, item.grade_max, item.age_min, item.age_max
    )
    return np.nan if level is None else float(level_to_lexile(level))


def _profile(user: User) -> dict[str, object]:
    """What serving reads from a user's record: stated level fields and interests (unknown left out)."""
    fields = {
        "interests": user.interests,
        "lexile": user.lexile,
        "guided_reading_level": user.guided_reading_level,
        "grade": user.grade,
    }
    return {name: value for name, value in fields.items() if value is not None}
