"""`narrate batch` as a subprocess against local stand-ins of the online providers.

The stand-ins speak the ElevenLabs and Deepgram HTTP APIs and the Edge
WebSocket protocol on 127.0.0.1 and misbehave as each test scripts them.
narrate reaches ElevenLabs and Deepgram through its documented base-URL
variables; edge-tts is pointed at its stand-in by the test-only launcher.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from conftest import cli_env
from e2e import DG_KEY, EL_KEY, FAST_RETRIES, SIX, attempt, texts, used
from standins import (
    DeepgramStandIn,
    audio,
    elevenlabs_error,
    empty_audio,
    error,
    hang,
    html,
    json_as_audio,
    short_body,
    truncated,
)

# Healthy providers


def test_elevenlabs_narrates_the_story_when_it_is_healthy(providers):
    story = providers.json(SIX)

    assert used(story) == ("elevenlabs", "elevenlabs", True, 0)
    requests = providers.eleven.speech_requests
    assert len(requests) == 6
    assert all(r.headers["xi-api-key"] == EL_KEY for r in requests)
    third = next(r for r in requests if r.text.startswith("Paragraph 3"))
    assert third.body["previous_text"].startswith("Paragraph 2")
    assert third.body["next_text"].startswith("Paragraph 4")
    assert providers.deepgram.speech_requests == []


def test_deepgram_narrates_with_its_token_and_model(providers):
    story = providers.json(SIX, "--chain", "deepgram,espeak", "--voice", "iris")

    assert used(story) == ("deepgram", "deepgram", True, 0)
    request = providers.deepgram.speech_requests[0]
    assert request.headers["authorization"] == f"Token {DG_KEY}"
    assert request.voice == "aura-2-thalia-en"


def test_edge_narrates_through_the_websocket_protocol(providers):
    story = providers.json(SIX, "--chain", "edge,espeak")

    assert used(story) == ("edge", "edge", True, 0)
    assert len(providers.edge.speech_requests) == 6
    assert "AndrewNeural" in providers.edge.speech_requests[0].voice


def test_providers_without_keys_are_left_out_of_the_default_chain(providers):
    story = providers.json(SIX, ELEVENLABS_API_KEY="", NARRATE_CHAIN="")

    assert story["preferred_provider"] == "deepgram"
    assert [item["provider"] for item in story["left_out"]] == ["elevenlabs"]
    assert story["left_out"][0]["reason"] == "no_key"


def test_naming_a_provider_without_its_key_is_a_configuration_error(providers):
    result = providers.run(SIX, "--chain", "deepgram,espeak", DEEPGRAM_API_KEY="")

    assert result.returncode == 4
    assert "DEEPGRAM_API_KEY" in result.stderr and "Traceback" not in result.stderr
    assert providers.deepgram.requests == []


def test_a_bad_base_url_is_a_configuration_error(providers):
    result = providers.run(SIX, NARRATE_ELEVENLABS_URL="api.elevenlabs.io")

    assert result.returncode == 4
    assert result.stderr.strip().splitlines() == [
        "Error: bad elevenlabs base URL in NARRATE_ELEVENLABS_URL: use http(s)://host[:port]"
    ]


# Failover: the whole story moves to the next provider


def test_elevenlabs_dying_mid_story_moves_the_whole_story_to_deepgram(providers):
    providers.eleven.script.sequence(audio(), audio(), error(500))

    story = providers.json(SIX)

    assert used(story) == ("deepgram", "elevenlabs", True, 0)
    assert {p["provider"] for p in story["paragraphs"]} == {"deepgram"}
    assert len(providers.deepgram.speech_requests) == 6
    assert attempt(story, "elevenlabs")["outcome"] == "failed"


def test_with_elevenlabs_and_deepgram_dead_edge_narrates(providers):
    providers.eleven.script.always(error(500))
    providers.deepgram.script.always(error(503))

    story = providers.json(SIX)

    assert used(story) == ("edge", "elevenlabs", True, 0)


def test_with_all_online_providers_dead_espeak_narrates(providers):
    providers.eleven.script.always(error(500))
    providers.deepgram.script.always(error(503))
    providers.edge.script.always(error(503))

    story = providers.json(SIX)

    assert used(story) == ("espeak", "elevenlabs", True, 0)
    assert [a["outcome"] for a in story["attempts"]] == ["failed"] * 3 + ["complete"]


def test_out_of_credits_mid_story_is_not_retried_and_deepgram_narrates(providers):
    """C12."""
    quota = elevenlabs_error(
        401, "quota_exceeded", "Credits used up: 0 left, 91 needed."
    )
    providers.eleven.script.sequence(audio(), audio(), quota)

    out = providers.home.parent / "out"

    table = providers.run(SIX, "--out", str(out))

    story = json.loads((out / "manifest.json").read_text()) | {"exit": table.returncode}
    assert used(story) == ("deepgram", "elevenlabs", True, 0)
    sent = texts(providers.eleven)
    assert len(sent) == len(set(sent)), "the 401 is never retried"
    assert attempt(story, "elevenlabs")["reason"] == "quota_exceeded"
    done = attempt(story, "elevenlabs")["generated"]
    assert f"elevenlabs: quota_exceeded after {done} of 6 paragraphs" in table.stdout
    assert len([e for e in providers.entries() if e[0] == "elevenlabs"]) == done


def test_busy_answers_are_retried_and_elevenlabs_keeps_the_story(providers):
    """C13."""
    busy = elevenlabs_error(429, "system_busy", "Busy right now, please retry.")
    providers.eleven.script.add(
        lambda request, n: busy if n <= 2 else None, per_text=True
    )
    story_text = "\n\n".join(f"Paragraph {n} waits its turn." for n in range(1, 6))

    story = providers.json(story_text)

    assert used(story) == ("elevenlabs", "elevenlabs", True, 0)
    assert Counter(texts(providers.eleven)) == {
        t: 3 for t in set(texts(providers.eleven))
    }
    assert providers.deepgram.speech_requests == []


def test_a_connection_cut_mid_audio_is_retried_and_never_cached(providers):
    """C15."""
    providers.deepgram.script.for_text(
        "ZEBRA", short_body(declared=48_000, sent=12_000)
    )

    story = providers.json(
        "Alpha.\n\nThe ZEBRA crossed.\n\nOmega.", "--chain", "deepgram,espeak"
    )

    assert used(story) == ("espeak", "deepgram", True, 0)
    assert texts(providers.deepgram).count("The ZEBRA crossed.") == 3
    zebra = story["paragraphs"][1]["text_hash"]
    assert ("deepgram", zebra) not in {(p, h) for p, h, _ in providers.entries()}
    assert list(providers.home.rglob("*.part")) == []


@pytest.mark.parametrize("fake", [html(), json_as_audio()], ids=["html", "json"])
def test_audio_that_is_not_audio_is_refused_and_deepgram_narrates(providers, fake):
    """C16."""
    providers.eleven.script.always(fake)

    story = providers.json(SIX)

    assert used(story) == ("deepgram", "elevenlabs", True, 0)
    assert attempt(story, "elevenlabs")["reason"] == "not_audio"
    assert not [e for e in providers.entries() if e[0] == "elevenlabs"]
    assert not list((providers.home / "audio").glob("*/elevenlabs/*/*"))


def test_empty_audio_is_never_cached_and_a_truncated_file_is_regenerated(providers):
    """C17."""
    text = "The first part.\n\nThe second part.\n\nThe third part."
    providers.eleven.script.for_text("second", empty_audio())

    first = providers.json(text, "--chain", "elevenlabs")
    cached = {h for p, h, _ in providers.entries()}
    assert first["exit"] == 3 and first["paragraphs"][1]["text_hash"] not in cached
    Path(first["paragraphs"][0]["audio"]).write_bytes(b"")
    providers.eleven.script.clear()
    providers.eleven.clear_requests()

    second = providers.json(text, "--chain", "elevenlabs")

    assert second["exit"] == 0
    assert sorted(texts(providers.eleven)) == ["The first part.", "The second part."]
    assert [p["status"] for p in second["paragraphs"]] == ["new", "new", "cached"]


def test_a_provider_that_is_not_there_is_left_after_bounded_attempts(providers):
    """C18."""
    story = providers.json(
        "One.\n\nTwo.\n\nThree.", NARRATE_ELEVENLABS_URL="http://127.0.0.1:9"
    )

    assert used(story) == ("deepgram", "elevenlabs", True, 0)
    assert attempt(story, "elevenlabs")["reason"] == "connect"
    again = providers.run("One.\n\nTwo.", NARRATE_ELEVENLABS_URL="http://127.0.0.1:9")
    assert "elevenlabs: breaker open until" in again.stdout


def test_a_hung_provider_costs_one_timeout_then_the_story_moves_on(providers):
    providers.eleven.script.always(hang())

    story = providers.json(SIX, "--timeout", "1")

    assert used(story) == ("deepgram", "elevenlabs", True, 0)
    assert attempt(story, "elevenlabs")["reason"] == "timeout"


# Text reaches each provider as its protocol needs


def test_xml_special_characters_are_escaped_once_for_edge_and_raw_elsewhere(providers):
    """C03."""
    text = 'Smith & Sons sold 3 < 5 crates to "Bob\'s" shop <today>.'
    for chain in ("elevenlabs", "deepgram", "edge", "espeak"):
        story = providers.json(text, "--chain", chain)
        assert story["exit"] == 0 and story["used_provider"] == chain

    assert texts(providers.eleven) == [text]
    assert texts(providers.deepgram) == [text]
    assert texts(providers.edge) == [text]
    ssml = providers.edge.speech_requests[0].body["ssml"]
    assert "Smith &amp; Sons sold 3 &lt; 5 crates" in ssml and "&amp;amp;" not in ssml
    assert len({h for _, h, _ in providers.entries()}) == 1, "one hash of the raw text"


def test_a_paragraph_over_the_limit_is_split_at_sentence_ends(providers):
    """C04."""
    text = " ".join(
        f"Sentence {n} is here to pad this paragraph out a bit more." for n in range(90)
    )

    story = providers.json(text, "--chain", "deepgram")

    sent = texts(providers.deepgram)
    assert story["exit"] == 0 and len(sent) >= 6
    assert all(len(t) <= 1000 and t.endswith(".") for t in sent)
    assert " ".join(sent) == text


def test_a_provider_still_saying_too_long_gets_smaller_pieces_never_the_same_text(
    narrate_home,
):
    """C04: a lower limit than narrate knows of."""
    (narrate_home).mkdir(parents=True, exist_ok=True)
    (narrate_home / "config.toml").write_text(FAST_RETRIES)
    text = " ".join(
        f"Sentence {n} is here to pad this paragraph out a bit more." for n in range(30)
    )
    with DeepgramStandIn(api_key=DG_KEY, aura2_max_chars=400) as deepgram:
        env = {"DEEPGRAM_API_KEY": DG_KEY, "NARRATE_DEEPGRAM_URL": deepgram.url}
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "narrate",
                "batch",
                str(_write(narrate_home, text)),
                "--chain",
                "deepgram",
                "--json",
            ],
            capture_output=True,
            text=True,
            env=cli_env(narrate_home, **env),
            timeout=60,
        )
        sent = texts(deepgram)

    story = json.loads(result.stdout)
    assert (result.returncode, story["used_provider"]) == (0, "deepgram")
    assert len(sent) == len(set(sent)), "no text is sent twice"
    assert " ".join(t for t in sent if len(t) <= 400) == text


def test_a_long_clause_only_paragraph_is_split_at_commas_after_failover(providers):
    """C05."""
    clause = "the river ran past the mill and under the bridge, "
    text = (clause * 48).rstrip(", ") + "."
    providers.eleven.script.always(elevenlabs_error(401, "quota_exceeded", "none left"))

    story = providers.json(text)

    sent = texts(providers.deepgram)
    assert used(story) == ("deepgram", "elevenlabs", True, 0)
    assert len(sent) >= 3 and all(len(t) <= 1000 for t in sent)
    assert all(t.endswith(",") for t in sent[:-1])
    assert " ".join(sent) == text


# Secrets and logs


def test_keys_appear_nowhere_in_output_logs_or_storage(providers):
    echo = elevenlabs_error(401, "invalid_api_key", f"Key {EL_KEY} is not valid")
    providers.eleven.script.always(echo)

    result = providers.run(SIX, "--verbose", "--json")
    table = providers.run(SIX, "--verbose")

    for text in (result.stdout, result.stderr, table.stdout, table.stderr):
        assert EL_KEY not in text and DG_KEY not in text
    for path in providers.home.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert EL_KEY.encode() not in data and DG_KEY.encode() not in data


def test_verbose_logs_one_line_per_request(providers):
    result = providers.run("One.\n\nTwo.", "--verbose", "--chain", "deepgram")

    lines = re.findall(r"deepgram 200 (\d+) chars \d+ ms$", result.stderr, re.MULTILINE)
    assert sorted(lines) == ["4", "4"]


def _write(home: Path, text: str) -> Path:
    path = home.parent / "tale.txt"
    path.write_text(text)
    return path


def test_edge_stream_ending_early_is_retried_then_the_story_moves_on(providers):
    providers.edge.script.always(truncated(0.5))

    story = providers.json(SIX, "--chain", "edge,espeak")

    assert used(story) == ("espeak", "edge", True, 0)
    assert attempt(story, "edge")["reason"] == "truncated"
