"""The school's own settings (scoring weights, interaction-type weights, the level scale shown to staff,
the LLM switch) and its dashboard accounts: admins change them, every process sees a change on its
next read."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy.orm import Session

from nextread.services import dashboard
from nextread.services.access import Principal, require_configurer
from nextread.services.errors import InvalidError
from nextread.services.recommend import RecommendationService
from nextread.store.accounts import (
    AccountError,
    create_account,
    disable_account,
    enable_account,
    list_accounts,
    set_account_classes,
)
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
    """One row per account for the accounts list: who, what role, which classes, when last seen."""
    return [
        {
            "username": row.account.username,
            "role": row.account.role,
            "student": row.student_id or "",
            "classes": [group_id for group_id, _ in row.classes],
            "class_names": ", ".join(name for _, name in row.classes),
            "last_sign_in": _when(row.account.last_sign_in_at),
            "status": "disabled" if row.account.disabled_at else "active",
        }
        for row in list_accounts(session, tenant_id)
    ]


def _when(moment: datetime | None) -> str:
    return "never" if moment is None else f"{moment:%Y-%m-%d %H:%M} UTC"


def class_choices(session: Session, tenant_id: int) -> dict[str, str]:
    """Every class a teacher could be given, ``id: name``, for the accounts form."""
    return {row["id"]: row["name"] for row in dashboard.list_classes(session, tenant_id)}


def add_account(
    session: Session,
    principal: Principal,
    username: str,
    password: str,
    role: str,
    student_id: str | None,
    classes: Sequence[str] = (),
) -> str:
    """A dashboard account; a student account names the reader it belongs to, a teacher account the
    classes it teaches. The username back."""
    require_configurer(principal)
    with _worded():
        account = create_account(session, principal.tenant_id, username, password, role, student_id, classes)
    session.commit()
    return account.username


def remove_account(session: Session, principal: Principal, username: str) -> str:
    """Disabled, not deleted: it is signed out on its next click and the row stays for the record."""
    require_configurer(principal)
    with _worded():
        disable_account(session, principal.tenant_id, username)
    session.commit()
    return username


def restore_account(session: Session, principal: Principal, username: str) -> str:
    """Enabled again: the account's password signs in as before."""
    require_configurer(principal)
    with _worded():
        enable_account(session, principal.tenant_id, username)
    session.commit()
    return username


def assign_classes(session: Session, principal: Principal, username: str, classes: Sequence[str]) -> str:
    """The classes a teacher account teaches from now on; the teacher sees them on their next click."""
    require_configurer(principal)
    with _worded():
        set_account_classes(session, principal.tenant_id, username, classes)
    session.commit()
    return username


@contextmanager
def _worded() -> Iterator[None]:
    """A store refusal (it names the field) as the services' invalid-input error."""
    try:
        yield
    except AccountError as exc:
        raise InvalidError.worded(str(exc)) from None
