"""The cache database and the audio directory, on a real SQLite file."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlmodel import SQLModel

from fakes import speech_for
from narrate.errors import ConfigError
from narrate.store.cache import Cache, migrate
from narrate.store.models import AudioEntry


def entry(text_hash: str = "h1", provider: str = "a", size: int = 10) -> AudioEntry:
    return AudioEntry(
        story_id="story",
        text_hash=text_hash,
        voice="milo",
        provider=provider,
        provider_voice="v",
        path=f"story/{provider}/{text_hash}.wav",
        format="wav",
        size=size,
        duration_s=1.0,
        chars=12,
        created_at=datetime.now(UTC),
    )


def test_migrations_build_the_schema_the_models_describe(cache):
    with cache.engine.connect() as connection:
        differences = compare_metadata(
            MigrationContext.configure(connection), SQLModel.metadata
        )

    assert differences == []


def test_migrating_twice_changes_nothing(cache):
    migrate(cache.engine)
    migrate(cache.engine)

    assert cache.count() == 0


def test_recording_the_same_key_twice_replaces_the_entry(cache):
    cache.record(entry(size=10))
    cache.record(entry(size=20))

    found = cache.lookup("story", "milo", "a", ["h1"])
    assert cache.count() == 1
    assert found["h1"].size == 20


def test_entries_of_different_providers_coexist(cache):
    cache.record(entry(provider="a"))
    cache.record(entry(provider="b"))

    assert cache.count() == 2
    assert set(cache.lookup("story", "milo", "b", ["h1"])) == {"h1"}


def test_lookup_returns_only_the_hashes_asked_for(cache):
    cache.record(entry("h1"))
    cache.record(entry("h2"))

    assert set(cache.lookup("story", "milo", "a", ["h2", "h3"])) == {"h2"}


def test_sqlite_cache_runs_in_wal_mode(cache):
    with cache.engine.connect() as connection:
        mode = connection.exec_driver_sql("PRAGMA journal_mode").scalar()

    assert mode == "wal"


def test_unsupported_database_url_is_a_configuration_error():
    with pytest.raises(ConfigError):
        Cache.open("nosuchdialect://localhost/db")


def test_audio_is_written_whole_under_its_final_name(store):
    data = speech_for("Hello there.")
    relative = store.relative_path("story", "milo", "a", "abc", "wav")

    path = store.write(relative, data)

    assert path.read_bytes() == data
    assert [p.name for p in path.parent.iterdir()] == ["abc.wav"]
    assert store.holds(relative, len(data))


def test_a_file_of_the_wrong_size_or_not_audio_is_not_held(store):
    relative = store.relative_path("story", "milo", "a", "abc", "wav")
    store.write(relative, b"not audio at all")

    assert not store.holds(relative, 16)
    assert not store.holds(relative, 999)
    assert not store.holds("missing.wav", 16)


def test_story_ids_that_differ_only_in_odd_characters_get_different_directories(store):
    first = store.relative_path("my story?", "milo", "a", "h", "wav")
    second = store.relative_path("my story!", "milo", "a", "h", "wav")

    assert first != second
    assert "?" not in first and "!" not in second


def test_the_schema_has_the_unique_cache_key(cache):
    inspector = sa.inspect(cache.engine)
    keys = inspector.get_unique_constraints("audio_entry")

    assert [k["column_names"] for k in keys] == [
        ["story_id", "text_hash", "voice", "provider"]
    ]
