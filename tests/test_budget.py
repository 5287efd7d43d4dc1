"""Spending: `--dry-run`, `--max-chars` and monthly budgets, against the stand-ins.

What a provider is sent is read off the stand-in's records, so the counts
narrate reports are checked against what really went over the wire.
"""

from __future__ import annotations

import asyncio
import json
import threading
from typing import Any

from e2e import FAST_RETRIES, SIX, Providers, attempt, texts
from fakes import FakeProvider
from narrate.engine.budget import Budget
from narrate.store.usage import UsageStore, this_month
from standins import audio, error

SENTENCE = "The keeper climbed the stair and trimmed the lamp before the storm. "
# Six short paragraphs, one said twice, and one long enough to be chunked.
STORY = "\n\n".join([SIX, "Paragraph 2 tells a short part of the tale.", SENTENCE * 70])


def plan(providers: Providers, *args: str, **env: str) -> dict[str, Any]:
    result = providers.run(providers.story(STORY), "--dry-run", "--json", *args, **env)
    assert result.returncode == 0, result.stderr
    (line,) = result.stdout.splitlines()
    story = json.loads(line)
    return {p["provider"]: p for p in story["providers"]}


def sent_chars(standin: Any) -> int:
    return sum(len(text) for text in texts(standin))


def budget(providers: Providers, **monthly: int) -> None:
    """Give providers monthly budgets in the test's config."""
    config = FAST_RETRIES
    for name, chars in monthly.items():
        config = config.replace(
            f"[providers.{name}]", f"[providers.{name}]\nmonthly_chars = {chars}"
        )
    (providers.home / "config.toml").write_text(config)


def test_a_dry_run_sends_nothing_and_counts_what_a_real_run_sends(providers):
    planned = plan(providers)

    assert providers.eleven.requests == []
    assert providers.deepgram.requests == []
    assert providers.edge.requests == []
    story = providers.json(providers.story(STORY))
    assert story["used_provider"] == "elevenlabs"
    eleven = planned["elevenlabs"]
    assert (eleven["cached"], eleven["to_send"], eleven["lands"]) == (0, 7, True)
    assert eleven["chars"] == sent_chars(providers.eleven)


def test_a_dry_run_counts_the_chunks_a_smaller_limit_makes(providers):
    planned = plan(providers, "--chain", "deepgram,espeak")
    story = providers.json(providers.story(STORY), "--chain", "deepgram,espeak")

    assert story["used_provider"] == "deepgram"
    assert planned["deepgram"]["chars"] == sent_chars(providers.deepgram)
    assert len(providers.deepgram.speech_requests) > 7, "the long paragraph chunked"


def test_a_dry_run_counts_what_is_cached_and_sees_an_open_breaker(providers):
    providers.eleven.script.sequence(audio(), audio(), error(500))
    providers.json(providers.story(STORY), "--concurrency", "1")
    providers.eleven.clear_requests()
    providers.deepgram.clear_requests()

    planned = plan(providers)

    eleven, deepgram = planned["elevenlabs"], planned["deepgram"]
    assert (eleven["cached"], eleven["to_send"]) == (2, 5)
    assert eleven["skip"] == "breaker_open"
    assert (deepgram["cached"], deepgram["to_send"], deepgram["chars"]) == (7, 0, 0)
    assert deepgram["lands"] is True
    assert providers.eleven.requests == [] and providers.deepgram.requests == []


def test_max_chars_skips_the_billed_providers_with_reason_budget(providers):
    story = providers.json(providers.story(STORY), "--max-chars", "100")

    assert story["used_provider"] == "espeak", "the offline voice costs nothing"
    assert story["status"] == "degraded" and story["exit"] == 0
    for name in ("elevenlabs", "deepgram", "edge"):
        skipped = attempt(story, name)
        assert (skipped["outcome"], skipped["reason"]) == ("skipped", "budget")
        assert "--max-chars leaves 100" in skipped["message"]
    assert providers.eleven.requests == providers.deepgram.requests == []


def test_max_chars_holds_for_the_whole_run_across_stories(providers):
    first = providers.story(SIX, "first.txt")
    providers.story(SIX.replace("tale", "saga"), "second.txt")
    limit = sum(len(p) for p in SIX.split("\n\n")) + 10

    result = providers.run(first.parent, "--json", "--max-chars", str(limit))

    stories = [json.loads(line) for line in result.stdout.splitlines()]
    used = sorted(story["used_provider"] for story in stories)
    assert used == ["elevenlabs", "espeak"], "one story fits, the other waits"
    assert sent_chars(providers.eleven) <= limit


