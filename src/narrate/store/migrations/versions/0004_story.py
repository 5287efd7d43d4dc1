"""The story table: every story narrated, its source and how it went.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create the story table."""
    op.create_table(
        "story",
        sa.Column("story_id", sa.String(255), primary_key=True),
        sa.Column("voice", sa.String(100), primary_key=True),
        sa.Column("source", sa.String(4096), nullable=False),
        sa.Column("preferred_provider", sa.String(50), nullable=False),
        sa.Column("used_provider", sa.String(50), nullable=True),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("paragraphs", sa.Integer(), nullable=False),
        sa.Column("chars", sa.Integer(), nullable=False),
        sa.Column("narrated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_story_status", "story", ["status"])


def downgrade() -> None:
    """Drop the story table."""
    op.drop_index("ix_story_status", "story")
    op.drop_table("story")
