"""Microsoft Edge's read-aloud voices, through the edge-tts package.

edge-tts needs no key. Its own timeouts cover the connection and the
WebSocket upgrade but not the audio stream, so every stream runs under a
deadline here. Its failures arrive as its own exceptions and as raw aiohttp
ones; both are classified. A stream that ends early without an error gives
audio shorter than the sentence boundaries the service announced: that is
caught and retried. See PROVIDERS.md, part 3.
"""

from __future__ import annotations

import asyncio
import logging
import time

import aiohttp
import edge_tts
from edge_tts import exceptions as edge_errors

from narrate.errors import (
    ProviderError,
    ProviderOutError,
    TimedOutError,
    TransientError,
    VoiceError,
)
from narrate.providers.base import Provider, Speech, SpeechRequest
from narrate.providers.retry import RetryPolicy

log = logging.getLogger(__name__)

DEFAULT_CONCURRENCY = 4
# Edge sends 24 kHz mono MP3 at 48 kbit/s: 6,000 bytes a second.
_BYTES_PER_SECOND = 6_000
_TICKS_PER_SECOND = 10_000_000
# How much shorter than its announced sentences the audio may be.
_TRUNCATION_SLACK = 0.5
_CONNECT_TIMEOUT = 10
# aiohttp names DNS failures apart from 3.10 on; before that they are connect errors.
_DNS_ERROR: type[BaseException] | tuple[()] = getattr(
    aiohttp, "ClientConnectorDNSError", ()
)


class EdgeProvider(Provider):
    """Edge's neural voices over the WebSocket protocol edge-tts speaks."""

    name = "edge"
    # Far below edge-tts's 4,096-byte chunks, which the service has truncated.
    max_chars = 1_500

    def __init__(
        self,
        *,
        timeout: float = 60.0,
        retry: RetryPolicy | None = None,
        max_concurrency: int = DEFAULT_CONCURRENCY,
    ) -> None:
        self.timeout = timeout
        self.retry = retry or RetryPolicy()
        self.max_concurrency = max_concurrency

    def voice_key(self, voice: str) -> str:
        """Edge's output format is fixed, so the voice decides the sound."""
        return f"{voice}/audio-24khz-48kbitrate-mono-mp3"

    async def synthesize(self, request: SpeechRequest) -> Speech:
        """Speak one chunk over one connection, or raise the classified failure."""
        started = time.monotonic()
        outcome = "ok"
        try:
            async with asyncio.timeout(self.timeout):
                audio, spoken_until = await self._stream(request)
        except ProviderError as error:
            outcome = error.reason
            raise
        except BaseException as error:
            failure = self._classify(error)
            if failure is None:  # cancelled, most often: the story moved on
                outcome = _unclassified(error)
                raise
            outcome = failure.reason
            raise failure from error
        finally:
            elapsed = (time.monotonic() - started) * 1000
            log.info(
                "%s %s %d chars %.0f ms", self.name, outcome, len(request.text), elapsed
            )

        heard = len(audio) / _BYTES_PER_SECOND
        if heard + _TRUNCATION_SLACK < spoken_until:
            raise TransientError(
                self.name,
                f"stream ended early: {heard:.1f} s of audio for {spoken_until:.1f} s "
                "of announced speech",
                code="truncated",
            )
        return Speech(audio, "mp3")

    async def _stream(self, request: SpeechRequest) -> tuple[bytes, float]:
        """The audio, and the end of the last sentence the service announced."""
        communicate = edge_tts.Communicate(
            request.text,
            request.voice,
            connect_timeout=min(_CONNECT_TIMEOUT, max(1, int(self.timeout))),
            receive_timeout=max(1, int(self.timeout)),
        )
        audio = bytearray()
        spoken_until = 0.0
        async for chunk in communicate.stream():
            if chunk["type"] == "audio":
                audio.extend(chunk["data"])
            elif "offset" in chunk:
                end = chunk["offset"] + chunk.get("duration", 0)
                spoken_until = max(spoken_until, end / _TICKS_PER_SECOND)
        return bytes(audio), spoken_until

    def _classify(self, error: BaseException) -> ProviderError | None:
        """The provider error for an exception edge-tts let through, if it is one."""
        text = str(error) or type(error).__name__
        if isinstance(error, TimeoutError):
            return TimedOutError(
                self.name, f"no answer within {self.timeout:g} s", code="timeout"
            )
        if isinstance(error, aiohttp.WSServerHandshakeError):
            return self._handshake(error)
        if isinstance(error, aiohttp.ClientConnectorError):
            return self._connect_error(error)
        if isinstance(error, aiohttp.ClientError):
            return TransientError(
                self.name, f"connection failed: {text}", code="network"
            )
        return self._edge_error(error, text)

    def _connect_error(self, error: aiohttp.ClientConnectorError) -> ProviderError:
        where = f"{error.host}:{error.port}"
        reason = error.os_error.strerror or str(error.os_error)
        if isinstance(error, _DNS_ERROR):
            return ProviderOutError(
                self.name, f"cannot resolve {where}: {reason}", code="dns"
            )
        return TransientError(
            self.name, f"cannot connect to {where}: {reason}", code="connect"
        )

    def _handshake(self, error: aiohttp.WSServerHandshakeError) -> ProviderError:
        status = error.status
        message = f"WebSocket upgrade refused: {error.message}"
        if status in (408, 429) or status >= 500:
            return TransientError(
                self.name, message, status=status, code=f"http_{status}"
            )
        # A 403 survives edge-tts's own clock-skew retry only when its token or
        # version string is out of date; retrying cannot help.
        return ProviderOutError(
            self.name, message, status=status, code=f"http_{status}"
        )

    def _edge_error(self, error: BaseException, text: str) -> ProviderError | None:
        kinds: dict[type[BaseException], tuple[type[ProviderError], str]] = {
            edge_errors.NoAudioReceived: (TransientError, "no_audio"),
            edge_errors.SkewAdjustmentError: (ProviderOutError, "clock_skew"),
            edge_errors.EdgeTTSException: (TransientError, "protocol"),
            ValueError: (VoiceError, "bad_voice"),
        }
        for kind, (error_class, code) in kinds.items():
            if isinstance(error, kind):
                return error_class(self.name, text, code=code)
        return None


def _unclassified(error: BaseException) -> str:
    """The log's word for how a request that is not a provider failure ended."""
    if isinstance(error, asyncio.CancelledError):
        return "cancelled"
    return type(error).__name__
