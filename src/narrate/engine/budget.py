"""Spending limits: the characters a run may send, and each provider's month.

`--max-chars` caps what one run sends to billed providers, all of them
together; `monthly_chars` in a provider's config table caps what every run
sharing the cache sends it in a calendar month (UTC). Before a provider
takes on a story, the characters it would be sent for the missing
paragraphs are reserved against both; a provider that would go over either
is skipped for that story, like one whose breaker is open, with the reason
`budget`. When the attempt ends, what was not sent is given back, so the
month's count is what the provider was actually sent (requests that
returned audio; a retried request counts once).

espeak-ng runs here and costs nothing: it is never held back by a budget,
so a story over budget still ends complete, in the offline voice, for a
later `narrate upgrade` to bring back.

A run killed between a reservation and its settlement leaves the reserved
characters counted for the month: a budget can err on the side of spending
less, never more.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field

from narrate.providers.base import Provider
from narrate.store.usage import UsageStore, this_month


@dataclass
class Budget:
    """What one run may still send: its own cap and the providers' months."""

    max_chars: int | None = None
    monthly: Mapping[str, int] = field(default_factory=dict)
    usage: UsageStore | None = None
    month: str = field(default_factory=this_month)
    run_used: int = 0
    _next_turn: int = 0
    _done_turns: set[int] = field(default_factory=set)
    _turns: asyncio.Condition = field(default_factory=asyncio.Condition)

    def over(self, provider: Provider, chars: int) -> str | None:
        """Why sending `chars` more to the provider would break a budget, or
        None; reserves nothing (for `--dry-run`)."""
        if not provider.billed or chars == 0:
            return None
        reason = self._over_run(chars)
        limit = self.monthly.get(provider.name)
        if reason is None and limit is not None and self.usage is not None:
            used = self.usage.used(provider.name, self.month)
            if used + chars > limit:
                reason = self._over_month(limit, used, chars)
        return reason

    async def reserve(self, provider: Provider, chars: int) -> str | None:
        """Reserve `chars` for the provider; None when done, else why not."""
        if not provider.billed or chars == 0:
            return None
        reason = self._over_run(chars)
        if reason is not None:
            return reason
        self.run_used += chars  # before the await, so no other story slips past
        limit = self.monthly.get(provider.name)
        if limit is None or self.usage is None:
            return None
        used = await asyncio.to_thread(
            self.usage.reserve, provider.name, self.month, chars, limit
        )
        if used is None:
            return None
        self.run_used -= chars
        return self._over_month(limit, used, chars)

    async def settle(self, provider: Provider, reserved: int, sent: int) -> None:
        """The attempt is over: count what was sent instead of what was reserved."""
        if not provider.billed:
            return
        self.run_used += sent - reserved
        if self.usage is None:
            return
        counted = reserved if provider.name in self.monthly else 0
        await asyncio.to_thread(
            self.usage.add, provider.name, self.month, sent - counted
        )

    @contextlib.asynccontextmanager
    async def turn(self, order: int | None) -> AsyncIterator[None]:
        """Wait for the story's turn to reserve; pass it on when leaving.

        With `--max-chars`, which stories fit must not depend on which one's
        cache lookup happens to finish first: the stories of a run take their
        first provider's share in the order they were given, as `--dry-run`
        assumes. Without a cap, or without an `order`, there is no waiting.
        """
        if order is None or self.max_chars is None:
            yield
            return
        turns = self._turns
        async with turns:
            await turns.wait_for(lambda: self._next_turn >= order)
        try:
            yield
        finally:
            await self.pass_turn(order)

    async def pass_turn(self, order: int | None) -> None:
        """The story with this turn is done reserving (or never will)."""
        if order is None or self.max_chars is None:
            return
        async with self._turns:
            self._done_turns.add(order)
            while self._next_turn in self._done_turns:
                self._next_turn += 1
            self._turns.notify_all()

    def _over_run(self, chars: int) -> str | None:
        if self.max_chars is None or self.run_used + chars <= self.max_chars:
            return None
        left = max(0, self.max_chars - self.run_used)
        return f"needs {chars:,} characters; --max-chars leaves {left:,}"

    def _over_month(self, limit: int, used: int, chars: int) -> str:
        left = max(0, limit - used)
        return (
            f"needs {chars:,} characters; its monthly budget leaves {left:,} "
            f"of {limit:,} in {self.month}"
        )
