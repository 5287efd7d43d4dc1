"""The Edge provider against a local stand-in of the Edge WebSocket service."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import edge_tts.communicate
import pytest

from narrate import audio as narrate_audio
from narrate.errors import ProviderError, ProviderOutError, TransientError
from narrate.providers.base import Speech, SpeechRequest
from narrate.providers.edge import EdgeProvider
from narrate.providers.retry import RetryPolicy, with_retries
from standins import (
    EdgeStandIn,
    audio,
    error,
    forget_clock_skew,
    hang,
    no_audio,
    truncated,
    unknown_path,
)

VOICE = "en-US-AndrewNeural"
TEXT = "The lamp failed at a quarter past nine, and the wind leaned on the glass."
FAST = RetryPolicy(retries=2, backoff=0.01, max_backoff=0.02)


@pytest.fixture
def edge(monkeypatch: pytest.MonkeyPatch) -> Iterator[EdgeStandIn]:
    with EdgeStandIn() as standin:
        monkeypatch.setattr(edge_tts.communicate, "WSS_URL", standin.edge_url)
        yield standin
    forget_clock_skew()


def speak(provider: EdgeProvider, text: str = TEXT) -> Speech:
    """One chunk with the provider's retry policy, as the engine sends it."""
    request = SpeechRequest(text, VOICE)
    return asyncio.run(
        with_retries(
            provider.name, provider.retry, lambda: provider.synthesize(request)
        )
    )


def failure(provider: EdgeProvider) -> ProviderError:
    with pytest.raises(ProviderError) as caught:
        speak(provider)
    return caught.value


def test_edge_answer_is_measured_mp3_of_plausible_length(edge):
    speech = speak(EdgeProvider(retry=FAST))

    info = narrate_audio.check_speech(speech.audio, TEXT)
    assert (speech.format, info.format) == ("mp3", "mp3")
    assert info.duration_s == pytest.approx(len(TEXT) / 15, rel=0.1)
    assert edge.speech_requests[0].text == TEXT


def test_edge_receives_the_raw_text_and_escapes_it_itself(edge):
    speak(EdgeProvider(retry=FAST), "Smith & Sons < 5 <today>.")

    request = edge.speech_requests[0]
    assert request.text == "Smith & Sons < 5 <today>."
    assert "Smith &amp; Sons &lt; 5 &lt;today&gt;." in request.body["ssml"]


def test_a_stream_that_ends_early_is_caught_and_retried(edge):
    edge.script.sequence(truncated(0.5), audio())

    speech = speak(EdgeProvider(retry=FAST))

    assert speech.audio
    assert len(edge.speech_requests) == 2


def test_a_stream_that_always_ends_early_fails_as_truncated(edge):
    edge.script.always(truncated(0.4))

    error_ = failure(EdgeProvider(retry=FAST))

    assert isinstance(error_, TransientError) and error_.code == "truncated"


@pytest.mark.parametrize("status", [429, 503])
def test_a_busy_handshake_is_transient(edge, status):
    edge.script.always(error(status))

    error_ = failure(EdgeProvider(retry=FAST))

    assert isinstance(error_, TransientError) and error_.status == status
    assert len(edge.requests) == FAST.retries + 1


def test_a_forbidden_handshake_puts_edge_out(edge):
    edge.script.always(error(403))

    error_ = failure(EdgeProvider(retry=FAST))

    assert isinstance(error_, ProviderOutError) and error_.status == 403


@pytest.mark.parametrize(
    ("reply", "code"),
    [(no_audio(), "no_audio"), (unknown_path(), "protocol")],
    ids=["no-audio", "unknown-path"],
)
def test_protocol_failures_are_transient(edge, reply, code):
    edge.script.always(reply)

    error_ = failure(EdgeProvider(retry=FAST))

    assert isinstance(error_, TransientError) and error_.code == code


def test_a_silent_stream_ends_at_the_deadline(edge):
    edge.script.always(hang())
    started = time.monotonic()

    error_ = failure(EdgeProvider(timeout=0.5, retry=RetryPolicy(retries=0)))

    assert isinstance(error_, TransientError) and error_.code == "timeout"
    assert time.monotonic() - started < 3


def test_a_closed_port_is_a_connection_failure(monkeypatch):
    url = "ws://127.0.0.1:9/consumer/speech/synthesize/readaloud/edge/v1?TrustedClientToken=X"
    monkeypatch.setattr(edge_tts.communicate, "WSS_URL", url)

    error_ = failure(EdgeProvider(retry=FAST))

    assert isinstance(error_, TransientError) and error_.code == "connect"


def test_an_unknown_voice_name_puts_edge_out(edge):
    with pytest.raises(ProviderOutError) as caught:
        asyncio.run(
            EdgeProvider(retry=FAST).synthesize(SpeechRequest(TEXT, "no voice"))
        )

    assert caught.value.code == "bad_voice"
    assert edge.speech_requests == []


def test_a_cancelled_request_is_logged_as_cancelled_not_ok(edge, caplog):
    edge.script.always(hang())
    provider = EdgeProvider(retry=FAST)

    async def cancel_midway() -> None:
        task = asyncio.create_task(provider.synthesize(SpeechRequest(TEXT, VOICE)))
        await asyncio.sleep(0.3)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    with caplog.at_level("INFO", logger="narrate"):
        asyncio.run(cancel_midway())

    (line,) = [r.getMessage() for r in caplog.records if r.name.startswith("narrate")]
    assert line.startswith(f"edge cancelled {len(TEXT)} chars ")
