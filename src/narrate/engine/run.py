"""A whole `narrate batch` run: settings, story, chain, cache, narration, export.

This is the library's entry point for the CLI and for anyone scripting
narrate from Python. Everything that can be checked before a provider is
called (the story file, the voice, the chain, the database) is checked
first, so bad input fails fast and leaves no trace in the cache.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from narrate.config import load_settings
from narrate.engine.batch import Progress, StoryNarrator
from narrate.engine.chain import build_chain
from narrate.engine.export import check_out_dir, export_story
from narrate.engine.results import StoryResult
from narrate.errors import ConfigError
from narrate.providers import Provider
from narrate.store.audio_files import AudioStore
from narrate.store.cache import Cache
from narrate.text import Paragraph, load_story
from narrate.voices import Voice, find_voice, load_catalog


@dataclass(frozen=True)
class BatchJob:
    """What `narrate batch` was asked to do; None means the configured default."""

    path: Path
    voice: str
    story_id: str | None = None
    chain: Sequence[str] | None = None
    concurrency: int | None = None
    timeout: float | None = None
    out_dir: Path | None = None
    database_url: str | None = None
    encoding: str | None = None


def run_batch(
    job: BatchJob,
    *,
    progress: Progress | None = None,
    env: Mapping[str, str] | None = None,
) -> StoryResult:
    """Narrate one story file and return what happened to each paragraph."""
    settings = load_settings(env, database_url=job.database_url)
    voice = find_voice(load_catalog(settings.voices), job.voice)
    concurrency = int(_positive("--concurrency", job.concurrency, settings.concurrency))
    timeout = _positive("--timeout", job.timeout, settings.timeout)
    story = load_story(job.path, job.encoding)
    chain = build_chain(job.chain, settings, timeout)
    story_id = job.story_id or job.path.stem
    if job.out_dir is not None:
        check_out_dir(job.out_dir, story_id)

    cache = Cache.open(settings.database_url)
    try:
        narrator = StoryNarrator(
            cache,
            AudioStore(settings.audio_dir),
            concurrency=concurrency,
            timeout=timeout,
            breakers=chain.breakers,
            claim_lease=settings.claim_lease,
            progress=progress,
        )
        result = asyncio.run(
            _narrate(
                narrator, story_id, job.path, story.paragraphs, voice, chain.providers
            )
        )
    finally:
        cache.close()

    result.encoding = story.encoding
    result.left_out = chain.left_out
    if story.warning:
        result.warnings.append(story.warning)
    if job.out_dir is not None:
        result = export_story(result, job.out_dir)
    return result


async def _narrate(
    narrator: StoryNarrator,
    story_id: str,
    path: Path,
    paragraphs: Sequence[Paragraph],
    voice: Voice,
    chain: list[Provider],
) -> StoryResult:
    try:
        return await narrator.narrate(
            story_id, path.resolve(), paragraphs, voice, chain
        )
    finally:
        for provider in chain:
            await provider.aclose()


def _positive(flag: str, value: float | None, default: float) -> float:
    if value is None:
        return default
    if value <= 0:
        raise ConfigError(f"{flag} must be positive, not {value}")
    return value
