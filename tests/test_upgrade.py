"""`narrate upgrade`: degraded stories brought back to the preferred voice.

narrate runs as a subprocess against the stand-ins, with the story table and
the breakers in the test's SQLite cache, as for a cron job.
"""

from __future__ import annotations

import json
from typing import Any

from e2e import SIX, Providers, texts
from standins import audio, error

OTHER = "\n\n".join(f"Another story, part {n}, goes its own way." for n in range(1, 5))


def degrade(providers: Providers, text: str = SIX, name: str = "tale.txt") -> None:
    """Narrate the story while ElevenLabs answers the first two paragraphs only."""
    providers.eleven.script.sequence(audio(), audio(), error(500))
    story = providers.json(providers.story(text, name), "--concurrency", "1")
    assert (story["used_provider"], story["status"]) == ("deepgram", "degraded")
    providers.eleven.script = type(providers.eleven.script)(audio())
    providers.eleven.clear_requests()
    providers.deepgram.clear_requests()


def upgrade(providers: Providers, *args: str) -> tuple[list[dict[str, Any]], Any]:
    result = providers.narrate("upgrade", "--json", *args)
    return [json.loads(line) for line in result.stdout.splitlines()], result


def statuses(providers: Providers, *args: str) -> dict[str, dict[str, Any]]:
    result = providers.narrate("status", "--json", *args)
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    return {row["story_id"]: row for row in rows}


def test_a_degraded_story_is_listed_then_upgraded_with_only_the_missing_paragraphs(
    providers,
):
    degrade(providers)
    assert statuses(providers, "--degraded")["tale"]["used_provider"] == "deepgram"

    (row,), result = upgrade(providers)

    assert result.returncode == 0, result.stderr
    assert (row["outcome"], row["status"], row["used_provider"]) == (
        "upgraded",
        "complete",
        "elevenlabs",
    )
    assert (row["generated"], row["cached"]) == (4, 2)
    sent = texts(providers.eleven)
    assert sorted(sent) == [
        f"Paragraph {n} tells a short part of the tale." for n in (3, 4, 5, 6)
    ]
    assert providers.deepgram.speech_requests == []
    assert statuses(providers, "--degraded") == {}
    assert statuses(providers)["tale"]["used_provider"] == "elevenlabs"


def test_after_an_upgrade_a_batch_rerun_is_all_cached_in_the_preferred_voice(
    providers,
):
    degrade(providers)
    upgrade(providers)
    providers.eleven.clear_requests()

    story = providers.json(providers.story(SIX))

    assert (story["used_provider"], story["status"]) == ("elevenlabs", "complete")
    assert {p["status"] for p in story["paragraphs"]} == {"cached"}
    assert providers.eleven.speech_requests == []


def test_an_open_breaker_gets_one_probe_and_the_story_stays_degraded(providers):
    degrade(providers)
    providers.eleven.script.always(error(500))

    (row,), result = upgrade(providers)

    assert result.returncode == 5, "still not in the preferred voice"
    assert row["outcome"] == "not_upgraded"
    assert (row["status"], row["used_provider"]) == ("degraded", "deepgram")
    assert len(providers.eleven.speech_requests) == 1, "one early probe, no retries"
    assert statuses(providers)["tale"]["used_provider"] == "deepgram"


def test_one_probe_per_pass_however_many_stories_wait(providers):
    degrade(providers)
    degrade(providers, OTHER, "other.txt")
    providers.eleven.script.always(error(500))

    rows, result = upgrade(providers)

    assert [row["outcome"] for row in rows] == ["not_upgraded"] * 2
    assert len(providers.eleven.speech_requests) == 1


def test_the_early_probe_ignores_the_cool_down_and_closes_the_breaker(providers):
    degrade(providers)

    upgrade(providers)

    health = providers.narrate("providers", "--json")
    eleven = next(p for p in json.loads(health.stdout) if p["provider"] == "elevenlabs")
    assert eleven["breaker"] == "closed"


def test_two_upgrades_started_together_narrate_each_story_once(providers):
    degrade(providers)
    degrade(providers, OTHER, "other.txt")

    runs = [providers.start("upgrade", "--json") for _ in range(2)]
    results = [run.communicate_all() for run in runs]

    rows = [json.loads(line) for r in results for line in r.stdout.splitlines()]
    upgraded = sorted(row["story_id"] for row in rows if row["outcome"] == "upgraded")
    assert upgraded == ["other", "tale"], rows
    others = {row["outcome"] for row in rows if row["outcome"] != "upgraded"}
    assert others <= {"busy", "done"}, [
        (r["outcome"], r["message"], r["reason"]) for r in rows
    ]
    sent = texts(providers.eleven)
    # The breaker was open when `other` was narrated: ElevenLabs has none of it.
    assert len(sent) == len(set(sent)) == 4 + 4, "each missing paragraph paid once"
    assert all(r.returncode == 0 for r in results), [r.stderr for r in results]


