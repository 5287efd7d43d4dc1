"""`narrate upgrade`: bring degraded and incomplete stories back to their
preferred voice, from their source files.

Every story the story table lists as degraded or incomplete (the longest
waiting first, at most `limit` of them) is tried again by its preferred
provider alone, on the current text of its source file. What that provider
already has in the cache is reused, so only the paragraphs it lacks are
requested. The story switches to the preferred voice, and its row to
`complete`, only when the preferred provider has all of it; otherwise the
row stays as it was, and whatever the preferred provider did make stays in
the cache for the next pass.

Cron passes may overlap, so each story is claimed before it is narrated: a
pass leaves alone a story another pass holds (`busy`) or has brought back
since this pass listed it (`done`). A preferred provider whose breaker is
open gets one early probe per pass, so that a pass notices a recovery
without waiting out the cool-down.

A story a pass tries and cannot bring back (its provider still down, its
source file gone) goes to the back of the line, so with `limit` such stories
do not hold back the others; every pass that tries one reports why.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path

import sqlalchemy as sa

from narrate.config import Settings, load_settings
from narrate.engine.batch import Progress, StoryNarrator, story_record
from narrate.engine.breaker import BreakerPolicy
from narrate.engine.budget import Budget
from narrate.engine.chain import build_chain, check_config, missing_key
from narrate.engine.plan import StoryPlan, plan_story
from narrate.engine.results import StoryResult
from narrate.errors import (
    EXIT_BAD_INPUT,
    EXIT_INCOMPLETE,
    EXIT_NOT_PREFERRED,
    EXIT_OK,
    ConfigError,
    InputError,
    NarrateError,
)
from narrate.providers.base import Provider
from narrate.store.audio_files import AudioStore
from narrate.store.cache import Cache, database_errors
from narrate.store.claims import ClaimKey, ClaimState, ClaimStore, worker_id
from narrate.store.models import StoryRecord
from narrate.store.stories import StoryStore
from narrate.store.usage import UsageStore
from narrate.text import LoadedStory, load_story
from narrate.voices import Voice, find_voice

# How a story is claimed for an upgrade, in the paragraph claims' table.
_LOCK_HASH, _LOCK_PROVIDER = "story", "upgrade"


@dataclass(frozen=True)
class UpgradeJob:
    """What `narrate upgrade` was asked to do; None means the configured default."""

    limit: int | None = None
    concurrency: int | None = None
    timeout: float | None = None
    database_url: str | None = None
    max_chars: int | None = None


class UpgradeOutcome(StrEnum):
    """What an upgrade pass did with one story."""

    UPGRADED = "upgraded"
    NOT_UPGRADED = "not_upgraded"
    BUSY = "busy"
    DONE = "done"
    ERROR = "error"


@dataclass
class Upgrade:
    """One story's upgrade: the story as it was, and what came of it."""

    story: StoryRecord
    outcome: UpgradeOutcome
    result: StoryResult | None = None
    message: str | None = None

    def exit_code(self) -> int:
        """The story's share of the exit code: as `batch` would give for the
        story's state after the pass."""
        if self.outcome is UpgradeOutcome.ERROR:
            return EXIT_BAD_INPUT
        if self.outcome is UpgradeOutcome.NOT_UPGRADED:
            if self.story.status == "incomplete":
                return EXIT_INCOMPLETE
            return EXIT_NOT_PREFERRED
        return EXIT_OK


# A story another pass holds, or has brought back since this pass listed it.
_TAKEN = {
    ClaimState.HELD: (UpgradeOutcome.BUSY, None, "another upgrade pass has it"),
    ClaimState.DONE: (
        UpgradeOutcome.DONE,
        None,
        "another upgrade pass brought it back",
    ),
}


def run_upgrade(
    job: UpgradeJob,
    *,
    progress: Progress | None = None,
    env: Mapping[str, str] | None = None,
    on_upgrade: Callable[[Upgrade], None] | None = None,
) -> list[Upgrade]:
    """Try every degraded or incomplete story on its preferred provider.

    `on_upgrade` is called with each story's upgrade as soon as it is done.
    """
    with _prepared(job, env, progress) as (upgrade, stories):
        done = on_upgrade or (lambda item: None)
        return asyncio.run(upgrade.run(stories, done)) if stories else []


def plan_upgrade(
    job: UpgradeJob, *, env: Mapping[str, str] | None = None
) -> list[StoryPlan]:
    """What `run_upgrade` would send each story's preferred provider; no request."""
    with _prepared(job, env, None) as (upgrade, stories):
        return asyncio.run(upgrade.plan(stories)) if stories else []


