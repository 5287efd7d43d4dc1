"""Looking after the cache: entries whose audio is broken, old audio no story needs.

A cache outlives the runs that filled it: files get lost or cut short on a
shared mount, and every failover leaves audio of providers the story may
never be heard in again. This module walks the `audio_entry` table in
batches of ascending id, so a cache of any size is read in bounded memory,
and removes what should go while other workers may be narrating.

Removing an entry takes three steps, so that no row ever points at a file
that was unlinked and no fresh audio is lost:

1. one write transaction claims the entry's paragraph (as a narrating worker
   would) and deletes the row only if it is still the row that was judged
   (same id, creation time, path and size) and, for a prune, still unwanted;
2. the file is unlinked: no worker writes it meanwhile, since the claim
   makes them wait;
3. the claims are given up, and a waiting worker narrates the paragraph.

A paragraph another worker holds, or a row a fresh narration replaced since
it was read, is left alone and counted as busy. A run reading a row just
before a prune deletes it may still find its file gone: a prune takes audio
from under a narration of the same story running at that moment, which that
narration's next run makes good.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from narrate import audio
from narrate.store.audio_files import AudioStore
from narrate.store.cache import writing
from narrate.store.claims import ClaimKey, ClaimStore, worker_id
from narrate.store.models import AudioEntry, StoryRecord

# Why `verify` removes an entry.
MISSING = "missing"
WRONG_SIZE = "wrong_size"
NOT_AUDIO = "not_audio"
REASONS = (MISSING, WRONG_SIZE, NOT_AUDIO)

# Entries read per query: bounded memory and short reads, whatever the cache size.
BATCH_SIZE = 500


@dataclass
class VerifyReport:
    """What `verify` found: entries checked, fine, removed by reason, busy
    (broken, but in the hands of a narration running meanwhile), and the
    temporary files of killed runs it removed."""

    checked: int = 0
    fine: int = 0
    removed: Counter[str] = field(default_factory=Counter)
    busy: int = 0
    leftovers: int = 0


@dataclass
class Freed:
    """Entries removed from one provider, and the bytes their files held."""

    entries: int = 0
    bytes: int = 0


@dataclass
class PruneReport:
    """What `prune` removed, per provider, of the entries created before `cutoff`."""

    cutoff: datetime
    providers: dict[str, Freed] = field(default_factory=dict)
    busy: int = 0


class CacheCare:
    """Verifying and pruning the entries of one cache and audio store."""

    def __init__(
        self, engine: Engine, store: AudioStore, *, batch_size: int = BATCH_SIZE
    ) -> None:
        self.engine = engine
        self.store = store
        self.batch_size = batch_size
        self._table = AudioEntry.__table__  # type: ignore[attr-defined]
        self._claims = ClaimStore(engine, worker_id())

    def verify(self) -> VerifyReport:
        """Check every entry's file; remove the entries whose file is missing,
        of another size than recorded, or not decodable audio; then remove the
        temporary files killed runs left in the audio directory."""
        report = VerifyReport()
        for entries in self._batches():
            broken = [(e, reason) for e in entries if (reason := self.fault(e))]
            removed = self.remove([entry for entry, _ in broken])
            gone = {entry.id for entry, _ in removed}

            report.checked += len(entries)
            report.fine += len(entries) - len(broken)
            report.removed.update(reason for e, reason in broken if e.id in gone)
            report.busy += len(broken) - len(removed)
        report.leftovers = self.store.remove_leftovers()
        return report

    def fault(self, entry: AudioEntry) -> str | None:
        """Why the entry's file cannot be trusted (a REASONS word), or None."""
        path = self.store.absolute(entry.path)
        try:
            if path.stat().st_size != entry.size:
                return WRONG_SIZE
            data = path.read_bytes()
        except (FileNotFoundError, NotADirectoryError):
            return MISSING
        try:
            audio.inspect(data)
        except audio.AudioError:
            return NOT_AUDIO
        return None

    def prune(self, cutoff: datetime) -> PruneReport:
        """Remove the entries created before `cutoff` that their story does not
        need: of a provider other than the story's preferred one and other
        than the one it was last narrated by. Entries of a story with no
        story row are kept, since nothing says which provider it wants."""
        report = PruneReport(cutoff)
        old = self._table.c.created_at < cutoff
        for entries in self._batches(sa.and_(old, _unwanted(self._table))):
            removed = self.remove(entries, still=_unwanted(self._table))
            for entry, size in removed:
                freed = report.providers.setdefault(entry.provider, Freed())
                freed.entries += 1
                freed.bytes += size
            report.busy += len(entries) - len(removed)
        return report

    def remove(
        self,
        entries: Sequence[AudioEntry],
        still: sa.ColumnElement[bool] | None = None,
    ) -> list[tuple[AudioEntry, int]]:
        """Remove the entries, rows then files, each with the bytes its file
        freed. An entry is left alone when another worker holds its paragraph,
        its row changed since it was read, or it no longer meets `still`."""
        if not entries:
            return []
        try:
            with writing(self.engine) as connection:
                gone = [e for e in entries if self._delete(connection, e, still)]
            return [(entry, _unlink(self.store.absolute(entry.path))) for entry in gone]
        finally:
            self._claims.release_all()

    def _delete(
        self,
        connection: sa.Connection,
        entry: AudioEntry,
        still: sa.ColumnElement[bool] | None,
    ) -> bool:
        """Claim the entry's paragraph and delete its row if unchanged."""
        key = ClaimKey(entry.story_id, entry.text_hash, entry.voice, entry.provider)
        if not self._claims.acquire_in(connection, key):
            return False
        table = self._table
        query = sa.delete(table).where(
            table.c.id == entry.id,
            table.c.created_at == entry.created_at,
            table.c.path == entry.path,
            table.c.size == entry.size,
        )
        if still is not None:
            query = query.where(still)
        return connection.execute(query.returning(table.c.id)).first() is not None

    def _batches(
        self, where: sa.ColumnElement[bool] | None = None
    ) -> Iterator[list[AudioEntry]]:
        """The entries (those meeting `where`), a batch at a time, by ascending id.

        Each batch is read in its own short transaction, after the one before
        was dealt with, so entries removed meanwhile are simply not seen.
        """
        table, last = self._table, 0
        while True:
            query = sa.select(table).where(table.c.id > last)
            if where is not None:
                query = query.where(where)
            query = query.order_by(table.c.id).limit(self.batch_size)
            with self.engine.connect() as connection:
                rows = connection.execute(query).mappings().all()
            if not rows:
                return
            yield [AudioEntry(**row) for row in rows]
            last = rows[-1]["id"]


def _unwanted(entries: sa.Table) -> sa.ColumnElement[bool]:
    """The entry has a story row, and is neither of the story's preferred
    provider nor of the one its listeners hear now (a degraded story's)."""
    stories = StoryRecord.__table__  # type: ignore[attr-defined]
    return sa.exists().where(
        stories.c.story_id == entries.c.story_id,
        stories.c.voice == entries.c.voice,
        stories.c.preferred_provider != entries.c.provider,
        sa.or_(
            stories.c.used_provider.is_(None),
            stories.c.used_provider != entries.c.provider,
        ),
    )


def _unlink(path: Path) -> int:
    """Remove the file; the bytes it held, 0 when it was gone already.

    What cannot be unlinked (a directory someone made in the file's place, a
    file this user may not remove) is left where it is: its row is gone
    already, so the cache no longer trusts it, and the next narration of the
    paragraph says why it cannot write there.
    """
    try:
        size = path.stat().st_size
        path.unlink()
    except OSError:
        return 0
    return size
