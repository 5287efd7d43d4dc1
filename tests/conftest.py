"""Shared fixtures: an isolated narrate home per test, a real cache database."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from narrate.store.audio_files import AudioStore
from narrate.store.cache import Cache

REPO = Path(__file__).resolve().parent.parent

# Any request to a host other than this machine goes to a closed port, so a
# test that forgot to point a provider at its stand-in fails instead of
# reaching the internet. The offline chain is the default for the same reason.
OFFLINE = {
    "HTTPS_PROXY": "http://127.0.0.1:9",
    "https_proxy": "http://127.0.0.1:9",
    "NO_PROXY": "127.0.0.1,localhost",
    "no_proxy": "127.0.0.1,localhost",
    "NARRATE_CHAIN": "espeak",
}
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
    """Every test gets its own data directory (its config file inside), never the
    real home."""
    home = tmp_path / "home"
    for name in list(os.environ):
        if name.startswith("NARRATE_") or name.endswith("_API_KEY"):
            monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NARRATE_HOME", str(home))
    for name, value in OFFLINE.items():
        monkeypatch.setenv(name, value)
    return home


POSTGRES_URL = os.environ.get("NARRATE_TEST_POSTGRES_URL")
REQUIRE_POSTGRES = os.environ.get("NARRATE_TEST_REQUIRE_POSTGRES") == "1"


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, narrate_home: Path) -> Iterator[str]:
    """A real cache database: a SQLite file in the test's home, or a fresh schema
    of the PostgreSQL test database named by NARRATE_TEST_POSTGRES_URL.

    Without that variable the PostgreSQL runs are skipped, unless
    NARRATE_TEST_REQUIRE_POSTGRES=1 (as in CI), where they fail.
    """
    if request.param == "sqlite":
        yield f"sqlite:///{narrate_home / 'narrate.db'}"
        return
    if not POSTGRES_URL:
        if REQUIRE_POSTGRES:
            pytest.fail(
                "NARRATE_TEST_REQUIRE_POSTGRES is set but not NARRATE_TEST_POSTGRES_URL"
            )
        pytest.skip("set NARRATE_TEST_POSTGRES_URL to run the PostgreSQL tests")
    yield from postgres_schema(POSTGRES_URL)


def postgres_schema(url: str) -> Iterator[str]:
    """The URL of a new, empty schema of the PostgreSQL test database; dropped after."""
    import sqlalchemy as sa

    schema = f"narrate_test_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    with admin.begin() as connection:
        connection.exec_driver_sql(f"CREATE SCHEMA {schema}")
    try:
        separator = "&" if "?" in url else "?"
        yield f"{url}{separator}options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as connection:
            connection.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
        admin.dispose()


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
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("NARRATE_") and not k.endswith("_API_KEY")
    }
    env.update(NARRATE_HOME=str(home))
    env.update(OFFLINE)
    env.update(extra)
    return env


@pytest.fixture
def providers(narrate_home: Path) -> Iterator[Any]:
    """The ElevenLabs, Deepgram and Edge stand-ins, and narrate pointed at them."""
    from e2e import running_providers

    yield from running_providers(narrate_home)
