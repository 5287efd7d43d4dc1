"""The interface every text-to-speech provider implements.

A provider turns one chunk of text into audio bytes, or raises one of the
classified errors of `narrate.errors` so that the engine knows whether to
split the text, move the story on, or give up on the provider for the run.
Retries belong to the provider: when `synthesize` raises, it has already
tried as often as its policy allows.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass


@dataclass(frozen=True)
class SpeechRequest:
    """One chunk of a paragraph to speak, with its neighbours for prosody."""

    text: str
    voice: str
    previous_text: str | None = None
    next_text: str | None = None


@dataclass(frozen=True)
class Speech:
    """What a provider answered: audio bytes, their format, its request id."""

    audio: bytes
    format: str
    request_id: str | None = None


class Provider(abc.ABC):
    """A text-to-speech service narrate can send chunks to.

    `max_chars` is the longest text one request may carry; `max_concurrency`
    caps how many requests run at once, whatever `--concurrency` asks for.
    """

    name: str
    max_chars: int
    max_concurrency: int

    @abc.abstractmethod
    async def synthesize(self, request: SpeechRequest) -> Speech:
        """Speak one chunk, or raise a `ProviderError` subclass."""

    def text_limit(self, voice: str) -> int:
        """The longest text one request in `voice` may carry."""
        return self.max_chars

    def voice_key(self, voice: str) -> str:
        """What, besides the text, decides how the audio sounds.

        A cache entry made under another key (another voice id, model or
        format) is treated as missing.
        """
        return voice

    async def aclose(self) -> None:  # noqa: B027 - most providers hold nothing
        """Release connections and threads; called once at the end of a run."""
