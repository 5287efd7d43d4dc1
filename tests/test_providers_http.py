"""ElevenLabs and Deepgram requests and answers, faked at the httpx transport."""

from __future__ import annotations

import asyncio
import email.utils
import json
import math
import time
from collections.abc import Iterator

import httpx
import pytest
import respx

from narrate.errors import (
    NotAudioError,
    ProviderError,
    ProviderOutError,
    TimedOutError,
    TooLongError,
    TransientError,
)
from narrate.providers.base import Speech, SpeechRequest
from narrate.providers.deepgram import DeepgramProvider
from narrate.providers.elevenlabs import ElevenLabsProvider
from narrate.providers.retry import RetryPolicy, parse_retry_after, with_retries
from standins.mp3 import silent_mp3

KEY = "sk-test-0123456789abcdef"
EL = "https://el.test"
DG = "https://dg.test"
EL_SPEAK = f"{EL}/v1/text-to-speech/voice-1"
FAST = RetryPolicy(retries=3, backoff=0.01, max_backoff=0.05, max_retry_after=10)
MP3 = silent_mp3(2.0)
TEXT = "The quick brown fox jumps over the lazy dog."


@pytest.fixture
def mock() -> Iterator[respx.MockRouter]:
    with respx.mock(assert_all_called=False) as router:
        yield router


def elevenlabs(**options: object) -> ElevenLabsProvider:
    return ElevenLabsProvider(
        api_key=KEY,
        base_url=EL,
        retry=options.pop("retry", FAST),
        **options,  # type: ignore[arg-type]
    )


def deepgram(**options: object) -> DeepgramProvider:
    return DeepgramProvider(
        api_key=KEY,
        base_url=DG,
        retry=options.pop("retry", FAST),
        **options,  # type: ignore[arg-type]
    )


def speak(provider, text: str = TEXT, voice: str = "voice-1", **context: str) -> Speech:
    """One chunk with the provider's retry policy, as the engine sends it."""
    request = SpeechRequest(text, voice, **context)

    async def run() -> Speech:
        try:
            return await with_retries(
                provider.name, provider.retry, lambda: provider.synthesize(request)
            )
        finally:
            await provider.aclose()

    return asyncio.run(run())


def failure(provider, **kw: str) -> ProviderError:
    with pytest.raises(ProviderError) as caught:
        speak(provider, **kw)
    return caught.value


def audio(**headers: str) -> httpx.Response:
    return httpx.Response(
        200, content=MP3, headers={"content-type": "audio/mpeg", **headers}
    )


def el_error(
    status: int, code: str, message: str = "m", **headers: str
) -> httpx.Response:
    body = {"detail": {"status": code, "message": message}}
    return httpx.Response(status, json=body, headers=headers)


# ElevenLabs


def test_elevenlabs_sends_the_key_header_text_model_and_context(mock):
    route = mock.post(EL_SPEAK).mock(return_value=audio(**{"request-id": "req-7"}))

    speech = speak(elevenlabs(), previous_text="Before.", next_text="After.")

    sent = route.calls.last.request
    assert sent.headers["xi-api-key"] == KEY
    assert sent.url.params["output_format"] == "mp3_44100_128"
    assert json.loads(sent.content) == {
        "text": TEXT,
        "model_id": "eleven_multilingual_v2",
        "previous_text": "Before.",
        "next_text": "After.",
    }
    assert (speech.format, speech.request_id, speech.audio) == ("mp3", "req-7", MP3)


@pytest.mark.parametrize(
    ("status", "code"),
    [
        (401, "quota_exceeded"),
        (401, "invalid_api_key"),
        (401, "detected_unusual_activity"),
        (403, "only_for_creator+"),
        (402, "payment_required"),
        (404, "voice_not_found"),
        (400, "voice_not_found"),
    ],
)
def test_elevenlabs_key_quota_and_voice_errors_put_it_out_without_retry(
    mock, status, code
):
    route = mock.post(EL_SPEAK).mock(
        return_value=el_error(status, code, "Credits used up")
    )

    error = failure(elevenlabs())

    assert isinstance(error, ProviderOutError)
    assert (error.status, error.code, error.message) == (
        status,
        code,
        "Credits used up",
    )
    assert route.call_count == 1


