"""Circuit breakers: one per provider, kept in the database, shared by all runs.

    closed ──(threshold consecutive failures, or one provider-out)──> open
    open ──(cool-down over; one run claims the probe)──> half_open
    half_open ──(the probe succeeds)──> closed
    half_open ──(the probe fails)──> open, for another cool-down

While a breaker is open, its provider is skipped without a request. A probe
that was claimed and never finished (its worker died) may be taken over once
`probe_timeout` has passed. Failures that say nothing about the provider's
health (a voice it refuses, a text too long) are not counted.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from narrate.errors import (
    ConfigError,
    ProviderError,
    ProviderOutError,
    TooLongError,
    VoiceError,
)
from narrate.store.health import HealthStore
from narrate.store.models import ProviderHealth

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half_open"


@dataclass(frozen=True)
class BreakerPolicy:
    """When a provider's breaker opens, and how long it stays open."""

    threshold: int = 3
    cooldown: float = 300.0
    probe_timeout: float = 180.0

    @classmethod
    def from_settings(cls, provider: str, table: Mapping[str, Any]) -> BreakerPolicy:
        """The policy from `failure_threshold` and `cooldown` in a provider's table."""
        threshold = table.get("failure_threshold", cls.threshold)
        cooldown = table.get("cooldown", cls.cooldown)
        if (
            isinstance(threshold, bool)
            or not isinstance(threshold, int)
            or threshold < 1
        ):
            raise ConfigError(f"providers.{provider}.failure_threshold must be >= 1")
        if (
            isinstance(cooldown, bool)
            or not isinstance(cooldown, int | float)
            or cooldown < 0
        ):
            raise ConfigError(f"providers.{provider}.cooldown must be seconds >= 0")
        return cls(threshold=threshold, cooldown=float(cooldown))


class Admission(StrEnum):
    """What a run may do with a provider, by its breaker."""

    GO = "go"
    PROBE = "probe"
    SKIP = "skip"


def counts(error: ProviderError) -> bool:
    """Whether a failure says something about the provider's health.

    A voice it refuses or a text too long is about the request; a 429 says the
    provider is alive and asks for patience, which the retries give it.
    """
    return not isinstance(error, TooLongError | VoiceError) and error.status != 429


class Breaker:
    """One provider's breaker, as seen by one run."""

    def __init__(
        self, provider: str, store: HealthStore, policy: BreakerPolicy
    ) -> None:
        self.provider = provider
        self.store = store
        self.policy = policy
        self.row = ProviderHealth(provider=provider, updated_at=datetime.now(UTC))

    async def admit(self) -> Admission:
        """Whether the run may use the provider, must probe it, or must skip it."""
        self.row = await asyncio.to_thread(self.store.get, self.provider)
        now = datetime.now(UTC)
        if self.row.state == CLOSED:
            return Admission.GO
        if self.row.state == OPEN and _aware(self.row.retry_at) > now:
            return Admission.SKIP

        claimed = False

        def claim(row: ProviderHealth) -> ProviderHealth | None:
            nonlocal claimed
            claimed = _probe_claim(row, now, self.policy)
            return row if claimed else None

        self.row = await asyncio.to_thread(self.store.change, self.provider, claim)
        return Admission.PROBE if claimed else Admission.SKIP

    async def failure(self, error: ProviderError) -> bool:
        """Count a failed request; whether the breaker is open now."""
        if not counts(error):
            return False
        now = datetime.now(UTC)
        self.row = await asyncio.to_thread(
            self.store.change,
            self.provider,
            lambda row: _failed(row, error, now, self.policy),
        )
        return self.row.state == OPEN

    async def success(self) -> None:
        """Count a successful request; writes only when the breaker was not healthy."""
        if self.row.state == CLOSED and self.row.failures == 0:
            return
        now = datetime.now(UTC)
        self.row = await asyncio.to_thread(
            self.store.change, self.provider, lambda row: _succeeded(row, now)
        )

    @property
    def retry_at(self) -> datetime | None:
        """When an open breaker lets a probe through."""
        return _aware(self.row.retry_at) if self.row.retry_at else None


def _failed(
    row: ProviderHealth, error: ProviderError, now: datetime, policy: BreakerPolicy
) -> ProviderHealth:
    row.failures += 1
    row.last_failure_at = now
    row.last_reason = error.reason[:100]
    row.last_message = str(error)[:500]
    row.updated_at = now
    out = isinstance(error, ProviderOutError)
    if out or row.failures >= policy.threshold or row.state != CLOSED:
        row.state = OPEN
        row.retry_at = now + timedelta(seconds=policy.cooldown)
        row.probe_at = None
    return row


def _succeeded(row: ProviderHealth, now: datetime) -> ProviderHealth | None:
    if row.state == CLOSED and row.failures == 0:
        return None
    row.state = CLOSED
    row.failures = 0
    row.retry_at = None
    row.probe_at = None
    row.updated_at = now
    return row


def _probe_claim(row: ProviderHealth, now: datetime, policy: BreakerPolicy) -> bool:
    """Turn the row into a claimed probe, if the breaker lets one through now."""
    cooled = row.state == OPEN and _aware(row.retry_at) <= now
    abandoned_at = _aware(row.probe_at) + timedelta(seconds=policy.probe_timeout)
    abandoned = row.state == HALF_OPEN and abandoned_at <= now
    if not (cooled or abandoned):
        return False
    row.state = HALF_OPEN
    row.probe_at = now
    row.updated_at = now
    return True


def _aware(moment: datetime | None) -> datetime:
    """A stored time as an aware UTC datetime; a missing one is long past."""
    if moment is None:
        return datetime.min.replace(tzinfo=UTC)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
