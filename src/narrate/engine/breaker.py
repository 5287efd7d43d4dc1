"""Circuit breakers: one per provider, kept in the database, shared by all runs.

    closed ──(threshold consecutive failures, or one provider-out)──> open
    open ──(cool-down over; one run claims the probe)──> half_open
    half_open ──(the probe succeeds)──> closed
    half_open ──(the probe fails)──> open, for another cool-down

While a breaker is open, its provider is skipped without a request; while
another worker probes it, a worker waits for the probe's result. A probe
whose worker died is taken over: at once when that worker ran on this host,
after `probe_timeout` otherwise. A breaker opened under another key or base
URL (its `fingerprint`) does not hold back the provider as now configured.
Failures that say nothing about the provider's health (a voice it refuses, a
text too long, a plain "slow down") are not counted.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from narrate.config import number
from narrate.errors import (
    ProviderError,
    ProviderOutError,
    TooLongError,
    VoiceError,
)
from narrate.store.claims import dead_here
from narrate.store.health import HealthStore
from narrate.store.models import ProviderHealth

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half_open"
# How often a worker looks whether another worker's probe has come back.
_PROBE_POLL = 0.5
_WEEK = 7 * 24 * 3600


@dataclass(frozen=True)
class BreakerPolicy:
    """When a provider's breaker opens, and how long it stays open."""

    threshold: int = 3
    cooldown: float = 300.0
    probe_timeout: float = 180.0
    fingerprint: str | None = None

    @classmethod
    def from_settings(cls, provider: str, table: Mapping[str, Any]) -> BreakerPolicy:
        """The policy from `failure_threshold` and `cooldown` in a provider's table."""
        where = f"providers.{provider}"
        threshold = table.get("failure_threshold", cls.threshold)
        cooldown = table.get("cooldown", cls.cooldown)
        return cls(
            threshold=number(
                threshold, f"{where}.failure_threshold", 1, 10**6, whole=True
            ),
            cooldown=float(number(cooldown, f"{where}.cooldown", 0, _WEEK)),
        )


class Admission(StrEnum):
    """What a run may do with a provider, by its breaker."""

    GO = "go"
    PROBE = "probe"
    SKIP = "skip"


def counts(error: ProviderError) -> bool:
    """Whether a failure says something about the provider's health.

    A voice it refuses or a text too long is about the request; a 429 says the
    provider is alive and asks for patience, which the retries give it (unless
    it asks for more patience than narrate has, which puts it out).
    """
    if isinstance(error, TooLongError | VoiceError):
        return False
    return error.status != 429 or isinstance(error, ProviderOutError)


