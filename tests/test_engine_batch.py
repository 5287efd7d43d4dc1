"""The batch engine on a real SQLite cache, with test providers."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from fakes import FakeProvider, speech_for, tone
from narrate.engine.batch import StoryNarrator
from narrate.engine.breaker import BreakerPolicy
from narrate.engine.results import Outcome, Status, StoryResult, worst_exit_code
from narrate.errors import (
    ProviderError,
    ProviderOutError,
    TooLongError,
    TransientError,
)
from narrate.providers.base import Provider, SpeechRequest
from narrate.store.audio_files import AudioStore
from narrate.store.cache import Cache
from narrate.text import split_paragraphs
from narrate.voices import Voice

VOICE = Voice("milo", ids={"a": "va", "b": "vb", "c": "vc", "fake": "vf"})
SIX = "\n\n".join(f"Paragraph number {n} has something to say." for n in range(1, 7))


def narrate(
    cache: Cache,
    store: AudioStore,
    text: str,
    chain: list[Provider],
    *,
    concurrency: int = 4,
    story_id: str = "story",
    voice: Voice = VOICE,
    breakers: dict[str, BreakerPolicy] | None = None,
    timeout: float = 60.0,
) -> StoryResult:
    narrator = StoryNarrator(
        cache, store, concurrency=concurrency, breakers=breakers, timeout=timeout
    )
    paragraphs = split_paragraphs(text)
    return asyncio.run(
        narrator.narrate(story_id, Path("story.txt"), paragraphs, voice, chain)
    )


def fail_from(call: int, error: ProviderError) -> object:
    return lambda request, n: error if n >= call else None


def test_story_is_narrated_by_the_preferred_provider_when_it_works(cache, store):
    a, b = FakeProvider("a"), FakeProvider("b")

    result = narrate(cache, store, SIX, [a, b])

    assert result.complete
    assert result.used_provider == result.preferred_provider == "a"
    assert [p.status for p in result.paragraphs] == [Status.NEW] * 6
    assert all(
        p.provider == "a" and p.audio and p.audio.is_file() for p in result.paragraphs
    )
    assert b.requests == []
    assert cache.count("story") == 6


def test_failure_mid_story_moves_the_whole_story_to_the_next_provider(cache, store):
    quota = ProviderOutError("a", "Credits used up", code="quota_exceeded", status=401)
    a = FakeProvider("a", behaviour=fail_from(3, quota))
    b = FakeProvider("b")

    result = narrate(cache, store, SIX, [a, b], concurrency=1)

    assert result.complete
    assert result.used_provider == "b" and result.preferred_provider == "a"
    assert {p.provider for p in result.paragraphs} == {"b"}
    assert len(b.requests) == 6
    first = result.attempts[0]
    assert (first.provider, first.outcome, first.reason) == (
        "a",
        Outcome.FAILED,
        "quota_exceeded",
    )
    assert (first.generated, first.failed) == (2, 4)
    assert cache.count("story") == 8, "a's two paragraphs stay cached under a"


def test_next_provider_reuses_what_it_already_has_in_the_cache(cache, store):
    narrate(cache, store, SIX, [FakeProvider("b")])
    broken = TransientError("a", "down", status=503)
    a = FakeProvider("a", behaviour=fail_from(1, broken))
    b = FakeProvider("b")

    result = narrate(cache, store, SIX, [a, b])

    assert result.used_provider == "b"
    assert b.requests == []
    assert [p.status for p in result.paragraphs] == [Status.CACHED] * 6


def test_preferred_provider_is_used_again_once_its_cool_down_is_over(cache, store):
    dead = FakeProvider("a", behaviour=fail_from(1, ProviderOutError("a", "x")))
    quick = {"a": BreakerPolicy(cooldown=0)}
    narrate(cache, store, SIX, [dead, FakeProvider("b")], breakers=quick)

    result = narrate(
        cache, store, SIX, [FakeProvider("a"), FakeProvider("b")], breakers=quick
    )

    assert result.used_provider == result.preferred_provider == "a"


def test_when_no_provider_completes_the_most_complete_one_is_reported(cache, store):
    a = FakeProvider(
        "a", behaviour=fail_from(3, TransientError("a", "timeout", code="timeout"))
    )
    b = FakeProvider(
        "b", behaviour=fail_from(5, TransientError("b", "reset", code="reset"))
    )

    result = narrate(cache, store, SIX, [a, b], concurrency=1)

    assert not result.complete
    assert result.used_provider == "b"
    assert result.missing == [5, 6]
    assert [p.status for p in result.paragraphs][4:] == [Status.FAILED] * 2
    assert result.exit_code() == 3
    assert [a.outcome for a in result.attempts] == [Outcome.FAILED, Outcome.FAILED]


def test_when_no_provider_narrates_anything_no_provider_is_used(cache, store):
    dead = FakeProvider("a", behaviour=fail_from(1, ProviderOutError("a", "bad key")))

    result = narrate(cache, store, SIX, [dead])

    assert result.used_provider is None
    assert result.missing == [1, 2, 3, 4, 5, 6]


def test_unspeakable_paragraph_is_skipped_without_a_request(cache, store):
    a = FakeProvider("a")

    result = narrate(
        cache, store, "The door opened.\n\n......\n\nShe stepped inside.", [a]
    )

    assert [p.status for p in result.paragraphs] == [
        Status.NEW,
        Status.SKIPPED,
        Status.NEW,
    ]
    assert a.texts == ["The door opened.", "She stepped inside."]
    assert result.complete and result.exit_code() == 0


def test_scene_breaks_leave_no_audio_file(cache, store):
    result = narrate(
        cache, store, "Notes\n\n•\n\n* * *\n\n— — —\n\nThe end.", [FakeProvider("a")]
    )

    assert [p.status for p in result.paragraphs][1:4] == [Status.SKIPPED] * 3
    files = [f for f in store.root.rglob("*") if f.is_file()]
    assert len(files) == 2 and all(f.stat().st_size > 0 for f in files)


def test_identical_paragraphs_are_narrated_once(cache, store):
    a = FakeProvider("a")

    result = narrate(cache, store, "Knock knock.\n\nWho is there?\n\nKnock knock.", [a])

    assert a.texts.count("Knock knock.") == 1
    assert result.paragraphs[2].repeat_of == 1
    assert result.paragraphs[2].audio == result.paragraphs[0].audio


def test_rerun_narrates_nothing_and_reports_every_paragraph_cached(cache, store):
    narrate(cache, store, SIX, [FakeProvider("a")])
    a = FakeProvider("a")

    result = narrate(cache, store, SIX, [a])

    assert a.requests == []
    assert [p.status for p in result.paragraphs] == [Status.CACHED] * 6


def test_edited_story_narrates_only_the_changed_paragraph(cache, store):
    narrate(cache, store, SIX, [FakeProvider("a")])
    a = FakeProvider("a")

    edited = SIX.replace("number 4", "number four")
    narrate(cache, store, edited, [a])

    assert a.texts == ["Paragraph number four has something to say."]


def test_concurrency_bound_is_never_exceeded(cache, store):
    a = FakeProvider("a", latency=0.05)

    narrate(
        cache, store, "\n\n".join(f"Line {n}." for n in range(40)), [a], concurrency=5
    )

    assert a.most_in_flight == 5


def test_provider_cap_limits_concurrency_below_the_global_bound(cache, store):
    a = FakeProvider("a", latency=0.05, max_concurrency=2)

    narrate(
        cache, store, "\n\n".join(f"Line {n}." for n in range(20)), [a], concurrency=8
    )

    assert a.most_in_flight == 2


def test_a_slow_paragraph_does_not_hold_back_the_others(cache, store):
    class SlowFirst(FakeProvider):
        async def synthesize(self, request: SpeechRequest):  # type: ignore[override]
            if request.text == "Line 0.":
                await asyncio.sleep(2)
            return await super().synthesize(request)

    a = SlowFirst("a", latency=0.01)

    narrate(
        cache, store, "\n\n".join(f"Line {n}." for n in range(30)), [a], concurrency=2
    )

    assert a.completed[-1] == "Line 0.", "the window slides past a slow request"
    assert a.completed[:29] == [f"Line {n}." for n in range(1, 30)]


def test_long_paragraph_is_sent_in_chunks_within_the_limit_and_joined_in_order(
    cache, store
):
    text = " ".join(
        f"Sentence {n} is here to pad this paragraph out a bit more." for n in range(90)
    )
    a = FakeProvider("a", max_chars=1000)

    result = narrate(cache, store, text, [a])

    assert len(a.requests) > 1
    assert all(len(t) <= 1000 for t in a.texts)
    assert " ".join(a.texts) == text
    expected = sum(len(speech_for(t)) - 44 for t in a.texts)
    assert result.paragraphs[0].audio.stat().st_size - 44 == expected


def test_too_long_answer_splits_the_text_smaller_and_never_resends_it(cache, store):
    def too_long_over_300(request: SpeechRequest, call: int):
        if len(request.text) > 300:
            return TooLongError("a", "max_character_limit_exceeded", status=400)
        return None

    text = " ".join(
        f"Sentence {n} is here to pad this paragraph out a bit more." for n in range(30)
    )
    a = FakeProvider("a", max_chars=1000, behaviour=too_long_over_300)

    result = narrate(cache, store, text, [a])

    assert result.complete and result.used_provider == "a"
    assert len(a.texts) == len(set(a.texts)), "no text is sent twice"
    assert " ".join(t for t in a.texts if len(t) <= 300) == text


def test_empty_audio_is_a_failure_and_nothing_is_cached_for_it(cache, store):
    def empty_for_second(request: SpeechRequest, call: int):
        return b"" if "second" in request.text else None

    a = FakeProvider("a", behaviour=empty_for_second)

    result = narrate(
        cache, store, "The first.\n\nThe second.\n\nThe third.", [a], concurrency=1
    )

    assert result.attempts[0].outcome is Outcome.FAILED
    assert "no audio" in result.attempts[0].message
    hashes = {
        e.text_hash
        for e in cache.lookup(
            "story", "milo", "a", [p.text_hash for p in result.paragraphs]
        ).values()
    }
    assert result.paragraphs[1].text_hash not in hashes


@pytest.mark.parametrize(
    "body",
    [
        b"<html><body>Service unavailable</body></html>",
        b'{"detail": "oops"}' * 14,
        tone(0.01),
    ],
    ids=["html", "json", "implausibly-short"],
)
def test_answers_that_are_not_plausible_speech_are_refused(cache, store, body):
    a = FakeProvider("a", behaviour=lambda request, call: body)

    result = narrate(
        cache, store, "A sentence long enough to need a second of audio.", [a]
    )

    assert result.used_provider is None
    assert cache.count() == 0
    assert [f for f in store.root.rglob("*") if f.is_file()] == []


def test_cache_entry_whose_file_was_truncated_is_regenerated(cache, store):
    first = narrate(
        cache, store, "The first.\n\nThe second.\n\nThe third.", [FakeProvider("a")]
    )
    first.paragraphs[0].audio.write_bytes(b"")
    a = FakeProvider("a")

    result = narrate(cache, store, "The first.\n\nThe second.\n\nThe third.", [a])

    assert a.texts == ["The first."]
    assert [p.status for p in result.paragraphs] == [
        Status.NEW,
        Status.CACHED,
        Status.CACHED,
    ]
    assert cache.count() == 3


def test_poisoned_paragraph_is_never_cached_and_is_regenerated_with_a_truncated_one(
    cache, store
):
    def empty_for_second(request: SpeechRequest, call: int):
        return b"" if "second" in request.text else None

    story = "The first.\n\nThe second.\n\nThe third."
    poisoned = FakeProvider("a", latency=0.01, behaviour=empty_for_second)
    run1 = narrate(cache, store, story, [poisoned])
    assert cache.count() == 2, (
        "paragraphs 1 and 3 were in flight and are kept; 2 is not"
    )
    run1_first = cache.lookup("story", "milo", "a", [run1.paragraphs[0].text_hash])
    store.absolute(next(iter(run1_first.values())).path).write_bytes(b"")
    a = FakeProvider("a")

    result = narrate(cache, store, story, [a])

    assert result.complete
    assert sorted(a.texts) == ["The first.", "The second."]
    assert [p.status for p in result.paragraphs] == [
        Status.NEW,
        Status.NEW,
        Status.CACHED,
    ]


def test_changed_voice_mapping_makes_the_old_entry_stale(cache, store):
    narrate(cache, store, SIX, [FakeProvider("a")])
    a = FakeProvider("a")
    remapped = Voice("milo", ids={"a": "another-voice"})

    narrate(cache, store, SIX, [a], voice=remapped)

    assert len(a.requests) == 6
    assert cache.count() == 6, "the stale entries are replaced, not duplicated"


def test_provider_without_a_voice_for_the_narrator_is_passed_over(cache, store):
    voice = Voice("solo", ids={"b": "vb"})

    result = narrate(
        cache, store, SIX, [FakeProvider("a"), FakeProvider("b")], voice=voice
    )

    assert result.used_provider == "b"
    assert result.attempts[0].outcome is Outcome.UNAVAILABLE
    assert result.attempts[0].reason == "no_voice"


def test_many_concurrent_writers_on_one_sqlite_file_lose_nothing(cache, store):
    story = "\n\n".join(f"Line {n} of the story." for n in range(400))

    result = narrate(cache, store, story, [FakeProvider("a")], concurrency=64)

    assert result.complete
    assert cache.count("story") == 400


def test_providers_receive_the_neighbouring_paragraphs_as_context(cache, store):
    a = FakeProvider("a")

    narrate(cache, store, "One.\n\nTwo.\n\nThree.", [a], concurrency=1)

    middle = next(r for r in a.requests if r.text == "Two.")
    assert (middle.previous_text, middle.next_text) == ("One.", "Three.")


def test_the_worst_exit_code_of_a_run_is_its_most_serious():
    def result(**kw):
        base = {
            "story_id": "s",
            "source": Path("s"),
            "voice": "v",
            "preferred_provider": "a",
            "used_provider": "a",
            "paragraphs": [],
        }
        return StoryResult(**(base | kw))

    fine, degraded = result(), result(used_provider="b")
    broken = result(error="no such file")

    assert worst_exit_code([fine, degraded], require_preferred=False) == 0
    assert worst_exit_code([fine, degraded], require_preferred=True) == 5
    assert worst_exit_code([degraded, broken, fine], require_preferred=True) == 4
    assert worst_exit_code([], require_preferred=False) == 0


def test_stories_narrated_together_share_the_concurrency_bound(cache, store):
    a = FakeProvider("a", latency=0.05)
    narrator = StoryNarrator(cache, store, concurrency=3)
    lines = [f"Line {n} of the tale." for n in range(30)]

    async def both() -> None:
        await asyncio.gather(
            *(
                narrator.narrate(
                    name, Path(name), split_paragraphs("\n\n".join(lines)), VOICE, [a]
                )
                for name in ("first", "second")
            )
        )

    asyncio.run(both())

    assert a.most_in_flight == 3
    assert len(a.requests) == 60