def test_elevenlabs_over_limit_answer_is_too_long_not_a_retry(mock):
    route = mock.post(EL_SPEAK).mock(
        return_value=el_error(400, "max_character_limit_exceeded")
    )

    error = failure(elevenlabs())

    assert isinstance(error, TooLongError)
    assert route.call_count == 1


def test_elevenlabs_busy_answers_are_retried_until_audio_comes(mock):
    busy = el_error(429, "system_busy", "Busy right now, please retry.")
    route = mock.post(EL_SPEAK).mock(side_effect=[busy, busy, audio()])

    speech = speak(elevenlabs())

    assert speech.audio == MP3
    assert route.call_count == 3


def test_elevenlabs_server_errors_give_up_after_the_bounded_retries(mock):
    route = mock.post(EL_SPEAK).mock(
        return_value=httpx.Response(500, json={"status": "internal_server_error"})
    )

    error = failure(elevenlabs())

    assert isinstance(error, TransientError)
    assert error.code == "internal_server_error"
    assert route.call_count == FAST.retries + 1


def test_elevenlabs_validation_list_is_read_as_one_message(mock):
    body = {"detail": [{"loc": ["body", "text"], "msg": "field required", "type": "x"}]}
    mock.post(EL_SPEAK).mock(return_value=httpx.Response(422, json=body))

    error = failure(elevenlabs())

    assert isinstance(error, ProviderOutError)
    assert (error.code, error.message) == ("validation_error", "field required")


def test_elevenlabs_model_sets_the_text_limit_and_the_cache_key():
    flash = elevenlabs(model="eleven_flash_v2_5")

    assert flash.text_limit("v") == 40_000
    assert elevenlabs().text_limit("v") == 10_000
    assert flash.voice_key("v") != elevenlabs().voice_key("v")


# Answers that are not audio


def test_html_page_with_status_200_is_not_audio(mock):
    page = (
        "<html><head><title>Service Unavailable</title></head><body>...</body></html>"
    )
    mock.post(EL_SPEAK).mock(
        return_value=httpx.Response(
            200, text=page, headers={"content-type": "text/html"}
        )
    )

    error = failure(elevenlabs())

    assert isinstance(error, NotAudioError)
    assert "Service Unavailable" in error.message and "<" not in error.message


def test_json_served_as_audio_is_not_audio(mock):
    body = json.dumps({"detail": {"status": "oops", "message": "x" * 200}})[:256]
    mock.post(EL_SPEAK).mock(
        return_value=httpx.Response(
            200, content=body.encode(), headers={"content-type": "audio/mpeg"}
        )
    )

    assert isinstance(failure(elevenlabs()), NotAudioError)


def test_body_shorter_than_its_content_length_is_retried_then_fails(mock):
    short = httpx.Response(
        200,
        content=MP3[:12_000],
        headers={"content-type": "audio/mpeg", "content-length": str(len(MP3))},
    )
    route = mock.post(EL_SPEAK).mock(return_value=short)

    error = failure(elevenlabs())

    assert isinstance(error, TransientError) and error.code == "incomplete"
    assert route.call_count == FAST.retries + 1


# Network failures


@pytest.mark.parametrize(
    ("exception", "code"),
    [
        (httpx.ConnectError("[Errno 111] Connection refused"), "connect"),
        (httpx.RemoteProtocolError("peer closed connection"), "incomplete"),
    ],
)
def test_network_failures_are_transient_and_retried(mock, exception, code):
    route = mock.post(EL_SPEAK).mock(side_effect=exception)

    error = failure(elevenlabs())

    assert isinstance(error, TransientError) and error.code == code
    assert route.call_count == FAST.retries + 1


