"""What the HTTP providers share: the client, timeouts, retries, checking answers.

One `httpx.AsyncClient` per provider per run, with explicit connect and read
timeouts and a deadline for the whole request. Every answer is classified:
a transient failure is retried (see `retry`), a provider-out failure is not,
a too-long text is for the engine to split, and a 200 that is not whole audio
is refused here before anything is written. Each request logs one INFO line:
provider, status, characters, milliseconds. The API key travels only in a
request header, and is blanked out of anything a provider sends back.
"""

from __future__ import annotations

import abc
import asyncio
import html
import json
import logging
import re
import time
from dataclasses import dataclass
from typing import Any

import httpx

from narrate.audio import sniff
from narrate.errors import (
    NotAudioError,
    ProviderError,
    ProviderOutError,
    TimedOutError,
    TransientError,
)
from narrate.providers.base import Provider, Speech, SpeechRequest
from narrate.providers.retry import RetryPolicy, parse_retry_after

log = logging.getLogger(__name__)

_CONNECT_TIMEOUT = 10.0
_MESSAGE_CHARS = 200
# Words of a provider's message that share this many characters with the key
# are blanked out: a key echoed changed, cut or re-cased is still a key.
_KEY_WINDOW = 8
_KEYISH = re.compile(r"[A-Za-z0-9_\-]{8,}")
_TAGS = re.compile(r"<[^>]+>")
_TITLE = re.compile(r"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)
_DNS_FAILURE = re.compile(
    r"name or service not known|nodename nor servname|getaddrinfo|no address associated"
    r"|temporary failure in name resolution",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class ErrorDetail:
    """What a provider's error body says: its code, message and request id."""

    code: str | None
    message: str
    request_id: str | None = None


class HttpProvider(Provider, abc.ABC):
    """A provider reached over HTTP with an API key."""

    def __init__(
        self,
        *,
        api_key: str,
        base_url: str,
        timeout: float,
        retry: RetryPolicy,
        max_concurrency: int,
    ) -> None:
        self._key = api_key
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.retry = retry
        self.max_concurrency = max_concurrency
        self._client = httpx.AsyncClient(
            base_url=self.base_url,
            headers=self.auth_headers(api_key),
            timeout=httpx.Timeout(timeout, connect=min(timeout, _CONNECT_TIMEOUT)),
            follow_redirects=False,
        )

    @abc.abstractmethod
    def auth_headers(self, api_key: str) -> dict[str, str]:
        """The headers that carry the key."""

    @abc.abstractmethod
    def build(
        self, request: SpeechRequest
    ) -> tuple[str, dict[str, str], dict[str, Any]]:
        """The path, query parameters and JSON body for one chunk."""

    @abc.abstractmethod
    def classify(self, status: int, detail: ErrorDetail) -> type[ProviderError]:
        """The error class for a non-success answer."""

    def request_id(self, response: httpx.Response) -> str | None:
        """The provider's id for this request, from the response headers."""
        value = response.headers.get("request-id")
        return str(value) if value else None

    async def aclose(self) -> None:
        """Close the provider's connection pool."""
        await self._client.aclose()

    async def synthesize(self, request: SpeechRequest) -> Speech:
        """Speak one chunk in one request, or raise the classified failure."""
        path, params, body = self.build(request)
        started = time.monotonic()
        status: int | str = "-"
        try:
            async with asyncio.timeout(self.timeout):
                response = await self._client.post(path, params=params, json=body)
            status = response.status_code
        except (TimeoutError, httpx.TimeoutException) as error:
            status = "timeout"
            raise TimedOutError(
                self.name, f"no answer within {self.timeout:g} s", code="timeout"
            ) from error
        except httpx.TransportError as error:
            status = "network"
            raise self._network_error(error) from error
        finally:
            elapsed = (time.monotonic() - started) * 1000
            log.info(
                "%s %s %d chars %.0f ms", self.name, status, len(request.text), elapsed
            )

        if not response.is_success:
            raise self._error(response)
        return self._audio(response)

    def _network_error(self, error: httpx.TransportError) -> ProviderError:
        text = self._redact(str(error) or type(error).__name__)
        if isinstance(error, httpx.ConnectError) and _DNS_FAILURE.search(text):
            return ProviderOutError(
                self.name, f"cannot resolve the host: {text}", code="dns"
            )
        if isinstance(error, httpx.RemoteProtocolError):
            return TransientError(
                self.name, f"answer cut short: {text}", code="incomplete"
            )
        if isinstance(error, httpx.ConnectError):
            return TransientError(self.name, f"cannot connect: {text}", code="connect")
        return TransientError(self.name, f"connection failed: {text}", code="network")

    def _error(self, response: httpx.Response) -> ProviderError:
        detail = self._detail(response)
        kind = self.classify(response.status_code, detail)
        request_id = detail.request_id or self.request_id(response)
        common: dict[str, Any] = {
            "code": detail.code,
            "status": response.status_code,
            "request_id": request_id,
        }
        if issubclass(kind, TransientError):
            retry_after = response.headers.get("retry-after-ms")
            seconds = (
                float(retry_after) / 1000
                if retry_after and retry_after.isdigit()
                else parse_retry_after(response.headers.get("retry-after"))
            )
            return TransientError(
                self.name, detail.message, retry_after=seconds, **common
            )
        return kind(self.name, detail.message, **common)

    def _audio(self, response: httpx.Response) -> Speech:
        """The answer's audio, or NotAudioError when it is not whole audio."""
        data = response.content
        request_id = self.request_id(response)
        content_type = response.headers.get("content-type", "")
        if not content_type.startswith("audio/"):
            summary = _summary(data.decode("utf-8", "replace"))
            raise NotAudioError(
                self.name,
                f"answered {content_type or 'no content type'}, not audio: {summary}",
                code="not_audio",
                status=response.status_code,
                request_id=request_id,
            )

        if _cut_short(response, data):
            raise TransientError(
                self.name,
                f"audio cut short: {len(data)} of "
                f"{response.headers['content-length']} bytes",
                code="incomplete",
                request_id=request_id,
            )

        fmt = sniff(data)
        if fmt is None:
            raise NotAudioError(
                self.name,
                f"{content_type} body is not audio ({len(data)} bytes)",
                code="not_audio",
                status=response.status_code,
                request_id=request_id,
            )
        return Speech(data, fmt, request_id)

    def _detail(self, response: httpx.Response) -> ErrorDetail:
        text = self._redact(response.text)
        try:
            body = json.loads(text)
        except ValueError:
            return ErrorDetail(None, _summary(text) or response.reason_phrase)
        if not isinstance(body, dict):
            return ErrorDetail(None, _summary(text))
        return self.parse_error(body)

    def parse_error(self, body: dict[str, Any]) -> ErrorDetail:
        """The code, message and request id of a JSON error body."""
        code = body.get("code") or body.get("status")
        message = body.get("message") or json.dumps(body)[:_MESSAGE_CHARS]
        return ErrorDetail(
            _text(code), _short(str(message)), _text(body.get("request_id"))
        )

    def _redact(self, text: str) -> str:
        """The text with the key blanked out, and any word that shares eight
        characters in a row with it (a prefix, a changed case, a near-copy)."""
        if not self._key:
            return text
        key = self._key.lower()
        windows = {key[i : i + _KEY_WINDOW] for i in range(len(key) - _KEY_WINDOW + 1)}

        def blank(match: re.Match[str]) -> str:
            word = match.group(0).lower()
            spans = (
                word[i : i + _KEY_WINDOW] for i in range(len(word) - _KEY_WINDOW + 1)
            )
            return "***" if any(span in windows for span in spans) else match.group(0)

        return _KEYISH.sub(blank, text.replace(self._key, "***"))


def _cut_short(response: httpx.Response, data: bytes) -> bool:
    """Whether the body is shorter than its uncompressed Content-Length."""
    declared = response.headers.get("content-length", "")
    if not declared.isdigit() or "content-encoding" in response.headers:
        return False
    return len(data) != int(declared)


def _summary(text: str) -> str:
    """A short line for an error body: an HTML page's title or its text."""
    title = _TITLE.search(text)
    if title:
        return _short(html.unescape(title.group(1)))
    return _short(html.unescape(_TAGS.sub(" ", text)))


def _short(text: str) -> str:
    text = " ".join(text.split())
    if len(text) > _MESSAGE_CHARS:
        return text[: _MESSAGE_CHARS - 1] + "…"
    return text


def _text(value: object) -> str | None:
    return str(value) if isinstance(value, str | int) and value != "" else None
