"""Characters sent to each provider per month, for monthly budgets.

A reservation is one short write transaction: add the characters unless the
month's total would pass the budget. Both databases apply the conditional
update atomically (SQLite holds the write lock, PostgreSQL the row lock), so
workers sharing the cache cannot overrun a budget between them.
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from narrate.store.cache import insert_into, writing
from narrate.store.models import ProviderUsage


def this_month() -> str:
    """The current calendar month, UTC, as budgets count it."""
    return datetime.now(UTC).strftime("%Y-%m")


class UsageStore:
    """Reads and atomic changes of the provider_usage rows."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._table = ProviderUsage.__table__  # type: ignore[attr-defined]

    def used(self, provider: str, month: str) -> int:
        """Characters counted for the provider in the month."""
        with self.engine.connect() as connection:
            return self._used_in(connection, provider, month)

    def reserve(self, provider: str, month: str, chars: int, limit: int) -> int | None:
        """Count `chars` more for the month if the total stays within `limit`;
        None when it did, else the characters already counted."""
        table = self._table
        with writing(self.engine) as connection:
            self._ensure(connection, provider, month)
            counted = connection.execute(
                sa.update(table)
                .where(
                    table.c.provider == provider,
                    table.c.month == month,
                    table.c.chars + chars <= limit,
                )
                .values(chars=table.c.chars + chars)
                .returning(table.c.chars)
            ).first()
            if counted is not None:
                return None
            return self._used_in(connection, provider, month)

    def add(self, provider: str, month: str, chars: int) -> None:
        """Count `chars` more (fewer, when negative) for the month, never below 0."""
        if chars == 0:
            return
        table = self._table
        with writing(self.engine) as connection:
            self._ensure(connection, provider, month)
            total = table.c.chars + chars
            connection.execute(
                sa.update(table)
                .where(table.c.provider == provider, table.c.month == month)
                .values(chars=sa.case((total < 0, 0), else_=total))
            )

    def month(self, month: str) -> dict[str, int]:
        """Every provider's characters in the month."""
        table = self._table
        query = sa.select(table.c.provider, table.c.chars).where(table.c.month == month)
        with self.engine.connect() as connection:
            return {name: int(chars) for name, chars in connection.execute(query)}

    def _used_in(self, connection: sa.Connection, provider: str, month: str) -> int:
        table = self._table
        query = sa.select(table.c.chars).where(
            table.c.provider == provider, table.c.month == month
        )
        return int(connection.execute(query).scalar() or 0)

    def _ensure(self, connection: sa.Connection, provider: str, month: str) -> None:
        connection.execute(
            insert_into(self.engine, self._table)
            .values(provider=provider, month=month, chars=0)
            .on_conflict_do_nothing()
        )
