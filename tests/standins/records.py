"""What a stand-in remembers about each request it received."""

from __future__ import annotations

import json
import threading
from collections import Counter
from dataclasses import dataclass, field, replace
from typing import Any

from aiohttp import web


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the stand-in saw it.

    Header names are lower-case. `body` is the parsed JSON when the request
    declared JSON and it parsed, else the raw text (None when empty); the
    Edge stand-in stores the `speech.config` JSON and the SSML there instead.
    `text` is the text to be spoken and `voice` the voice or model asked for,
    both empty when the request was not for speech. `number` counts speech
    requests from 1 and `text_number` counts requests carrying the same text.
    """

    method: str
    path: str
    query: dict[str, str] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None
    text: str = ""
    voice: str = ""
    number: int = 0
    text_number: int = 0


def _parse_body(raw: str, content_type: str) -> Any:
    """The JSON in `raw` when it is declared and parses, else the text itself."""
    if not raw:
        return None
    if "json" in content_type:
        try:
            return json.loads(raw)
        except ValueError:
            pass
    return raw


async def snapshot(request: web.Request) -> RecordedRequest:
    """Read an aiohttp request, body included, into a record."""
    raw = await request.text() if request.can_read_body else ""
    return RecordedRequest(
        method=request.method,
        path=request.path,
        query={key: request.query[key] for key in request.query},
        headers={name.lower(): value for name, value in request.headers.items()},
        body=_parse_body(raw, request.content_type),
    )


class RequestLog:
    """A thread-safe list of records that numbers speech requests as they come."""

    def __init__(self) -> None:
        """Start empty."""
        self._lock = threading.Lock()
        self._records: list[RecordedRequest] = []
        self._speech = 0
        self._texts: Counter[str] = Counter()

    def add(self, record: RecordedRequest, *, speech: bool) -> RecordedRequest:
        """Keep `record`, numbered if it asks for speech; return the kept copy."""
        with self._lock:
            if speech:
                self._speech += 1
                record = self._numbered(replace(record, number=self._speech))
            self._records.append(record)
            return record

    def amend(self, record: RecordedRequest, **changes: Any) -> RecordedRequest:
        """Replace a kept record by a changed copy, numbering its text if new."""
        with self._lock:
            index = next(i for i, kept in enumerate(self._records) if kept is record)
            changed = self._numbered(replace(record, **changes))
            self._records[index] = changed
            return changed

    def _numbered(self, record: RecordedRequest) -> RecordedRequest:
        if not record.number or record.text_number or not record.text:
            return record
        self._texts[record.text] += 1
        return replace(record, text_number=self._texts[record.text])

    def all(self) -> list[RecordedRequest]:
        """A copy of every record, oldest first."""
        with self._lock:
            return list(self._records)

    def clear(self) -> None:
        """Forget every record and restart the numbering."""
        with self._lock:
            self._records.clear()
            self._speech = 0
            self._texts.clear()
