"""One story through the chain: cache lookups, bounded narration, failover.

The story is narrated by one provider from start to end. For each provider
of the chain in turn, the engine looks up what the cache already holds from
that provider, narrates the rest under the concurrency bound (see
`attempt`), and stops at the first provider that completes the story.

A provider whose circuit breaker is open is skipped without a request, and
one whose cool-down is over gets a single probe request first. When a
paragraph fails on a provider, no new paragraph is started there and the
whole story moves on; when the provider's breaker opens, its requests in
flight are cancelled too, so a dead provider costs about one request
deadline however long the story is. What a provider did finish stays in the
cache under its own name.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path

from narrate.engine.attempt import ProviderAttempt
from narrate.engine.breaker import Admission, Breaker, BreakerPolicy
from narrate.engine.budget import Budget
from narrate.engine.results import Attempt, Outcome, StoryResult
from narrate.engine.story import (
    Story,
    Unit,
    most_complete,
    paragraph_results,
    planned_chars,
    units,
)
from narrate.engine.workshop import Progress, Workshop
from narrate.providers.base import Provider
from narrate.store.audio_files import AudioStore
from narrate.store.cache import Cache
from narrate.store.claims import DEFAULT_LEASE, ClaimStore, worker_id
from narrate.store.health import HealthStore
from narrate.store.models import AudioEntry, StoryRecord
from narrate.store.stories import StoryStore
from narrate.text import Paragraph
from narrate.voices import Voice

__all__ = ["Progress", "StoryNarrator"]


class StoryNarrator:
    """Narrates stories with a cache, an audio store and a chain of providers."""

    def __init__(
        self,
        cache: Cache,
        store: AudioStore,
        *,
        concurrency: int = 4,
        timeout: float = 60.0,
        breakers: Mapping[str, BreakerPolicy] | None = None,
        progress: Progress | None = None,
        claim_lease: float = DEFAULT_LEASE,
        budget: Budget | None = None,
    ) -> None:
        self.owner = worker_id()
        claims = ClaimStore(cache.engine, self.owner, claim_lease)
        self.shop = Workshop(cache, store, concurrency, timeout, progress, claims)
        self.health = HealthStore(cache.engine)
        self.stories = StoryStore(cache.engine)
        self.breakers = dict(breakers or {})
        self.budget = budget or Budget()
        self.early_probes: dict[str, asyncio.Lock] = {}
        self._shared_breakers: dict[str, Breaker] = {}

    def allow_early_probe(self, provider: str) -> None:
        """Let the first attempt on `provider` probe its open breaker at once,
        cool-down or not: once per narrator, so that a cron pass of `narrate
        upgrade` notices a recovery without waiting out the cool-down."""
        self.early_probes[provider] = asyncio.Lock()

    async def narrate(
        self,
        story_id: str,
        source: Path,
        paragraphs: Sequence[Paragraph],
        voice: Voice,
        chain: Sequence[Provider],
        *,
        record: bool = True,
        order: int | None = None,
        encoding: str | None = None,
    ) -> StoryResult:
        """Narrate every speakable paragraph with the first provider that can do all.

        The story's row in the story table is replaced by the outcome, unless
        `record` is false: then the caller decides whether to record it.
        `order` is the story's place in the run, for the run's budget;
        `encoding`, the one the source was read in when the user named it.
        """
        story = Story(story_id, voice, units(paragraphs))
        attempts: list[Attempt] = []
        entries: dict[str, dict[str, AudioEntry]] = {}
        generated: dict[str, set[str]] = {}

        for provider in chain:
            last = provider is chain[-1]
            turn = order if provider is chain[0] else None
            attempt, found, new = await self._attempt(story, provider, last, turn)
            attempts.append(attempt)
            entries[provider.name] = found | new
            generated[provider.name] = set(new)
            if attempt.outcome is Outcome.COMPLETE:
                break

        used = most_complete(entries, len(story.units))
        result = StoryResult(
            story_id=story_id,
            source=source,
            voice=voice.name,
            preferred_provider=chain[0].name,
            used_provider=used,
            paragraphs=paragraph_results(
                paragraphs,
                used,
                entries.get(used or "", {}),
                generated.get(used or "", set()),
                self.shop.store.root,
            ),
            attempts=attempts,
        )
        if record:
            row = story_record(result, encoding)
            await asyncio.to_thread(self.stories.record, row)
        return result

    async def _attempt(
        self, story: Story, provider: Provider, last: bool, turn: int | None = None
    ) -> tuple[Attempt, dict[str, AudioEntry], dict[str, AudioEntry]]:
        """One provider's try at the story: its attempt, cached and new entries.

        With a `turn`, the provider's characters are reserved in the order of
        the turns (see `Budget.turn`).
        """
        started = time.monotonic()
        voice_id = story.voice.for_provider(provider.name)
        if voice_id is None:
            await self.budget.pass_turn(turn)
            message = f"voice {story.voice.name!r} has no {provider.name} voice"
            attempt = Attempt(provider.name, Outcome.UNAVAILABLE, "no_voice", message)
            return attempt, {}, {}

        async with self.budget.turn(turn):
            hashes = [unit.text_hash for unit in story.units]
            found = await asyncio.to_thread(
                self.shop.usable, story, provider, voice_id, hashes
            )
            todo = [unit for unit in story.units if unit.text_hash not in found]
            needed = planned_chars(todo, provider.text_limit(voice_id))
            over = await self.budget.reserve(provider, needed)
        if over is not None:
            attempt = Attempt(provider.name, Outcome.SKIPPED, "budget", over)
            attempt.cached, attempt.failed = len(found), len(todo)
            new: dict[str, AudioEntry] = {}
        else:
            attempt, new = await self._spend(
                story, provider, voice_id, last, found, todo, needed
            )
        attempt.seconds = round(time.monotonic() - started, 3)
        return attempt, found, new

    async def _spend(
        self,
        story: Story,
        provider: Provider,
        voice_id: str,
        last: bool,
        found: dict[str, AudioEntry],
        todo: list[Unit],
        reserved: int,
    ) -> tuple[Attempt, dict[str, AudioEntry]]:
        """The provider narrates `todo`, its breaker willing, on the characters
        reserved for it; what it did not send is given back. Paragraphs other
        workers finished meanwhile join `found`."""
        work = None
        try:
            breaker = self._breaker(provider.name)
            admission = await self._admit(breaker) if todo else Admission.GO
            if admission is Admission.SKIP:
                return _skipped(provider.name, breaker, len(found), len(todo)), {}

            if self.shop.progress:
                self.shop.progress.begin(
                    story.story_id, provider.name, len(found), len(story.units)
                )
            work = ProviderAttempt(self.shop, story, provider, voice_id, breaker, last)
            await work.run(todo)
        finally:
            await self.budget.settle(provider, reserved, work.sent if work else 0)
        found.update(work.shared)
        return _finished(work, len(found), len(todo) - len(work.shared)), work.new

    def _breaker(self, provider: str) -> Breaker:
        """The provider's breaker, one for all the stories this narrator tells."""
        if provider not in self._shared_breakers:
            policy = self.breakers.get(provider, BreakerPolicy())
            breaker = Breaker(provider, self.health, policy, self.owner)
            self._shared_breakers[provider] = breaker
        return self._shared_breakers[provider]

    async def _admit(self, breaker: Breaker) -> Admission:
        """The breaker's word, with the provider's early probe if one is allowed.

        The first story to get here takes the early probe; the others wait
        on the gate until it is claimed, then for its result like any worker.
        """
        gate = self.early_probes.get(breaker.provider)
        if gate is None:
            return await breaker.admit()
        async with gate:
            if breaker.provider in self.early_probes:
                admission = await breaker.admit(early=True)
                del self.early_probes[breaker.provider]  # only once it is settled
                return admission
        return await breaker.admit()


