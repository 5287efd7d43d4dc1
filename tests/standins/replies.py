"""Scripted replies: what a stand-in does with one request.

A reply is plain data; each stand-in turns it into its provider's wire format.
`audio()` is a healthy answer in the provider's own audio format and headers,
`error(503)` an error body in the provider's own shape, and the rest are the
ways real services misbehave. The REST stand-ins understand every reply here
except the Edge-only ones at the bottom; the Edge stand-in answers `error`,
`html` and `reset` at the WebSocket handshake and streams the others after it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


class Reply:
    """Base of every scripted reply."""


@dataclass(frozen=True)
class Audio(Reply):
    """Healthy speech; `seconds` None means sized from the text."""

    seconds: float | None = None


@dataclass(frozen=True)
class Error(Reply):
    """An error status; a body of None means the provider's usual error body."""

    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Html(Reply):
    """An HTML page served with `text/html`, as an outage page would be."""

    status: int = 200


@dataclass(frozen=True)
class ShortBody(Reply):
    """Status 200 declaring `declared` bytes, sending `sent`, then hanging up."""

    declared: int = 48_000
    sent: int = 12_000


@dataclass(frozen=True)
class Hang(Reply):
    """Take the request and never answer, until the stand-in stops."""


@dataclass(frozen=True)
class SlowAudio(Reply):
    """Healthy audio sent in small pieces spread over `seconds_total`."""

    seconds_total: float
    pieces: int = 20


@dataclass(frozen=True)
class Reset(Reply):
    """Close the socket abruptly (TCP reset) without any response."""


@dataclass(frozen=True)
class EmptyAudio(Reply):
    """Status 200 with an audio content type and an empty body."""


@dataclass(frozen=True)
class JsonAsAudio(Reply):
    """Status 200 with an audio content type whose 256-byte body is JSON."""


@dataclass(frozen=True)
class NoAudio(Reply):
    """Edge only: `turn.start` then `turn.end`, with no audio between."""


@dataclass(frozen=True)
class Truncated(Reply):
    """Edge only: announce all the speech, send `fraction` of it, then close."""

    fraction: float = 0.5


@dataclass(frozen=True)
class UnknownPath(Reply):
    """Edge only: after `turn.start`, a text frame with a `Path` nobody knows."""

    path: str = "speech.unexpected"


def audio(seconds: float | None = None) -> Audio:
    """Healthy audio in the provider's format, as long as reading the text takes."""
    return Audio(seconds)


def error(
    status: int,
    body: Any = None,
    headers: dict[str, str] | None = None,
    *,
    retry_after: str | int | None = None,
) -> Error:
    """An error status with `body` (dict or list as JSON, str as text).

    With no body the stand-in sends its provider's usual error for the status.
    `retry_after` adds a `Retry-After` header: seconds, an HTTP date or junk.
    """
    merged = dict(headers or {})
    if retry_after is not None:
        merged["Retry-After"] = str(retry_after)
    return Error(status, body, merged)


def html(status: int = 200) -> Html:
    """An HTML page with `text/html`, as a proxy or an outage page sends."""
    return Html(status)


def short_body(declared: int = 48_000, sent: int = 12_000) -> ShortBody:
    """Status 200 with `Content-Length: declared`, `sent` audio bytes, then close."""
    return ShortBody(declared, sent)


def hang() -> Hang:
    """Accept the request and never answer until the stand-in stops."""
    return Hang()


def slow_audio(seconds_total: float) -> SlowAudio:
    """Healthy audio trickled out in small pieces over `seconds_total`."""
    return SlowAudio(seconds_total)


def reset() -> Reset:
    """Close the connection with a TCP reset instead of answering."""
    return Reset()


def empty_audio() -> EmptyAudio:
    """Status 200, `audio/mpeg`, and not a single byte of body."""
    return EmptyAudio()


def json_as_audio() -> JsonAsAudio:
    """Status 200, `audio/mpeg`, and a 256-byte JSON document as the body."""
    return JsonAsAudio()


def no_audio() -> NoAudio:
    """Edge: a turn that starts and ends without audio."""
    return NoAudio()


def truncated(fraction: float = 0.5) -> Truncated:
    """Edge: a fraction of the announced audio, then the socket closes."""
    return Truncated(fraction)


def unknown_path(path: str = "speech.unexpected") -> UnknownPath:
    """Edge: a text frame whose `Path` the client does not know."""
    return UnknownPath(path)
