"""The provider stand-ins speak the real wire formats, checked with real clients.

httpx talks to the ElevenLabs and Deepgram stand-ins and edge-tts's own
`Communicate` to the Edge one; narrate is not involved, so these tests show
that a narrate test failing against a stand-in is narrate's doing.
"""

from __future__ import annotations

import asyncio
import io
import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import edge_tts
import edge_tts.communicate
import httpx
import pytest
from edge_tts.exceptions import NoAudioReceived, UnknownResponse
from mutagen.mp3 import MP3

from conftest import cli_env
from standins import (
    DeepgramStandIn,
    EdgeStandIn,
    ElevenLabsStandIn,
    RecordedRequest,
    Script,
    audio,
    deepgram_error,
    elevenlabs_error,
    empty_audio,
    error,
    forget_clock_skew,
    hang,
    html,
    json_as_audio,
    launch,
    no_audio,
    reset,
    short_body,
    silent_mp3,
    slow_audio,
    speech_seconds,
    truncated,
    unknown_path,
)
from standins.rest import RestStandIn

ELEVEN_KEY = "eleven-key"
DEEPGRAM_KEY = "deepgram-key"
GEORGE = "JBFqnCBsd6RMkjVDRZzb"
LAUNCHER = Path(__file__).parent / "standins" / "launch.py"

# One client for the whole file: building a client (and its SSL context) per
# request would cost more than the requests themselves.
HTTP = httpx.Client(timeout=5)


def mp3_info(data: bytes) -> Any:
    """What mutagen reads from an MP3 held in memory."""
    return MP3(io.BytesIO(data)).info


@pytest.fixture(scope="module", autouse=True)
def close_the_client() -> Iterator[None]:
    """Close the shared HTTP client when this file's tests are done."""
    yield
    HTTP.close()


@pytest.fixture(autouse=True)
def no_standin_outlives_its_test() -> Iterator[None]:
    """Every stand-in thread a test starts is gone when the test ends."""
    yield
    alive = [t.name for t in threading.enumerate() if t.name.startswith("standin-")]
    assert alive == []


# --- REST clients --------------------------------------------------------------


@dataclass
class Caller:
    """A bare httpx caller for one REST stand-in."""

    standin: RestStandIn
    path: str
    headers: dict[str, str]
    extra: dict[str, str]

    def speak(self, text: str = "Hello there.", **options: Any) -> httpx.Response:
        """POST one text for speech, the way the provider's docs show."""
        return HTTP.post(
            self.standin.url + self.path,
            json={"text": text, **self.extra},
            headers=self.headers,
            **options,
        )


def eleven_caller(standin: ElevenLabsStandIn) -> Caller:
    """Speech requests to ElevenLabs with the right key, voice George."""
    return Caller(
        standin,
        f"/v1/text-to-speech/{GEORGE}?output_format=mp3_44100_128",
        {"xi-api-key": ELEVEN_KEY},
        {"model_id": "eleven_multilingual_v2"},
    )


def deepgram_caller(standin: DeepgramStandIn) -> Caller:
    """Speech requests to Deepgram with the right token, model Thalia."""
    return Caller(
        standin,
        "/v1/speak?model=aura-2-thalia-en&encoding=mp3",
        {"Authorization": f"Token {DEEPGRAM_KEY}"},
        {},
    )


def request_of(caller: Caller) -> dict[str, Any]:
    """The keyword arguments of a caller's speech request, for `HTTP.stream`."""
    return {"json": {"text": "Hello.", **caller.extra}, "headers": caller.headers}


def record_arrival(piece: bytes, arrivals: list[float]) -> bytes:
    """Note when a piece of body arrived, and pass it on."""
    arrivals.append(time.monotonic())
    return piece


@pytest.fixture
def eleven() -> Iterator[ElevenLabsStandIn]:
    """A running ElevenLabs stand-in."""
    with ElevenLabsStandIn(ELEVEN_KEY) as standin:
        yield standin


