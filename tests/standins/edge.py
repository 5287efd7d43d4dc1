"""A stand-in for Microsoft Edge's read-aloud WebSocket (PROVIDERS.md 3.4 to 3.7).

edge-tts opens one WebSocket per chunk of text on
`/consumer/speech/synthesize/readaloud/edge/v1`, sends a `speech.config` and
an `ssml` text frame, and reads back `turn.start`, `audio.metadata` boundary
events, binary audio frames and `turn.end`. Point the library here with
`edge_tts.communicate.WSS_URL = standin.edge_url`.

The script is consulted twice per connection: at the handshake, before the
text is known (so rules see an empty `text`), and again once the SSML has
arrived. `error`, `html` and `reset` act at the handshake; `audio`,
`slow_audio`, `hang`, `no_audio`, `truncated` and `unknown_path` act after
it; any other reply is a mistake in the test and gets a handshake 500. A
handshake reply that a text rule picks only once the SSML has arrived comes
too late: the stand-in then just closes the socket.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import uuid
from dataclasses import dataclass
from typing import Any
from xml.sax.saxutils import escape, unescape

import edge_tts.drm
from aiohttp import WSMsgType, web

from standins.mp3 import silent_mp3, speech_seconds
from standins.records import RecordedRequest, snapshot
from standins.replies import (
    Audio,
    Error,
    Hang,
    Html,
    NoAudio,
    Reply,
    Reset,
    SlowAudio,
    Truncated,
    UnknownPath,
)
from standins.server import (
    HOST,
    StandInServer,
    drop_connection,
    error_response,
    html_response,
)

WS_PATH = "/consumer/speech/synthesize/readaloud/edge/v1"
TRUSTED_CLIENT_TOKEN = "STANDIN"
SAMPLE_RATE = 24000
BITRATE_KBPS = 48
TICKS_PER_SECOND = 10_000_000
AUDIO_FRAME_BYTES = 4_608
CLOSE_TIMEOUT = 1.0
HANDSHAKE_REPLIES = (Error, Html, Reset)
STREAM_REPLIES = (Audio, SlowAudio, Truncated, NoAudio, UnknownPath, Hang)
_UNITS = {
    "WordBoundary": re.compile(r"\S+"),
    "SentenceBoundary": re.compile(r"[^.!?\s][^.!?]*[.!?]*"),
}


@dataclass(frozen=True)
class Turn:
    """What the client asked for on one connection."""

    request_id: str
    config: dict[str, Any]
    ssml: str

    @property
    def text(self) -> str:
        """The text inside `<prosody>`, XML-unescaped."""
        found = re.search(r"<prosody[^>]*>(.*)</prosody>", self.ssml, re.S)
        return unescape(found.group(1)) if found else ""

    @property
    def voice(self) -> str:
        """The voice name of the `<voice>` element, in its long form."""
        found = re.search(r"<voice name='([^']*)'>", self.ssml)
        return found.group(1) if found else ""

    @property
    def boundary(self) -> str:
        """`WordBoundary` or `SentenceBoundary`, as `speech.config` enabled."""
        audio = self.config.get("context", {}).get("synthesis", {}).get("audio", {})
        options = audio.get("metadataoptions", {})
        words = options.get("wordBoundaryEnabled") == "true"
        return "WordBoundary" if words else "SentenceBoundary"


def forget_clock_skew() -> None:
    """Undo the clock correction edge-tts learns from a 403's `Date` header."""
    edge_tts.drm.DRM.clock_skew_seconds = 0


def parse_text_frame(data: str) -> tuple[dict[str, str], str]:
    """Split a text frame into its `Name:value` headers and its body."""
    head, _, body = data.partition("\r\n\r\n")
    headers = dict(line.split(":", 1) for line in head.split("\r\n") if ":" in line)
    return headers, body


