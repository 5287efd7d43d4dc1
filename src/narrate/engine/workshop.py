"""What every attempt at a story works with: the cache, the audio store, the
bounds on requests in flight, and whoever shows progress.

One workshop serves a whole run, so the bounds hold across all its stories.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Protocol

import sqlalchemy as sa

from narrate.engine.story import Story
from narrate.providers.base import Provider
from narrate.store.audio_files import AudioStore
from narrate.store.cache import Cache
from narrate.store.claims import ClaimStore
from narrate.store.models import AudioEntry


class Progress(Protocol):
    """What the engine tells whoever shows progress."""

    def begin(self, story_id: str, provider: str, done: int, total: int) -> None:
        """A provider starts on the story; `done` paragraphs are already cached."""

    def advance(self, story_id: str) -> None:
        """One more paragraph of the story has audio."""


@dataclass(frozen=True)
class Workshop:
    """What every attempt works with: cache, audio store, bounds, progress."""

    cache: Cache
    store: AudioStore
    concurrency: int
    timeout: float
    progress: Progress | None = None
    claims: ClaimStore | None = None
    slots: dict[str, asyncio.Semaphore] = field(default_factory=dict)

    @contextlib.asynccontextmanager
    async def slot(self, provider: Provider) -> AsyncIterator[None]:
        """A place among the requests in flight: at most `concurrency` in all,
        and at most the provider's cap for that provider, whatever the story."""
        if not self.slots:
            self.slots[""] = asyncio.Semaphore(self.concurrency)
        if provider.name not in self.slots:
            cap = min(self.concurrency, provider.max_concurrency)
            self.slots[provider.name] = asyncio.Semaphore(cap)
        async with self.slots[""], self.slots[provider.name]:
            yield

    def usable(
        self,
        story: Story,
        provider: Provider,
        voice_id: str,
        hashes: list[str],
        connection: sa.Connection | None = None,
    ) -> dict[str, AudioEntry]:
        """The provider's cache entries for these paragraphs that can be trusted:
        made in the same provider voice, their file whole on disk."""
        key = provider.voice_key(voice_id)
        where = (story.story_id, story.voice.name, provider.name, hashes)
        if connection is None:
            rows = self.cache.lookup(*where)
        else:
            rows = self.cache.lookup_in(connection, *where)
        return {
            text_hash: entry
            for text_hash, entry in rows.items()
            if entry.provider_voice == key and self.store.holds(entry.path, entry.size)
        }
