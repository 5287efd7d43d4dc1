"""One provider's try at one story: workers, requests, retries, the breaker.

Paragraphs are taken from a shared queue by a sliding window of workers, as
many as the concurrency bound and the provider's cap allow. Each paragraph's
chunks are spoken, checked, joined, written and recorded before the worker
takes the next. Every request has a deadline that grows with its text, and
every failed request is counted by the provider's breaker; when the breaker
opens, all the attempt's requests in flight are cancelled at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Coroutine, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

import sqlalchemy as sa

from narrate import audio
from narrate.engine.breaker import CLOSED, Breaker
from narrate.engine.story import Story, Unit, chunk_requests, requests_for
from narrate.engine.workshop import Workshop
from narrate.errors import (
    NotAudioError,
    ProviderError,
    ProviderOutError,
    StoreError,
    TimedOutError,
    TooLongError,
)
from narrate.providers.base import Provider, SpeechRequest
from narrate.providers.retry import with_retries
from narrate.store.claims import ClaimKey, ClaimState, ClaimStore
from narrate.store.models import AudioEntry
from narrate.text import split_chunks

log = logging.getLogger(__name__)
T = TypeVar("T")

# How often a worker looks for the audio of paragraphs other workers claimed.
_CLAIM_POLL = 0.2
# A request's deadline grows with its text, up to the run's --timeout.
DEADLINE_FLOOR = 10.0
DEADLINE_PER_CHAR = 0.02


class _BreakerOpened(Exception):
    """The provider's breaker opened: stop every request of this attempt."""

    def __init__(self, error: ProviderError) -> None:
        super().__init__(str(error))
        self.error = error


