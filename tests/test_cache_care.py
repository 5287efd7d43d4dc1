"""`narrate cache verify` and `narrate cache prune` on real caches: entries made
by real espeak-ng narrations, on SQLite and PostgreSQL, with real audio files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from conftest import cli_env
from narrate.engine.care import prune_cache, verify_cache
from narrate.engine.results import StoryResult
from narrate.engine.run import BatchJob, run_batch
from narrate.store.audio_files import AudioStore
from narrate.store.cache import Cache
from narrate.store.care import CacheCare, Freed
from narrate.store.claims import ClaimKey, ClaimState, ClaimStore
from narrate.store.models import AudioEntry, ParagraphClaim

TALE = "\n\n".join(
    [
        "The keeper climbed the stair at dusk.",
        "All night the lamp turned over the sea.",
        "At dawn a ship came safely home.",
    ]
)


def run(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "narrate", *args],
        capture_output=True,
        text=True,
        env=cli_env(home),
        timeout=300,
    )


def narrate(home: Path, url: str, chain: list[str] | None = None) -> StoryResult:
    """Narrate TALE in-process, by the offline chain unless told otherwise."""
    path = home.parent / "tale.txt"
    path.write_text(TALE, encoding="utf-8")
    job = BatchJob(paths=[path], voice="milo", chain=chain, database_url=url)
    (result,) = run_batch(job)
    assert result.complete
    return result


def care(home: Path, url: str, *args: str) -> dict[str, Any]:
    """Run a `narrate cache` command with --json; its report."""
    result = run(home, "cache", *args, "--db", url, "--json")
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    report: dict[str, Any] = json.loads(result.stdout)
    return report


def entries(cache: Cache, provider: str | None = None) -> list[AudioEntry]:
    table = AudioEntry.__table__  # type: ignore[attr-defined]
    query = sa.select(table).order_by(table.c.provider, table.c.text_hash)
    if provider is not None:
        query = query.where(table.c.provider == provider)
    with cache.engine.connect() as connection:
        return [AudioEntry(**row) for row in connection.execute(query).mappings()]


def copy_entry(
    cache: Cache,
    store: AudioStore,
    like: AudioEntry,
    *,
    provider: str | None = None,
    story_id: str | None = None,
    age_days: float = 0,
) -> AudioEntry:
    """Record `like`'s audio again under another provider or story, `age_days`
    old, with a file of its own; or `like` itself, aged."""
    provider = provider or like.provider
    story_id = story_id or like.story_id
    path = store.relative_path(
        story_id, like.voice, provider, like.text_hash, like.format
    )
    if path != like.path:
        store.write(path, store.absolute(like.path).read_bytes())
    entry = AudioEntry(
        **{
            **like.model_dump(exclude={"id"}),
            "story_id": story_id,
            "provider": provider,
            "provider_voice": like.provider_voice
            if provider == like.provider
            else f"{provider}:{like.voice}",
            "path": path,
            "created_at": datetime.now(UTC) - timedelta(days=age_days),
        }
    )
    cache.record(entry)
    return entry


def statuses(story: StoryResult) -> list[str]:
    return [paragraph.status.value for paragraph in story.paragraphs]


def one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Error: ")
    return lines[0]


# verify


def test_verify_removes_an_entry_whose_file_is_missing(
    narrate_home, database_url, cache, store
):
    narrate(narrate_home, database_url)
    lost = entries(cache)[0]
    store.absolute(lost.path).unlink()

    report = verify_cache(database_url)

    assert (report.checked, report.fine, dict(report.removed)) == (3, 2, {"missing": 1})
    assert lost.id not in {entry.id for entry in entries(cache)}


def test_verify_removes_a_truncated_entry_and_its_file(
    narrate_home, database_url, cache, store
):
    narrate(narrate_home, database_url)
    cut = entries(cache)[1]
    path = store.absolute(cut.path)
    path.write_bytes(path.read_bytes()[: cut.size // 2])

    report = verify_cache(database_url)

    assert dict(report.removed) == {"wrong_size": 1}
    assert cut.id not in {entry.id for entry in entries(cache)}
    assert not path.exists()


def test_verify_removes_a_file_of_the_right_size_that_is_not_audio(
    narrate_home, database_url, cache, store
):
    narrate(narrate_home, database_url)
    garbled = entries(cache)[2]
    path = store.absolute(garbled.path)
    path.write_bytes(b"\x00garbage" * (garbled.size // 8) + b"x" * (garbled.size % 8))
    assert path.stat().st_size == garbled.size

    report = verify_cache(database_url)

    assert dict(report.removed) == {"not_audio": 1}
    assert garbled.id not in {entry.id for entry in entries(cache)}
    assert not path.exists()


def test_verify_removes_an_entry_whose_file_is_now_a_directory(
    narrate_home, database_url, cache, store
):
    narrate(narrate_home, database_url)
    squatted = entries(cache)[0]
    path = store.absolute(squatted.path)
    path.unlink()
    path.mkdir()

    report = verify_cache(database_url)

    assert (report.checked, dict(report.removed)) == (3, {"wrong_size": 1})
    assert squatted.id not in {entry.id for entry in entries(cache)}
    assert path.is_dir()


def test_verify_leaves_good_entries_for_the_next_run_to_use(
    narrate_home, database_url, cache, store
):
    narrate(narrate_home, database_url)
    good = [entry.model_dump() for entry in entries(cache)[1:]]
    store.absolute(entries(cache)[0].path).unlink()

    care(narrate_home, database_url, "verify")
    kept = [entry.model_dump() for entry in entries(cache)]
    again = narrate(narrate_home, database_url)

    assert kept == good
    assert sorted(statuses(again)) == ["cached", "cached", "new"]
    assert verify_cache(database_url).fine == 3


def test_verify_reads_a_cache_larger_than_one_batch(
    narrate_home, database_url, cache, store
):
    narrate(narrate_home, database_url)
    first = entries(cache)[0]
    for n in range(5):
        copy_entry(cache, store, first, story_id=f"copy{n}")
    store.absolute(entries(cache)[-1].path).unlink()

    report = CacheCare(cache.engine, store, batch_size=2).verify()

    assert (report.checked, report.fine, report.removed["missing"]) == (8, 7, 1)
    assert len(entries(cache)) == 7


def test_verify_json_counts_entries_by_outcome_and_reason(
    narrate_home, database_url, cache
):
    narrate(narrate_home, database_url)

    report = care(narrate_home, database_url, "verify")

    assert report == {
        "checked": 3,
        "fine": 3,
        "removed": 0,
        "reasons": {"missing": 0, "wrong_size": 0, "not_audio": 0},
        "busy": 0,
        "leftover_files_removed": 0,
    }


def test_verify_removes_old_temporary_files_of_killed_runs_only(
    narrate_home, database_url, store
):
    (entry,) = narrate(narrate_home, database_url).paragraphs[:1]
    assert entry.audio is not None
    folder = entry.audio.parent
    stale, fresh = folder / ".a.wav.41.aa.part", folder / ".b.wav.42.bb.part"
    for part in (stale, fresh):
        part.write_bytes(b"RIFF half a file")
    two_hours_ago = time.time() - 7200
    os.utime(stale, (two_hours_ago, two_hours_ago))

    report = care(narrate_home, database_url, "verify")

    assert report["leftover_files_removed"] == 1
    assert (stale.exists(), fresh.exists()) == (False, True), "fresh: maybe writing"
    assert report["fine"] == report["checked"] == 3


def test_verify_table_counts_entries_checked_and_removed(
    narrate_home, database_url, cache, store
):
    narrate(narrate_home, database_url)
    store.absolute(entries(cache)[0].path).unlink()

    result = run(narrate_home, "cache", "verify", "--db", database_url)

    assert result.returncode == 0, result.stderr
    assert "checked" in result.stdout and "removed: file missing" in result.stdout


def test_verify_quiet_prints_nothing(narrate_home, database_url):
    narrate(narrate_home, database_url)

    result = run(narrate_home, "cache", "verify", "--db", database_url, "--quiet")

    assert result.returncode == 0
    assert result.stdout == result.stderr == ""


def test_verify_with_a_bad_database_url_is_one_error_line_and_exit_4(narrate_home):
    result = run(narrate_home, "cache", "verify", "--db", "nonsense")

    assert result.returncode == 4
    assert "database URL" in one_error_line(result)


@pytest.mark.parametrize("command", [["verify"], ["prune", "--older-than", "30"]])
def test_cache_care_with_a_broken_config_file_is_one_error_line_and_exit_4(
    narrate_home, command
):
    narrate_home.mkdir(parents=True, exist_ok=True)
    (narrate_home / "config.toml").write_text("[providers.edge]\nmonthly_chars = -5\n")

    result = run(narrate_home, "cache", *command)

    assert result.returncode == 4
    assert "monthly_chars" in one_error_line(result)


# prune


def test_prune_removes_old_entries_of_providers_the_story_does_not_prefer(
    narrate_home, database_url, cache, store
):
    narrate(narrate_home, database_url)
    old = [
        copy_entry(cache, store, entry, provider="deepgram", age_days=40)
        for entry in entries(cache, "espeak")
    ]

    report = prune_cache(30, database_url)

    assert report.providers == {"deepgram": Freed(3, sum(e.size for e in old))}
    assert entries(cache, "deepgram") == []
    assert not any(store.absolute(entry.path).exists() for entry in old)


def test_prune_keeps_the_preferred_providers_entries_however_old(
    narrate_home, database_url, cache, store
):
    narrate(narrate_home, database_url)
    for entry in entries(cache, "espeak"):
        copy_entry(cache, store, entry, age_days=400)

    report = prune_cache(30, database_url)

    assert report.providers == {}
    assert len(entries(cache, "espeak")) == 3
    assert statuses(narrate(narrate_home, database_url)) == ["cached"] * 3


def test_prune_keeps_the_audio_a_degraded_story_is_heard_in(
    narrate_home, database_url, cache, store
):
    story = narrate(narrate_home, database_url, chain=["edge", "espeak"])
    assert (story.preferred_provider, story.used_provider) == ("edge", "espeak")
    for entry in entries(cache, "espeak"):
        copy_entry(cache, store, entry, age_days=40)
        copy_entry(cache, store, entry, provider="edge", age_days=40)
        copy_entry(cache, store, entry, provider="deepgram", age_days=40)

    report = prune_cache(30, database_url)

    assert set(report.providers) == {"deepgram"}
    assert len(entries(cache, "espeak")) == len(entries(cache, "edge")) == 3
    assert all(store.holds(e.path, e.size) for e in entries(cache, "espeak"))


def test_prune_keeps_entries_younger_than_the_given_days(
    narrate_home, database_url, cache, store
):
    narrate(narrate_home, database_url)
    for entry in entries(cache, "espeak"):
        copy_entry(cache, store, entry, provider="deepgram", age_days=10)

    report = prune_cache(30, database_url)

    assert report.providers == {}
    assert len(entries(cache, "deepgram")) == 3


def test_prune_keeps_entries_of_a_story_without_a_story_row(
    narrate_home, database_url, cache, store
):
    narrate(narrate_home, database_url)
    for entry in entries(cache, "espeak"):
        copy_entry(
            cache, store, entry, story_id="unknown", provider="edge", age_days=99
        )

    report = prune_cache(0, database_url)

    assert report.providers == {}
    kept = entries(cache, "edge")
    assert len(kept) == 3 and all(store.holds(e.path, e.size) for e in kept)


def test_prune_json_reports_entries_and_bytes_per_provider(
    narrate_home, database_url, cache, store
):
    narrate(narrate_home, database_url)
    espeak = entries(cache, "espeak")
    for entry in espeak:
        copy_entry(cache, store, entry, provider="deepgram", age_days=8)
    copy_entry(cache, store, espeak[0], provider="elevenlabs", age_days=8)

    report = care(narrate_home, database_url, "prune", "--older-than", "7")

    assert set(report) == {"cutoff", "removed", "bytes", "providers", "busy"}
    assert report["providers"] == {
        "deepgram": {"entries": 3, "bytes": sum(e.size for e in espeak)},
        "elevenlabs": {"entries": 1, "bytes": espeak[0].size},
    }
    assert (report["removed"], report["busy"]) == (4, 0)
    assert report["bytes"] == sum(e.size for e in espeak) + espeak[0].size
    cutoff = datetime.fromisoformat(report["cutoff"])
    assert abs(cutoff - (datetime.now(UTC) - timedelta(days=7))) < timedelta(minutes=5)


def test_prune_table_names_each_provider_and_the_total(
    narrate_home, database_url, cache, store
):
    narrate(narrate_home, database_url)
    copy_entry(cache, store, entries(cache)[0], provider="deepgram", age_days=2)

    result = run(
        narrate_home, "cache", "prune", "--older-than", "1", "--db", database_url
    )

    assert result.returncode == 0, result.stderr
    assert "deepgram" in result.stdout and "total" in result.stdout


def test_prune_with_negative_days_is_a_usage_error(narrate_home):
    result = run(narrate_home, "cache", "prune", "--older-than", "-1")

    assert result.returncode == 2
    assert "--older-than" in one_error_line(result)
    assert result.stdout == ""


# removing safely while others narrate


def test_a_row_replaced_by_a_fresh_narration_is_not_removed(
    narrate_home, database_url, cache, store
):
    narrate(narrate_home, database_url)
    judged = entries(cache)[0]
    copy_entry(cache, store, judged)  # a worker records it afresh meanwhile

    removed = CacheCare(cache.engine, store).remove([judged])

    assert removed == []
    (now,) = [e for e in entries(cache) if e.text_hash == judged.text_hash]
    assert now.id == judged.id and now.created_at != judged.created_at
    assert store.holds(now.path, now.size)


def test_an_entry_another_worker_has_claimed_is_left_to_it(
    narrate_home, database_url, cache, store
):
    narrate(narrate_home, database_url)
    broken = entries(cache)[0]
    store.absolute(broken.path).unlink()
    key = ClaimKey(broken.story_id, broken.text_hash, broken.voice, broken.provider)
    assert ClaimStore(cache.engine, "elsewhere:1:a").acquire(key) is ClaimState.CLAIMED

    report = CacheCare(cache.engine, store).verify()

    assert (report.checked, report.fine, report.busy) == (3, 2, 1)
    assert broken.id in {entry.id for entry in entries(cache)}


def test_care_gives_up_every_claim_it_took(narrate_home, database_url, cache, store):
    narrate(narrate_home, database_url)
    store.absolute(entries(cache)[0].path).unlink()
    for entry in entries(cache)[1:]:
        copy_entry(cache, store, entry, provider="deepgram", age_days=9)

    verify_cache(database_url)
    prune_cache(1, database_url)

    with cache.engine.connect() as connection:
        claims = connection.execute(sa.select(ParagraphClaim.__table__)).all()
    assert claims == []
