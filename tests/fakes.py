"""Test providers that implement narrate's Provider interface.

They stand in for real services in engine tests, the way a provider a user
plugged in would: by implementing the interface, not by patching narrate.
"""

from __future__ import annotations

import asyncio
import io
import math
import struct
import wave
from collections.abc import Callable
from dataclasses import dataclass, field

from narrate.errors import ProviderError
from narrate.providers.base import Provider, Speech, SpeechRequest
from narrate.providers.retry import RetryPolicy

SAMPLE_RATE = 2000
CHARS_PER_SECOND = 15


def tone(seconds: float, rate: int = SAMPLE_RATE) -> bytes:
    """A WAV file of a quiet sine tone lasting `seconds`."""
    frames = max(1, int(seconds * rate))
    samples = b"".join(
        struct.pack("<h", int(3000 * math.sin(i / 3))) for i in range(frames)
    )
    out = io.BytesIO()
    with wave.open(out, "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(rate)
        writer.writeframes(samples)
    return out.getvalue()


def speech_for(text: str) -> bytes:
    """Plausible audio for `text`: a tone as long as reading it would take."""
    return tone(len(text) / CHARS_PER_SECOND)


Behaviour = Callable[[SpeechRequest, int], "bytes | ProviderError | None"]


@dataclass
class FakeProvider(Provider):
    """A provider with a name, limits, latency and a scripted behaviour.

    `behaviour(request, call_number)` may return audio bytes, an error to
    raise, or None for ordinary plausible speech. Every request is recorded.
    """

    name: str = "fake"
    max_chars: int = 1000
    max_concurrency: int = 64
    latency: float = 0.0
    behaviour: Behaviour | None = None
    retry: RetryPolicy = RetryPolicy(retries=2, backoff=0.01, max_backoff=0.02)
    requests: list[SpeechRequest] = field(default_factory=list)
    in_flight: int = 0
    most_in_flight: int = 0
    completed: list[str] = field(default_factory=list)

    async def synthesize(self, request: SpeechRequest) -> Speech:
        """Answer after the latency, as scripted."""
        self.requests.append(request)
        call = len(self.requests)
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            if self.latency:
                await asyncio.sleep(self.latency)
            answer = self.behaviour(request, call) if self.behaviour else None
        finally:
            self.in_flight -= 1

        if isinstance(answer, ProviderError):
            raise answer
        self.completed.append(request.text)
        return Speech(answer if answer is not None else speech_for(request.text), "wav")

    @property
    def texts(self) -> list[str]:
        """The text of every request, in the order they were made."""
        return [request.text for request in self.requests]
