"""outbox rows remember whether their events were applied, for the reconciler

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07 15:00:00

A bus without persistence (Redis without AOF, a restarted process's memory bus) can lose published
events; a sent row now stays until its events are found in ``processed_events`` (``settled_at``), so
the reconciler can re-publish what was lost.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import nextread.store.models  # noqa: F401  (UTCDateTime column type)

revision: str = "0012"
down_revision: str | Sequence[str] | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("outbox", sa.Column("settled_at", nextread.store.models.UTCDateTime(), nullable=True))
    op.add_column("outbox", sa.Column("republished", sa.Integer(), server_default="0", nullable=False))
    op.create_index("ix_outbox_unsettled", "outbox", ["settled_at", "id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_outbox_unsettled", table_name="outbox")
    op.drop_column("outbox", "republished")
    op.drop_column("outbox", "settled_at")
