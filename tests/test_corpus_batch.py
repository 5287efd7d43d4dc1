"""The whole story corpus narrated as one batch, against the ElevenLabs stand-in."""

from __future__ import annotations

import json

from conftest import CORPUS


def test_the_whole_corpus_narrates_as_one_batch_with_one_json_line_per_story(
    providers,
):
    files = sorted(p for p in CORPUS.iterdir() if p.suffix in (".txt", ".md"))

    result = providers.narrate("batch", str(CORPUS), "--json", "--concurrency", "8")

    assert result.returncode == 0, result.stderr
    stories = [json.loads(line) for line in result.stdout.splitlines()]
    sources = sorted(s["source"] for s in stories)  # in the order they finished
    assert sources == sorted(str(p.resolve()) for p in files)
    assert {(s["status"], s["used_provider"]) for s in stories} == {
        ("complete", "elevenlabs")
    }
    assert all(s["missing"] == [] for s in stories)
    new = sum(p["status"] == "new" for s in stories for p in s["paragraphs"])
    assert len(providers.eleven.speech_requests) == new > 2000
