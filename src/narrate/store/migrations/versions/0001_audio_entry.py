"""The audio_entry table: one row per paragraph, voice and provider.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create the audio_entry table and its unique key."""
    op.create_table(
        "audio_entry",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("story_id", sa.String(255), nullable=False),
        sa.Column("text_hash", sa.String(64), nullable=False),
        sa.Column("voice", sa.String(100), nullable=False),
        sa.Column("provider", sa.String(50), nullable=False),
        sa.Column("provider_voice", sa.String(255), nullable=False),
        sa.Column("path", sa.String(1024), nullable=False),
        sa.Column("format", sa.String(10), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("duration_s", sa.Float(), nullable=False),
        sa.Column("chars", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.String(255), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint(
            "story_id", "text_hash", "voice", "provider", name="uq_audio_entry_key"
        ),
    )
    op.create_index("ix_audio_entry_story_id", "audio_entry", ["story_id"])


def downgrade() -> None:
    """Drop the audio_entry table."""
    op.drop_index("ix_audio_entry_story_id", "audio_entry")
    op.drop_table("audio_entry")
