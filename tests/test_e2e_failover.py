"""Failover that is fast and honest: breakers, fail-fast, health across runs.

`narrate batch` runs as a subprocess against the local stand-ins; the
breakers live in the test's SQLite cache, as they would for a cron job.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import cli_env
from e2e import DG_KEY, EL_KEY, SIX, Providers, attempt, cooldown, texts, used
from standins import audio, elevenlabs_error, error, hang, reset

SIXTY = "\n\n".join(f"Paragraph {n} of a long and patient story." for n in range(60))


def narrate_providers(providers: Providers) -> list[dict[str, object]]:
    result = subprocess.run(
        [sys.executable, "-m", "narrate", "providers", "--json"],
        capture_output=True,
        text=True,
        env=cli_env(providers.home, ELEVENLABS_API_KEY="k"),
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_500s_mid_story_open_the_breaker_and_deepgram_finishes(providers):
    providers.eleven.script.sequence(audio(), audio(), audio(), error(500))

    story = providers.json(SIXTY)

    assert used(story) == ("deepgram", "elevenlabs", True, 0)
    assert story["degraded"] is True
    assert len(texts(providers.eleven)) < 15, "no paragraph after the breaker opened"
    health = {p["provider"]: p for p in narrate_providers(providers)}
    assert health["elevenlabs"]["breaker"] == "open"
    assert health["elevenlabs"]["last_reason"] == "internal_server_error"
    assert health["deepgram"]["breaker"] == "closed"


def test_connection_resets_mid_story_move_the_story_on(providers):
    providers.eleven.script.sequence(audio(), audio(), reset())

    story = providers.json(SIX)

    assert used(story) == ("deepgram", "elevenlabs", True, 0)
    assert attempt(story, "elevenlabs")["reason"] in {
        "network",
        "incomplete",
        "connect",
    }


def test_a_hang_costs_about_one_deadline_whatever_the_story_length(providers):
    providers.eleven.script.always(hang())
    started = time.monotonic()

    story = providers.json(SIXTY, "--timeout", "2")

    elapsed = time.monotonic() - started
    assert used(story) == ("deepgram", "elevenlabs", True, 0)
    assert attempt(story, "elevenlabs")["reason"] == "timeout"
    assert len(texts(providers.eleven)) <= 3, "only the first window of requests"
    assert elapsed < 2 * 2 + 5, "one deadline, not one per paragraph or retry"


def test_a_quota_error_opens_the_breaker_at_once(providers):
    quota = elevenlabs_error(401, "quota_exceeded", "Credits used up")
    providers.eleven.script.sequence(audio(), quota)

    story = providers.json(SIX, "--concurrency", "1")

    assert used(story) == ("deepgram", "elevenlabs", True, 0)
    assert len(texts(providers.eleven)) == 2
    assert narrate_providers(providers)[0]["breaker"] == "open"


def test_a_quota_error_in_one_story_stops_the_other_stories_of_the_run(
    providers, tmp_path
):
    quota = elevenlabs_error(401, "quota_exceeded", "Credits used up")
    providers.eleven.script.always(quota)
    folder = tmp_path / "stories"
    folder.mkdir()
    for number in range(6):
        text = SIX.replace("tale", f"tale number {number}")
        (folder / f"story{number}.txt").write_text(text)

    result = providers.run(folder, "--json", "--concurrency", "2")

    stories = [json.loads(line) for line in result.stdout.splitlines()]
    assert [s["used_provider"] for s in stories] == ["deepgram"] * 6
    assert len(texts(providers.eleven)) <= 2, "one window of requests in all"


def test_500s_across_stories_open_the_breaker_for_all_of_them(providers, tmp_path):
    providers.eleven.script.always(error(500))
    folder = tmp_path / "stories"
    folder.mkdir()
    for number in range(6):
        text = SIXTY.replace("story", f"story number {number}")
        (folder / f"story{number}.txt").write_text(text)

    result = providers.run(folder, "--json", "--concurrency", "4")

    stories = [json.loads(line) for line in result.stdout.splitlines()]
    assert [s["used_provider"] for s in stories] == ["deepgram"] * 6
    # One window of 4, and a retry that may leave before the third failure is in.
    assert len(texts(providers.eleven)) <= 5, "no other story's request after that"


def test_a_rerun_while_the_breaker_is_open_skips_the_provider_without_a_request(
    providers,
):
    providers.eleven.script.always(error(500))
    providers.json(SIX)
    providers.eleven.clear_requests()
    providers.deepgram.clear_requests()

    story = providers.json(SIX)

    assert providers.eleven.requests == []
    assert used(story) == ("deepgram", "elevenlabs", True, 0)
    assert story["degraded"] is True
    skipped = attempt(story, "elevenlabs")
    assert (skipped["outcome"], skipped["reason"]) == ("skipped", "breaker_open")
    assert providers.deepgram.speech_requests == [], "deepgram's cache is reused"
    assert {p["status"] for p in story["paragraphs"]} == {"cached"}


def test_after_the_cool_down_one_probe_brings_the_story_back(providers):
    cooldown(providers, 1)
    providers.eleven.script.always(error(500))
    providers.json(SIX)
    providers.eleven.script.always(audio())
    providers.eleven.clear_requests()
    time.sleep(1.2)

    story = providers.json(SIX)

    assert used(story) == ("elevenlabs", "elevenlabs", True, 0)
    assert story["degraded"] is False
    assert len(providers.eleven.speech_requests) == 6
    assert narrate_providers(providers)[0]["breaker"] == "closed"


def test_a_failed_probe_opens_the_breaker_again_after_one_request(providers):
    cooldown(providers, 1)
    providers.eleven.script.always(error(500))
    providers.json(SIX)
    providers.eleven.clear_requests()
    time.sleep(1.2)

    story = providers.json(SIX)

    assert len(providers.eleven.speech_requests) == 1, "one probe, no retries"
    assert used(story) == ("deepgram", "elevenlabs", True, 0)
    assert narrate_providers(providers)[0]["breaker"] == "open"


def test_every_provider_failing_reports_the_most_complete_and_exits_3(providers):
    providers.eleven.script.sequence(audio(), error(500))
    providers.deepgram.script.sequence(audio(), audio(), audio(), error(503))
    providers.edge.script.always(error(503))

    story = providers.json(
        SIX, "--chain", "elevenlabs,deepgram,edge", "--concurrency", "1"
    )

    assert story["exit"] == 3 and story["complete"] is False
    assert story["used_provider"] == "deepgram"
    assert [a["outcome"] for a in story["attempts"]] == ["failed"] * 3
    assert story["missing"] == [4, 5, 6]


def test_used_differs_from_preferred_only_after_a_failover(providers):
    healthy = providers.json(SIX)
    providers.eleven.script.always(error(500))

    failed_over = providers.json(SIX.replace("Paragraph 1", "Paragraph one"))

    assert (healthy["used_provider"], healthy["degraded"]) == ("elevenlabs", False)
    assert (failed_over["used_provider"], failed_over["degraded"]) == ("deepgram", True)
    assert failed_over["preferred_provider"] == "elevenlabs"


def test_require_preferred_exits_5_when_the_story_is_degraded(providers):
    providers.eleven.script.always(error(500))

    result = providers.run(SIX, "--require-preferred", "--quiet")

    assert result.returncode == 5
    assert "NOT the preferred elevenlabs" in result.stderr


def test_summary_says_why_the_story_moved_on(providers):
    quota = elevenlabs_error(401, "quota_exceeded", "Credits used up")
    providers.eleven.script.sequence(audio(), audio(), quota)

    result = providers.run(SIX, "--concurrency", "1")

    last = result.stdout.strip().splitlines()[-1]
    assert "used deepgram, NOT the preferred elevenlabs" in last
    assert "elevenlabs: quota_exceeded after 2 of 6 paragraphs" in last


def test_provider_health_is_shared_through_the_database(providers, tmp_path):
    providers.eleven.script.always(error(500))
    providers.json(SIX)
    other_story = providers.story(
        "A different tale.\n\nWith two paragraphs.", "other.txt"
    )
    providers.eleven.clear_requests()

    story = providers.json(Path(other_story))

    assert providers.eleven.requests == []
    assert attempt(story, "elevenlabs")["outcome"] == "skipped"


@pytest.mark.parametrize("status", [401, 403])
def test_a_provider_out_error_is_named_in_narrate_providers(providers, status):
    providers.eleven.script.always(elevenlabs_error(status, "invalid_api_key", "bad"))

    providers.json(SIX)

    health = narrate_providers(providers)[0]
    assert (health["breaker"], health["last_reason"]) == ("open", "invalid_api_key")
    assert health["retry_at"] is not None


def test_a_story_narrated_while_elevenlabs_fails_is_listed_as_degraded(providers):
    providers.eleven.script.always(error(500))
    providers.json(SIX)

    result = subprocess.run(
        [sys.executable, "-m", "narrate", "status", "--degraded", "--json"],
        capture_output=True,
        text=True,
        env=cli_env(providers.home),
        timeout=60,
    )

    (row,) = map(json.loads, result.stdout.splitlines())
    assert (row["story_id"], row["status"]) == ("tale", "degraded")
    assert (row["used_provider"], row["preferred_provider"]) == (
        "deepgram",
        "elevenlabs",
    )


def test_workers_starting_after_the_cool_down_follow_one_probe(providers):
    cooldown(providers, 1)
    providers.eleven.script.always(error(500))
    providers.json(SIX)
    providers.eleven.script.always(audio())
    providers.eleven.clear_requests()
    providers.deepgram.clear_requests()
    time.sleep(1.2)
    story = providers.story(SIX)
    env = {
        "ELEVENLABS_API_KEY": EL_KEY,
        "DEEPGRAM_API_KEY": DG_KEY,
        "NARRATE_ELEVENLABS_URL": providers.eleven.url,
        "NARRATE_DEEPGRAM_URL": providers.deepgram.url,
        "NARRATE_CHAIN": "elevenlabs,deepgram",
    }

    workers = [
        subprocess.Popen(
            [sys.executable, "-m", "narrate", "batch", str(story), "--json"],
            stdout=subprocess.PIPE,
            text=True,
            env=cli_env(providers.home, **env),
        )
        for _ in range(3)
    ]
    stories = [json.loads(worker.communicate(timeout=120)[0]) for worker in workers]

    assert [s["used_provider"] for s in stories] == ["elevenlabs"] * 3
    assert not any(s["degraded"] for s in stories)
    assert len(providers.eleven.speech_requests) == 6, "each paragraph paid once"
    assert providers.deepgram.speech_requests == []
