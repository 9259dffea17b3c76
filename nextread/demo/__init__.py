"""The bundled demo school: 300 invented children's books (K–5), 150 students in six classes and a
school year of checkouts, returns, ratings and abandoned books. Regenerate with
``python -m nextread.demo.generate``."""

from __future__ import annotations

import json
from importlib import resources
from typing import TypeVar

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session

from nextread.schemas import GroupIn, InteractionIn, ItemIn, UserIn
from nextread.store.models import Item
from nextread.store.writes import upsert_groups, upsert_items, upsert_users, write_interactions

BATCH = 5_000
Row = TypeVar("Row", bound=BaseModel)


def _rows(name: str, model: type[Row]) -> list[Row]:
    text = resources.files("nextread.demo").joinpath("data", f"{name}.jsonl").read_text(encoding="utf-8")
    return [model.model_validate(json.loads(line)) for line in text.splitlines() if line.strip()]


def demo_is_needed(session: Session, tenant_id: int) -> bool:
    """Only an empty tenant gets the demo: it never mixes into a real catalog."""
    return session.scalar(select(Item.id).where(Item.tenant_id == tenant_id).limit(1)) is None


def load_demo(session: Session, tenant_id: int) -> dict[str, int]:
    """Write the demo school through the same idempotent bulk writes as imports; returns rows written."""
    counts = {
        "items": upsert_items(session, tenant_id, _rows("items", ItemIn)).written,
        "users": upsert_users(session, tenant_id, _rows("users", UserIn)).written,
        "groups": upsert_groups(session, tenant_id, _rows("groups", GroupIn)).written,
    }
    events = _rows("interactions", InteractionIn)
    counts["interactions"] = sum(
        write_interactions(session, tenant_id, events[start : start + BATCH]).written
        for start in range(0, len(events), BATCH)
    )
    return counts
