"""estimated book levels; full-text search index on items

Revision ID: 0005
Revises: 0002
Create Date: 2026-11-27 16:30:00

The full-text index is kept in step with ``items`` by triggers, so every write path (API, bulk
upserts, imports, deletes) maintains it without knowing it exists:

* SQLite: an FTS5 virtual table over ``items`` (external content, Porter stemming), three triggers.
* PostgreSQL: a side table ``items_fts`` of weighted ``tsvector`` documents (title A; authors, tags,
  series B; description C) with a GIN index, filled by one trigger; deleted with its item (FK cascade).

Neither is in the SQLAlchemy models (FTS5 tables cannot be), so autogenerate ignores ``items_fts*``
(see ``nextread.store.db.include_in_autogenerate``).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0005"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FTS_COLUMNS = ("title", "authors", "tags", "series_name", "description")

SQLITE_UPGRADE = [
    "CREATE VIRTUAL TABLE items_fts USING fts5("
    + ", ".join(FTS_COLUMNS)
    + ", content='items', content_rowid='id', tokenize='porter unicode61 remove_diacritics 2')",
    "CREATE TRIGGER items_fts_insert AFTER INSERT ON items BEGIN "
    "INSERT INTO items_fts(rowid, {cols}) VALUES (new.id, {new}); END",
    "CREATE TRIGGER items_fts_delete AFTER DELETE ON items BEGIN "
    "INSERT INTO items_fts(items_fts, rowid, {cols}) VALUES ('delete', old.id, {old}); END",
    "CREATE TRIGGER items_fts_update AFTER UPDATE OF {cols} ON items BEGIN "
    "INSERT INTO items_fts(items_fts, rowid, {cols}) VALUES ('delete', old.id, {old}); "
    "INSERT INTO items_fts(rowid, {cols}) VALUES (new.id, {new}); END",
    "INSERT INTO items_fts(items_fts) VALUES ('rebuild')",
]
SQLITE_DOWNGRADE = [
    "DROP TRIGGER IF EXISTS items_fts_update",
    "DROP TRIGGER IF EXISTS items_fts_delete",
    "DROP TRIGGER IF EXISTS items_fts_insert",
    "DROP TABLE IF EXISTS items_fts",
]

POSTGRES_DOCUMENT = (
    "setweight(to_tsvector('english', coalesce({p}title, '')), 'A')"
    " || setweight(to_tsvector('english', coalesce({p}authors, '[]'::jsonb)), 'B')"
    " || setweight(to_tsvector('english', coalesce({p}tags, '[]'::jsonb)), 'B')"
    " || setweight(to_tsvector('english', coalesce({p}series_name, '')), 'B')"
    " || setweight(to_tsvector('english', coalesce({p}description, '')), 'C')"
)
POSTGRES_UPGRADE = [
    "CREATE TABLE items_fts ("
    " item_id integer PRIMARY KEY REFERENCES items(id) ON DELETE CASCADE,"
    " tenant_id integer NOT NULL,"
    " document tsvector NOT NULL)",
    "CREATE INDEX items_fts_document ON items_fts USING GIN (document)",
    "CREATE FUNCTION items_fts_sync() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
    "INSERT INTO items_fts (item_id, tenant_id, document) VALUES (NEW.id, NEW.tenant_id, "
    + POSTGRES_DOCUMENT.format(p="NEW.")
    + ") ON CONFLICT (item_id) DO UPDATE SET tenant_id = EXCLUDED.tenant_id, document = EXCLUDED.document;"
    " RETURN NULL; END $$",
    "CREATE TRIGGER items_fts_sync AFTER INSERT OR UPDATE OF tenant_id, {cols} ON items "
    "FOR EACH ROW EXECUTE FUNCTION items_fts_sync()",
    "INSERT INTO items_fts (item_id, tenant_id, document) SELECT id, tenant_id, "
    + POSTGRES_DOCUMENT.format(p="")
    + " FROM items",
]
POSTGRES_DOWNGRADE = [
    "DROP TRIGGER IF EXISTS items_fts_sync ON items",
    "DROP FUNCTION IF EXISTS items_fts_sync()",
    "DROP TABLE IF EXISTS items_fts",
]


def _statements(templates: list[str]) -> list[str]:
    return [
        template.replace("{cols}", ", ".join(FTS_COLUMNS))
        .replace("{new}", ", ".join(f"new.{c}" for c in FTS_COLUMNS))
        .replace("{old}", ", ".join(f"old.{c}" for c in FTS_COLUMNS))
        for template in templates
    ]


def upgrade() -> None:
    with op.batch_alter_table("items") as batch:
        batch.add_column(sa.Column("estimated_level", sa.Float(), nullable=True))
        batch.add_column(sa.Column("estimated_level_confidence", sa.Float(), nullable=True))
        batch.add_column(
            sa.Column(
                "estimated_level_evidence",
                sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
                nullable=True,
            )
        )
    dialect = op.get_bind().dialect.name
    for statement in _statements(SQLITE_UPGRADE if dialect == "sqlite" else POSTGRES_UPGRADE):
        op.execute(statement)


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    for statement in _statements(SQLITE_DOWNGRADE if dialect == "sqlite" else POSTGRES_DOWNGRADE):
        op.execute(statement)
    with op.batch_alter_table("items") as batch:
        batch.drop_column("estimated_level_evidence")
        batch.drop_column("estimated_level_confidence")
        batch.drop_column("estimated_level")
