"""The paragraph_claim table: which worker is narrating which paragraph now.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create the paragraph_claim table."""
    op.create_table(
        "paragraph_claim",
        sa.Column("story_id", sa.String(255), primary_key=True),
        sa.Column("text_hash", sa.String(64), primary_key=True),
        sa.Column("voice", sa.String(100), primary_key=True),
        sa.Column("provider", sa.String(50), primary_key=True),
        sa.Column("owner", sa.String(255), nullable=False),
        sa.Column("expires_at", sa.Float(), nullable=False),
    )
    op.create_index("ix_paragraph_claim_owner", "paragraph_claim", ["owner"])


def downgrade() -> None:
    """Drop the paragraph_claim table."""
    op.drop_index("ix_paragraph_claim_owner", "paragraph_claim")
    op.drop_table("paragraph_claim")
