"""The cache database: opening it, migrating it, looking entries up, upserting.

SQLite by default, PostgreSQL (`postgresql+psycopg://...`) when many workers
share one cache. SQLite runs in WAL mode with a busy timeout, so that a reader
never blocks a writer and writers wait for each other instead of failing;
write transactions start as writers (`BEGIN IMMEDIATE`), so one never fails
upgrading a read lock. Every write is short: one upsert on the entry's key,
or one compare-and-set.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import weakref
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine
from sqlmodel import col

from narrate.errors import ConfigError, StoreError
from narrate.store.models import AudioEntry

log = logging.getLogger(__name__)

try:
    import fcntl
except ImportError:  # Windows: concurrent first starts there are not serialised.
    fcntl = None  # type: ignore[assignment]

_MIGRATIONS = Path(__file__).parent / "migrations"
_SQLITE_WRITERS: weakref.WeakKeyDictionary[Engine, threading.Lock] = (
    weakref.WeakKeyDictionary()
)
# Any fixed number: the advisory lock PostgreSQL migrations take turns on.
_PG_LOCK_KEY = 6_172_893_112
_SQLITE_BUSY_MS = 30_000
# Text hashes per lookup query, well within every database's parameter limit.
_LOOKUP_BATCH = 500
_UPDATED_ON_CONFLICT = (
    "provider_voice",
    "path",
    "format",
    "size",
    "duration_s",
    "chars",
    "request_id",
    "created_at",
)


def open_engine(url: str) -> Engine:
    """An engine for `url` with narrate's connection settings and current schema."""
    parsed = _parse(url)
    engine = _create_engine(parsed)
    try:
        migrate(engine)
    except (sa.exc.SQLAlchemyError, OSError) as error:
        engine.dispose()
        reason = error.orig if isinstance(error, sa.exc.DBAPIError) else error
        raise StoreError(
            f"cannot open the cache database {_safe(parsed)}: {_one_line(reason)}"
        ) from error
    except StoreError:
        engine.dispose()
        raise
    return engine


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest migration, doing nothing when it is there.

    Several processes starting on an empty database at once take turns: a
    lock file beside a SQLite database, an advisory lock on PostgreSQL.
    """
    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    scripts = ScriptDirectory.from_config(config)
    head = scripts.get_current_head()
    with engine.connect() as connection:
        if MigrationContext.configure(connection).get_current_revision() == head:
            return

    with _migration_lock(engine), writing(engine) as connection:
        if engine.dialect.name == "postgresql":
            connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_PG_LOCK_KEY})")
        current = MigrationContext.configure(connection).get_current_revision()
        if current == head:
            return
        if current is not None and current not in {
            s.revision for s in scripts.walk_revisions()
        }:
            raise StoreError(
                f"the cache database is at schema revision {current}, which this "
                "narrate does not know: it was made by a newer narrate"
            )
        config.attributes["connection"] = connection
        log.info("migrating the cache database to revision %s", head)
        command.upgrade(config, "head")


class Cache:
    """Lookups and upserts of audio entries."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._upsert = _upsert(engine.dialect.name)

    @classmethod
    def open(cls, url: str) -> Cache:
        """Connect to `url`, migrating the schema first."""
        return cls(open_engine(url))

    def lookup(
        self, story_id: str, voice: str, provider: str, hashes: Iterable[str]
    ) -> dict[str, AudioEntry]:
        """The entries of one story, voice and provider, by text hash."""
        with self.engine.connect() as connection:
            return self.lookup_in(connection, story_id, voice, provider, hashes)

    def lookup_in(
        self,
        connection: sa.Connection,
        story_id: str,
        voice: str,
        provider: str,
        hashes: Iterable[str],
    ) -> dict[str, AudioEntry]:
        """Like `lookup`, inside a transaction the caller holds."""
        wanted = sorted(set(hashes))
        table = AudioEntry.__table__  # type: ignore[attr-defined]
        found: dict[str, AudioEntry] = {}
        for start in range(0, len(wanted), _LOOKUP_BATCH):
            query = sa.select(table).where(
                table.c.story_id == story_id,
                table.c.voice == voice,
                table.c.provider == provider,
                table.c.text_hash.in_(wanted[start : start + _LOOKUP_BATCH]),
            )
            for row in connection.execute(query).mappings():
                found[row["text_hash"]] = AudioEntry(**row)
        return found

    def record(
        self, entry: AudioEntry, also: Callable[[sa.Connection], None] | None = None
    ) -> None:
        """Insert the entry, or replace the one with the same key; `also` runs
        in the same transaction (a claim on the paragraph is dropped there)."""
        values = entry.model_dump(exclude={"id"})
        values["created_at"] = values["created_at"] or datetime.now(UTC)
        with writing(self.engine) as connection:
            connection.execute(self._upsert, values)
            if also is not None:
                also(connection)

    def count(self, story_id: str | None = None) -> int:
        """How many entries there are, in all or for one story."""
        query = sa.select(sa.func.count()).select_from(AudioEntry)
        if story_id is not None:
            query = query.where(col(AudioEntry.story_id) == story_id)
        with self.engine.connect() as connection:
            return int(connection.execute(query).scalar_one())

    def close(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()


@contextlib.contextmanager
def database_errors(engine: Engine) -> Iterator[None]:
    """Turn a failure of the database mid-run (a lost connection, a full
    disk) into one StoreError line instead of a driver's traceback."""
    try:
        yield
    except sa.exc.SQLAlchemyError as error:
        reason = error.orig if isinstance(error, sa.exc.DBAPIError) else error
        raise StoreError(
            f"the cache database {_safe(engine.url)} failed: {_one_line(reason)}"
        ) from error


@contextlib.contextmanager
def writing(engine: Engine) -> Iterator[sa.Connection]:
    """A short write transaction; on SQLite it takes the write lock at once.

    Threads of one process take turns on a SQLite file here rather than in
    SQLite's busy handler, which sleeps in steps of up to 100 ms.
    """
    turn = _SQLITE_WRITERS.setdefault(engine, threading.Lock())
    sqlite_turn = turn if engine.dialect.name == "sqlite" else contextlib.nullcontext()
    with sqlite_turn, engine.connect() as connection:
        connection.execution_options(narrate_writer=True)
        with connection.begin():
            yield connection


def _parse(url: str) -> sa.URL:
    try:
        parsed = sa.make_url(url)
    except (sa.exc.ArgumentError, ValueError) as error:
        # The parser's message repeats the URL, password and all.
        raise ConfigError(
            "bad database URL: it is not of the form dialect://..."
        ) from error
    if "@" in (parsed.host or ""):
        # The URL's first @ ended the password: the rest of it reads as the host.
        raise ConfigError(
            "bad database URL: an @ in its user name or password must be written %40"
        )
    if parsed.drivername == "postgresql":
        # SQLAlchemy's default PostgreSQL driver is psycopg2; narrate ships psycopg 3.
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.get_backend_name() == "sqlite" and _in_memory(parsed):
        raise ConfigError(
            "an in-memory SQLite database cannot hold a cache; name a file, "
            "e.g. sqlite:///cache.db"
        )
    return parsed


def _in_memory(url: sa.URL) -> bool:
    database = url.database or ""
    return database in ("", ":memory:") or url.query.get("mode") == "memory"


def _create_engine(url: sa.URL) -> Engine:
    try:
        if url.get_backend_name() != "sqlite":
            # No pre-ping: it would add a round trip to every short transaction.
            return sa.create_engine(url, pool_recycle=300)
        folder = Path(url.database or "").expanduser().parent
        folder.mkdir(parents=True, exist_ok=True)
    except (sa.exc.ArgumentError, sa.exc.NoSuchModuleError) as error:
        raise ConfigError(f"bad database URL {_safe(url)}: {error}") from error
    except ImportError as error:
        raise ConfigError(
            f"no driver for database URL {_safe(url)}: {error}"
        ) from error
    except OSError as error:
        raise StoreError(
            f"cannot create the folder of {_safe(url)}: {error}"
        ) from error

    engine = sa.create_engine(
        url,
        connect_args={"check_same_thread": False, "timeout": _SQLITE_BUSY_MS / 1000},
    )
    sa.event.listen(engine, "connect", _sqlite_pragmas)
    sa.event.listen(engine, "begin", _sqlite_begin)
    return engine


@contextlib.contextmanager
def _migration_lock(engine: Engine) -> Iterator[None]:
    """Hold a lock file beside a SQLite database while migrating it."""
    database = engine.url.database
    if engine.dialect.name != "sqlite" or not database or fcntl is None:
        yield
        return
    with open(f"{database}.migrate.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _sqlite_pragmas(connection: Any, _record: Any) -> None:
    # Leave transactions to SQLAlchemy's "begin" event, not pysqlite's guesses.
    connection.isolation_level = None
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={_SQLITE_BUSY_MS}")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _sqlite_begin(connection: sa.Connection) -> None:
    writer = connection.get_execution_options().get("narrate_writer")
    connection.exec_driver_sql("BEGIN IMMEDIATE" if writer else "BEGIN")


def insert_into(engine: Engine, table: sa.Table) -> postgresql.Insert | sqlite.Insert:
    """An INSERT on `table` with the dialect's ON CONFLICT clauses at hand."""
    if engine.dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


def _upsert(dialect: str) -> sa.Executable:
    """An insert that replaces the entry with the same key, for `dialect`."""
    table = AudioEntry.__table__  # type: ignore[attr-defined]
    key = ["story_id", "text_hash", "voice", "provider"]
    if dialect == "sqlite":
        lite = sqlite.insert(table)
        updates = {name: lite.excluded[name] for name in _UPDATED_ON_CONFLICT}
        return lite.on_conflict_do_update(index_elements=key, set_=updates)
    if dialect == "postgresql":
        pg = postgresql.insert(table)
        updates = {name: pg.excluded[name] for name in _UPDATED_ON_CONFLICT}
        return pg.on_conflict_do_update(index_elements=key, set_=updates)
    raise StoreError(f"{dialect} is not supported; use SQLite or PostgreSQL")


def _safe(url: sa.URL) -> str:
    """The URL without its password or query, which may hold one."""
    return url.set(query={}).render_as_string(hide_password=True)


def _one_line(error: object) -> str:
    return " ".join(str(error).split())
