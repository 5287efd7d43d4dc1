"""Shared fixtures: an isolated narrate home per test, a real cache database."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from narrate.store.audio_files import AudioStore
from narrate.store.cache import Cache

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "examples"


def _corpus() -> Path:
    """The shared corpus of real stories, read in place beside the project.

    NARRATE_TEST_CORPUS names it; otherwise ../shared/corpus next to this
    checkout, or the workplace's copy when the checkout is elsewhere (CI).
    """
    for candidate in (
        os.environ.get("NARRATE_TEST_CORPUS"),
        REPO.parent / "shared" / "corpus",
        "/work/shared/corpus",
    ):
        if candidate and Path(candidate).is_dir():
            return Path(candidate)
    raise RuntimeError("the story corpus is missing; set NARRATE_TEST_CORPUS")


CORPUS = _corpus()


@pytest.fixture(autouse=True)
def narrate_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own data directory and config file, never the real home."""
    home = tmp_path / "home"
    monkeypatch.setenv("NARRATE_HOME", str(home))
    monkeypatch.setenv("NARRATE_CONFIG", str(home / "config.toml"))
    for name in ("NARRATE_DATABASE_URL", "NARRATE_AUDIO_DIR", "NARRATE_DEBUG"):
        monkeypatch.delenv(name, raising=False)
    return home


@pytest.fixture
def database_url(narrate_home: Path) -> str:
    """A real SQLite cache file inside the test's home."""
    return f"sqlite:///{narrate_home / 'narrate.db'}"


@pytest.fixture
def cache(database_url: str) -> Iterator[Cache]:
    """The cache, migrated and open."""
    opened = Cache.open(database_url)
    yield opened
    opened.close()


@pytest.fixture
def store(narrate_home: Path) -> AudioStore:
    """The audio store inside the test's home."""
    return AudioStore(narrate_home / "audio")


def cli_env(home: Path, **extra: str) -> dict[str, str]:
    """The environment for running `narrate` as a subprocess in a test home."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("NARRATE_")}
    env.update(NARRATE_HOME=str(home), NARRATE_CONFIG=str(home / "config.toml"))
    env.update(extra)
    return env