@pytest.fixture
def deepgram() -> Iterator[DeepgramStandIn]:
    """A running Deepgram stand-in."""
    with DeepgramStandIn(DEEPGRAM_KEY) as standin:
        yield standin


@pytest.fixture(params=["elevenlabs", "deepgram"])
def rest(request: pytest.FixtureRequest) -> Iterator[Caller]:
    """Each REST stand-in in turn, with a caller for it."""
    if request.param == "elevenlabs":
        with ElevenLabsStandIn(ELEVEN_KEY) as standin:
            yield eleven_caller(standin)
    else:
        with DeepgramStandIn(DEEPGRAM_KEY) as deepgram_standin:
            yield deepgram_caller(deepgram_standin)


# --- silent MP3 ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("rate", "kbps", "channels", "version"),
    [
        (44100, 128, 1, 1),
        (48000, 192, 2, 1),
        (32000, 64, 1, 1),
        (22050, 48, 1, 2),
        (24000, 48, 1, 2),
        (16000, 32, 2, 2),
    ],
)
def test_silent_mp3_decodes_to_the_requested_length_rate_and_bitrate(
    rate: int, kbps: int, channels: int, version: int
) -> None:
    data = silent_mp3(3.0, sample_rate=rate, bitrate_kbps=kbps, channels=channels)

    info = mp3_info(data)
    assert info.length == pytest.approx(3.0, abs=0.04)
    assert (info.sample_rate, info.bitrate, info.channels) == (
        rate,
        kbps * 1000,
        channels,
    )
    assert (info.version, info.layer) == (version, 3)
    assert len(data) == pytest.approx(3.0 * kbps * 1000 / 8, rel=0.02)


def test_silent_mp3_refuses_rates_and_bitrates_layer_three_lacks() -> None:
    with pytest.raises(ValueError, match="sample rate"):
        silent_mp3(1.0, sample_rate=11025)
    with pytest.raises(ValueError, match="not allowed"):
        silent_mp3(1.0, sample_rate=24000, bitrate_kbps=320)


def test_speech_seconds_reads_fifteen_characters_a_second_with_a_floor() -> None:
    assert speech_seconds("x" * 45) == 3.0
    assert speech_seconds("Hi.") == 0.5


# --- scripts -------------------------------------------------------------------


def speech(text: str, number: int, text_number: int = 1) -> RecordedRequest:
    """A recorded speech request, as a stand-in would number it."""
    return RecordedRequest(
        "POST", "/", text=text, number=number, text_number=text_number
    )


def test_script_answers_its_default_when_no_rule_claims_a_request() -> None:
    script = Script(audio())
    script.add(lambda request, n: None)

    assert script.decide(speech("a", 1)) == audio()
    assert script.always(error(500)).decide(speech("a", 2)) == error(500)


def test_sequence_answers_in_order_then_repeats_its_last_reply() -> None:
    script = Script(audio()).sequence(error(429), error(503), audio(1.0))

    answers = [script.decide(speech("a", n)) for n in range(1, 6)]

    assert answers == [error(429), error(503), audio(1.0), audio(1.0), audio(1.0)]


def test_for_text_counts_requests_per_distinct_text() -> None:
    script = Script(audio()).for_text("ZEBRA", short_body(), audio(2.0))
    zebra = "The ZEBRA crossed."

    first = RecordedRequest("POST", "/", text=zebra, number=2, text_number=1)
    again = RecordedRequest("POST", "/", text=zebra, number=5, text_number=2)
    other = RecordedRequest("POST", "/", text="Omega.", number=3, text_number=1)

    assert script.decide(first) == short_body()
    assert script.decide(again) == audio(2.0)
    assert script.decide(other) == audio()


