"""The provider_usage table: characters sent to each provider, per month.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create the provider_usage table."""
    op.create_table(
        "provider_usage",
        sa.Column("provider", sa.String(50), primary_key=True),
        sa.Column("month", sa.String(7), primary_key=True),
        sa.Column("chars", sa.BigInteger(), nullable=False),
    )


def downgrade() -> None:
    """Drop the provider_usage table."""
    op.drop_table("provider_usage")
