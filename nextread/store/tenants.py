"""Tenants, API keys and per-tenant interaction weights."""

from __future__ import annotations

import hashlib
import secrets

from sqlalchemy import Row, select
from sqlalchemy.orm import Session

from nextread.store.models import DEFAULT_TYPE_WEIGHTS, ApiKey, InteractionTypeWeight, Tenant

ROLES = ("read", "admin")


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def ensure_tenant(session: Session, slug: str, name: str | None = None) -> Tenant:
    """Get or create a tenant, seeding its interaction weights so training works out of the box."""
    tenant = session.scalar(select(Tenant).where(Tenant.slug == slug))
    if tenant is None:
        tenant = Tenant(slug=slug, name=name or slug)
        session.add(tenant)
        session.flush()
        for type_, (weight, positive) in DEFAULT_TYPE_WEIGHTS.items():
            session.add(
                InteractionTypeWeight(tenant_id=tenant.id, type=type_, weight=weight, positive=positive)
            )
        session.flush()
    return tenant


def register_api_key(session: Session, tenant: Tenant, key: str, role: str, name: str) -> ApiKey:
    """Store a key the operator chose (idempotent: an already registered key is returned as is)."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {ROLES}, got {role!r}")
    digest = hash_key(key)
    existing = session.scalar(select(ApiKey).where(ApiKey.key_hash == digest))
    if existing is not None:
        if existing.tenant_id != tenant.id or existing.role != role:
            raise ValueError(f"API key {name!r} is already registered for another tenant or role")
        return existing
    api_key = ApiKey(tenant_id=tenant.id, name=name, role=role, key_hash=digest)
    session.add(api_key)
    session.flush()
    return api_key


def create_api_key(session: Session, tenant: Tenant, role: str, name: str) -> str:
    """Generate a new random key; the plain key is returned once and never stored."""
    key = f"nr_{role}_{secrets.token_urlsafe(24)}"
    register_api_key(session, tenant, key, role, name)
    return key


def find_api_key(session: Session, key_hash: str) -> Row | None:
    """The tenant (``tenant_id``, ``slug``), ``role`` and ``name`` of an unrevoked key, else None."""
    return session.execute(
        select(ApiKey.tenant_id, ApiKey.role, ApiKey.name, Tenant.slug)
        .join(Tenant, Tenant.id == ApiKey.tenant_id)
        .where(ApiKey.key_hash == key_hash, ApiKey.revoked_at.is_(None))
    ).first()


def interaction_weights(session: Session, tenant_id: int) -> dict[str, tuple[float, bool]]:
    rows = session.execute(
        select(
            InteractionTypeWeight.type, InteractionTypeWeight.weight, InteractionTypeWeight.positive
        ).where(InteractionTypeWeight.tenant_id == tenant_id)
    )
    return {row.type: (row.weight, row.positive) for row in rows}