@dataclass
class ProviderAttempt:
    """One provider narrating what the cache lacks of one story.

    `keep_going` is set for the last provider of the chain: there is nowhere
    to move the story, so a paragraph that fails does not stop the others,
    unless the provider is out altogether (a bad key, a voice it lacks).
    """

    shop: Workshop
    story: Story
    provider: Provider
    voice_id: str
    breaker: Breaker
    keep_going: bool = False
    new: dict[str, AudioEntry] = field(default_factory=dict)
    shared: dict[str, AudioEntry] = field(default_factory=dict)
    deferred: list[Unit] = field(default_factory=list)
    failure: ProviderError | None = None
    stopped: bool = False
    sent: int = 0

    async def run(self, todo: list[Unit]) -> None:
        """Narrate `todo`; the first paragraph alone while the breaker is half open.

        Paragraphs another worker is narrating are left to it, and their audio
        is collected from the cache once the rest is done (`shared`).
        """
        pending = iter(todo)
        limit = min(self.shop.concurrency, self.provider.max_concurrency, len(todo))
        width = max(1, limit)

        async with self._claims_kept():
            try:
                if self.breaker.row.state != CLOSED:
                    await self._work(pending, limit=1)

                if not self.stopped:
                    await _all_of([self._work(pending) for _ in range(width)])
                await self._collect_others(width)
            except _BreakerOpened as opened:
                self._failed(opened.error, stop=True)

    def _failed(self, error: ProviderError, stop: bool) -> None:
        """Note a paragraph's failure; `stop` ends the attempt."""
        self.failure = self.failure or error
        self.stopped = self.stopped or stop
        story = self.story.story_id
        log.warning("%s failed on story %s: %s", self.provider.name, story, error)

    @contextlib.asynccontextmanager
    async def _claims_kept(self) -> AsyncIterator[None]:
        """Renew this worker's claims while the attempt lasts; drop them after."""
        if self.shop.claims is None:
            yield
            return
        async with self.shop.claims.kept():
            yield

    async def _collect_others(self, width: int) -> None:
        """Wait for the paragraphs other workers claimed: take their audio from
        the cache, or narrate them here when their claim is given up or runs out."""
        while self.deferred and not self.stopped:
            waiting, self.deferred = self.deferred, []
            found = await asyncio.to_thread(
                self.shop.usable,
                self.story,
                self.provider,
                self.voice_id,
                [unit.text_hash for unit in waiting],
            )
            self.shared.update(found)
            for _ in found:
                self._advance()

            left = [unit for unit in waiting if unit.text_hash not in found]
            held = await asyncio.to_thread(self._held, left)
            self.deferred = [unit for unit in left if unit.text_hash in held]
            free = iter([unit for unit in left if unit.text_hash not in held])
            await _all_of([self._work(free) for _ in range(min(width, len(left) or 1))])
            if self.deferred:
                await asyncio.sleep(_CLAIM_POLL)

    def _held(self, units: list[Unit]) -> set[str]:
        assert self.shop.claims is not None
        return self.shop.claims.held([self._key(unit) for unit in units])

    def _key(self, unit: Unit) -> ClaimKey:
        story = self.story
        return ClaimKey(
            story.story_id, unit.text_hash, story.voice.name, self.provider.name
        )

    async def _work(self, pending: Iterator[Unit], limit: int | None = None) -> None:
        """Take paragraphs from `pending` until none is left, a stop, or `limit`
        paragraphs narrated."""
        done = 0
        for unit in pending:
            if self.stopped:
                return
            try:
                if not await self._narrate_claimed(unit):
                    continue
            except ProviderError as error:
                out = isinstance(error, ProviderOutError)
                self._failed(error, stop=out or not self.keep_going)
            else:
                self._advance()

            done += 1
            if limit is not None and done >= limit:
                return

    def _advance(self) -> None:
        if self.shop.progress:
            self.shop.progress.advance(self.story.story_id)

    async def _narrate_claimed(self, unit: Unit) -> bool:
        """Narrate the paragraph unless another worker has claimed it (False)."""
        claims = self.shop.claims
        if claims is None:
            await self._narrate_one(unit)
            return True

        key = self._key(unit)
        claimed, done = await _to_the_end(asyncio.to_thread(self._claim, claims, key))
        if done is not None:
            self.shared[unit.text_hash] = done
            return True
        if not claimed:
            self.deferred.append(unit)
            return False
        try:
            await self._narrate_one(unit, key)
        except BaseException:
            await asyncio.to_thread(claims.release, key)
            raise
        return True

    def _claim(
        self, claims: ClaimStore, key: ClaimKey
    ) -> tuple[bool, AudioEntry | None]:
        """Claim the paragraph, unless another worker holds it or has finished it
        since this attempt looked at the cache; then its entry."""
        done: dict[str, AudioEntry] = {}

        def finished(connection: sa.Connection) -> bool:
            hashes = [key.text_hash]
            story, provider, voice_id = self.story, self.provider, self.voice_id
            done.update(self.shop.usable(story, provider, voice_id, hashes, connection))
            return bool(done)

        state = claims.acquire(key, finished)
        return state is ClaimState.CLAIMED, done.get(key.text_hash)

    async def _narrate_one(self, unit: Unit, claim: ClaimKey | None = None) -> None:
        """One paragraph: speak its chunks, join them, write the file, record it.

        Once the audio is here it is saved even if the attempt is cancelled
        meanwhile: it was paid for, and a later run can use it.
        """
        first = SpeechRequest(
            unit.text, self.voice_id, unit.previous_text, unit.next_text
        )
        parts: list[bytes] = []
        request_id = None
        for request in chunk_requests(first, self.provider.text_limit(self.voice_id)):
            spoken, request_id = await self._speak(request)
            parts.extend(spoken)

        try:
            data = audio.join(parts)
            info = audio.check_speech(data, unit.text)
        except audio.AudioError as error:
            raise NotAudioError(
                self.provider.name, str(error), code="not_audio"
            ) from error

        entry = self._entry(unit, info, len(data), request_id)
        try:
            await _to_the_end(asyncio.to_thread(self._save, entry, data, claim))
        except asyncio.CancelledError:
            self.new[unit.text_hash] = entry  # saved before the cancel took effect
            raise
        self.new[unit.text_hash] = entry

    def _entry(
        self, unit: Unit, info: audio.AudioInfo, size: int, request_id: str | None
    ) -> AudioEntry:
        story, provider = self.story, self.provider.name
        return AudioEntry(
            story_id=story.story_id,
            text_hash=unit.text_hash,
            voice=story.voice.name,
            provider=provider,
            provider_voice=self.provider.voice_key(self.voice_id),
            path=self.shop.store.relative_path(
                story.story_id, story.voice.name, provider, unit.text_hash, info.format
            ),
            format=info.format,
            size=size,
            duration_s=round(info.duration_s, 3),
            chars=len(unit.text),
            request_id=request_id,
            created_at=datetime.now(UTC),
        )

    def _save(self, entry: AudioEntry, data: bytes, claim: ClaimKey | None) -> None:
        """Write the file, then record it: an entry never points at a partial file.
        The claim on the paragraph is dropped in the entry's own transaction."""
        try:
            self.shop.store.write(entry.path, data)
        except OSError as error:
            raise StoreError(
                f"cannot write audio to {self.shop.store.root}: {error}"
            ) from error

        claims = self.shop.claims
        if claims is None or claim is None:
            self.shop.cache.record(entry)
        else:
            self.shop.cache.record(entry, also=lambda c: claims.release_in(c, claim))

    async def _speak(self, request: SpeechRequest) -> tuple[list[bytes], str | None]:
        """Audio for one chunk; a chunk the provider finds too long is halved."""
        try:
            data, request_id = await self._request(request)
        except TooLongError:
            halves = split_chunks(request.text, max(1, len(request.text) // 2))
            if len(halves) < 2:
                raise

            log.info(
                "%s: %d characters too long, splitting",
                self.provider.name,
                len(request.text),
            )
            parts: list[bytes] = []
            request_id = None
            for half in requests_for(request, halves):
                spoken, request_id = await self._speak(half)
                parts.extend(spoken)
            return parts, request_id
        return [data], request_id

    async def _request(self, request: SpeechRequest) -> tuple[bytes, str | None]:
        """One chunk with retries; every failure is counted by the breaker."""
        provider, breaker = self.provider, self.breaker
        deadline = min(
            self.shop.timeout, DEADLINE_FLOOR + len(request.text) * DEADLINE_PER_CHAR
        )

        async def once() -> tuple[bytes, str | None]:
            try:
                async with self.shop.slot(provider), asyncio.timeout(deadline):
                    if breaker.tripped is not None:  # by another story's request
                        raise _BreakerOpened(breaker.tripped)
                    speech = await provider.synthesize(request)
            except TimeoutError as error:
                raise TimedOutError(
                    provider.name, f"no answer within {deadline:g} s", code="timeout"
                ) from error

            try:
                audio.check_speech(speech.audio, request.text)
            except audio.AudioError as error:
                raise NotAudioError(
                    provider.name,
                    str(error),
                    code="not_audio",
                    request_id=speech.request_id,
                ) from error

            self.sent += len(request.text)
            await breaker.success()
            return speech.audio, speech.request_id

        async def counted(error: ProviderError) -> None:
            if await breaker.failure(error):
                raise _BreakerOpened(error)

        return await with_retries(provider.name, provider.retry, once, counted)


async def _to_the_end(work: Awaitable[T]) -> T:
    """Await `work` to its end even when cancelled meanwhile, then honour the
    cancel: a claim taken or audio paid for is never lost half way."""
    task = asyncio.ensure_future(work)
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        await task
        raise


async def _all_of(workers: list[Coroutine[Any, Any, None]]) -> None:
    """Run the workers together; the first to raise cancels the others."""
    try:
        async with asyncio.TaskGroup() as group:
            for work in workers:
                group.create_task(work)
    except BaseExceptionGroup as group:
        raise group.exceptions[0] from None