def test_rules_see_the_overall_count_unless_added_per_text() -> None:
    seen: list[tuple[str, int]] = []
    script = Script(audio())
    script.add(lambda request, n: seen.append(("overall", n)))
    script.add(lambda request, n: seen.append(("text", n)), per_text=True)

    script.decide(RecordedRequest("POST", "/", text="a", number=7, text_number=3))

    assert seen == [("overall", 7), ("text", 3)]


# --- ElevenLabs ----------------------------------------------------------------


def test_elevenlabs_healthy_answer_is_mp3_44100_128_with_its_headers(
    eleven: ElevenLabsStandIn,
) -> None:
    text = "It was a dark and stormy night; the rain fell in torrents."

    response = eleven_caller(eleven).speak(text, timeout=5)

    assert response.status_code == 200
    assert response.headers["content-type"] == "audio/mpeg"
    assert response.headers["character-cost"] == str(len(text))
    assert response.headers["request-id"]
    info = mp3_info(response.content)
    assert (info.sample_rate, info.bitrate) == (44100, 128_000)
    assert info.length == pytest.approx(speech_seconds(text), abs=0.05)


def test_elevenlabs_records_path_query_key_and_json_body(
    eleven: ElevenLabsStandIn,
) -> None:
    eleven_caller(eleven).speak("One.", timeout=5)

    (request,) = eleven.requests
    assert (request.method, request.path) == ("POST", f"/v1/text-to-speech/{GEORGE}")
    assert request.query == {"output_format": "mp3_44100_128"}
    assert request.headers["xi-api-key"] == ELEVEN_KEY
    assert request.body == {"text": "One.", "model_id": "eleven_multilingual_v2"}
    assert (request.text, request.voice, request.number) == ("One.", GEORGE, 1)


@pytest.mark.parametrize(
    ("output_format", "rate", "kbps"),
    [("mp3_24000_48", 24000, 48), ("mp3_22050_32", 22050, 32)],
)
def test_elevenlabs_serves_the_mp3_output_format_asked_for(
    eleven: ElevenLabsStandIn, output_format: str, rate: int, kbps: int
) -> None:
    response = HTTP.post(
        f"{eleven.url}/v1/text-to-speech/{GEORGE}",
        params={"output_format": output_format},
        json={"text": "Hello."},
        headers={"xi-api-key": ELEVEN_KEY},
    )

    info = mp3_info(response.content)
    assert (info.sample_rate, info.bitrate) == (rate, kbps * 1000)


@pytest.mark.parametrize("headers", [{}, {"xi-api-key": "wrong"}])
def test_elevenlabs_refuses_a_wrong_or_missing_key(
    eleven: ElevenLabsStandIn, headers: dict[str, str]
) -> None:
    response = HTTP.post(
        f"{eleven.url}/v1/text-to-speech/{GEORGE}",
        json={"text": "Hello."},
        headers=headers,
    )

    assert response.status_code == 401
    assert response.json() == {
        "detail": {"status": "invalid_api_key", "message": "Invalid API key"}
    }
    assert len(eleven.requests) == 1


def test_elevenlabs_refuses_text_over_its_character_limit() -> None:
    with ElevenLabsStandIn(ELEVEN_KEY, max_chars=20) as standin:
        caller = eleven_caller(standin)
        refused = caller.speak("x" * 21)
        accepted = caller.speak("x" * 20)

    assert refused.status_code == 400
    assert refused.json()["detail"]["status"] == "max_character_limit_exceeded"
    assert accepted.status_code == 200


def test_elevenlabs_answers_404_voice_not_found_for_unknown_voices() -> None:
    with ElevenLabsStandIn(ELEVEN_KEY, voices=[GEORGE]) as standin:
        unknown = HTTP.post(
            f"{standin.url}/v1/text-to-speech/nobody",
            json={"text": "Hello."},
            headers={"xi-api-key": ELEVEN_KEY},
        )
        known = eleven_caller(standin).speak()

    assert unknown.status_code == 404
    assert unknown.json()["detail"]["status"] == "voice_not_found"
    assert known.status_code == 200