def story_record(result: StoryResult, encoding: str | None = None) -> StoryRecord:
    """The story's row for the story table; `encoding` as for `narrate`."""
    return StoryRecord(
        story_id=result.story_id,
        voice=result.voice,
        source=str(result.source),
        preferred_provider=result.preferred_provider,
        used_provider=result.used_provider,
        status=result.status,
        paragraphs=len(result.paragraphs),
        chars=sum(p.chars for p in result.paragraphs),
        narrated_at=datetime.now(UTC),
        encoding=encoding,
    )


def _skipped(provider: str, breaker: Breaker, cached: int, missing: int) -> Attempt:
    until = breaker.retry_at
    when = ""
    if until:
        local = until.astimezone()
        today = local.date() == datetime.now(local.tzinfo).date()
        when = f" until {local.strftime('%H:%M:%S' if today else '%Y-%m-%d %H:%M')}"
    message = f"breaker open{when} ({breaker.row.last_reason or 'failures'})"
    return Attempt(
        provider,
        Outcome.SKIPPED,
        "breaker_open",
        message,
        cached=cached,
        failed=missing,
    )


def _finished(work: ProviderAttempt, cached: int, todo: int) -> Attempt:
    failure = work.failure
    attempt = Attempt(
        work.provider.name,
        Outcome.COMPLETE if len(work.new) == todo else Outcome.FAILED,
        generated=len(work.new),
        cached=cached,
        failed=todo - len(work.new),
    )
    if failure is not None:
        attempt.reason = failure.reason
        attempt.message = str(failure)
        attempt.request_id = failure.request_id
    return attempt
