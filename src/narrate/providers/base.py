"""The interface every text-to-speech provider implements.

A provider turns one chunk of text into audio bytes in one request, or
raises one of the classified errors of `narrate.errors` so that the engine
knows whether to retry, split the text, move the story on, or give up on the
provider for the run. The provider says how patiently to retry (`retry`);
the engine does the retrying, because every failure also counts toward the
provider's circuit breaker.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass

from narrate.providers.retry import RetryPolicy


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
    `billed` is false for a provider that runs here and costs nothing: the
    characters it is sent count toward no budget.
    """

    name: str
    max_chars: int
    max_concurrency: int
    billed: bool = True
    retry: RetryPolicy = RetryPolicy()

    @abc.abstractmethod
    async def synthesize(self, request: SpeechRequest) -> Speech:
        """Speak one chunk in one request, or raise a `ProviderError` subclass."""

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