def test_elevenlabs_answers_a_body_without_text_with_a_validation_list(
    eleven: ElevenLabsStandIn,
) -> None:
    response = HTTP.post(
        f"{eleven.url}/v1/text-to-speech/{GEORGE}",
        json={"model_id": "eleven_multilingual_v2"},
        headers={"xi-api-key": ELEVEN_KEY},
    )

    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "text"]


def test_elevenlabs_lists_models_and_voices_without_counting_them_as_speech(
    eleven: ElevenLabsStandIn,
) -> None:
    headers = {"xi-api-key": ELEVEN_KEY}

    models = HTTP.get(f"{eleven.url}/v1/models", headers=headers).json()
    voices = HTTP.get(f"{eleven.url}/v1/voices", headers=headers).json()

    by_id = {model["model_id"]: model for model in models}
    assert by_id["eleven_multilingual_v2"]["maximum_text_length_per_request"] == 10_000
    assert GEORGE in {voice["voice_id"] for voice in voices["voices"]}
    assert [r.path for r in eleven.requests] == ["/v1/models", "/v1/voices"]
    assert eleven.speech_requests == []


def test_elevenlabs_stream_endpoint_sends_the_audio_chunked(
    eleven: ElevenLabsStandIn,
) -> None:
    response = HTTP.post(
        f"{eleven.url}/v1/text-to-speech/{GEORGE}/stream",
        json={"text": "Hello."},
        headers={"xi-api-key": ELEVEN_KEY},
    )

    assert response.headers["transfer-encoding"] == "chunked"
    assert mp3_info(response.content).sample_rate == 44100


# --- Deepgram ------------------------------------------------------------------


@pytest.mark.parametrize(("bit_rate", "kbps"), [("48000", 48), ("32000", 32)])
def test_deepgram_healthy_answer_is_chunked_mp3_at_22050_with_its_headers(
    deepgram: DeepgramStandIn, bit_rate: str, kbps: int
) -> None:
    text = "The quick brown fox jumps over the lazy dog."

    response = HTTP.post(
        f"{deepgram.url}/v1/speak",
        params={"model": "aura-2-thalia-en", "encoding": "mp3", "bit_rate": bit_rate},
        json={"text": text},
        headers={"Authorization": f"Token {DEEPGRAM_KEY}"},
    )

    assert response.status_code == 200
    assert response.headers["content-type"] == "audio/mpeg"
    assert response.headers["transfer-encoding"] == "chunked"
    assert response.headers["dg-request-id"] == response.headers["x-dg-request-id"]
    assert response.headers["dg-char-count"] == str(len(text))
    assert response.headers["dg-model-name"] == "aura-2-thalia-en"
    info = mp3_info(response.content)
    assert (info.sample_rate, info.bitrate) == (22050, kbps * 1000)
    assert deepgram.requests[0].voice == "aura-2-thalia-en"


@pytest.mark.parametrize("authorization", ["Token wrong", f"Bearer {DEEPGRAM_KEY}"])
def test_deepgram_refuses_a_wrong_token_with_invalid_auth(
    deepgram: DeepgramStandIn, authorization: str
) -> None:
    response = HTTP.post(
        f"{deepgram.url}/v1/speak",
        json={"text": "Hello."},
        headers={"Authorization": authorization},
    )

    assert response.status_code == 401
    body = response.json()
    assert (body["err_code"], body["err_msg"]) == (
        "INVALID_AUTH",
        "Invalid credentials.",
    )
    assert body["request_id"]