def test_a_timeout_is_not_retried_so_a_hung_provider_costs_one_deadline(mock):
    route = mock.post(EL_SPEAK).mock(side_effect=httpx.ReadTimeout("timed out"))

    error = failure(elevenlabs())

    assert isinstance(error, TimedOutError) and error.code == "timeout"
    assert route.call_count == 1


def test_unknown_host_puts_the_provider_out_at_once(mock):
    dns = httpx.ConnectError("[Errno -2] Name or service not known")
    route = mock.post(EL_SPEAK).mock(side_effect=dns)

    error = failure(elevenlabs())

    assert isinstance(error, ProviderOutError) and error.code == "dns"
    assert route.call_count == 1


def test_a_hung_request_ends_at_the_timeout(mock):
    async def hang(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(30)
        return audio()

    mock.post(EL_SPEAK).mock(side_effect=hang)
    started = time.monotonic()

    error = failure(elevenlabs(timeout=0.2, retry=RetryPolicy(retries=0)))

    assert isinstance(error, TransientError) and error.code == "timeout"
    assert time.monotonic() - started < 2


# Secrets


def test_the_key_never_appears_in_an_error(mock):
    echo = {"detail": {"status": "invalid_api_key", "message": f"Key {KEY} is invalid"}}
    mock.post(EL_SPEAK).mock(return_value=httpx.Response(401, json=echo))

    error = failure(elevenlabs())

    assert KEY not in str(error) and KEY not in repr(error.__dict__)
    assert "***" in error.message


# Deepgram


def test_deepgram_sends_the_token_model_encoding_and_text(mock):
    route = mock.post(f"{DG}/v1/speak").mock(
        return_value=audio(**{"dg-request-id": "dg-1"})
    )

    speech = speak(deepgram(), voice="aura-2-thalia-en", previous_text="ignored")

    sent = route.calls.last.request
    assert sent.headers["authorization"] == f"Token {KEY}"
    assert dict(sent.url.params) == {"model": "aura-2-thalia-en", "encoding": "mp3"}
    assert json.loads(sent.content) == {"text": TEXT}
    assert speech.request_id == "dg-1"


def test_deepgram_aura_2_request_id_header_is_read(mock):
    mock.post(f"{DG}/v1/speak").mock(return_value=audio(**{"x-dg-request-id": "dg-2"}))

    assert speak(deepgram(), voice="aura-2-thalia-en").request_id == "dg-2"


def test_deepgram_limit_depends_on_the_model_generation():
    assert deepgram().text_limit("aura-2-thalia-en") == 1_000
    assert deepgram().text_limit("aura-helios-en") == 2_000


@pytest.mark.parametrize("status", [413, 422])
def test_deepgram_over_limit_answers_are_too_long(mock, status):
    body = {
        "err_code": "Payload Too Large",
        "err_msg": "Text too long",
        "request_id": "r",
    }
    mock.post(f"{DG}/v1/speak").mock(return_value=httpx.Response(status, json=body))

    error = failure(deepgram())

    assert isinstance(error, TooLongError)
    assert (error.code, error.request_id) == ("Payload Too Large", "r")


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (400, {"err_code": "Bad Request", "err_msg": "No such model/version"}),
        (401, {"err_code": "INVALID_AUTH", "err_msg": "Invalid credentials."}),
        (402, {"category": "PAYMENT_REQUIRED", "message": "Insufficient credits"}),
        (403, {"err_code": "INSUFFICIENT_PERMISSIONS", "err_msg": "No access"}),
    ],
)
def test_deepgram_configuration_errors_put_it_out(mock, status, body):
    route = mock.post(f"{DG}/v1/speak").mock(
        return_value=httpx.Response(status, json=body)
    )

    error = failure(deepgram())

    assert isinstance(error, ProviderOutError)
    assert error.code in body.values()
    assert route.call_count == 1


def test_deepgram_503_with_the_error_code_key_is_read(mock):
    body = {"error_code": "SERVICE_UNAVAILABLE", "err_msg": "Please try again later"}
    mock.post(f"{DG}/v1/speak").mock(return_value=httpx.Response(503, json=body))

    error = failure(deepgram())

    assert isinstance(error, TransientError)
    assert (error.code, error.message) == (
        "SERVICE_UNAVAILABLE",
        "Please try again later",
    )


