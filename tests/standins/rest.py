"""Shared ground for the REST stand-ins (ElevenLabs, Deepgram).

`RestStandIn` turns every scripted reply into HTTP: healthy audio in the
provider's format and headers, error bodies in the provider's shape, and the
faults (short bodies, hangs, resets, slow trickles, fake audio). A provider
subclass says how to read a request and what it refuses before the script
is consulted: a wrong key, an unknown voice, a text over the limit.
"""

from __future__ import annotations

import json
from http import HTTPStatus
from typing import Any

from aiohttp import web

from standins.mp3 import silent_mp3, speech_seconds
from standins.records import RecordedRequest
from standins.replies import (
    Audio,
    EmptyAudio,
    Error,
    Hang,
    Html,
    JsonAsAudio,
    Reply,
    Reset,
    ShortBody,
    SlowAudio,
)
from standins.server import (
    StandInServer,
    drop_connection,
    error_response,
    html_response,
)

AUDIO_MPEG = "audio/mpeg"
FAKE_AUDIO_BYTES = 256


class RestStandIn(StandInServer):
    """A stand-in for a provider that answers speech over plain HTTP."""

    def audio_format(self, request: RecordedRequest) -> tuple[int, int]:
        """The sample rate and kilobit rate of the MP3 for a request."""
        raise NotImplementedError

    def audio_headers(self, request: RecordedRequest) -> dict[str, str]:
        """The provider's own headers on an audio answer."""
        return {}

    def error_body(self, status: int) -> Any:
        """The provider's usual error body for `status`."""
        return {"error": HTTPStatus(status).phrase}

    def chunked(self, request: RecordedRequest) -> bool:
        """Whether audio goes out with chunked transfer encoding."""
        return False

    def refusal(self, request: RecordedRequest) -> Error | None:
        """The error the provider answers before any scripted reply, if any."""
        return None

    async def answer_speech(
        self, request: web.Request, recorded: RecordedRequest
    ) -> web.StreamResponse:
        """Record a speech request, then answer its refusal or scripted reply."""
        kept = self.record(recorded, speech=True)
        reply = self.refusal(kept) or self.script.decide(kept)
        return await self.perform(reply, request, kept)

    async def perform(
        self, reply: Reply, request: web.Request, recorded: RecordedRequest
    ) -> web.StreamResponse:
        """Carry out one scripted reply on the wire."""
        match reply:
            case Audio(seconds):
                return await self._send_audio(request, recorded, seconds)
            case SlowAudio(seconds_total, pieces):
                return await self._send_audio(
                    request, recorded, None, pace=seconds_total, pieces=pieces
                )
            case Error():
                return self.error_response(reply)
            case Html(status):
                return html_response(status)
            case ShortBody(declared, sent):
                return await self._send_short(request, recorded, declared, sent)
            case Hang():
                await self.wait_for_stop()
                return self._hang_up(request)
            case Reset():
                drop_connection(request, reset=True)
                return web.Response()
            case EmptyAudio():
                return self._fake_audio(recorded, b"")
            case JsonAsAudio():
                return self._fake_audio(recorded, self._json_padded())
        return web.Response(status=500, text=f"stand-in cannot perform {reply!r}")

    def error_response(self, reply: Error) -> web.Response:
        """An error reply in this provider's shape."""
        return error_response(reply, self.error_body(reply.status))

    def speech(self, recorded: RecordedRequest, seconds: float | None) -> bytes:
        """The MP3 for a request, as long as `seconds` or as reading the text."""
        rate, kbps = self.audio_format(recorded)
        length = speech_seconds(recorded.text) if seconds is None else seconds
        return silent_mp3(length, sample_rate=rate, bitrate_kbps=kbps)

    def _headers(self, recorded: RecordedRequest) -> dict[str, str]:
        return {"Content-Type": AUDIO_MPEG, **self.audio_headers(recorded)}

    async def _send_audio(
        self,
        request: web.Request,
        recorded: RecordedRequest,
        seconds: float | None,
        *,
        pace: float = 0.0,
        pieces: int = 1,
    ) -> web.StreamResponse:
        body = self.speech(recorded, seconds)
        response = web.StreamResponse(headers=self._headers(recorded))
        if self.chunked(recorded):
            response.enable_chunked_encoding()
        else:
            response.content_length = len(body)
        await response.prepare(request)

        size = max(1, -(-len(body) // max(1, pieces)))
        chunks = [body[start : start + size] for start in range(0, len(body), size)]
        gap = pace / max(1, len(chunks) - 1)
        try:
            for index, chunk in enumerate(chunks):
                if index and await self.wait_for_stop(gap):
                    return self._hang_up(request, response)
                await response.write(chunk)
            await response.write_eof()
        except ConnectionError:
            pass  # the client hung up first; nobody is left to answer
        return response

    async def _send_short(
        self, request: web.Request, recorded: RecordedRequest, declared: int, sent: int
    ) -> web.StreamResponse:
        rate, kbps = self.audio_format(recorded)
        body = silent_mp3(
            declared * 8 / (kbps * 1000) + 1, sample_rate=rate, bitrate_kbps=kbps
        )
        response = web.StreamResponse(headers=self._headers(recorded))
        response.content_length = declared
        await response.prepare(request)
        await response.write(body[:sent])
        return self._hang_up(request, response)

    def _fake_audio(self, recorded: RecordedRequest, body: bytes) -> web.Response:
        return web.Response(body=body, headers=self._headers(recorded))

    def _json_padded(self) -> bytes:
        """The provider's error JSON, padded with spaces to exactly 256 bytes."""
        text = json.dumps(self.error_body(500)).encode()
        if len(text) > FAKE_AUDIO_BYTES:
            raise ValueError("the error body is too long to pose as 256 bytes of audio")
        return text.ljust(FAKE_AUDIO_BYTES)

    @staticmethod
    def _hang_up(
        request: web.Request, response: web.StreamResponse | None = None
    ) -> web.StreamResponse:
        """Close the connection; aiohttp then has nothing more to send."""
        drop_connection(request)
        return web.Response() if response is None else response
