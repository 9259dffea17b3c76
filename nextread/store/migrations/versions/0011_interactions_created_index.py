"""index interactions by arrival time, for the scheduler's "N new interactions" check

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-27 19:10:00

Without it every API process counted new interactions with a full scan of the table every
``scheduler_poll_seconds`` (a second of database time per check at 1M interactions).
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0011"
down_revision: str | Sequence[str] | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_interactions_tenant_created", "interactions", ["tenant_id", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_interactions_tenant_created", table_name="interactions")
