"""The story table's upgrade_tried_at: when an upgrade pass last failed on it.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add the column; existing stories have never been tried."""
    with op.batch_alter_table("story") as table:
        table.add_column(
            sa.Column("upgrade_tried_at", sa.DateTime(timezone=True), nullable=True)
        )


def downgrade() -> None:
    """Drop the column."""
    with op.batch_alter_table("story") as table:
        table.drop_column("upgrade_tried_at")
