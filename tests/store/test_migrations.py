"""The Alembic migrations produce exactly the schema the models describe, on both backends."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from nextread.store.db import include_in_autogenerate, upgrade
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