def test_an_incomplete_story_is_completed_by_the_preferred_provider(providers):
    for standin in (providers.eleven, providers.deepgram):
        standin.script.always(error(500))
    story = providers.json(providers.story(SIX), "--chain", "elevenlabs,deepgram")
    assert story["status"] == "incomplete"
    providers.eleven.script.always(audio())

    (row,), result = upgrade(providers)

    assert (row["was_status"], row["outcome"], row["status"]) == (
        "incomplete",
        "upgraded",
        "complete",
    )
    assert result.returncode == 0


def test_nothing_to_upgrade_says_so_and_exits_0(providers):
    result = providers.narrate("upgrade")

    assert result.returncode == 0
    assert "No degraded or incomplete stories" in result.stdout


def test_a_dry_run_with_nothing_to_upgrade_says_so_and_exits_0(providers):
    result = providers.narrate("upgrade", "--dry-run")

    assert result.returncode == 0
    assert result.stdout.strip().endswith("No degraded or incomplete stories.")


def test_an_upgrade_dry_run_warns_of_a_guessed_encoding_as_batch_does(providers):
    path = providers.home.parent / "guessed.txt"
    path.write_bytes(SIX.replace("short", "naïve").encode("cp1252"))
    providers.eleven.script.sequence(audio(), audio(), error(500))
    providers.json(path, "--concurrency", "1")

    result = providers.narrate("upgrade", "--dry-run")

    assert result.returncode == 0
    assert "Warning:" in result.stderr and "1252" in result.stderr


def test_quiet_prints_nothing_when_all_goes_well(providers):
    degrade(providers)

    result = providers.narrate("upgrade", "--quiet")

    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


def test_a_story_whose_source_is_gone_is_one_error_and_the_others_go_on(providers):
    degrade(providers)
    degrade(providers, OTHER, "other.txt")
    (providers.home.parent / "other.txt").unlink()

    rows, result = upgrade(providers)

    assert result.returncode == 4
    outcomes = {row["story_id"]: row["outcome"] for row in rows}
    assert outcomes == {"tale": "upgraded", "other": "error"}
    (line,) = result.stderr.splitlines()
    assert line.startswith("Error: other:") and "other.txt" in line


def test_limit_takes_the_longest_waiting_story_first(providers):
    degrade(providers)
    degrade(providers, OTHER, "other.txt")

    (row,), _ = upgrade(providers, "--limit", "1")

    assert (row["story_id"], row["outcome"]) == ("tale", "upgraded")
    assert list(statuses(providers, "--degraded")) == ["other"]


def test_a_story_that_cannot_be_upgraded_goes_to_the_back_of_the_line(providers):
    degrade(providers)
    degrade(providers, OTHER, "other.txt")
    (providers.home.parent / "tale.txt").unlink()

    first, _ = upgrade(providers, "--limit", "1")
    second, _ = upgrade(providers, "--limit", "1")

    assert [(r["story_id"], r["outcome"]) for r in first + second] == [
        ("tale", "error"),
        ("other", "upgraded"),
    ]
    assert statuses(providers)["tale"]["upgrade_tried_at"] is not None


def test_a_preferred_provider_without_a_key_is_an_error(providers):
    degrade(providers)

    result = providers.narrate("upgrade", "--json", ELEVENLABS_API_KEY="")

    assert result.returncode == 4
    (row,) = map(json.loads, result.stdout.splitlines())
    assert row["outcome"] == "error"
    assert "ELEVENLABS_API_KEY" in result.stderr
    assert providers.eleven.speech_requests == []


def test_a_broken_config_file_is_one_error_and_leaves_the_stories_waiting(
    providers,
):
    degrade(providers)
    degrade(providers, OTHER, "other.txt")
    config = providers.home / "config.toml"
    good = config.read_text()
    broken = "[providers.edge]\nmonthly_chars = -5"
    config.write_text(good.replace("[providers.edge]", broken))

    rows, result = upgrade(providers)

    assert (result.returncode, rows) == (4, [])
    (line,) = result.stderr.splitlines()
    assert "monthly_chars" in line
    config.write_text(good)  # status refuses the broken file too
    waiting = statuses(providers, "--degraded")
    assert [waiting[s]["upgrade_tried_at"] for s in ("tale", "other")] == [None] * 2


def test_a_broken_config_file_is_an_error_with_nothing_to_upgrade(providers):
    (providers.home / "config.toml").write_text("[providers.edge]\ncooldown = -1\n")

    result = providers.narrate("upgrade")

    assert result.returncode == 4
    assert "cooldown" in result.stderr


