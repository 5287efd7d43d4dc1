"""Deepgram Aura: `POST /v1/speak?model=...` with `Authorization: Token ...`.

Aura-2 models take at most 1,000 characters a request, Aura-1 models 2,000;
an over-long text is answered with 413 or 422, which means "split smaller".
Error bodies come as `err_code`/`err_msg`, `category`/`message`, or plain
text. See PROVIDERS.md, part 2.
"""

from __future__ import annotations

from typing import Any

import httpx

from narrate.errors import (
    ProviderError,
    ProviderOutError,
    TooLongError,
    TransientError,
    VoiceError,
)
from narrate.providers.base import SpeechRequest
from narrate.providers.http import ErrorDetail, HttpProvider, _short, _text
from narrate.providers.retry import RetryPolicy

DEFAULT_URL = "https://api.deepgram.com"
DEFAULT_ENCODING = "mp3"
DEFAULT_CONCURRENCY = 8
AURA_2_LIMIT = 1_000
AURA_1_LIMIT = 2_000
ENCODINGS = {
    "mp3": {},
    "flac": {},
    "opus": {"container": "ogg"},
    "linear16": {"container": "wav"},
}


class DeepgramProvider(HttpProvider):
    """Deepgram's Aura text to speech over its REST API."""

    name = "deepgram"

    def __init__(
        self,
        *,
        api_key: str,
        base_url: str = DEFAULT_URL,
        encoding: str = DEFAULT_ENCODING,
        timeout: float = 60.0,
        retry: RetryPolicy | None = None,
        max_concurrency: int = DEFAULT_CONCURRENCY,
    ) -> None:
        if encoding not in ENCODINGS:
            raise ValueError(f"encoding must be one of {sorted(ENCODINGS)}")
        self.encoding = encoding
        self.max_chars = AURA_2_LIMIT
        super().__init__(
            api_key=api_key,
            base_url=base_url,
            timeout=timeout,
            retry=retry or RetryPolicy(),
            max_concurrency=max_concurrency,
        )

    def text_limit(self, voice: str) -> int:
        """Aura-2 models take 1,000 characters a request, Aura-1 models 2,000."""
        return AURA_2_LIMIT if voice.startswith("aura-2-") else AURA_1_LIMIT

    def auth_headers(self, api_key: str) -> dict[str, str]:
        """Deepgram takes the key as `Authorization: Token ...`."""
        return {"authorization": f"Token {api_key}"}

    def voice_key(self, voice: str) -> str:
        """The model and the encoding decide the sound."""
        return f"{voice}/{self.encoding}"

    def build(
        self, request: SpeechRequest
    ) -> tuple[str, dict[str, str], dict[str, Any]]:
        """The speak call for one chunk; Deepgram takes no context."""
        params = {"model": request.voice, "encoding": self.encoding}
        params.update(ENCODINGS[self.encoding])
        return "/v1/speak", params, {"text": request.text}

    def request_id(self, response: httpx.Response) -> str | None:
        """Aura-1 sends `dg-request-id`, Aura-2 `x-dg-request-id`."""
        headers = response.headers
        value = headers.get("dg-request-id") or headers.get("x-dg-request-id")
        return str(value) if value else None

    def parse_error(self, body: dict[str, Any]) -> ErrorDetail:
        """Read the legacy, the modern and the 503 example's shapes."""
        code = body.get("err_code") or body.get("error_code") or body.get("category")
        message = body.get("err_msg") or body.get("message") or body.get("details")
        return ErrorDetail(
            _text(code), _short(str(message or body)), _text(body.get("request_id"))
        )

    def classify(self, status: int, detail: ErrorDetail) -> type[ProviderError]:
        """413 and 422: split; 408, 429, 499, 5xx: retry; 400 (an unknown model or
        a parameter it refuses): this story moves on; the rest: out."""
        if status in (413, 422):
            return TooLongError
        if status in (408, 429, 499) or status >= 500:
            return TransientError
        if status == 400:
            return VoiceError
        return ProviderOutError