def text_frame(request_id: str, path: str, body: Any) -> str:
    """A server text frame: headers, an empty line, then a JSON body."""
    return (
        f"X-RequestId:{request_id}\r\n"
        "Content-Type:application/json; charset=utf-8\r\n"
        f"Path:{path}\r\n\r\n"
        f"{json.dumps(body)}"
    )


def audio_frame(request_id: str, audio: bytes) -> bytes:
    """A binary frame: 2-byte header length, CRLF-ended headers, then audio.

    `Path:audio` is not the first header line and the block ends with CRLF,
    as the client's parser needs. An empty `audio` gives the service's final
    frame, which carries no `Content-Type`.
    """
    kind = "Content-Type:audio/mpeg\r\n" if audio else ""
    header = f"X-RequestId:{request_id}\r\n{kind}Path:audio\r\n".encode()
    return len(header).to_bytes(2, "big") + header + audio


def boundaries(text: str, kind: str, total_ticks: int) -> list[dict[str, Any]]:
    """Boundary metadata entries for `text`, spread over `total_ticks` of audio.

    Each word or sentence gets time in proportion to its length, so the last
    one ends exactly where the audio does.
    """
    units = [match.group().strip() for match in _UNITS[kind].finditer(text)]
    units = [unit for unit in units if unit]
    chars = sum(len(unit) for unit in units)
    entries, before = [], 0
    for unit in units:
        start = total_ticks * before // chars
        before += len(unit)
        end = total_ticks * before // chars
        entries.append(_boundary(kind, unit, start, end - start))
    return entries


def _boundary(kind: str, unit: str, offset: int, duration: int) -> dict[str, Any]:
    text = {"Text": escape(unit), "Length": len(unit), "BoundaryType": kind}
    data = {"Offset": offset, "Duration": duration, "text": text}
    return {"Metadata": [{"Type": kind, "Data": data}]}


async def _drain(ws: web.WebSocketResponse) -> None:
    """Read and ignore messages until the client closes."""
    async for _ in ws:
        pass