def test_an_upgrade_over_its_max_chars_is_skipped_with_reason_budget(providers):
    degrade(providers)

    (row,), result = upgrade(providers, "--max-chars", "10")

    assert (row["outcome"], row["reason"]) == ("not_upgraded", "budget")
    assert providers.eleven.speech_requests == []
    assert result.returncode == 5


def test_a_person_reads_one_line_per_story(providers):
    degrade(providers)

    result = providers.narrate("upgrade")

    assert (
        result.stdout.strip() == "tale (milo): upgraded to elevenlabs (4 new, 2 cached)"
    )


def test_the_story_id_stays_readable_in_a_narrow_terminal(providers):
    degrade(providers)

    result = providers.narrate("status", COLUMNS="80")

    assert "tale " in result.stdout


def test_an_upgrade_dry_run_sends_nothing_and_counts_what_the_pass_sends(providers):
    degrade(providers)

    planned, result = upgrade(providers, "--dry-run")

    assert result.returncode == 0, result.stderr
    (plan,) = planned
    (eleven,) = plan["providers"]
    assert (eleven["provider"], eleven["cached"], eleven["to_send"]) == (
        "elevenlabs",
        2,
        4,
    )
    assert (eleven["skip"], eleven["lands"]) == (None, True), "an early probe"
    assert providers.eleven.requests == []
    assert list(statuses(providers, "--degraded")) == ["tale"]
    upgrade(providers)
    assert eleven["chars"] == sum(len(text) for text in texts(providers.eleven))


def test_under_max_chars_the_longest_waiting_stories_are_upgraded_first(providers):
    names = ["first", "second", "third", "fourth"]
    for name in names:
        degrade(providers, SIX.replace("tale", f"{name} tale"), f"{name}.txt")
    whole, _ = upgrade(providers, "--dry-run")
    limit = str(sum(plan["providers"][0]["chars"] for plan in whole[:2]) + 5)

    planned, _ = upgrade(providers, "--dry-run", "--max-chars", limit)
    rows, _ = upgrade(providers, "--max-chars", limit)

    lands = [p["story_id"] for p in planned if p["providers"][0]["lands"]]
    upgraded = [r["story_id"] for r in rows if r["outcome"] == "upgraded"]
    assert lands == upgraded == ["first", "second"]


def test_an_upgrade_reads_the_story_in_the_encoding_batch_was_given(providers):
    path = providers.home.parent / "wide.txt"
    path.write_bytes(SIX.replace("short", "naïve").encode("utf-16-le"))
    providers.eleven.script.sequence(audio(), audio(), error(500))
    story = providers.json(path, "--concurrency", "1", "--encoding", "utf-16-le")
    assert (story["used_provider"], story["status"]) == ("deepgram", "degraded")
    providers.eleven.script = type(providers.eleven.script)(audio())
    providers.eleven.clear_requests()

    (row,), result = upgrade(providers)

    assert result.returncode == 0, result.stderr
    assert (row["outcome"], row["generated"], row["cached"]) == ("upgraded", 4, 2)
    assert "Paragraph 3 tells a naïve part of the tale." in texts(providers.eleven)
    assert statuses(providers)["wide"]["encoding"] == "utf-16-le"


def test_a_source_no_longer_in_its_batch_encoding_is_refused_not_sent_as_gibberish(
    providers,
):
    path = providers.home.parent / "wide.txt"
    path.write_bytes(SIX.encode("utf-16-le"))
    providers.eleven.script.sequence(audio(), audio(), error(500))
    providers.json(path, "--concurrency", "1", "--encoding", "utf-16-le")
    providers.eleven.script = type(providers.eleven.script)(audio())
    providers.eleven.clear_requests()
    path.write_bytes(SIX.encode("utf-8"))  # saved again as UTF-8

    (row,), result = upgrade(providers)

    assert (result.returncode, row["outcome"]) == (4, "error")
    assert "shares no paragraph" in result.stderr and "utf-16-le" in result.stderr
    assert providers.eleven.speech_requests == []
    assert statuses(providers)["wide"]["status"] == "degraded"


def test_an_edited_story_is_upgraded_with_its_changed_paragraphs(providers):
    degrade(providers)
    path = providers.home.parent / "tale.txt"
    path.write_text(SIX.replace("Paragraph 5", "Paragraph five"), encoding="utf-8")

    (row,), result = upgrade(providers)

    assert (result.returncode, row["outcome"]) == (0, "upgraded")
    assert "Paragraph five tells a short part of the tale." in texts(providers.eleven)


def test_an_upgrade_dry_run_names_the_story_it_cannot_plan_as_a_pass_does(providers):
    degrade(providers)
    (providers.home.parent / "tale.txt").unlink()

    planned, result = upgrade(providers, "--dry-run")
    rows, real = upgrade(providers)

    assert result.returncode == real.returncode == 4
    assert result.stderr.startswith("Error: tale: ")
    assert result.stderr == real.stderr
