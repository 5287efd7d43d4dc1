"""A stand-in for ElevenLabs text-to-speech (PROVIDERS.md 1.2 to 1.7).

`POST /v1/text-to-speech/{voice_id}` (and `.../stream`, the same answer with
chunked encoding) takes JSON with `text`, `model_id` and the optional context
fields, checks the `xi-api-key` header, the voice and the character limit,
then answers as scripted. `GET /v1/models` and `GET /v1/voices` give small
realistic listings.
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

DEFAULT_KEY = "test-elevenlabs-key"
DEFAULT_OUTPUT_FORMAT = "mp3_44100_128"
DEFAULT_MODEL = "eleven_multilingual_v2"
MP3_FORMATS = {
    "mp3_22050_32": (22050, 32),
    "mp3_24000_48": (24000, 48),
    "mp3_44100_32": (44100, 32),
    "mp3_44100_64": (44100, 64),
    "mp3_44100_96": (44100, 96),
    "mp3_44100_128": (44100, 128),
    "mp3_44100_192": (44100, 192),
}
MODELS = {
    "eleven_multilingual_v2": "Eleven Multilingual v2",
    "eleven_flash_v2_5": "Eleven Flash v2.5",
    "eleven_turbo_v2_5": "Eleven Turbo v2.5",
}
PREMADE_VOICES = {
    "JBFqnCBsd6RMkjVDRZzb": "George",
    "21m00Tcm4TlvDq8ikWAM": "Rachel",
    "nPczCjzI2devNBz1zQrb": "Brian",
}
_USUAL_ERRORS = {
    400: ("invalid_request", "The request could not be processed."),
    401: ("invalid_api_key", "Invalid API key"),
    404: ("not_found", "The requested resource was not found."),
    429: ("system_busy", "We are experiencing heavy traffic, please try again."),
    500: ("internal_server_error", "Something went wrong; you were not charged."),
}


def elevenlabs_error(
    status: int,
    code: str,
    message: str = "",
    *,
    headers: dict[str, str] | None = None,
    retry_after: str | int | None = None,
) -> Error:
    """An error in ElevenLabs' classic shape: `{"detail": {"status", "message"}}`."""
    body = {"detail": {"status": code, "message": message or code}}
    return error(status, body, headers, retry_after=retry_after)


def _validation_error(location: list[str], message: str, kind: str) -> Error:
    """A 422 in the FastAPI shape ElevenLabs uses: `detail` is a list."""
    return error(422, {"detail": [{"loc": location, "msg": message, "type": kind}]})


class ElevenLabsStandIn(RestStandIn):
    """ElevenLabs on 127.0.0.1: point the client's base URL at `url`."""

    def __init__(
        self,
        api_key: str = DEFAULT_KEY,
        *,
        max_chars: int = 10_000,
        voices: Iterable[str] | None = None,
        default: Reply | None = None,
    ) -> None:
        """A stand-in accepting `api_key`, texts up to `max_chars` characters.

        `voices` lists the voice ids it knows; None accepts any id.
        """
        super().__init__(default)
        self.api_key = api_key
        self.max_chars = max_chars
        self.voices = None if voices is None else frozenset(voices)

    def make_app(self) -> web.Application:
        """Routes for speech, models and voices."""
        app = web.Application()
        app.router.add_post("/v1/text-to-speech/{voice_id}", self._speak)
        app.router.add_post("/v1/text-to-speech/{voice_id}/stream", self._speak)
        app.router.add_get("/v1/models", self._models)
        app.router.add_get("/v1/voices", self._voices)
        return app

    async def _speak(self, request: web.Request) -> web.StreamResponse:
        recorded = await snapshot(request)
        body = recorded.body if isinstance(recorded.body, dict) else {}
        text = body.get("text")
        voice = request.match_info["voice_id"]
        recorded = replace(
            recorded, text=text if isinstance(text, str) else "", voice=voice
        )
        return await self.answer_speech(request, recorded)

    def refusal(self, request: RecordedRequest) -> Error | None:
        """A wrong key, a malformed body, an unknown voice or a text too long."""
        if request.headers.get("xi-api-key") != self.api_key:
            return elevenlabs_error(401, "invalid_api_key", "Invalid API key")
        if not isinstance(request.body, dict) or not isinstance(
            request.body.get("text"), str
        ):
            return _validation_error(["body", "text"], "Field required", "missing")
        if self._output_format(request) not in MP3_FORMATS:
            return _validation_error(
                ["query", "output_format"],
                "This stand-in serves only the mp3_* output formats.",
                "enum",
            )
        if self.voices is not None and request.voice not in self.voices:
            return elevenlabs_error(
                404,
                "voice_not_found",
                f"A voice with the voice_id {request.voice} was not found.",
            )
        if len(request.text) > self.max_chars:
            return elevenlabs_error(
                400,
                "max_character_limit_exceeded",
                f"This request's text has {len(request.text)} characters and exceeds "
                f"the character limit of {self.max_chars} characters.",
            )
        return None

    def audio_format(self, request: RecordedRequest) -> tuple[int, int]:
        """The MP3 rate and bitrate named by `output_format`."""
        return MP3_FORMATS[self._output_format(request)]

    def audio_headers(self, request: RecordedRequest) -> dict[str, str]:
        """`request-id` for stitching and `character-cost` for billing."""
        return {
            "request-id": uuid.uuid4().hex[:20],
            "character-cost": str(len(request.text)),
        }

    def chunked(self, request: RecordedRequest) -> bool:
        """The `/stream` variant sends its audio chunked."""
        return request.path.endswith("/stream")

    def error_body(self, status: int) -> Any:
        """`{"detail": {"status": ..., "message": ...}}` with a fitting code."""
        code, message = _USUAL_ERRORS.get(status, ("error", f"HTTP {status}"))
        return {"detail": {"status": code, "message": message}}

    @staticmethod
    def _output_format(request: RecordedRequest) -> str:
        return request.query.get("output_format", DEFAULT_OUTPUT_FORMAT)

    async def _models(self, request: web.Request) -> web.Response:
        refused = self._refuse_key(await self._record_plain(request))
        if refused:
            return refused
        return web.json_response([self._model(model_id) for model_id in MODELS])

    async def _voices(self, request: web.Request) -> web.Response:
        refused = self._refuse_key(await self._record_plain(request))
        if refused:
            return refused
        ids = sorted(self.voices) if self.voices is not None else list(PREMADE_VOICES)
        return web.json_response({"voices": [self._voice(voice) for voice in ids]})

    async def _record_plain(self, request: web.Request) -> RecordedRequest:
        return self.record(await snapshot(request), speech=False)

    def _refuse_key(self, request: RecordedRequest) -> web.Response | None:
        if request.headers.get("xi-api-key") == self.api_key:
            return None
        return self.error_response(
            elevenlabs_error(401, "invalid_api_key", "Invalid API key")
        )

    def _model(self, model_id: str) -> dict[str, Any]:
        return {
            "model_id": model_id,
            "name": MODELS[model_id],
            "can_do_text_to_speech": True,
            "maximum_text_length_per_request": self.max_chars,
            "max_characters_request_free_user": min(2_500, self.max_chars),
            "max_characters_request_subscribed_user": self.max_chars,
            "languages": [{"language_id": "en", "name": "English"}],
        }

    @staticmethod
    def _voice(voice_id: str) -> dict[str, Any]:
        return {
            "voice_id": voice_id,
            "name": PREMADE_VOICES.get(voice_id, voice_id),
            "category": "premade",
            "labels": {"use_case": "narration"},
        }
