"""The school's own settings (scoring weights, interaction-type weights, the level scale shown to staff,
the LLM switch) and its dashboard accounts: admins change them, every process sees a change on its
next read."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError
from sqlalchemy.orm import Session

from nextread.services.access import Principal, require_configurer
from nextread.services.errors import InvalidError
from nextread.services.recommend import RecommendationService
from nextread.store.accounts import AccountError, create_account, disable_account, list_accounts
from nextread.store.tenant_settings import (
    TenantSettings,
    load_tenant_settings,
    save_interaction_weights,
    save_tenant_settings,
)
from nextread.store.tenants import interaction_weights

TypeWeights = dict[str, tuple[float, bool]]


def school_settings(session: Session, tenant_id: int) -> tuple[TenantSettings, TypeWeights]:
    """The saved settings and the interaction-type weights (``type: (weight, counts as liked)``)."""
    return load_tenant_settings(session, tenant_id), interaction_weights(session, tenant_id)


def save_school_settings(
    session: Session,
    service: RecommendationService,
    principal: Principal,
    values: dict[str, Any],
    types: TypeWeights,
) -> TenantSettings:
    """Validated, committed, and used by this process's next request at once (others within
    ``NEXTREAD_MODEL_REFRESH_SECONDS``); the type weights take effect at the next training."""
    require_configurer(principal)
    try:
        chosen = TenantSettings.model_validate(values)
    except ValidationError as exc:
        raise InvalidError.of(exc) from None
    save_tenant_settings(session, principal.tenant_id, chosen)
    save_interaction_weights(session, principal.tenant_id, types)
    session.commit()
    service.forget_tenant_settings(principal.tenant_id)
    return chosen


def accounts(session: Session, tenant_id: int) -> list[dict[str, Any]]:
    return [
        {
            "username": account.username,
            "role": account.role,
            "student": student or "",
            "status": "disabled" if account.disabled_at else "active",
        }
        for account, student in list_accounts(session, tenant_id)
    ]


def add_account(
    session: Session, principal: Principal, username: str, password: str, role: str, student_id: str | None
) -> str:
    """A dashboard account; a student account names the reader it belongs to. The username back."""
    require_configurer(principal)
    try:
        account = create_account(session, principal.tenant_id, username, password, role, student_id)
    except AccountError as exc:
        raise InvalidError.worded(str(exc)) from None
    session.commit()
    return account.username


def remove_account(session: Session, principal: Principal, username: str) -> str:
    """Disabled, not deleted: it is signed out on its next click and the row stays for the record."""
    require_configurer(principal)
    try:
        disable_account(session, principal.tenant_id, username)
    except AccountError as exc:
        raise InvalidError.worded(str(exc)) from None
    session.commit()
    return username