class Breaker:
    """One provider's breaker, as seen by one worker (`owner`).

    `tripped` is the failure that opened it in this worker: every story of
    the worker that is using the provider stops at once, not only the one
    whose request failed, until a probe succeeds. It is set as soon as the
    failures this worker has seen reach the threshold, counting those still
    on their way to the database, so that no retry or other story's request
    slips out while the writes catch up.
    """

    def __init__(
        self, provider: str, store: HealthStore, policy: BreakerPolicy, owner: str = ""
    ) -> None:
        self.provider = provider
        self.store = store
        self.policy = policy
        self.owner = owner
        self.row = ProviderHealth(provider=provider, updated_at=datetime.now(UTC))
        self.tripped: ProviderError | None = None
        self._tripped_version = 0
        self._failing = 0  # failures on their way to the database

    async def admit(self, early: bool = False) -> Admission:
        """Whether the run may use the provider, must probe it, or must skip it.

        While another live worker probes the provider, this one waits for the
        probe's result rather than move its story to another voice. `early`
        claims a probe of an open breaker before its cool-down is over: an
        upgrade run's one look at whether the provider is back.
        """
        while True:
            self.row = await asyncio.to_thread(self.store.get, self.provider)
            admission = self._admission(datetime.now(UTC), early)
            if admission is Admission.GO and self.row.version > self._tripped_version:
                self.tripped = None  # closed since it tripped: another's probe
            if admission is not None:
                return admission
            if await self._claim_probe(early):
                self.tripped = None  # the probe must go out
                return Admission.PROBE
            if self.row.state != HALF_OPEN:
                return Admission.SKIP
            early = False  # another worker's probe answers for this one too
            await asyncio.sleep(_PROBE_POLL)

    def peek(self) -> Admission:
        """What `admit` would say now, without claiming a probe or waiting:
        for `--dry-run`, which makes no request."""
        self.row = self.store.get(self.provider)
        return self._admission(datetime.now(UTC), early=False) or Admission.PROBE

    def _admission(self, now: datetime, early: bool) -> Admission | None:
        """GO or SKIP when the row decides it alone; None when a probe may be due."""
        row, fingerprint = self.row, self.policy.fingerprint
        if row.state == CLOSED:
            return Admission.GO
        if row.fingerprint and fingerprint and row.fingerprint != fingerprint:
            return Admission.GO  # opened under another key or URL: try the new one
        if row.state == OPEN and _aware(row.retry_at) > now and not early:
            return Admission.SKIP
        return None

    async def _claim_probe(self, early: bool) -> bool:
        claimed = False
        now = datetime.now(UTC)

        def claim(row: ProviderHealth) -> ProviderHealth | None:
            nonlocal claimed
            claimed = _probe_claim(row, now, self.policy, self.owner, early)
            return row if claimed else None

        self.row = await asyncio.to_thread(self.store.change, self.provider, claim)
        return claimed

    async def failure(self, error: ProviderError) -> bool:
        """Count a failed request; whether the breaker is open now."""
        if not counts(error):
            return False
        now = datetime.now(UTC)
        predicted = self.row.model_copy()
        predicted.failures += self._failing
        if _failed(predicted, error, now, self.policy).state == OPEN:
            self._trip(error, self.row.version + 1)  # at once, before the write
        self._failing += 1
        try:
            row = await asyncio.to_thread(
                self.store.change,
                self.provider,
                lambda row: _failed(row, error, now, self.policy),
            )
        finally:
            self._failing -= 1
        if row.version >= self.row.version:  # a slower write may come back older
            self.row = row
        if row.state == OPEN:
            self._trip(error, row.version)
        return row.state == OPEN

    def _trip(self, error: ProviderError, version: int) -> None:
        """Stop this worker's requests to the provider, as of that row version."""
        self.tripped = error
        self._tripped_version = max(self._tripped_version, version)

    async def success(self) -> None:
        """Count a successful request; writes only when the breaker was not healthy."""
        if self.row.state == CLOSED and self.row.failures == 0:
            return
        now = datetime.now(UTC)
        self.row = await asyncio.to_thread(
            self.store.change, self.provider, lambda row: _succeeded(row, now)
        )
        self.tripped = None

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
        cooldown = max(policy.cooldown, min(error.retry_after or 0.0, _WEEK))
        row.state = OPEN
        row.retry_at = now + timedelta(seconds=cooldown)
        row.probe_at = None
        row.probe_owner = None
        row.fingerprint = policy.fingerprint
    return row


def _succeeded(row: ProviderHealth, now: datetime) -> ProviderHealth | None:
    if row.state == CLOSED and row.failures == 0:
        return None
    row.state = CLOSED
    row.failures = 0
    row.retry_at = None
    row.probe_at = None
    row.probe_owner = None
    row.updated_at = now
    return row


def _probe_claim(
    row: ProviderHealth,
    now: datetime,
    policy: BreakerPolicy,
    owner: str,
    early: bool = False,
) -> bool:
    """Turn the row into a claimed probe, if the breaker lets one through now:
    its cool-down is over (or need not be, `early`), or the probe under way
    was abandoned (its worker died, here or past `probe_timeout`)."""
    cooled = row.state == OPEN and (early or _aware(row.retry_at) <= now)
    abandoned_at = _aware(row.probe_at) + timedelta(seconds=policy.probe_timeout)
    abandoned = row.state == HALF_OPEN and (
        abandoned_at <= now
        or (row.probe_owner is not None and dead_here(row.probe_owner))
    )
    if not (cooled or abandoned):
        return False
    row.state = HALF_OPEN
    row.probe_at = now
    row.probe_owner = owner or None
    row.updated_at = now
    return True


def _aware(moment: datetime | None) -> datetime:
    """A stored time as an aware UTC datetime; a missing one is long past."""
    if moment is None:
        return datetime.min.replace(tzinfo=UTC)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
