"""What `narrate cache verify` and `narrate cache prune` do: open the cache
and audio store the settings name, look after them (`narrate.store.care`),
close the cache."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta

from narrate.config import load_settings
from narrate.engine.chain import check_config
from narrate.errors import ConfigError
from narrate.store.audio_files import AudioStore
from narrate.store.cache import Cache, database_errors
from narrate.store.care import CacheCare, PruneReport, VerifyReport

# An age no entry can reach: --older-than too large to count back from today.
_DAWN = datetime(1, 1, 1, tzinfo=UTC)


def verify_cache(
    database_url: str | None = None, env: Mapping[str, str] | None = None
) -> VerifyReport:
    """Check every entry's audio file; remove the entries whose file is missing,
    of the wrong size or not audio, so the next run narrates them again."""
    with _care(database_url, env) as care:
        return care.verify()


def prune_cache(
    older_than_days: float,
    database_url: str | None = None,
    env: Mapping[str, str] | None = None,
) -> PruneReport:
    """Remove the entries older than `older_than_days` whose story neither
    prefers their provider nor was last narrated by it."""
    cutoff = _cutoff(older_than_days)
    with _care(database_url, env) as care:
        return care.prune(cutoff)


@contextlib.contextmanager
def _care(
    database_url: str | None, env: Mapping[str, str] | None
) -> Iterator[CacheCare]:
    settings = load_settings(env, database_url=database_url)
    check_config(settings)
    cache = Cache.open(settings.database_url)
    try:
        with database_errors(cache.engine):
            yield CacheCare(cache.engine, AudioStore(settings.audio_dir))
    finally:
        cache.close()


def _cutoff(days: float) -> datetime:
    """The moment `days` ago; entries created before it are old."""
    if math.isnan(days) or days < 0:
        raise ConfigError("--older-than must be a number of days, 0 or more")
    try:
        return datetime.now(UTC) - timedelta(days=days)
    except OverflowError:
        return _DAWN
