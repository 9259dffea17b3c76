"""job runs record their progress

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07 15:00:00

A first training on a large catalog runs for minutes in the background while requests are answered
without it; ``/v1/models`` and the dashboard show how far it has got from this column.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision: str = "0013"
down_revision: str | Sequence[str] | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "job_runs", sa.Column("progress", sa.JSON().with_variant(JSONB(), "postgresql"), nullable=True)
    )


def downgrade() -> None:
    op.drop_column("job_runs", "progress")
