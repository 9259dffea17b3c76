"""merge the feature branches of the schema into one head

Revision ID: 0010
Revises: 0003, 0004, 0005, 0008, 0009
Create Date: 2026-11-27 17:30:00
"""

from collections.abc import Sequence

revision: str = "0010"
down_revision: str | Sequence[str] | None = ("0003", "0004", "0005", "0008", "0009")
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Nothing to change: the branches touch separate tables and columns."""


def downgrade() -> None:
    """Nothing to change."""