@pytest.mark.parametrize(
    ("model", "length", "status"),
    [
        ("aura-2-thalia-en", 1_000, 200),
        ("aura-2-thalia-en", 1_001, 422),
        ("aura-asteria-en", 2_000, 200),
        ("aura-asteria-en", 2_001, 413),
        ("aura-9-nobody-en", 5, 400),
    ],
)
def test_deepgram_enforces_its_models_and_their_character_caps(
    deepgram: DeepgramStandIn, model: str, length: int, status: int
) -> None:
    response = HTTP.post(
        f"{deepgram.url}/v1/speak",
        params={"model": model},
        json={"text": "x" * length},
        headers={"Authorization": f"Token {DEEPGRAM_KEY}"},
    )

    assert response.status_code == status
    if status != 200:
        assert set(response.json()) == {"err_code", "err_msg", "request_id"}


def test_deepgram_takes_plain_text_and_refuses_other_content_types(
    deepgram: DeepgramStandIn,
) -> None:
    auth = {"Authorization": f"Token {DEEPGRAM_KEY}"}
    url = f"{deepgram.url}/v1/speak"

    plain = HTTP.post(
        url, content="Hi.", headers={**auth, "Content-Type": "text/plain"}
    )
    form = HTTP.post(url, data={"text": "Hi."}, headers=auth)

    assert plain.status_code == 200
    assert form.status_code == 415
    assert form.json()["err_code"] == "UNSUPPORTED_MEDIA_TYPE"
    assert deepgram.requests[0].text == "Hi."


# --- scripted faults over HTTP -------------------------------------------------


def test_error_sends_the_providers_own_shape_with_retry_after(rest: Caller) -> None:
    rest.standin.script.always(error(429, retry_after=3))

    response = rest.speak()

    assert response.status_code == 429
    assert response.headers["retry-after"] == "3"
    body = response.json()
    if isinstance(rest.standin, ElevenLabsStandIn):
        assert body["detail"]["status"] == "system_busy"
    else:
        assert body["err_code"] == "TOO_MANY_REQUESTS"


def test_provider_error_helpers_build_the_documented_bodies(
    eleven: ElevenLabsStandIn, deepgram: DeepgramStandIn
) -> None:
    eleven.script.always(elevenlabs_error(401, "quota_exceeded", "No credits left."))
    deepgram.script.always(deepgram_error(503, "Service Unavailable", "Try later."))

    from_eleven = eleven_caller(eleven).speak()
    from_deepgram = deepgram_caller(deepgram).speak()

    assert from_eleven.json() == {
        "detail": {"status": "quota_exceeded", "message": "No credits left."}
    }
    assert from_deepgram.status_code == 503
    assert from_deepgram.json()["err_msg"] == "Try later."


def test_error_with_a_text_body_is_sent_as_plain_text(rest: Caller) -> None:
    rest.standin.script.always(error(502, "Bad Gateway", {"x-trace-id": "t-1"}))

    response = rest.speak()

    assert response.status_code == 502
    assert response.headers["content-type"].startswith("text/plain")
    assert (response.text, response.headers["x-trace-id"]) == ("Bad Gateway", "t-1")


def test_html_is_served_as_a_text_html_page(rest: Caller) -> None:
    rest.standin.script.always(html())

    response = rest.speak()

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert response.text.startswith("<!DOCTYPE html>")


def test_short_body_makes_httpx_fail_on_the_incomplete_read(rest: Caller) -> None:
    rest.standin.script.always(short_body(declared=48_000, sent=12_000))

    with pytest.raises(httpx.RemoteProtocolError, match="received 12000 bytes"):
        rest.speak(timeout=5)


def test_short_body_declares_the_full_length_before_sending_part(
    rest: Caller,
) -> None:
    rest.standin.script.always(short_body(declared=48_000, sent=12_000))
    received = bytearray()

    with HTTP.stream("POST", rest.standin.url + rest.path, **request_of(rest)) as r:
        assert r.headers["content-length"] == "48000"
        with pytest.raises(httpx.RemoteProtocolError):
            for piece in r.iter_raw():
                received += piece

    assert len(received) == 12_000
    assert mp3_info(bytes(received)).sample_rate in (44100, 22050)


