"""Dashboard accounts (scrypt hashes, roles, student links) and per-tenant settings, on both backends."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from nextread.engine.hybrid import Weights
from nextread.schemas import UserIn
from nextread.services.access import principal_of_account, principal_of_key_hash, role_label
from nextread.store.accounts import (
    AccountError,
    create_account,
    disable_account,
    hash_password,
    sign_in_with_password,
    verify_password,
)
from nextread.store.db import session_scope
from nextread.store.models import UiAccount
from nextread.store.tenant_settings import (
    TenantSettings,
    load_tenant_settings,
    save_interaction_weights,
    save_tenant_settings,
)
from nextread.store.tenants import ensure_tenant, hash_key, interaction_weights, register_api_key
from nextread.store.writes import upsert_users
from tests.conftest import Database


def test_password_hashes_are_salted_scrypt_and_verify() -> None:
    first, second = hash_password("correct horse"), hash_password("correct horse")
    assert first.startswith("scrypt$") and first != second
    assert verify_password("correct horse", first)
    assert not verify_password("correct hors", first)
    assert not verify_password("correct horse", "md5$whatever")


def test_accounts_sign_in_and_resolve_to_their_role(database: Database) -> None:
    with session_scope(database.sessions) as session:
        tenant = ensure_tenant(session, "school")
        upsert_users(session, tenant.id, [UserIn(id="st-1", display_name="Ada")])
        librarian = create_account(session, tenant.id, "libby", "long-password", "librarian")
        student = create_account(session, tenant.id, "ada", "another-password", "student", "st-1")
        assert sign_in_with_password(session, "libby", "wrong-password") is None
        assert sign_in_with_password(session, "nobody", "long-password") is None
        assert sign_in_with_password(session, "libby", "long-password").id == librarian.id
        who = principal_of_account(session, student.id)
        assert (who.role, who.user_external_id, who.tenant_slug) == ("student", "st-1", "school")
        disable_account(session, tenant.id, "libby")
        assert sign_in_with_password(session, "libby", "long-password") is None
        with pytest.raises(AccountError, match="^username:"):
            disable_account(session, tenant.id, "nobody")
        assert principal_of_account(session, librarian.id) is None


@pytest.mark.parametrize(
    ("username", "password", "role", "student", "field"),
    [
        ("", "long-password", "librarian", None, "username"),
        ("x", "short", "librarian", None, "password"),
        ("x", "long-password", "superuser", None, "role"),
        ("x", "long-password", "student", "no-such-student", "student_id"),
        ("x", "long-password", "librarian", "st-1", "student_id"),
        ("taken", "long-password", "admin", None, "username"),
    ],
)
def test_bad_accounts_are_refused_naming_the_field(
    database: Database, username: str, password: str, role: str, student: str | None, field: str
) -> None:
    with session_scope(database.sessions) as session:
        tenant = ensure_tenant(session, "school")
        upsert_users(session, tenant.id, [UserIn(id="st-1")])
        create_account(session, tenant.id, "taken", "long-password", "admin")
        with pytest.raises(AccountError, match=f"^{field}:"):
            create_account(session, tenant.id, username, password, role, student)
        assert session.scalar(select(UiAccount.id).where(UiAccount.username == "x")) is None


def test_api_keys_sign_in_as_admin_or_read_only_viewer(database: Database) -> None:
    with session_scope(database.sessions) as session:
        tenant = ensure_tenant(session, "school")
        register_api_key(session, tenant, "admin-secret", "admin", "a")
        register_api_key(session, tenant, "read-secret", "read", "r")
        assert principal_of_key_hash(session, hash_key("admin-secret")).role == "admin"
        reader = principal_of_key_hash(session, hash_key("read-secret"))
        assert (reader.role, role_label(reader)) == ("read", "viewer")
        assert principal_of_key_hash(session, hash_key("unknown")) is None


def test_tenant_settings_round_trip_and_stay_per_tenant(database: Database) -> None:
    with session_scope(database.sessions) as session:
        school, other = ensure_tenant(session, "school"), ensure_tenant(session, "other")
        assert load_tenant_settings(session, school.id) == TenantSettings()
        chosen = TenantSettings(
            weights=Weights(cf=0.1, reading_match=1.5), level_scale="lexile", llm_enabled=True
        )
        save_tenant_settings(session, school.id, chosen)
        save_interaction_weights(session, school.id, {"like": (3.0, True), "dismiss": (-1.0, False)})
    with session_scope(database.sessions) as session:
        assert load_tenant_settings(session, school.id) == chosen
        assert load_tenant_settings(session, other.id) == TenantSettings()
        assert interaction_weights(session, school.id) == {"like": (3.0, True), "dismiss": (-1.0, False)}
        assert "checkout" in interaction_weights(session, other.id)