@contextlib.contextmanager
def _prepared(
    job: UpgradeJob, env: Mapping[str, str] | None, progress: Progress | None
) -> Iterator[tuple[_Pass, list[StoryRecord]]]:
    """The pass, set up on the opened cache, and the stories it is for."""
    settings = load_settings(env, database_url=job.database_url)
    catalog = check_config(settings)
    if job.limit is not None and job.limit < 1:
        raise ConfigError(f"--limit must be at least 1, not {job.limit}")
    if job.max_chars is not None and job.max_chars < 0:
        raise ConfigError(f"--max-chars must not be negative, not {job.max_chars}")
    timeout = job.timeout or settings.timeout

    cache = Cache.open(settings.database_url)
    try:
        with database_errors(cache.engine):
            stories = _waiting(StoryStore(cache.engine), job.limit)
            preferred = _Preferred.build(stories, settings, timeout)
            narrator = StoryNarrator(
                cache,
                AudioStore(settings.audio_dir),
                concurrency=job.concurrency or settings.concurrency,
                timeout=timeout,
                breakers=preferred.breakers,
                claim_lease=settings.claim_lease,
                progress=progress,
                budget=Budget(
                    max_chars=job.max_chars,
                    monthly=preferred.budgets,
                    usage=UsageStore(cache.engine),
                ),
            )
            locks = ClaimStore(cache.engine, worker_id(), settings.claim_lease)
            yield _Pass(narrator, locks, preferred, catalog), stories
    finally:
        cache.close()


def _waiting(stories: StoryStore, limit: int | None) -> list[StoryRecord]:
    """The degraded and incomplete stories, the longest waiting first; a story
    a pass tried and could not bring back waits again from then."""
    waiting = stories.all(("degraded", "incomplete"))
    waiting.sort(key=lambda story: (_since(story), story.story_id))
    return waiting[:limit] if limit is not None else waiting


@dataclass
class _Preferred:
    """The stories' preferred providers, built once; why some cannot run."""

    providers: dict[str, Provider]
    breakers: dict[str, BreakerPolicy]
    budgets: dict[str, int]
    problems: dict[str, str]

    @classmethod
    def build(
        cls, stories: list[StoryRecord], settings: Settings, timeout: float
    ) -> _Preferred:
        built = cls({}, {}, {}, {})
        for name in sorted({story.preferred_provider for story in stories}):
            missing = missing_key(name, settings)
            if missing is not None:
                built.problems[name] = f"the preferred {name} has no API key: {missing}"
                continue
            try:
                chain = build_chain([name], settings, timeout)
            except ConfigError as error:
                built.problems[name] = str(error)
                continue
            built.providers[name] = chain.providers[0]
            built.breakers.update(chain.breakers)
            built.budgets.update(chain.budgets)
        return built

    async def aclose(self) -> None:
        for provider in self.providers.values():
            await provider.aclose()


