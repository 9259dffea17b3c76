"""The Alembic migrations produce exactly the schema the models describe, on both backends."""

from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text

from nextread.store.db import alembic_config, include_in_autogenerate, upgrade
from nextread.store.models import Base
from tests.conftest import Database


def test_migrated_schema_matches_models(database: Database) -> None:
    with database.engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"compare_type": True, "include_name": include_in_autogenerate}
        )
        assert compare_metadata(context, Base.metadata) == []


def test_upgrade_is_idempotent(database: Database) -> None:
    upgrade(database.engine)
    tables = set(inspect(database.engine).get_table_names())
    assert {
        "tenants",
        "items",
        "users",
        "groups",
        "group_members",
        "interactions",
        "model_versions",
    } <= tables


def test_teacher_classes_migration_goes_down_and_up_keeping_accounts(database: Database) -> None:
    """0014 adds the account↔class table and the last sign-in column; downgrading drops only those."""
    with database.engine.begin() as connection:
        connection.execute(
            text("INSERT INTO tenants (slug, name, created_at) VALUES ('s', 's', CURRENT_TIMESTAMP)")
        )
        connection.execute(
            text(
                "INSERT INTO ui_accounts (tenant_id, username, password_hash, role, created_at) "
                "SELECT id, 'ms-hill', 'x', 'teacher', CURRENT_TIMESTAMP FROM tenants"
            )
        )
    command.downgrade(alembic_config(database.engine), "0013")
    inspector = inspect(database.engine)
    assert "ui_account_classes" not in inspector.get_table_names()
    assert "last_sign_in_at" not in {c["name"] for c in inspector.get_columns("ui_accounts")}
    upgrade(database.engine)
    inspector = inspect(database.engine)
    assert "ui_account_classes" in inspector.get_table_names()
    with database.engine.connect() as connection:
        assert connection.execute(text("SELECT username FROM ui_accounts")).scalar_one() == "ms-hill"