def test_deepgram_plain_text_error_is_one_short_line(mock):
    mock.post(f"{DG}/v1/speak").mock(
        return_value=httpx.Response(404, text="Not found\n\n" + "x" * 500)
    )

    error = failure(deepgram())

    assert "\n" not in error.message and len(error.message) <= 200


def test_retry_after_in_all_its_forms_is_honoured(mock):
    """C14: an HTTP date 3 s ahead, 2 s, 0, an unreadable value, then audio."""
    date = email.utils.formatdate(math.ceil(time.time()) + 3, usegmt=True)
    answers = [
        httpx.Response(429, json={}, headers={"retry-after": date}),
        httpx.Response(503, json={}, headers={"retry-after": "2"}),
        httpx.Response(429, json={}, headers={"retry-after": "0"}),
        httpx.Response(429, json={}, headers={"retry-after": "soon"}),
        audio(),
    ]
    times: list[float] = []

    def answer(request: httpx.Request) -> httpx.Response:
        times.append(time.monotonic())
        return answers[len(times) - 1]

    mock.post(f"{DG}/v1/speak").mock(side_effect=answer)
    policy = RetryPolicy(retries=4, backoff=0.2, max_backoff=1, max_retry_after=10)

    speak(deepgram(retry=policy))

    waits = [later - earlier for earlier, later in zip(times, times[1:], strict=False)]
    assert len(times) == 5
    assert waits[0] >= 2.9 and waits[1] >= 1.9
    assert 0 < waits[2] < 0.5, "Retry-After: 0 is a small positive backoff"
    assert 0.2 <= waits[3] < 1.0, "an unreadable Retry-After gets the normal backoff"


def test_retry_after_beyond_the_cap_fails_over_instead_of_sleeping(mock):
    mock.post(f"{DG}/v1/speak").mock(
        return_value=httpx.Response(429, json={}, headers={"retry-after": "3600"})
    )
    started = time.monotonic()

    error = failure(deepgram())

    assert isinstance(error, ProviderOutError) and error.code == "retry_after"
    assert time.monotonic() - started < 1


# Retry-After parsing and backoff


def test_retry_after_parses_seconds_dates_and_nonsense():
    now = time.time()
    date = email.utils.formatdate(now + 30, usegmt=True)

    assert parse_retry_after("5") == 5
    assert parse_retry_after("1.5") == 1.5
    assert 28 <= parse_retry_after(date, now=now) <= 30
    assert parse_retry_after(email.utils.formatdate(now - 60, usegmt=True)) == 0
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None


def test_backoff_doubles_with_jitter_and_stops_at_its_ceiling():
    policy = RetryPolicy(backoff=1.0, max_backoff=4.0)
    busy = TransientError("p", "busy")

    delays = [
        [policy.delay("p", busy, attempt) for _ in range(50)] for attempt in range(4)
    ]

    assert all(0.5 <= d <= 1 for d in delays[0])
    assert all(1 <= d <= 2 for d in delays[1])
    assert all(2 <= d <= 4 for d in delays[3])
    assert len(set(delays[0])) > 1, "jittered, not in step"


@pytest.mark.parametrize(
    "echo",
    [KEY.upper(), KEY[3:], KEY[:10], KEY[:-1] + "X", f"key={KEY[2:14]}..."],
    ids=["upper", "cut-front", "prefix", "last-changed", "fragment"],
)
def test_a_key_echoed_changed_or_cut_is_blanked_too(mock, echo):
    body = {"detail": {"status": "invalid_api_key", "message": f"Key {echo} is bad"}}
    mock.post(EL_SPEAK).mock(return_value=httpx.Response(401, json=body))

    error = failure(elevenlabs())

    for size in range(8, len(KEY) + 1):
        assert not any(
            KEY[i : i + size].lower() in error.message.lower()
            for i in range(len(KEY) - size + 1)
        )
    assert "is bad" in error.message
