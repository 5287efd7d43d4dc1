"""A whole `narrate batch` run: settings, stories, chain, cache, narration, export.

This is the library's entry point for the CLI and for anyone scripting
narrate from Python. Everything that can be checked before a provider is
called (the voice, the chain, the database, each story file) is checked
first, so bad input fails fast and leaves no trace in the cache. A story
file that cannot be read fails alone: the run goes on with the others and
reports it among the results.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from narrate.config import Settings, load_settings
from narrate.engine.batch import Progress, StoryNarrator
from narrate.engine.budget import Budget
from narrate.engine.chain import Chain, build_chain
from narrate.engine.export import check_out_dir, export_story
from narrate.engine.plan import StoryPlan, plan_story
from narrate.engine.results import StoryResult
from narrate.errors import ConfigError, InputError
from narrate.printable import printable
from narrate.store.audio_files import AudioStore
from narrate.store.cache import Cache, database_errors
from narrate.store.usage import UsageStore
from narrate.text import LoadedStory, load_story
from narrate.voices import Voice, find_voice, load_catalog

STORY_SUFFIXES = (".txt", ".md")
# The story_id columns' width in the cache database.
MAX_STORY_ID = 255


@dataclass(frozen=True)
class BatchJob:
    """What `narrate batch` was asked to do; None means the configured default.

    `paths` are story files and directories; a directory stands for every
    `.txt` and `.md` file below it.
    """

    paths: Sequence[Path]
    voice: str
    story_id: str | None = None
    chain: Sequence[str] | None = None
    concurrency: int | None = None
    timeout: float | None = None
    out_dir: Path | None = None
    database_url: str | None = None
    encoding: str | None = None
    max_chars: int | None = None


@dataclass(frozen=True)
class _Story:
    """A story file to narrate: loaded, or the reason it cannot be."""

    path: Path
    story_id: str
    loaded: LoadedStory | None
    error: InputError | None = None


def run_batch(
    job: BatchJob,
    *,
    progress: Progress | None = None,
    env: Mapping[str, str] | None = None,
    on_result: Callable[[StoryResult], None] | None = None,
) -> list[StoryResult]:
    """Narrate every story of the job; one result per story, in the job's order.

    `on_result` is called with each story's result as soon as the story is
    done, in the order they finish, so that a caller can report it at once
    (and keep it if the run is interrupted later).
    """
    run = _Run.prepare(job, env)
    for story in run.stories:
        if job.out_dir is not None and story.loaded is not None:
            check_out_dir(_out_dir(job, story, len(run.stories)), story.story_id)
    done = on_result or (lambda result: None)
    if all(story.loaded is None for story in run.stories):
        results = [_unreadable(story, run.voice, run.chain) for story in run.stories]
        for result in results:
            done(result)
        return results

    with (
        run.narrator(progress) as narrator,
        database_errors(narrator.shop.cache.engine),
    ):
        return asyncio.run(_narrate_all(narrator, run, done))


def plan_batch(
    job: BatchJob, *, env: Mapping[str, str] | None = None
) -> list[StoryPlan]:
    """What `run_batch` would send each provider, story by story; no request made."""
    run = _Run.prepare(job, env)
    plans = [
        StoryPlan(
            story.story_id,
            story.path.absolute(),
            run.voice.name,
            left_out=run.chain.left_out,
            error=str(story.error) if story.error else None,
        )
        for story in run.stories
    ]
    if all(story.loaded is None for story in run.stories):
        return plans

    async def plan_all(narrator: StoryNarrator) -> None:
        """In the run's order, so that the run's budget is spent as a run would."""
        for index, story in enumerate(run.stories):
            if story.loaded is None:
                continue
            plan = await plan_story(
                narrator,
                story.story_id,
                story.path.absolute(),
                story.loaded.paragraphs,
                run.voice,
                run.chain.providers,
            )
            plan.left_out = run.chain.left_out
            plan.warnings = [story.loaded.warning] if story.loaded.warning else []
            plans[index] = plan

    with run.narrator(None) as narrator, database_errors(narrator.shop.cache.engine):
        asyncio.run(plan_all(narrator))
    return plans


@dataclass(frozen=True)
class _Run:
    """A batch run's settings, checked, and its stories, read."""

    job: BatchJob
    settings: Settings
    voice: Voice
    concurrency: int
    timeout: float
    stories: list[_Story]
    chain: Chain

    @classmethod
    def prepare(cls, job: BatchJob, env: Mapping[str, str] | None) -> _Run:
        settings = load_settings(env, database_url=job.database_url)
        voice = find_voice(load_catalog(settings.voices), job.voice)
        concurrency = _positive("--concurrency", job.concurrency, settings.concurrency)
        timeout = _positive("--timeout", job.timeout, settings.timeout)
        if job.max_chars is not None and job.max_chars < 0:
            raise ConfigError(f"--max-chars must not be negative, not {job.max_chars}")
        stories = _stories(job)
        chain = build_chain(job.chain, settings, timeout)
        return cls(job, settings, voice, int(concurrency), timeout, stories, chain)

    @contextlib.contextmanager
    def narrator(self, progress: Progress | None) -> Iterator[StoryNarrator]:
        """A narrator on the opened cache, closed when done."""
        cache = Cache.open(self.settings.database_url)
        try:
            budget = Budget(
                max_chars=self.job.max_chars,
                monthly=self.chain.budgets,
                usage=UsageStore(cache.engine),
            )
            yield StoryNarrator(
                cache,
                AudioStore(self.settings.audio_dir),
                concurrency=self.concurrency,
                timeout=self.timeout,
                breakers=self.chain.breakers,
                claim_lease=self.settings.claim_lease,
                progress=progress,
                budget=budget,
            )
        finally:
            cache.close()


