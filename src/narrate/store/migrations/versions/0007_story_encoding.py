"""The story table's encoding: the one a story was read in when it was named.

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add the column; existing stories had their encoding guessed."""
    with op.batch_alter_table("story") as table:
        table.add_column(sa.Column("encoding", sa.String(40), nullable=True))


def downgrade() -> None:
    """Drop the column."""
    with op.batch_alter_table("story") as table:
        table.drop_column("encoding")
