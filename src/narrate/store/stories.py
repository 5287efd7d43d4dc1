"""The story table: one row per story and voice, replaced at every narration."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from narrate.store.cache import insert_into, writing
from narrate.store.models import StoryRecord

_KEY = ["story_id", "voice"]


class StoryStore:
    """Reads and upserts of story rows."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._table = StoryRecord.__table__  # type: ignore[attr-defined]

    def record(self, story: StoryRecord) -> None:
        """Insert the story's row, or replace the one of the same story and voice."""
        values = story.model_dump()
        statement = insert_into(self.engine, self._table).values(**values)
        updates = {
            name: statement.excluded[name] for name in values if name not in _KEY
        }
        with writing(self.engine) as connection:
            connection.execute(
                statement.on_conflict_do_update(index_elements=_KEY, set_=updates)
            )

    def tried(self, story_id: str, voice: str, when: datetime) -> None:
        """Note that an upgrade pass tried the story at `when` and failed."""
        table = self._table
        with writing(self.engine) as connection:
            connection.execute(
                sa.update(table)
                .where(table.c.story_id == story_id, table.c.voice == voice)
                .values(upgrade_tried_at=when)
            )

    def status_in(
        self, connection: sa.Connection, story_id: str, voice: str
    ) -> str | None:
        """The story's status as last recorded, inside the caller's transaction."""
        table = self._table
        query = sa.select(table.c.status).where(
            table.c.story_id == story_id, table.c.voice == voice
        )
        status = connection.execute(query).scalar()
        return None if status is None else str(status)

    def all(self, statuses: tuple[str, ...] | None = None) -> list[StoryRecord]:
        """Every story row, newest first; only those of `statuses` when given."""
        table = self._table
        query = sa.select(table).order_by(table.c.narrated_at.desc(), table.c.story_id)
        if statuses:
            query = query.where(table.c.status.in_(statuses))
        with self.engine.connect() as connection:
            return [StoryRecord(**row) for row in connection.execute(query).mappings()]
