"""One story through the chain: cache lookups, bounded narration, failover.

The story is narrated by one provider from start to end. For each provider
of the chain in turn, the engine looks up what the cache already holds from
that provider, narrates the rest under the concurrency bound, and stops at
the first provider that completes the story. When a paragraph fails on a
provider, no new paragraph is started there and the whole story moves to
the next provider. What a failed provider did finish stays in the cache
under its own name, for a later run.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from narrate import audio
from narrate.engine.results import (
    Attempt,
    Outcome,
    ParagraphResult,
    Status,
    StoryResult,
)
from narrate.errors import NotAudioError, ProviderError, TooLongError
from narrate.providers.base import Provider, SpeechRequest
from narrate.store.audio_files import AudioStore
from narrate.store.cache import Cache
from narrate.store.models import AudioEntry
from narrate.text import Paragraph, split_chunks
from narrate.voices import Voice

log = logging.getLogger(__name__)

# How much of a neighbouring paragraph goes along as context for prosody.
_CONTEXT_CHARS = 500


class Progress(Protocol):
    """What the engine tells whoever shows progress."""

    def begin(self, story_id: str, provider: str, done: int, total: int) -> None:
        """A provider starts on the story; `done` paragraphs are already cached."""

    def advance(self) -> None:
        """One more paragraph has audio."""


@dataclass(frozen=True)
class _Unit:
    """One distinct paragraph text to narrate, with its neighbours."""

    index: int
    text: str
    text_hash: str
    previous_text: str | None
    next_text: str | None


@dataclass
class _Story:
    story_id: str
    voice: Voice
    units: list[_Unit]


class StoryNarrator:
    """Narrates stories with a cache, an audio store and a chain of providers."""

    def __init__(
        self,
        cache: Cache,
        store: AudioStore,
        *,
        concurrency: int = 4,
        progress: Progress | None = None,
    ) -> None:
        self.cache = cache
        self.store = store
        self.concurrency = concurrency
        self.progress = progress

    async def narrate(
        self,
        story_id: str,
        source: Path,
        paragraphs: Sequence[Paragraph],
        voice: Voice,
        chain: Sequence[Provider],
    ) -> StoryResult:
        """Narrate every speakable paragraph with the first provider that can do all."""
        story = _Story(story_id, voice, _units(paragraphs))
        attempts: list[Attempt] = []
        entries: dict[str, dict[str, AudioEntry]] = {}
        generated: dict[str, set[str]] = {}

        for provider in chain:
            attempt, found, new = await self._attempt(story, provider)
            attempts.append(attempt)
            entries[provider.name] = found
            generated[provider.name] = new
            if attempt.outcome is Outcome.COMPLETE:
                break

        used = _most_complete(entries, len(story.units))
        result = StoryResult(
            story_id=story_id,
            source=source,
            voice=voice.name,
            preferred_provider=chain[0].name,
            used_provider=used,
            paragraphs=[],
            attempts=attempts,
        )
        result.paragraphs = self._paragraph_results(
            paragraphs,
            used,
            entries.get(used or "", {}),
            generated.get(used or "", set()),
        )
        return result

    async def _attempt(
        self, story: _Story, provider: Provider
    ) -> tuple[Attempt, dict[str, AudioEntry], set[str]]:
        started = time.monotonic()
        voice_id = story.voice.for_provider(provider.name)
        if voice_id is None:
            reason = f"voice {story.voice.name!r} has no {provider.name} voice"
            return (
                Attempt(provider.name, Outcome.UNAVAILABLE, "no_voice", reason),
                {},
                set(),
            )

        found = await asyncio.to_thread(self._cached, story, provider, voice_id)
        todo = [unit for unit in story.units if unit.text_hash not in found]
        if self.progress:
            self.progress.begin(
                story.story_id, provider.name, len(found), len(story.units)
            )

        new, failure = await self._narrate_all(story, provider, voice_id, todo)
        found.update(new)
        attempt = Attempt(
            provider.name,
            Outcome.COMPLETE if failure is None else Outcome.FAILED,
            generated=len(new),
            cached=len(story.units) - len(todo),
            failed=len(todo) - len(new),
            seconds=round(time.monotonic() - started, 3),
        )
        if failure is not None:
            attempt.reason = failure.reason
            attempt.message = str(failure)
            attempt.request_id = failure.request_id
            log.warning(
                "%s failed on story %s: %s", provider.name, story.story_id, failure
            )
        return attempt, found, set(new)

    def _cached(
        self, story: _Story, provider: Provider, voice_id: str
    ) -> dict[str, AudioEntry]:
        """The provider's usable cache entries for the story, checked on disk."""
        key = provider.voice_key(voice_id)
        hashes = [unit.text_hash for unit in story.units]
        rows = self.cache.lookup(
            story.story_id, story.voice.name, provider.name, hashes
        )
        return {
            text_hash: entry
            for text_hash, entry in rows.items()
            if entry.provider_voice == key and self.store.holds(entry.path, entry.size)
        }

    async def _narrate_all(
        self, story: _Story, provider: Provider, voice_id: str, todo: list[_Unit]
    ) -> tuple[dict[str, AudioEntry], ProviderError | None]:
        """Narrate `todo` in a sliding window of workers; stop at the first failure."""
        pending = iter(todo)
        new: dict[str, AudioEntry] = {}
        failures: list[ProviderError] = []

        async def worker() -> None:
            for unit in pending:
                if failures:
                    return
                try:
                    new[unit.text_hash] = await self._narrate_one(
                        story, provider, voice_id, unit
                    )
                except ProviderError as error:
                    failures.append(error)
                    return
                if self.progress:
                    self.progress.advance()

        width = max(1, min(self.concurrency, provider.max_concurrency, len(todo)))
        try:
            async with asyncio.TaskGroup() as group:
                for _ in range(width):
                    group.create_task(worker())
        except BaseExceptionGroup as group:
            raise group.exceptions[0] from None
        return new, failures[0] if failures else None

    async def _narrate_one(
        self, story: _Story, provider: Provider, voice_id: str, unit: _Unit
    ) -> AudioEntry:
        """One paragraph: speak its chunks, join them, write the file, record it."""
        first = SpeechRequest(unit.text, voice_id, unit.previous_text, unit.next_text)
        parts: list[bytes] = []
        request_id = None
        for request in _chunk_requests(first, provider.text_limit(voice_id)):
            spoken, request_id = await self._speak(provider, request)
            parts.extend(spoken)

        try:
            data = audio.join(parts)
            info = audio.check_speech(data, len(unit.text))
        except audio.AudioError as error:
            raise NotAudioError(provider.name, str(error)) from error

        relative = self.store.relative_path(
            story.story_id, story.voice.name, provider.name, unit.text_hash, info.format
        )
        entry = AudioEntry(
            story_id=story.story_id,
            text_hash=unit.text_hash,
            voice=story.voice.name,
            provider=provider.name,
            provider_voice=provider.voice_key(voice_id),
            path=relative,
            format=info.format,
            size=len(data),
            duration_s=round(info.duration_s, 3),
            chars=len(unit.text),
            request_id=request_id,
            created_at=datetime.now(UTC),
        )
        await asyncio.to_thread(self._save, entry, data)
        return entry

    def _save(self, entry: AudioEntry, data: bytes) -> None:
        """Write the file, then record it: an entry never points at a partial file."""
        self.store.write(entry.path, data)
        self.cache.record(entry)

    async def _speak(
        self, provider: Provider, request: SpeechRequest
    ) -> tuple[list[bytes], str | None]:
        """Audio for one chunk; a chunk the provider finds too long is halved."""
        try:
            speech = await provider.synthesize(request)
        except TooLongError:
            halves = split_chunks(request.text, max(1, len(request.text) // 2))
            if len(halves) < 2:
                raise
            log.info(
                "%s: %d characters too long, splitting",
                provider.name,
                len(request.text),
            )
            parts: list[bytes] = []
            request_id = None
            for half in _chunk_requests_from(request, halves):
                spoken, request_id = await self._speak(provider, half)
                parts.extend(spoken)
            return parts, request_id

        try:
            audio.check_speech(speech.audio, len(request.text))
        except audio.AudioError as error:
            raise NotAudioError(
                provider.name, str(error), request_id=speech.request_id
            ) from error
        return [speech.audio], speech.request_id

    def _paragraph_results(
        self,
        paragraphs: Sequence[Paragraph],
        used: str | None,
        entries: dict[str, AudioEntry],
        generated: set[str],
    ) -> list[ParagraphResult]:
        first_index: dict[str, int] = {}
        results = []
        for paragraph in paragraphs:
            result = ParagraphResult(
                paragraph.index, paragraph.text, paragraph.text_hash, Status.SKIPPED
            )
            if paragraph.speakable:
                repeat_of = first_index.setdefault(paragraph.text_hash, paragraph.index)
                if repeat_of != paragraph.index:
                    result.repeat_of = repeat_of
                self._fill(result, used, entries.get(paragraph.text_hash), generated)
            results.append(result)
        return results

    def _fill(
        self,
        result: ParagraphResult,
        used: str | None,
        entry: AudioEntry | None,
        generated: set[str],
    ) -> None:
        if entry is None:
            result.status = Status.FAILED
            return
        fresh = entry.text_hash in generated and result.repeat_of is None
        result.status = Status.NEW if fresh else Status.CACHED
        result.provider = used
        result.audio = self.store.absolute(entry.path).resolve()
        result.duration_s = entry.duration_s


def _units(paragraphs: Sequence[Paragraph]) -> list[_Unit]:
    """The distinct speakable paragraph texts, in order, with their neighbours."""
    speakable = [p for p in paragraphs if p.speakable]
    units: dict[str, _Unit] = {}
    for position, paragraph in enumerate(speakable):
        if paragraph.text_hash in units:
            continue
        before = speakable[position - 1].text if position > 0 else None
        after = speakable[position + 1].text if position + 1 < len(speakable) else None
        units[paragraph.text_hash] = _Unit(
            paragraph.index,
            paragraph.text,
            paragraph.text_hash,
            before[-_CONTEXT_CHARS:] if before else None,
            after[:_CONTEXT_CHARS] if after else None,
        )
    return list(units.values())


def _chunk_requests(request: SpeechRequest, limit: int) -> list[SpeechRequest]:
    """The request split into chunks within `limit`, each with its neighbours."""
    return _chunk_requests_from(request, split_chunks(request.text, limit))


def _chunk_requests_from(
    request: SpeechRequest, chunks: list[str]
) -> list[SpeechRequest]:
    requests = []
    for position, chunk in enumerate(chunks):
        before = chunks[position - 1] if position > 0 else request.previous_text
        after = (
            chunks[position + 1] if position + 1 < len(chunks) else request.next_text
        )
        requests.append(
            replace(request, text=chunk, previous_text=before, next_text=after)
        )
    return requests


def _most_complete(entries: dict[str, dict[str, AudioEntry]], total: int) -> str | None:
    """The provider with audio for the most paragraphs; the earliest on a tie."""
    best, best_count = None, 0
    for provider, found in entries.items():
        if len(found) > best_count:
            best, best_count = provider, len(found)
        if best_count == total:
            break
    return best
