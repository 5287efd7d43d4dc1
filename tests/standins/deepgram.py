"""A stand-in for Deepgram Aura text-to-speech (PROVIDERS.md 2.1 to 2.7).

`POST /v1/speak?model=...&encoding=mp3` takes `{"text": ...}` (or the text
itself as `text/plain`), checks `Authorization: Token <key>`, the model, the
audio options and the per-model character cap, then answers as scripted.
Healthy audio is MP3 at 22,050 Hz, sent with chunked transfer encoding as
Deepgram streams it. Only MP3 is served; other encodings are refused.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import replace
from typing import Any

from aiohttp import web

from standins.records import RecordedRequest, snapshot
from standins.replies import Error, Reply, error
from standins.rest import RestStandIn

DEFAULT_KEY = "test-deepgram-key"
DEFAULT_MODEL = "aura-asteria-en"
MP3_SAMPLE_RATE = 22050
MP3_BIT_RATES = {"32000": 32, "48000": 48}
AURA_1 = "asteria luna stella athena hera orion arcas perseus angus orpheus helios zeus"
AURA_2 = "thalia helena andromeda apollo asteria orion orpheus zeus"
MODELS = frozenset(
    [f"aura-{name}-en" for name in AURA_1.split()]
    + [f"aura-2-{name}-en" for name in AURA_2.split()]
)
_USUAL_ERRORS = {
    400: ("Bad Request", "The request could not be processed."),
    401: ("INVALID_AUTH", "Invalid credentials."),
    402: ("ASR_PAYMENT_REQUIRED", "Project does not have enough credits."),
    403: ("INSUFFICIENT_PERMISSIONS", "Project does not have access to this model."),
    429: ("TOO_MANY_REQUESTS", "Please try again later."),
    503: ("Service Unavailable", "Please try again later."),
}


def deepgram_error(
    status: int,
    err_code: str,
    err_msg: str = "",
    *,
    headers: dict[str, str] | None = None,
    retry_after: str | int | None = None,
) -> Error:
    """An error in Deepgram's legacy shape: `err_code`, `err_msg`, `request_id`."""
    body = {
        "err_code": err_code,
        "err_msg": err_msg or err_code,
        "request_id": str(uuid.uuid4()),
    }
    return error(status, body, headers, retry_after=retry_after)


class DeepgramStandIn(RestStandIn):
    """Deepgram on 127.0.0.1: point the client's base URL at `url`."""

    def __init__(
        self,
        api_key: str = DEFAULT_KEY,
        *,
        models: Iterable[str] = MODELS,
        aura2_max_chars: int = 1_000,
        aura1_max_chars: int = 2_000,
        default: Reply | None = None,
    ) -> None:
        """A stand-in accepting `Token <api_key>` and the given model names.

        Aura-2 models (`aura-2-*`) take up to `aura2_max_chars` characters and
        answer 422 beyond; the others take `aura1_max_chars` and answer 413.
        """
        super().__init__(default)
        self.api_key = api_key
        self.models = frozenset(models)
        self.aura2_max_chars = aura2_max_chars
        self.aura1_max_chars = aura1_max_chars

    def make_app(self) -> web.Application:
        """The one route: `POST /v1/speak`."""
        app = web.Application()
        app.router.add_post("/v1/speak", self._speak)
        return app

    async def _speak(self, request: web.Request) -> web.StreamResponse:
        recorded = await snapshot(request)
        model = recorded.query.get("model", DEFAULT_MODEL)
        return await self.answer_speech(
            request, replace(recorded, text=_text_of(recorded.body), voice=model)
        )

    def refusal(self, request: RecordedRequest) -> Error | None:
        """A wrong key, a bad body or query, an unknown model or too long a text."""
        if request.headers.get("authorization") != f"Token {self.api_key}":
            return deepgram_error(401, "INVALID_AUTH", "Invalid credentials.")
        return (
            _body_problem(request)
            or _query_problem(request.query)
            or self._model_problem(request)
            or self._length_problem(request)
        )

    def _model_problem(self, request: RecordedRequest) -> Error | None:
        if request.voice in self.models:
            return None
        return deepgram_error(
            400, "Bad Request", "No such model/version combination found."
        )

    def _length_problem(self, request: RecordedRequest) -> Error | None:
        if request.voice.startswith("aura-2-"):
            limit, status, code = self.aura2_max_chars, 422, "Unprocessable Content"
        else:
            limit, status, code = self.aura1_max_chars, 413, "Payload Too Large"
        if len(request.text) <= limit:
            return None
        return deepgram_error(
            status, code, f"Text exceeds the {limit} character limit for this model."
        )

    def audio_format(self, request: RecordedRequest) -> tuple[int, int]:
        """MP3 at 22,050 Hz and the `bit_rate` asked for (48 kbps by default)."""
        return MP3_SAMPLE_RATE, MP3_BIT_RATES[request.query.get("bit_rate", "48000")]

    def audio_headers(self, request: RecordedRequest) -> dict[str, str]:
        """Request id, model and character count, under both `dg-` and `x-dg-`."""
        request_id = str(uuid.uuid4())
        count = str(len(request.text))
        return {
            "dg-request-id": request_id,
            "x-dg-request-id": request_id,
            "dg-model-name": request.voice,
            "x-dg-model-name": request.voice,
            "dg-model-uuid": str(uuid.uuid5(uuid.NAMESPACE_URL, request.voice)),
            "dg-char-count": count,
            "x-dg-characters": count,
        }

    def chunked(self, request: RecordedRequest) -> bool:
        """Deepgram streams its audio with chunked transfer encoding."""
        return True

    def error_body(self, status: int) -> Any:
        """`{"err_code", "err_msg", "request_id"}` with a fitting code."""
        code, message = _USUAL_ERRORS.get(status, ("Error", f"HTTP {status}"))
        return deepgram_error(status, code, message).body


def _text_of(body: Any) -> str:
    """The text to speak from a JSON body or a `text/plain` one."""
    if isinstance(body, dict):
        text = body.get("text")
        return text if isinstance(text, str) else ""
    return body if isinstance(body, str) else ""


def _body_problem(request: RecordedRequest) -> Error | None:
    """415 for other content types, 400 for a body without text or empty text."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip()
    if content_type not in ("application/json", "text/plain"):
        return deepgram_error(
            415, "UNSUPPORTED_MEDIA_TYPE", "Use application/json or text/plain."
        )
    if content_type == "application/json" and not (
        isinstance(request.body, dict) and isinstance(request.body.get("text"), str)
    ):
        return deepgram_error(
            400, "PAYLOAD_ERROR", "The body must be JSON with a `text` field."
        )
    if not request.text.strip():
        return deepgram_error(400, "Bad Request", "Input text contains no characters.")
    return None


def _query_problem(query: dict[str, str]) -> Error | None:
    """400 `INVALID_QUERY_PARAMETER` for audio options other than MP3's."""
    problems = []
    if query.get("encoding", "mp3") != "mp3":
        problems.append("this stand-in serves only encoding=mp3")
    if "container" in query:
        problems.append("container does not apply to mp3")
    if query.get("sample_rate", str(MP3_SAMPLE_RATE)) != str(MP3_SAMPLE_RATE):
        problems.append("mp3 is fixed at sample_rate=22050")
    if query.get("bit_rate", "48000") not in MP3_BIT_RATES:
        problems.append("mp3 takes bit_rate=32000 or 48000")
    if not problems:
        return None
    return deepgram_error(400, "INVALID_QUERY_PARAMETER", "; ".join(problems))
