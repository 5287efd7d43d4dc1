"""The cache database and the audio directory, on a real SQLite file."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlmodel import SQLModel

from fakes import speech_for
from narrate.config import load_settings
from narrate.errors import ConfigError, StoreError
from narrate.store.cache import Cache, database_errors, migrate
from narrate.store.claims import ClaimKey, ClaimState, ClaimStore, worker_id
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


def test_sqlite_cache_runs_in_wal_mode(narrate_home):
    cache = Cache.open(f"sqlite:///{narrate_home / 'wal.db'}")
    with cache.engine.connect() as connection:
        mode = connection.exec_driver_sql("PRAGMA journal_mode").scalar()
    cache.close()

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


def claim(key: str = "h1") -> ClaimKey:
    return ClaimKey("story", key, "milo", "a")


def test_a_paragraph_can_be_claimed_by_one_worker_at_a_time(cache):
    mine, theirs = (
        ClaimStore(cache.engine, "here:1:a"),
        ClaimStore(cache.engine, "far:2:b"),
    )

    assert mine.acquire(claim()) is ClaimState.CLAIMED
    assert theirs.acquire(claim()) is ClaimState.HELD
    assert theirs.acquire(claim("h2")) is ClaimState.CLAIMED
    assert theirs.held([claim(), claim("h2")]) == {"h1"}


def test_a_released_claim_can_be_taken(cache):
    mine, theirs = (
        ClaimStore(cache.engine, "here:1:a"),
        ClaimStore(cache.engine, "far:2:b"),
    )
    mine.acquire(claim())

    mine.release(claim())

    assert theirs.acquire(claim()) is ClaimState.CLAIMED


def test_a_claim_past_its_lease_is_taken_over(cache):
    gone = ClaimStore(cache.engine, "far-away-host:1:a", lease=0.2)
    alive = ClaimStore(cache.engine, "here:2:b")
    gone.acquire(claim())

    time.sleep(0.3)

    assert alive.held([claim()]) == set()
    assert alive.acquire(claim()) is ClaimState.CLAIMED


def test_a_renewed_claim_outlives_its_first_lease(cache):
    slow = ClaimStore(cache.engine, "far-away-host:1:a", lease=0.3)
    other = ClaimStore(cache.engine, "here:2:b")
    slow.acquire(claim())

    time.sleep(0.2)
    slow.renew()
    time.sleep(0.2)

    assert other.acquire(claim()) is ClaimState.HELD


def test_a_claim_of_a_dead_process_on_this_host_is_taken_at_once(cache):
    finished = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
    )
    dead = ClaimStore(
        cache.engine, f"{socket.gethostname()}:{finished.stdout.strip()}:x"
    )
    dead.acquire(claim())

    assert ClaimStore(cache.engine, worker_id()).acquire(claim()) is ClaimState.CLAIMED


def test_a_claim_on_a_paragraph_finished_meanwhile_is_not_kept(cache):
    claims = ClaimStore(cache.engine, "here:1:a")

    state = claims.acquire(claim(), finished=lambda connection: True)

    assert state is ClaimState.DONE
    assert claims.held([claim()]) == set()
    assert ClaimStore(cache.engine, "far:2:b").acquire(claim()) is ClaimState.CLAIMED


def test_voices_that_differ_only_in_odd_characters_get_different_directories(store):
    first = store.relative_path("story", "ada lovelace", "a", "h", "wav")
    second = store.relative_path("story", "ada_lovelace", "a", "h", "wav")

    assert first != second
    assert store.relative_path("story", "milo", "a", "h", "wav").split("/")[2] == "milo"


def test_a_database_failure_mid_run_is_one_store_error(cache):
    with pytest.raises(StoreError, match="cache database .* failed"):  # noqa: SIM117
        with database_errors(cache.engine), cache.engine.connect() as connection:
            connection.exec_driver_sql("SELECT * FROM no_such_table")


@pytest.mark.parametrize(
    ("setting", "words"),
    [
        ("timeout = nan", "timeout"),
        ("claim_lease = 0.05", "claim_lease"),
        ("concurrency = 2.5", "concurrency"),
        ("timeout = 1e400", "timeout"),
    ],
)
def test_odd_numbers_in_the_config_file_are_refused(narrate_home, setting, words):
    narrate_home.mkdir(parents=True, exist_ok=True)
    (narrate_home / "config.toml").write_text(setting + "\n")

    with pytest.raises(ConfigError, match=words):
        load_settings({"NARRATE_HOME": str(narrate_home)})
