"""ElevenLabs: `POST /v1/text-to-speech/{voice_id}` with the `xi-api-key` header.

The neighbouring paragraphs go along as `previous_text` and `next_text`, so
that paragraphs narrated apart still join with natural prosody. Error bodies
come in several shapes (`detail` as an object, as a list, or missing) and are
all read. See PROVIDERS.md, part 1, for the facts this module relies on.
"""

from __future__ import annotations

from typing import Any

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

DEFAULT_URL = "https://api.elevenlabs.io"
DEFAULT_MODEL = "eleven_multilingual_v2"
DEFAULT_FORMAT = "mp3_44100_128"
DEFAULT_CONCURRENCY = 3

# Characters per request, by model; eleven_v3 is held to its lower figure.
MODEL_LIMITS = {
    "eleven_v3": 3_000,
    "eleven_flash_v2_5": 40_000,
    "eleven_turbo_v2_5": 40_000,
    "eleven_flash_v2": 30_000,
    "eleven_turbo_v2": 30_000,
    "eleven_multilingual_v2": 10_000,
    "eleven_multilingual_v1": 10_000,
    "eleven_monolingual_v1": 10_000,
}
_UNKNOWN_MODEL_LIMIT = 3_000
_TOO_LONG = {"max_character_limit_exceeded"}
_VOICE_REFUSED = {"voice_not_found", "voice_does_not_exist", "model_not_found"}


class ElevenLabsProvider(HttpProvider):
    """ElevenLabs text to speech over its REST API."""

    name = "elevenlabs"

    def __init__(
        self,
        *,
        api_key: str,
        base_url: str = DEFAULT_URL,
        model: str = DEFAULT_MODEL,
        output_format: str = DEFAULT_FORMAT,
        timeout: float = 60.0,
        retry: RetryPolicy | None = None,
        max_concurrency: int = DEFAULT_CONCURRENCY,
    ) -> None:
        self.model = model
        self.output_format = output_format
        self.max_chars = MODEL_LIMITS.get(model, _UNKNOWN_MODEL_LIMIT)
        super().__init__(
            api_key=api_key,
            base_url=base_url,
            timeout=timeout,
            retry=retry or RetryPolicy(),
            max_concurrency=max_concurrency,
        )

    def auth_headers(self, api_key: str) -> dict[str, str]:
        """ElevenLabs takes the key in `xi-api-key`."""
        return {"xi-api-key": api_key, "accept": "audio/*"}

    def voice_key(self, voice: str) -> str:
        """The voice, model and output format decide the sound."""
        return f"{voice}/{self.model}/{self.output_format}"

    def build(
        self, request: SpeechRequest
    ) -> tuple[str, dict[str, str], dict[str, Any]]:
        """The text-to-speech call for one chunk, with its neighbours as context."""
        body: dict[str, Any] = {"text": request.text, "model_id": self.model}
        if request.previous_text:
            body["previous_text"] = request.previous_text
        if request.next_text:
            body["next_text"] = request.next_text
        path = f"/v1/text-to-speech/{request.voice}"
        return path, {"output_format": self.output_format}, body

    def parse_error(self, body: dict[str, Any]) -> ErrorDetail:
        """Read `detail` as an object, a validation list, or its absence."""
        detail = body.get("detail", body)
        if isinstance(detail, list):
            first = detail[0] if detail and isinstance(detail[0], dict) else {}
            message = str(first.get("msg", "the request was not valid"))
            return ErrorDetail("validation_error", _short(message))
        if not isinstance(detail, dict):
            return ErrorDetail(None, _short(str(detail)))
        code = detail.get("status") or detail.get("code") or detail.get("type")
        message = detail.get("message") or str(detail)
        return ErrorDetail(
            _text(code), _short(str(message)), _text(detail.get("request_id"))
        )

    def classify(self, status: int, detail: ErrorDetail) -> type[ProviderError]:
        """Too long: split; 408, 429, 5xx: retry; a voice or model refused: this
        story moves on; a bad key, quota or anything else: out."""
        if status == 400 and detail.code in _TOO_LONG:
            return TooLongError
        if status in (408, 429) or status >= 500:
            return TransientError
        if status == 422 or detail.code in _VOICE_REFUSED:
            return VoiceError
        return ProviderOutError
