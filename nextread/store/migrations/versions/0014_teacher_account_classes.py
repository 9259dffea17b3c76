"""teacher accounts and the classes they teach; last sign-in

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07 22:30:00

A teacher account sees and acts for the students of its own classes only, so the classes it teaches
are stored per account; the accounts list shows when each account last signed in.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import nextread.store.models

revision: str = "0014"
down_revision: str | Sequence[str] | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "ui_account_classes",
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("group_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["ui_accounts.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["group_id"], ["groups.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("account_id", "group_id"),
    )
    op.create_index(op.f("ix_ui_account_classes_group_id"), "ui_account_classes", ["group_id"], unique=False)
    last_sign_in = sa.Column("last_sign_in_at", nextread.store.models.UTCDateTime(), nullable=True)
    op.add_column("ui_accounts", last_sign_in)


def downgrade() -> None:
    with op.batch_alter_table("ui_accounts") as batch:
        batch.drop_column("last_sign_in_at")
    op.drop_index(op.f("ix_ui_account_classes_group_id"), table_name="ui_account_classes")
    op.drop_table("ui_account_classes")
