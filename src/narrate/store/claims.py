"""Claims on paragraphs: one provider request per paragraph across all workers.

Before narrating a paragraph, a worker claims its cache key. A claim that
another worker holds means that paragraph is being paid for already: the
worker narrates other paragraphs and comes back for the result. A worker
keeps its claims alive by renewing them; the claims of a worker that died
run out after the lease and can be taken over, at once when the worker ran on
this host and its process is gone. Claiming is one short write transaction:
drop the key's claim if it ran out, insert ours unless one is there.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import os
import socket
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from narrate.store.cache import insert_into, writing
from narrate.store.models import ParagraphClaim

DEFAULT_LEASE = 30.0


class ClaimState(enum.Enum):
    """What came of trying to claim a paragraph."""

    CLAIMED = "claimed"
    HELD = "held"
    DONE = "done"


@dataclass(frozen=True)
class ClaimKey:
    """The cache key of the paragraph a claim is on."""

    story_id: str
    text_hash: str
    voice: str
    provider: str


def worker_id() -> str:
    """A name for this process that no other worker, here or elsewhere, has."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class ClaimStore:
    """This worker's claims in the cache database."""

    def __init__(
        self, engine: Engine, owner: str, lease: float = DEFAULT_LEASE
    ) -> None:
        self.engine = engine
        self.owner = owner
        self.lease = lease
        self._table = ParagraphClaim.__table__  # type: ignore[attr-defined]

    def acquire(
        self, key: ClaimKey, finished: Callable[[sa.Connection], bool] | None = None
    ) -> ClaimState:
        """Claim the paragraph, unless a live claim of another worker holds it.

        `finished`, asked inside the same transaction once the claim is ours,
        says whether the paragraph's audio is there after all (another worker
        finished it since we looked): then no claim is kept.
        """
        with self._writing() as connection:
            if not self._insert(connection, key):
                return ClaimState.HELD
            if finished is not None and finished(connection):
                self.release_in(connection, key)
                return ClaimState.DONE
        return ClaimState.CLAIMED

    def acquire_in(self, connection: sa.Connection, key: ClaimKey) -> bool:
        """Claim the paragraph inside a transaction the caller holds; False when
        a live claim of another worker holds it. Lets one transaction claim a
        paragraph and change its entry together."""
        return self._insert(connection, key)

    def _insert(self, connection: sa.Connection, key: ClaimKey) -> bool:
        """Insert our claim, first clearing a claim that ran out or whose owner,
        a process of this host, is gone."""
        now = time.time()
        table = self._table
        values = {**_columns(key), "owner": self.owner, "expires_at": now + self.lease}
        connection.execute(
            sa.delete(table).where(_matches(table, key), table.c.expires_at < now)
        )
        if connection.execute(self._insert_unless_claimed(), values).first():
            return True
        owner = connection.execute(
            sa.select(table.c.owner).where(_matches(table, key))
        ).scalar()
        if owner is None or not dead_here(owner):
            return False
        connection.execute(
            sa.delete(table).where(_matches(table, key), table.c.owner == owner)
        )
        return bool(connection.execute(self._insert_unless_claimed(), values).first())

    def release(self, key: ClaimKey) -> None:
        """Give up this worker's claim on the paragraph."""
        with self._writing() as connection:
            self.release_in(connection, key)

    @contextlib.asynccontextmanager
    async def kept(self) -> AsyncIterator[None]:
        """Renew this worker's claims every third of the lease while inside;
        give up all of them when leaving."""

        async def renew() -> None:
            while True:
                await asyncio.sleep(self.lease / 3)
                await asyncio.to_thread(self.renew)

        heartbeat = asyncio.create_task(renew())
        try:
            yield
        finally:
            heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await heartbeat
            await asyncio.to_thread(self.release_all)

    def release_all(self) -> None:
        """Give up every claim this worker still holds."""
        table = self._table
        with self._writing() as connection:
            connection.execute(sa.delete(table).where(table.c.owner == self.owner))

    def release_in(self, connection: sa.Connection, key: ClaimKey) -> None:
        """Give up the claim inside a transaction the caller holds."""
        table = self._table
        connection.execute(
            sa.delete(table).where(_matches(table, key), table.c.owner == self.owner)
        )

    def renew(self) -> None:
        """Push back the expiry of every claim this worker holds."""
        table = self._table
        with self._writing() as connection:
            connection.execute(
                sa.update(table)
                .where(table.c.owner == self.owner)
                .values(expires_at=time.time() + self.lease)
            )

    def held(self, keys: list[ClaimKey]) -> set[str]:
        """The text hashes among `keys` that another live worker holds a claim on."""
        if not keys:
            return set()
        first, table = keys[0], self._table
        query = sa.select(table.c.text_hash, table.c.owner).where(
            table.c.story_id == first.story_id,
            table.c.voice == first.voice,
            table.c.provider == first.provider,
            table.c.text_hash.in_([key.text_hash for key in keys]),
            table.c.owner != self.owner,
            table.c.expires_at >= time.time(),
        )
        with self.engine.connect() as connection:
            rows = connection.execute(query).all()
        return {text_hash for text_hash, owner in rows if not dead_here(owner)}

    @contextlib.contextmanager
    def _writing(self) -> Iterator[sa.Connection]:
        """A write transaction that PostgreSQL need not flush to disk: a claim
        lost in a crash only lets another worker narrate the paragraph."""
        with writing(self.engine) as connection:
            if self.engine.dialect.name == "postgresql":
                connection.exec_driver_sql("SET LOCAL synchronous_commit = off")
            yield connection

    def _insert_unless_claimed(self) -> sa.Executable:
        """Insert a claim unless the key has one; RETURNING says which happened
        (the driver's rowcount does not, for PostgreSQL inserts)."""
        table = self._table
        insert = insert_into(self.engine, table)
        return insert.on_conflict_do_nothing().returning(table.c.owner)


def dead_here(owner: str) -> bool:
    """Whether a claim's owner is a process of this host that no longer runs."""
    host, _, rest = owner.partition(":")
    pid = rest.partition(":")[0]
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def _columns(key: ClaimKey) -> dict[str, str]:
    return {
        "story_id": key.story_id,
        "text_hash": key.text_hash,
        "voice": key.voice,
        "provider": key.provider,
    }


def _matches(table: sa.Table, key: ClaimKey) -> sa.ColumnElement[bool]:
    return sa.and_(*(table.c[name] == value for name, value in _columns(key).items()))
