"""What `narrate providers` and `narrate status` report: each provider's
configuration and health, and every story narrated with the cache."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from narrate.config import load_settings
from narrate.engine.breaker import CLOSED
from narrate.engine.chain import check_config, missing_key, monthly_budget
from narrate.providers import DEFAULT_CHAIN
from narrate.store.cache import Cache, database_errors
from narrate.store.health import HealthStore
from narrate.store.models import StoryRecord
from narrate.store.stories import StoryStore
from narrate.store.usage import UsageStore, this_month


@dataclass(frozen=True)
class ProviderStatus:
    """One provider: can it run here, and what its breaker says."""

    provider: str
    configured: bool
    note: str
    state: str = CLOSED
    failures: int = 0
    last_failure_at: datetime | None = None
    last_reason: str | None = None
    last_message: str | None = None
    retry_at: datetime | None = None
    month_chars: int = 0
    monthly_chars: int | None = None


def provider_statuses(
    database_url: str | None = None, env: Mapping[str, str] | None = None
) -> list[ProviderStatus]:
    """Every provider of the default chain, with its breaker from the cache database."""
    settings = load_settings(env, database_url=database_url)
    check_config(settings)
    cache = Cache.open(settings.database_url)
    try:
        with database_errors(cache.engine):
            health = HealthStore(cache.engine).all()
            usage = UsageStore(cache.engine).month(this_month())
    finally:
        cache.close()

    statuses = []
    for name in DEFAULT_CHAIN:
        missing = missing_key(name, settings)
        row = health.get(name)
        statuses.append(
            ProviderStatus(
                provider=name,
                configured=missing is None,
                note=f"no API key ({missing})" if missing else "ready",
                state=row.state if row else CLOSED,
                failures=row.failures if row else 0,
                last_failure_at=row.last_failure_at if row else None,
                last_reason=row.last_reason if row else None,
                last_message=row.last_message if row else None,
                retry_at=row.retry_at if row and row.state != CLOSED else None,
                month_chars=usage.get(name, 0),
                monthly_chars=monthly_budget(name, settings),
            )
        )
    return statuses


def story_statuses(
    database_url: str | None = None,
    *,
    degraded: bool = False,
    env: Mapping[str, str] | None = None,
) -> list[StoryRecord]:
    """The stories narrated with this cache, newest first; with `degraded`, only
    those not complete in their preferred voice (degraded or incomplete)."""
    settings = load_settings(env, database_url=database_url)
    check_config(settings)
    cache = Cache.open(settings.database_url)
    try:
        statuses = ("degraded", "incomplete") if degraded else None
        with database_errors(cache.engine):
            return StoryStore(cache.engine).all(statuses)
    finally:
        cache.close()