def test_hang_times_out_on_the_client_timeout(rest: Caller) -> None:
    rest.standin.script.always(hang())

    with pytest.raises(httpx.ReadTimeout):
        rest.speak(timeout=0.3)


def test_other_requests_are_served_while_one_hangs(rest: Caller) -> None:
    rest.standin.script.for_text("stuck", hang())

    with ThreadPoolExecutor(1) as pool:
        stuck = pool.submit(rest.speak, "stuck", timeout=2)
        time.sleep(0.1)
        healthy = rest.speak("free", timeout=1)
        rest.standin.stop()
        with pytest.raises(httpx.TransportError):
            stuck.result()

    assert healthy.status_code == 200
    assert sorted(r.text for r in rest.standin.requests) == ["free", "stuck"]


def test_slow_audio_arrives_in_pieces_over_the_given_time(rest: Caller) -> None:
    rest.standin.script.always(slow_audio(0.4))
    arrivals: list[float] = []
    started = time.monotonic()

    with HTTP.stream("POST", rest.standin.url + rest.path, **request_of(rest)) as r:
        body = b"".join(record_arrival(piece, arrivals) for piece in r.iter_raw())

    assert arrivals[-1] - started >= 0.35
    assert len(arrivals) >= 5
    assert mp3_info(body).length == pytest.approx(speech_seconds("Hello."), abs=0.05)


def test_reset_gives_a_connection_error(rest: Caller) -> None:
    rest.standin.script.always(reset())

    with pytest.raises(httpx.ReadError, match="reset"):
        rest.speak(timeout=5)


def test_empty_audio_is_200_audio_mpeg_without_a_byte(rest: Caller) -> None:
    rest.standin.script.always(empty_audio())

    response = rest.speak()

    assert response.status_code == 200
    assert response.headers["content-type"] == "audio/mpeg"
    assert response.content == b""


def test_json_as_audio_is_256_bytes_of_json_labelled_audio(rest: Caller) -> None:
    rest.standin.script.always(json_as_audio())

    response = rest.speak()

    assert response.status_code == 200
    assert response.headers["content-type"] == "audio/mpeg"
    assert len(response.content) == 256
    assert isinstance(json.loads(response.content), dict)


def test_a_text_can_fail_twice_then_recover_while_others_stay_healthy(
    rest: Caller,
) -> None:
    rest.standin.script.for_text("ZEBRA", error(503), reset(), audio(2.0))
    outcomes: list[int | str] = []

    for text in ["Alpha.", "The ZEBRA crossed.", "The ZEBRA crossed.", "Omega."]:
        try:
            outcomes.append(rest.speak(text, timeout=5).status_code)
        except httpx.TransportError:
            outcomes.append("dropped")
    last = rest.speak("The ZEBRA crossed.", timeout=5)

    assert outcomes == [200, 503, "dropped", 200]
    assert mp3_info(last.content).length == pytest.approx(2.0, abs=0.05)
    numbers = [(r.number, r.text_number) for r in rest.standin.speech_requests]
    assert numbers == [(1, 1), (2, 1), (3, 2), (4, 1), (5, 3)]


# --- the server itself ---------------------------------------------------------


def test_stop_releases_hanging_requests_and_joins_the_thread() -> None:
    standin = ElevenLabsStandIn(ELEVEN_KEY, default=hang()).start()
    caller = eleven_caller(standin)

    with ThreadPoolExecutor(1) as pool:
        stuck = pool.submit(caller.speak, timeout=5)
        time.sleep(0.1)
        started = time.monotonic()
        standin.stop()
        with pytest.raises(httpx.TransportError):
            stuck.result()

    assert time.monotonic() - started < 2
    with pytest.raises(RuntimeError, match="not running"):
        _ = standin.url


