"""The database tables, as SQLModel classes.

The schema itself is made by the Alembic migrations in `migrations/`; a test
checks that the migrations and these classes agree.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger
from sqlmodel import Field, SQLModel, UniqueConstraint


class AudioEntry(SQLModel, table=True):
    """One paragraph's audio from one provider in one narrator voice.

    `path` is relative to the audio directory, so that the directory can be a
    shared mount seen at different places by different workers.
    `provider_voice` is what decided the sound at the provider (its voice id,
    model, format); an entry whose `provider_voice` no longer matches is stale.
    """

    __tablename__ = "audio_entry"
    __table_args__ = (
        UniqueConstraint(
            "story_id", "text_hash", "voice", "provider", name="uq_audio_entry_key"
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    story_id: str = Field(index=True, max_length=255)
    text_hash: str = Field(max_length=64)
    voice: str = Field(max_length=100)
    provider: str = Field(max_length=50)
    provider_voice: str = Field(max_length=255)
    path: str = Field(max_length=1024)
    format: str = Field(max_length=10)
    size: int
    duration_s: float
    chars: int
    request_id: str | None = Field(default=None, max_length=255)
    created_at: datetime


class ProviderHealth(SQLModel, table=True):
    """A provider's circuit breaker, shared by every run using the database.

    `state` is `closed` (requests go through), `open` (skipped until
    `retry_at`) or `half_open` (one probe is out since `probe_at`).
    `failures` counts failed requests since the last success. `probe_owner`
    is the worker probing, `fingerprint` the configuration (key, base URL,
    model; hashed) the breaker opened under. `version` grows with every
    write, for compare-and-set updates.
    """

    __tablename__ = "provider_health"

    provider: str = Field(primary_key=True, max_length=50)
    state: str = Field(default="closed", max_length=10)
    failures: int = 0
    retry_at: datetime | None = None
    probe_at: datetime | None = None
    probe_owner: str | None = Field(default=None, max_length=255)
    fingerprint: str | None = Field(default=None, max_length=64)
    last_failure_at: datetime | None = None
    last_reason: str | None = Field(default=None, max_length=100)
    last_message: str | None = Field(default=None, max_length=500)
    updated_at: datetime
    version: int = 0


class ParagraphClaim(SQLModel, table=True):
    """A worker narrating one paragraph now, so that no other pays for it too.

    The key is the cache entry's key. `expires_at` (seconds since the epoch)
    is pushed forward while the worker lives; a claim past it belongs to a
    worker that died, and may be taken over.

    An upgrade run claims a whole story the same way, under the provider name
    `upgrade` and the text hash `story`, which no provider or hash can be.
    """

    __tablename__ = "paragraph_claim"

    story_id: str = Field(primary_key=True, max_length=255)
    text_hash: str = Field(primary_key=True, max_length=64)
    voice: str = Field(primary_key=True, max_length=100)
    provider: str = Field(primary_key=True, max_length=50)
    owner: str = Field(max_length=255, index=True)
    expires_at: float


class StoryRecord(SQLModel, table=True):
    """A story as last narrated in one voice: where it came from, how it went.

    `status` is `complete` (every paragraph by the preferred provider),
    `degraded` (every paragraph has audio, not all of it by the preferred
    provider) or `incomplete` (some paragraphs have no audio).
    `encoding` is the one the source was read in when `--encoding` named it
    (None when it was guessed), so that an upgrade reads the file the same way.
    `upgrade_tried_at` is when an upgrade pass last tried the story and could
    not bring it back; a narration clears it.
    """

    __tablename__ = "story"

    story_id: str = Field(primary_key=True, max_length=255)
    voice: str = Field(primary_key=True, max_length=100)
    source: str = Field(max_length=4096)
    preferred_provider: str = Field(max_length=50)
    used_provider: str | None = Field(default=None, max_length=50)
    status: str = Field(max_length=12, index=True)
    paragraphs: int
    chars: int
    narrated_at: datetime
    upgrade_tried_at: datetime | None = None
    encoding: str | None = Field(default=None, max_length=40)


class ProviderUsage(SQLModel, table=True):
    """Characters sent to a provider in one calendar month (UTC, `YYYY-MM`).

    While a story is narrated, what it is about to send is reserved here, so
    that workers sharing the database cannot together overrun a monthly
    budget; what was not sent is given back when the story's attempt ends.
    """

    __tablename__ = "provider_usage"

    provider: str = Field(primary_key=True, max_length=50)
    month: str = Field(primary_key=True, max_length=7)
    chars: int = Field(sa_type=BigInteger)
