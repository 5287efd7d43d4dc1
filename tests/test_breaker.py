"""Circuit breakers in the cache database, as several workers see them."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta

from narrate.engine.breaker import Admission, Breaker, BreakerPolicy, counts
from narrate.errors import ProviderOutError, TimedOutError, TransientError, VoiceError
from narrate.store.health import HealthStore
from narrate.store.models import ProviderHealth


def breaker(cache, owner: str = "here:1:a", **policy: object) -> Breaker:
    return Breaker("a", HealthStore(cache.engine), BreakerPolicy(**policy), owner)


def set_row(cache, **values: object) -> None:
    def change(row: ProviderHealth) -> ProviderHealth:
        for name, value in values.items():
            setattr(row, name, value)
        row.updated_at = datetime.now(UTC)
        return row

    HealthStore(cache.engine).change("a", change)


def dead_owner() -> str:
    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
    )
    return f"{socket.gethostname()}:{gone.stdout.strip()}:x"


def test_consecutive_failures_open_the_breaker_at_the_threshold(cache):
    one = breaker(cache, threshold=3)
    error = TransientError("a", "boom", status=500)

    opened = [asyncio.run(one.failure(error)) for _ in range(3)]

    assert opened == [False, False, True]
    assert asyncio.run(breaker(cache).admit()) is Admission.SKIP


def test_a_provider_out_error_opens_it_at_once(cache):
    assert asyncio.run(
        breaker(cache).failure(ProviderOutError("a", "quota", status=401))
    )


def test_failures_about_the_request_do_not_count():
    assert not counts(VoiceError("a", "no such voice", status=404))
    assert not counts(TransientError("a", "slow down", status=429))
    assert counts(
        ProviderOutError("a", "too long to wait", status=429, retry_after=900)
    )
    assert counts(TimedOutError("a", "no answer"))


def test_a_long_retry_after_keeps_the_breaker_open_as_long(cache):
    out = ProviderOutError("a", "wait an hour", status=429, retry_after=3600)

    asyncio.run(breaker(cache, cooldown=10).failure(out))

    row = HealthStore(cache.engine).get("a")
    retry_at = row.retry_at if row.retry_at.tzinfo else row.retry_at.replace(tzinfo=UTC)
    assert retry_at > datetime.now(UTC) + timedelta(minutes=59)


def test_after_the_cool_down_one_worker_probes_and_the_others_wait(cache):
    set_row(cache, state="open", retry_at=datetime.now(UTC) - timedelta(seconds=1))
    first, second = breaker(cache, owner="here:1:a"), breaker(cache, owner="here:2:b")

    async def scene() -> tuple[Admission, Admission, float]:
        probing = await first.admit()
        started = time.monotonic()
        waiting = asyncio.create_task(second.admit())
        await asyncio.sleep(0.8)
        await first.success()
        return probing, await waiting, time.monotonic() - started

    probing, waited, seconds = asyncio.run(scene())

    assert (probing, waited) == (Admission.PROBE, Admission.GO)
    assert seconds >= 0.8, "the second worker waited for the probe"


def test_a_failed_probe_sends_the_waiting_worker_elsewhere(cache):
    set_row(cache, state="open", retry_at=datetime.now(UTC) - timedelta(seconds=1))
    first, second = breaker(cache, owner="here:1:a"), breaker(cache, owner="here:2:b")

    async def scene() -> Admission:
        await first.admit()
        waiting = asyncio.create_task(second.admit())
        await asyncio.sleep(0.3)
        await first.failure(TransientError("a", "still down", status=503))
        return await waiting

    assert asyncio.run(scene()) is Admission.SKIP


def test_the_probe_of_a_dead_worker_on_this_host_is_taken_over_at_once(cache):
    set_row(
        cache, state="half_open", probe_at=datetime.now(UTC), probe_owner=dead_owner()
    )

    assert asyncio.run(breaker(cache).admit()) is Admission.PROBE


def test_a_breaker_opened_under_another_key_does_not_hold_back_the_new_one(cache):
    set_row(
        cache,
        state="open",
        retry_at=datetime.now(UTC) + timedelta(hours=1),
        fingerprint="old-key",
    )

    assert asyncio.run(breaker(cache, fingerprint="new-key").admit()) is Admission.GO
    assert asyncio.run(breaker(cache, fingerprint="old-key").admit()) is Admission.SKIP


def test_an_early_probe_goes_through_an_open_breaker_before_its_cool_down(cache):
    set_row(cache, state="open", retry_at=datetime.now(UTC) + timedelta(hours=1))

    assert asyncio.run(breaker(cache).admit()) is Admission.SKIP
    assert asyncio.run(breaker(cache).admit(early=True)) is Admission.PROBE


def test_an_early_probe_does_not_take_over_a_live_probe(cache):
    set_row(cache, state="half_open", probe_at=datetime.now(UTC), probe_owner="b:1:x")

    async def scene() -> Admission | None:
        task = asyncio.create_task(breaker(cache).admit(early=True))
        await asyncio.sleep(0.8)
        set_row(cache, state="open", retry_at=datetime.now(UTC) + timedelta(hours=1))
        return await asyncio.wait_for(task, 5)

    assert asyncio.run(scene()) is Admission.SKIP, "it waited, then saw it fail"