def test_a_stopped_stand_in_can_start_again_on_a_fresh_port() -> None:
    standin = DeepgramStandIn(DEEPGRAM_KEY)
    with standin:
        deepgram_caller(standin).speak()
    with standin:
        deepgram_caller(standin).speak()
        standin.stop()
        standin.stop()

    assert [r.number for r in standin.requests] == [1, 2]
    standin.clear_requests()
    assert standin.requests == []


# --- Edge ----------------------------------------------------------------------


@pytest.fixture
def edge(monkeypatch: pytest.MonkeyPatch) -> Iterator[EdgeStandIn]:
    """A running Edge stand-in with edge-tts pointed at it."""
    with EdgeStandIn() as standin:
        monkeypatch.setattr(edge_tts.communicate, "WSS_URL", standin.edge_url)
        yield standin
    forget_clock_skew()


def communicate(text: str, *, wait: float = 5.0, **options: Any) -> list[Any]:
    """Every chunk edge-tts's own client streams for `text`."""

    async def collect() -> list[Any]:
        stream = edge_tts.Communicate(text, **options).stream()
        return [chunk async for chunk in stream]

    return asyncio.run(asyncio.wait_for(collect(), wait))


def audio_of(chunks: list[Any]) -> bytes:
    """The audio bytes among streamed chunks."""
    return b"".join(chunk["data"] for chunk in chunks if chunk["type"] == "audio")


def events_of(chunks: list[Any]) -> list[Any]:
    """The boundary events among streamed chunks."""
    return [chunk for chunk in chunks if chunk["type"] != "audio"]


def test_edge_healthy_stream_yields_audio_and_sentence_boundaries(
    edge: EdgeStandIn,
) -> None:
    text = "The night was cold. The fire was warm!"

    chunks = communicate(text)

    sound = audio_of(chunks)
    info = mp3_info(sound)
    assert (info.sample_rate, info.bitrate, info.channels) == (24000, 48_000, 1)
    assert info.length == pytest.approx(speech_seconds(text), abs=0.03)
    assert len([chunk for chunk in chunks if chunk["type"] == "audio"]) > 1
    events = events_of(chunks)
    assert [e["type"] for e in events] == ["SentenceBoundary"] * 2
    assert [e["text"] for e in events] == ["The night was cold.", "The fire was warm!"]
    end = events[-1]["offset"] + events[-1]["duration"]
    assert end == len(sound) * 8 * 10_000_000 // 48_000


def test_edge_sends_word_boundaries_when_speech_config_asks(edge: EdgeStandIn) -> None:
    chunks = communicate("Cats & dogs <run>.", boundary="WordBoundary")

    events = events_of(chunks)
    assert [e["text"] for e in events] == ["Cats", "&", "dogs", "<run>."]
    assert all(e["type"] == "WordBoundary" for e in events)
    offsets = [e["offset"] for e in events]
    assert offsets == sorted(offsets)


def test_edge_records_the_ssml_its_unescaped_text_and_the_voice(
    edge: EdgeStandIn,
) -> None:
    communicate("Fish & chips <hot>.", voice="en-GB-SoniaNeural", rate="+10%")

    (request,) = edge.requests
    assert request.text == "Fish & chips <hot>."
    assert request.voice == (
        "Microsoft Server Speech Text to Speech Voice (en-GB, SoniaNeural)"
    )
    assert "Fish &amp; chips &lt;hot&gt;." in request.body["ssml"]
    assert "rate='+10%'" in request.body["ssml"]
    options = request.body["speech.config"]["context"]["synthesis"]["audio"]
    assert options["outputFormat"] == "audio-24khz-48kbitrate-mono-mp3"
    assert request.query["TrustedClientToken"] == "STANDIN"
    assert "Sec-MS-GEC" in request.query


def test_edge_403_is_retried_once_then_raises_a_handshake_error(
    edge: EdgeStandIn,
) -> None:
    edge.script.always(error(403))

    with pytest.raises(aiohttp.WSServerHandshakeError) as raised:
        communicate("Hello.")

    assert raised.value.status == 403
    assert len(edge.requests) == 2