@dataclass
class _Pass:
    """One upgrade pass over the waiting stories."""

    narrator: StoryNarrator
    locks: ClaimStore
    preferred: _Preferred
    catalog: Mapping[str, Voice]

    async def run(
        self, stories: list[StoryRecord], done: Callable[[Upgrade], None]
    ) -> list[Upgrade]:
        for name in self.preferred.providers:
            self.narrator.allow_early_probe(name)
        turns = asyncio.Semaphore(self.narrator.shop.concurrency)

        async def one(story: StoryRecord, order: int) -> Upgrade:
            async with turns:
                try:
                    upgrade = await self.upgrade(story, order)
                finally:  # a story that never reached the budget gives way
                    await self.narrator.budget.pass_turn(order)
            if upgrade.outcome in (UpgradeOutcome.ERROR, UpgradeOutcome.NOT_UPGRADED):
                now = datetime.now(UTC)
                stories = self.narrator.stories
                await asyncio.to_thread(stories.tried, story.story_id, story.voice, now)
            done(upgrade)
            return upgrade

        try:
            async with self.locks.kept():
                return list(
                    await asyncio.gather(
                        *(one(story, order) for order, story in enumerate(stories))
                    )
                )
        finally:
            await self.preferred.aclose()

    async def plan(self, stories: list[StoryRecord]) -> list[StoryPlan]:
        """Each story's plan on its preferred provider, in the pass's order."""
        for name in self.preferred.providers:
            self.narrator.allow_early_probe(name)
        plans = []
        try:
            for story in stories:
                plan = StoryPlan(story.story_id, Path(story.source), story.voice)
                try:
                    voice, loaded = await self._ready(story)
                except NarrateError as error:
                    plan.error = f"{story.story_id}: {error}"
                else:
                    provider = self.preferred.providers[story.preferred_provider]
                    plan = await plan_story(
                        self.narrator,
                        story.story_id,
                        Path(story.source),
                        loaded.paragraphs,
                        voice,
                        [provider],
                    )
                    plan.warnings = [loaded.warning] if loaded.warning else []
                plans.append(plan)
        finally:
            await self.preferred.aclose()
        return plans

    async def _ready(self, story: StoryRecord) -> tuple[Voice, LoadedStory]:
        """The story's voice and text, or the error that keeps it from upgrading."""
        problem = self.preferred.problems.get(story.preferred_provider)
        if problem is not None:
            raise ConfigError(problem)
        voice = find_voice(self.catalog, story.voice)
        source = Path(story.source)
        loaded = await asyncio.to_thread(load_story, source, story.encoding)
        await asyncio.to_thread(self._check_same_story, story, loaded)
        return voice, loaded

    def _check_same_story(self, story: StoryRecord, loaded: LoadedStory) -> None:
        """Refuse a source that shares no paragraph with the story as narrated.

        An upgrade brings a story back; it does not narrate a new one. A file
        replaced by another text, or saved in another encoding than the
        `--encoding` the batch was given (which then decodes to gibberish),
        would otherwise be sent whole to the preferred, paid provider.
        """
        if story.used_provider is None:  # nothing narrated to compare with
            return
        hashes = [p.text_hash for p in loaded.paragraphs if p.speakable]
        cache = self.narrator.shop.cache
        if cache.lookup(story.story_id, story.voice, story.used_provider, hashes):
            return
        read_as = f" read as {story.encoding}" if story.encoding else ""
        raise InputError(
            f"{story.source}{read_as} shares no paragraph with the story as "
            f"{story.used_provider} narrated it; if it was replaced or its "
            "encoding changed, narrate it again with `narrate batch`"
        )

    async def upgrade(self, story: StoryRecord, order: int | None = None) -> Upgrade:
        """The story tried on its preferred provider, if no other pass has it."""
        name = story.preferred_provider
        try:
            voice, loaded = await self._ready(story)
        except NarrateError as error:
            return Upgrade(story, UpgradeOutcome.ERROR, message=str(error))

        key = ClaimKey(story.story_id, _LOCK_HASH, story.voice, _LOCK_PROVIDER)
        state = await asyncio.to_thread(self._claim, key)
        if state is not ClaimState.CLAIMED:
            return Upgrade(story, *_TAKEN[state])
        try:
            result = await self.narrator.narrate(
                story.story_id,
                Path(story.source),
                loaded.paragraphs,
                voice,
                [self.preferred.providers[name]],
                record=False,
                order=order,
            )
            if result.status == "complete":  # recorded before the claim goes
                record = story_record(result, story.encoding)
                await asyncio.to_thread(self.narrator.stories.record, record)
        finally:
            await asyncio.to_thread(self.locks.release, key)
        if result.status != "complete":
            return Upgrade(story, UpgradeOutcome.NOT_UPGRADED, result, _why(result))
        return Upgrade(story, UpgradeOutcome.UPGRADED, result)

    def _claim(self, key: ClaimKey) -> ClaimState:
        stories = self.narrator.stories

        def done(connection: sa.Connection) -> bool:
            return stories.status_in(connection, key.story_id, key.voice) == "complete"

        return self.locks.acquire(key, done)


def _since(story: StoryRecord) -> datetime:
    """Since when the story has been waiting for an upgrade."""
    tried = story.upgrade_tried_at
    return max(story.narrated_at, tried) if tried else story.narrated_at


def _why(result: StoryResult) -> str:
    """Why the preferred provider did not bring the story back."""
    attempt = result.attempts[-1] if result.attempts else None
    if attempt is None:
        return "nothing was tried"
    reason = attempt.message or attempt.reason or attempt.outcome.value
    if not reason.startswith(attempt.provider):  # provider errors name it already
        reason = f"{attempt.provider}: {reason}"
    missing = f"{attempt.failed} paragraph{'' if attempt.failed == 1 else 's'}"
    return f"{reason} ({missing} still missing)"