def story_paths(paths: Sequence[Path]) -> list[Path]:
    """The story files named: files as given, directories by their `.txt` and
    `.md` files (recursively, sorted, hidden ones left out). A path that does
    not exist, or a directory without stories, stays, to fail on its own."""
    found: list[Path] = []
    for path in paths:
        inside = _stories_in(path) if path.is_dir() else []
        found.extend(inside or [path])
    return list(dict.fromkeys(found))


def _stories_in(folder: Path) -> list[Path]:
    return sorted(
        path
        for path in folder.rglob("*")
        if path.suffix.lower() in STORY_SUFFIXES
        and path.is_file()
        and not any(part.startswith(".") for part in path.relative_to(folder).parts)
    )


def _stories(job: BatchJob) -> list[_Story]:
    paths = story_paths(job.paths)
    if job.story_id is not None and len(paths) > 1:
        raise ConfigError("--story-id names one story; this run has several")

    stems = [job.story_id or _story_id(path) for path in paths]
    for stem in stems:
        if len(stem) > MAX_STORY_ID:
            raise ConfigError(
                f"the story id {stem[:40]!r}... is {len(stem)} characters long; "
                f"at most {MAX_STORY_ID} fit the cache; give a shorter --story-id"
            )
    twice = sorted({stem for stem in stems if stems.count(stem) > 1})
    if twice:
        raise ConfigError(
            f"two story files would share the story id {twice[0]!r}; "
            "narrate them in separate runs"
        )

    stories = []
    for path in paths:
        story_id = job.story_id or _story_id(path)
        try:
            if path.is_dir():
                raise InputError(f"{path}: a directory without .txt or .md stories")
            stories.append(_Story(path, story_id, load_story(path, job.encoding)))
        except InputError as error:
            stories.append(_Story(path, story_id, None, error))
    return stories


async def _narrate_all(
    narrator: StoryNarrator, run: _Run, done: Callable[[StoryResult], None]
) -> list[StoryResult]:
    """Narrate the stories together, at most `concurrency` of them at a time;
    each finished result goes to `done` as soon as it is ready."""
    stories, voice, chain = run.stories, run.voice, run.chain
    turns = asyncio.Semaphore(narrator.shop.concurrency)
    readable = [story.path for story in stories if story.loaded is not None]
    orders = {path: order for order, path in enumerate(readable)}

    async def one(story: _Story) -> StoryResult:
        result = await narrated(story)
        if story.loaded is not None:
            count = len(stories)
            result = await asyncio.to_thread(
                _finish, run.job, chain, story, result, count
            )
        done(result)
        return result

    async def narrated(story: _Story) -> StoryResult:
        if story.loaded is None:
            return _unreadable(story, voice, chain)
        order = orders[story.path]
        async with turns:
            try:
                return await narrator.narrate(
                    story.story_id,
                    story.path.resolve(),
                    story.loaded.paragraphs,
                    voice,
                    chain.providers,
                    order=order,
                    encoding=run.job.encoding,
                )
            finally:  # however the story ended, the next may reserve
                await narrator.budget.pass_turn(order)

    try:
        return list(await asyncio.gather(*(one(story) for story in stories)))
    finally:
        for provider in chain.providers:
            await provider.aclose()


def _finish(
    job: BatchJob, chain: Chain, story: _Story, result: StoryResult, count: int
) -> StoryResult:
    """The narrated story's result completed: what the chain left out, how the
    file was read, and its audio copied to `--out`."""
    assert story.loaded is not None
    result.left_out = chain.left_out
    result.encoding = story.loaded.encoding
    if story.loaded.warning:
        result.warnings.append(story.loaded.warning)
    if job.out_dir is not None:
        result = export_story(result, _out_dir(job, story, count))
    return result


def _unreadable(story: _Story, voice: Voice, chain: Chain) -> StoryResult:
    return StoryResult(
        story_id=story.story_id,
        source=story.path.absolute(),
        voice=voice.name,
        preferred_provider=chain.providers[0].name,
        used_provider=None,
        paragraphs=[],
        left_out=chain.left_out,
        error=str(story.error),
    )


def _story_id(path: Path) -> str:
    """The story id a file gets: its name without the extension, with any
    control character written as its escape, since the id is printed."""
    return printable(path.stem)


def _out_dir(job: BatchJob, story: _Story, count: int) -> Path:
    """`--out` itself for one story; a folder per story inside it for several."""
    assert job.out_dir is not None
    return job.out_dir if count == 1 else job.out_dir / story.story_id


def _positive(flag: str, value: float | None, default: float) -> float:
    if value is None:
        return default
    if value <= 0:
        raise ConfigError(f"{flag} must be positive, not {value}")
    return value
