"""Shared ground for the end-to-end tests: narrate against the three stand-ins."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from conftest import cli_env
from standins import DeepgramStandIn, EdgeStandIn, ElevenLabsStandIn, forget_clock_skew

LAUNCH = Path(__file__).parent / "standins" / "launch.py"
EL_KEY = "el-secret-4f1d2c3b5a6e7f80"
DG_KEY = "dg-secret-9a8b7c6d5e4f3a2b"
SIX = "\n\n".join(f"Paragraph {n} tells a short part of the tale." for n in range(1, 7))
FAST_RETRIES = """
[providers.elevenlabs]
retries = 2
backoff = 0.01
max_backoff = 0.05

[providers.deepgram]
retries = 2
backoff = 0.01
max_backoff = 0.05

[providers.edge]
retries = 2
backoff = 0.01
max_backoff = 0.05
"""


@dataclass
class Providers:
    """The three stand-ins and a way to run narrate against them."""

    home: Path
    eleven: ElevenLabsStandIn
    deepgram: DeepgramStandIn
    edge: EdgeStandIn

    def run(
        self, story: str | Path, *args: str, **env: str
    ) -> subprocess.CompletedProcess[str]:
        path = Path(story) if isinstance(story, Path) else self.story(story)
        return self.narrate("batch", str(path), *args, **env)

    def narrate(self, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        """Any narrate command, against the stand-ins."""
        return self.start(*args, **env).communicate_all()

    def start(self, *args: str, **env: str) -> Running:
        """Any narrate command, started in the background."""
        variables = {
            "ELEVENLABS_API_KEY": EL_KEY,
            "DEEPGRAM_API_KEY": DG_KEY,
            "NARRATE_ELEVENLABS_URL": self.eleven.url,
            "NARRATE_DEEPGRAM_URL": self.deepgram.url,
            "NARRATE_TEST_EDGE_URL": self.edge.edge_url,
            "NARRATE_CHAIN": "elevenlabs,deepgram,edge,espeak",
            **env,
        }
        process = subprocess.Popen(
            [sys.executable, str(LAUNCH), *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=cli_env(self.home, **variables),
        )
        return Running(process)

    def json(self, story: str | Path, *args: str, **env: str) -> dict[str, Any]:
        result = self.run(story, "--json", *args, **env)
        assert result.stdout.count("\n") == 1, result.stderr
        story_json = json.loads(result.stdout)
        story_json["exit"] = result.returncode
        story_json["stderr"] = result.stderr
        return story_json

    def story(self, text: str, name: str = "tale.txt") -> Path:
        path = self.home.parent / name
        path.write_text(text, encoding="utf-8")
        return path

    def entries(self) -> list[tuple[str, str, int]]:
        with sqlite3.connect(self.home / "narrate.db") as db:
            return db.execute(
                "select provider, text_hash, size from audio_entry"
            ).fetchall()


@dataclass
class Running:
    """A narrate command running in the background."""

    process: subprocess.Popen[str]

    def communicate_all(self) -> subprocess.CompletedProcess[str]:
        """Wait for it to end; what it printed and its exit code."""
        out, err = self.process.communicate(timeout=120)
        return subprocess.CompletedProcess(
            self.process.args, self.process.returncode, out, err
        )


def running_providers(narrate_home: Path) -> Iterator[Providers]:
    """The three stand-ins running, with fast retries in the test's config."""
    narrate_home.mkdir(parents=True, exist_ok=True)
    (narrate_home / "config.toml").write_text(FAST_RETRIES)
    with (
        ElevenLabsStandIn(api_key=EL_KEY) as eleven,
        DeepgramStandIn(api_key=DG_KEY) as deepgram,
        EdgeStandIn() as edge,
    ):
        yield Providers(narrate_home, eleven, deepgram, edge)
    forget_clock_skew()


def texts(standin: Any) -> list[str]:
    return [request.text for request in standin.speech_requests]


def used(story: dict[str, Any]) -> tuple[str, str, bool, int]:
    return (
        story["used_provider"],
        story["preferred_provider"],
        story["complete"],
        story["exit"],
    )


def attempt(story: dict[str, Any], provider: str) -> dict[str, Any]:
    return next(a for a in story["attempts"] if a["provider"] == provider)


def cooldown(providers: Providers, seconds: float) -> None:
    """Give ElevenLabs's breaker a short cool-down in the test's config."""
    config = FAST_RETRIES.replace(
        "[providers.elevenlabs]", f"[providers.elevenlabs]\ncooldown = {seconds}"
    )
    (providers.home / "config.toml").write_text(config)