@pytest.mark.parametrize("reply", [error(429), error(503), html()])
def test_edge_other_handshake_refusals_raise_at_once(
    edge: EdgeStandIn, reply: Any
) -> None:
    edge.script.always(reply)

    with pytest.raises(aiohttp.WSServerHandshakeError) as raised:
        communicate("Hello.")

    assert raised.value.status == reply.status
    assert len(edge.requests) == 1


def test_edge_reset_at_the_handshake_is_a_client_error(edge: EdgeStandIn) -> None:
    edge.script.always(reset())

    with pytest.raises(aiohttp.ClientError):
        communicate("Hello.")


def test_edge_turn_without_audio_raises_no_audio_received(edge: EdgeStandIn) -> None:
    edge.script.always(no_audio())

    with pytest.raises(NoAudioReceived):
        communicate("Hello.")


@pytest.mark.parametrize("text", ["Hi there.", "A sentence long enough to cut."])
def test_edge_truncated_audio_ends_short_of_its_boundaries_silently(
    edge: EdgeStandIn, text: str
) -> None:
    edge.script.always(truncated(0.5))

    chunks = communicate(text)

    announced = events_of(chunks)[-1]
    end_seconds = (announced["offset"] + announced["duration"]) / 10_000_000
    assert mp3_info(audio_of(chunks)).length < end_seconds * 0.6


def test_edge_unknown_path_raises_unknown_response(edge: EdgeStandIn) -> None:
    edge.script.always(unknown_path())

    with pytest.raises(UnknownResponse):
        communicate("Hello.")


def test_edge_silence_after_the_upgrade_hangs_the_client(edge: EdgeStandIn) -> None:
    edge.script.always(hang())

    with pytest.raises(TimeoutError):
        communicate("Hello.", wait=0.3)

    assert edge.requests[0].text == "Hello."


def test_edge_slow_audio_still_completes(edge: EdgeStandIn) -> None:
    edge.script.always(slow_audio(0.2))
    started = time.monotonic()

    chunks = communicate("Slowly now.")

    assert time.monotonic() - started >= 0.15
    assert mp3_info(audio_of(chunks)).length == pytest.approx(0.72, abs=0.03)


def test_edge_text_rules_apply_once_the_ssml_has_arrived(edge: EdgeStandIn) -> None:
    edge.script.for_text("ZEBRA", no_audio(), audio())

    with pytest.raises(NoAudioReceived):
        communicate("The ZEBRA crossed.")
    second = communicate("The ZEBRA crossed.")
    other = communicate("Omega.")

    assert audio_of(second) and audio_of(other)
    assert [r.text_number for r in edge.requests] == [1, 2, 1]


# --- the launcher --------------------------------------------------------------


def test_launcher_points_edge_tts_at_the_url_in_the_environment(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(edge_tts.communicate, "WSS_URL", edge_tts.communicate.WSS_URL)
    monkeypatch.setattr(sys, "argv", list(sys.argv))
    monkeypatch.setenv(
        "NARRATE_TEST_EDGE_URL", "ws://127.0.0.1:9/x?TrustedClientToken=X"
    )

    with pytest.raises(SystemExit) as exited:
        launch.main(["--version"])

    assert exited.value.code in (0, None)
    assert capsys.readouterr().out.startswith("narrate ")
    assert edge_tts.communicate.WSS_URL == "ws://127.0.0.1:9/x?TrustedClientToken=X"


def test_launcher_runs_narrate_as_a_subprocess(narrate_home: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(LAUNCHER), "--version"],
        capture_output=True,
        text=True,
        env=cli_env(narrate_home, NARRATE_TEST_EDGE_URL="ws://127.0.0.1:9/x?T=X"),
        timeout=60,
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("narrate ")
