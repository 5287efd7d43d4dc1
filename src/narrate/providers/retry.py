"""Retrying transient failures: exponential backoff, jitter, Retry-After.

A provider's request is tried again after a `TransientError` a bounded number
of times. The wait doubles each time, with jitter so that concurrent workers
do not retry in step. When the provider said how long to wait (`Retry-After`,
in seconds or as an HTTP date), that is honoured instead, unless it is longer
than the configured cap: then the provider is out for now and the story moves
on rather than sleeping.
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from narrate.config import number
from narrate.errors import (
    ProviderError,
    ProviderOutError,
    TimedOutError,
    TransientError,
)

log = logging.getLogger(__name__)
T = TypeVar("T")


# The range of each retry setting: low, high, whether it must be whole.
_RANGES = {
    "retries": (0, 20, True),
    "backoff": (0, 300, False),
    "max_backoff": (0, 3600, False),
    "max_retry_after": (0, 86400, False),
}


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently to retry one request."""

    retries: int = 4
    backoff: float = 0.5
    max_backoff: float = 30.0
    max_retry_after: float = 60.0

    @classmethod
    def from_settings(cls, provider: str, table: Mapping[str, Any]) -> RetryPolicy:
        """The policy from a provider's config table, defaults where it is silent."""
        values: dict[str, Any] = {}
        for name, (low, high, whole) in _RANGES.items():
            if name in table:
                where = f"providers.{provider}.{name}"
                values[name] = number(table[name], where, low, high, whole=whole)
        return cls(**values)

    def delay(self, provider: str, error: TransientError, attempt: int) -> float:
        """Seconds to wait before retry number `attempt` + 1 after `error`."""
        if error.retry_after is not None:
            if error.retry_after > self.max_retry_after:
                raise ProviderOutError(
                    provider,
                    f"asked to retry after {error.retry_after:.0f} s, more than the "
                    f"{self.max_retry_after:.0f} s narrate waits",
                    code="retry_after",
                    status=error.status,
                    request_id=error.request_id,
                    retry_after=error.retry_after,
                ) from error
            return max(error.retry_after, self.backoff / 10)
        ceiling = min(self.max_backoff, self.backoff * 2**attempt)
        return random.uniform(ceiling / 2, ceiling)


async def with_retries(
    provider: str,
    policy: RetryPolicy,
    call: Callable[[], Awaitable[T]],
    on_failure: Callable[[ProviderError], Awaitable[None]] | None = None,
) -> T:
    """Await `call()`, retrying it after transient failures as `policy` allows.

    `on_failure` hears of every failed try before anything else happens, and
    may raise to stop the retrying (the engine's circuit breaker does).
    """
    attempt = 0
    while True:
        try:
            return await call()
        except ProviderError as error:
            wait = _next_wait(provider, policy, error, attempt)
            if on_failure is not None:
                await on_failure(wait if isinstance(wait, ProviderError) else error)
            if isinstance(wait, ProviderError):
                raise wait from None if wait is error else error

        attempt += 1
        log.info("%s: retry %d in %.2f s", provider, attempt, wait)
        await asyncio.sleep(wait)


def _next_wait(
    provider: str, policy: RetryPolicy, error: ProviderError, attempt: int
) -> float | ProviderError:
    """Seconds to wait before the next try, or the error that ends the trying."""
    if not isinstance(error, TransientError) or isinstance(error, TimedOutError):
        return error
    if attempt >= policy.retries:
        return error
    try:
        return policy.delay(provider, error, attempt)
    except ProviderOutError as out:
        return out


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds a `Retry-After` value asks for, or None when it says nothing usable."""
    if value is None:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass

    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))
