"""Per-tenant tunables a librarian changes from the dashboard: scoring weights, the reading-level scale
shown to staff, and whether an LLM may be used. Stored in ``tenant_settings`` (one JSON value per key),
so every API process sees a change on its next read, with no restart."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from nextread.engine.hybrid import Weights
from nextread.levels import Scale
from nextread.store.models import InteractionTypeWeight, TenantSetting


class TenantSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    weights: Weights = Field(default_factory=Weights)
    # None: the process-wide NEXTREAD_LEVEL_SCALE.
    level_scale: Scale | None = None
    llm_enabled: bool = False


def load_tenant_settings(session: Session, tenant_id: int) -> TenantSettings:
    """Stored values over the defaults; a key nobody saved keeps the code default."""
    rows = session.execute(
        select(TenantSetting.key, TenantSetting.value).where(TenantSetting.tenant_id == tenant_id)
    )
    stored = {row.key: row.value.get("value") for row in rows if row.key in TenantSettings.model_fields}
    return TenantSettings.model_validate(stored)


def save_tenant_settings(session: Session, tenant_id: int, values: TenantSettings) -> None:
    session.execute(delete(TenantSetting).where(TenantSetting.tenant_id == tenant_id))
    for key, value in values.model_dump(mode="json").items():
        session.add(TenantSetting(tenant_id=tenant_id, key=key, value={"value": value}))
    session.flush()


def save_interaction_weights(
    session: Session, tenant_id: int, weights: dict[str, tuple[float, bool]]
) -> None:
    """Replace the tenant's interaction-type weights (they take effect at the next training)."""
    session.execute(delete(InteractionTypeWeight).where(InteractionTypeWeight.tenant_id == tenant_id))
    for type_, (weight, positive) in weights.items():
        session.add(InteractionTypeWeight(tenant_id=tenant_id, type=type_, weight=weight, positive=positive))
    session.flush()