def test_a_monthly_budget_is_tracked_in_the_database_and_enforced(providers):
    size = sum(len(p) for p in SIX.split("\n\n"))
    budget(providers, elevenlabs=size + 50)

    one = providers.json(providers.story(SIX, "one.txt"))
    two = providers.json(providers.story(SIX.replace("tale", "saga"), "two.txt"))

    assert one["used_provider"] == "elevenlabs"
    assert two["used_provider"] == "deepgram"
    skipped = attempt(two, "elevenlabs")
    assert (skipped["outcome"], skipped["reason"]) == ("skipped", "budget")
    assert "monthly budget leaves 50" in skipped["message"]
    status = providers.narrate("providers", "--json")
    eleven = json.loads(status.stdout)[0]
    assert (eleven["month_chars"], eleven["monthly_chars"]) == (size, size + 50)
    assert sent_chars(providers.eleven) == size


def test_a_failed_attempt_counts_only_what_was_sent(providers):
    budget(providers, elevenlabs=10_000)
    providers.eleven.script.sequence(audio(), audio(), error(500))

    providers.json(providers.story(SIX), "--concurrency", "1")

    status = providers.narrate("providers", "--json")
    eleven = json.loads(status.stdout)[0]
    first_two = sum(len(p) for p in SIX.split("\n\n")[:2])
    assert eleven["month_chars"] == first_two


def test_a_bad_monthly_budget_is_one_error_line(providers):
    budget(providers, elevenlabs=-5)

    result = providers.run(providers.story(SIX))

    assert result.returncode == 4
    (line,) = result.stderr.splitlines()
    assert "providers.elevenlabs.monthly_chars" in line


def test_a_negative_max_chars_is_a_usage_error(providers):
    result = providers.run(providers.story(SIX), "--max-chars", "-1")

    assert result.returncode == 2
    assert result.stderr.count("\n") == 1


def test_reservations_never_overrun_a_budget_between_workers(cache):
    usage = UsageStore(cache.engine)
    month = this_month()
    refused: list[int | None] = []

    def reserve() -> None:
        for _ in range(5):
            refused.append(usage.reserve("elevenlabs", month, 100, 1_250))

    threads = [threading.Thread(target=reserve) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert refused.count(None) == 12, "twelve reservations of 100 fit in 1,250"
    assert usage.used("elevenlabs", month) == 1_200


def test_giving_back_never_goes_below_zero(cache):
    usage = UsageStore(cache.engine)

    usage.add("deepgram", "2026-01", 40)
    usage.add("deepgram", "2026-01", -100)

    assert usage.used("deepgram", "2026-01") == 0


def test_under_max_chars_stories_take_their_share_in_the_order_given(
    providers, tmp_path
):
    long = providers.story(STORY, "long.txt")
    short = providers.story("A short story, told in one breath.", "short.txt")
    chain = ("--chain", "elevenlabs,espeak")
    whole = providers.run(long, "--dry-run", "--json", *chain)
    limit = str(json.loads(whole.stdout)["providers"][0]["chars"] + 10)

    def landing(*args: str) -> dict[str, str]:
        result = providers.narrate(
            "batch",
            str(long),
            str(short),
            "--json",
            "--max-chars",
            limit,
            *chain,
            *args,
        )
        stories = [json.loads(line) for line in result.stdout.splitlines()]
        if "--dry-run" in args:
            return {
                s["story_id"]: next(p["provider"] for p in s["providers"] if p["lands"])
                for s in stories
            }
        return {s["story_id"]: s["used_provider"] for s in stories}

    planned = landing("--dry-run")
    runs = [
        landing("--db", f"sqlite:///{tmp_path / f'run{number}.db'}")
        for number in range(5)
    ]

    assert planned == {"long": "elevenlabs", "short": "espeak"}
    assert runs == [planned] * 5, "the first story given gets the budget, every time"


def test_reservations_under_a_cap_follow_the_stories_order_not_their_speed():
    budget = Budget(max_chars=100)
    billed = FakeProvider("paid")
    granted: list[str] = []

    async def story(name: str, order: int, delay: float) -> None:
        await asyncio.sleep(delay)  # the second story is ready first
        async with budget.turn(order):
            if await budget.reserve(billed, 80) is None:
                granted.append(name)

    async def both() -> None:
        await asyncio.gather(story("first", 0, 0.2), story("second", 1, 0.0))

    asyncio.run(both())

    assert granted == ["first"]


def test_a_story_that_gives_way_early_lets_no_later_story_jump_the_queue():
    budget = Budget(max_chars=100)
    billed = FakeProvider("paid")
    granted: list[str] = []

    async def story(name: str, order: int, delay: float) -> None:
        await asyncio.sleep(delay)
        async with budget.turn(order):
            if await budget.reserve(billed, 80) is None:
                granted.append(name)

    async def scene() -> None:
        await budget.pass_turn(1)  # the second story failed before reserving
        await asyncio.gather(story("first", 0, 0.2), story("third", 2, 0.0))

    asyncio.run(scene())

    assert granted == ["first"]