class EdgeStandIn(StandInServer):
    """The Edge read-aloud service on 127.0.0.1, speaking 24 kHz 48 kbps MP3."""

    def make_app(self) -> web.Application:
        """The one route: the synthesis WebSocket."""
        app = web.Application()
        app.router.add_get(WS_PATH, self._connect)
        return app

    @property
    def edge_url(self) -> str:
        """The value for `edge_tts.communicate.WSS_URL` (it already has a `?`)."""
        query = f"TrustedClientToken={TRUSTED_CLIENT_TOKEN}"
        return f"ws://{HOST}:{self.port}{WS_PATH}?{query}"

    async def _connect(self, request: web.Request) -> web.StreamResponse:
        recorded = self.record(await snapshot(request), speech=True)
        reply = self.script.decide(recorded)
        if isinstance(reply, HANDSHAKE_REPLIES):
            return self._refuse(request, reply)
        if not isinstance(reply, STREAM_REPLIES):
            return web.Response(status=500, text=f"Edge cannot perform {reply!r}")

        ws = web.WebSocketResponse(timeout=CLOSE_TIMEOUT)
        await ws.prepare(request)
        with contextlib.suppress(ConnectionError):  # the client may leave first
            await self._converse(ws, recorded)
        await ws.close()
        return ws

    async def _converse(
        self, ws: web.WebSocketResponse, recorded: RecordedRequest
    ) -> None:
        turn = await self._read_turn(ws)
        if turn is None:
            return
        body = {"speech.config": turn.config, "ssml": turn.ssml}
        recorded = self.amend(recorded, body=body, text=turn.text, voice=turn.voice)
        await self._perform(ws, turn, self.script.decide(recorded))

    @staticmethod
    def _refuse(request: web.Request, reply: Reply) -> web.StreamResponse:
        """Answer the handshake with an error, an HTML page or a reset."""
        match reply:
            case Error():
                return error_response(reply, "")
            case Html(status):
                return html_response(status)
        drop_connection(request, reset=True)
        return web.Response()

    @staticmethod
    async def _read_turn(ws: web.WebSocketResponse) -> Turn | None:
        """Read `speech.config` and `ssml`; None if the client leaves first."""
        config: dict[str, Any] = {}
        async for message in ws:
            if message.type != WSMsgType.TEXT:
                continue
            headers, body = parse_text_frame(message.data)
            if headers.get("Path") == "speech.config":
                config = json.loads(body)
            elif headers.get("Path") == "ssml":
                request_id = headers.get("X-RequestId", uuid.uuid4().hex)
                return Turn(request_id, config, body)
        return None

    async def _perform(
        self, ws: web.WebSocketResponse, turn: Turn, reply: Reply
    ) -> None:
        """Carry out one scripted reply on an open connection."""
        match reply:
            case Audio(seconds):
                await self._speak(ws, turn, seconds)
            case SlowAudio(seconds_total, pieces):
                await self._speak(ws, turn, None, pace=seconds_total, pieces=pieces)
            case Truncated(fraction):
                await self._speak(ws, turn, None, keep=fraction)
            case NoAudio():
                await self._send(ws, turn, "turn.start", {})
                await self._send(ws, turn, "turn.end", {})
            case UnknownPath(path):
                await self._send(ws, turn, "turn.start", {})
                await self._send(ws, turn, path, {})
            case Hang():
                await self._linger(ws)

    async def _speak(
        self,
        ws: web.WebSocketResponse,
        turn: Turn,
        seconds: float | None,
        *,
        pace: float = 0.0,
        pieces: int = 0,
        keep: float = 1.0,
    ) -> None:
        """Announce every boundary, send `keep` of the audio, end the turn if all.

        With `pieces`, the audio goes out in that many frames spread over
        `pace` seconds; otherwise in frames of a few kilobytes at once.
        """
        length = speech_seconds(turn.text) if seconds is None else seconds
        audio = silent_mp3(length, sample_rate=SAMPLE_RATE, bitrate_kbps=BITRATE_KBPS)
        ticks = len(audio) * 8 * TICKS_PER_SECOND // (BITRATE_KBPS * 1000)
        await self._announce(ws, turn, ticks)

        size = -(-len(audio) // pieces) if pieces else AUDIO_FRAME_BYTES
        kept = audio[: int(len(audio) * min(keep, 1.0))]
        gap = pace / max(1, pieces - 1)
        for start in range(0, len(kept), size):
            if start and pace and await self.wait_for_stop(gap):
                return
            await ws.send_bytes(
                audio_frame(turn.request_id, kept[start : start + size])
            )

        if keep >= 1.0:
            await ws.send_bytes(audio_frame(turn.request_id, b""))
            await self._send(ws, turn, "turn.end", {})

    async def _announce(
        self, ws: web.WebSocketResponse, turn: Turn, ticks: int
    ) -> None:
        """Start the turn and send one boundary event per word or sentence."""
        context = {"context": {"serviceTag": "standin"}}
        await self._send(ws, turn, "turn.start", context)
        await self._send(ws, turn, "response", context)
        for entry in boundaries(turn.text, turn.boundary, ticks):
            await self._send(ws, turn, "audio.metadata", entry)

    @staticmethod
    async def _send(
        ws: web.WebSocketResponse, turn: Turn, path: str, body: Any
    ) -> None:
        await ws.send_str(text_frame(turn.request_id, path, body))

    async def _linger(self, ws: web.WebSocketResponse) -> None:
        """Say nothing until the client gives up or the stand-in stops."""
        reader = asyncio.ensure_future(_drain(ws))
        stopper = asyncio.ensure_future(self.wait_for_stop())
        await asyncio.wait({reader, stopper}, return_when=asyncio.FIRST_COMPLETED)
        stopper.cancel()
        if not reader.done():
            await ws.close()
        await asyncio.gather(reader, stopper, return_exceptions=True)
