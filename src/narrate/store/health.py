"""Provider health rows: the circuit breakers every run and worker shares.

Each change is a compare-and-set on the row's version: read the row, work out
the new state, and write it only if nobody else wrote in between, else read
again. That keeps the breaker logic in plain Python (see
`narrate.engine.breaker`) and still correct when many processes share one
database, SQLite or PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from narrate.errors import StoreError
from narrate.store.cache import writing
from narrate.store.models import ProviderHealth

_ATTEMPTS = 50
_COLUMNS = (
    "state",
    "failures",
    "retry_at",
    "probe_at",
    "probe_owner",
    "fingerprint",
    "last_failure_at",
    "last_reason",
    "last_message",
    "updated_at",
)


class HealthStore:
    """Reads and compare-and-set writes of provider_health rows."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def get(self, provider: str) -> ProviderHealth:
        """The provider's row, or a fresh closed one (version 0) if it has none."""
        with Session(self.engine) as session:
            row = session.get(ProviderHealth, provider)
            if row is not None:
                session.expunge(row)
                return row
        return ProviderHealth(provider=provider, updated_at=datetime.now(UTC))

    def all(self) -> dict[str, ProviderHealth]:
        """Every provider's row, by provider name."""
        with Session(self.engine) as session:
            rows = session.exec(select(ProviderHealth)).all()
            for row in rows:
                session.expunge(row)
        return {row.provider: row for row in rows}

    def change(
        self, provider: str, change: Callable[[ProviderHealth], ProviderHealth | None]
    ) -> ProviderHealth:
        """Apply `change` to the current row and store it, atomically.

        `change` gets a copy of the row and returns the new row, or None to
        leave it as it is. It may run more than once under contention.
        """
        for _ in range(_ATTEMPTS):
            current = self.get(provider)
            new = change(current.model_copy())
            if new is None:
                return current
            if self._write(current, new):
                new.version = current.version + 1
                return new
        raise StoreError(f"provider_health for {provider} changes too often to update")

    def _write(self, current: ProviderHealth, new: ProviderHealth) -> bool:
        table = ProviderHealth.__table__  # type: ignore[attr-defined]
        values = {name: getattr(new, name) for name in _COLUMNS}
        values["version"] = current.version + 1
        if current.version == 0:
            try:
                with writing(self.engine) as connection:
                    connection.execute(
                        table.insert().values(provider=current.provider, **values)
                    )
            except sa.exc.IntegrityError:
                return False
            return True

        with writing(self.engine) as connection:
            updated = connection.execute(
                table.update()
                .where(table.c.provider == current.provider)
                .where(table.c.version == current.version)
                .values(**values)
            )
        return updated.rowcount == 1
