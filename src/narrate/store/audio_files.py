"""The audio directory: where each entry's file lives, and writing it safely.

A file is written under a temporary name unique to this process and then
renamed into place, so a reader (or a later run after a crash) never sees a
half-written file under a real name; the temporary name holds the process id
and a random part, so workers sharing the directory (a shared mount) never
write the same temporary file. File names are built from the whole cache
key, so stories, voices and providers never collide, and a story id or voice
with odd characters still gives a safe, unique name.
"""

from __future__ import annotations

import hashlib
import os
import re
import time
import uuid
from pathlib import Path

from narrate.audio import sniff

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")

# A temporary file untouched this long is no write in progress (a write takes
# milliseconds) but one a killed run left behind.
LEFTOVER_AGE = 3600.0


class AudioStore:
    """Audio files under one root directory."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def relative_path(
        self, story_id: str, voice: str, provider: str, text_hash: str, fmt: str
    ) -> str:
        """Where an entry's audio goes, relative to the root."""
        story_dir = f"{_slug(story_id)}-{_digest(story_id)}"
        return f"{story_dir}/{_name(provider)}/{_name(voice)}/{text_hash}.{fmt}"

    def absolute(self, relative: str) -> Path:
        """The full path of a file in the store."""
        return self.root / relative

    def write(self, relative: str, data: bytes) -> Path:
        """Write `data` under a temporary name, then move it into place.

        There is no fsync: a file lost or cut short by a power failure fails
        the size and signature check of `holds`, and is narrated again.
        """
        final = self.absolute(relative)
        final.parent.mkdir(parents=True, exist_ok=True)
        temporary = final.with_name(
            f".{final.name}.{os.getpid()}.{uuid.uuid4().hex}.part"
        )
        try:
            temporary.write_bytes(data)
            os.replace(temporary, final)
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise
        return final

    def remove_leftovers(self, older_than: float = LEFTOVER_AGE) -> int:
        """Remove the temporary files of writes that never finished (the run
        was killed) and were last touched over `older_than` seconds ago; how
        many went. Nothing reads them; this only gives back their space."""
        cutoff = time.time() - older_than
        removed = 0
        for path in self.root.rglob(".*.part"):
            try:
                if path.is_file() and path.stat().st_mtime < cutoff:
                    path.unlink()
                    removed += 1
            except OSError:  # gone meanwhile, or not ours to remove
                continue
        return removed

    def holds(self, relative: str, size: int) -> bool:
        """Whether the file is there, of the recorded size, and starts like audio."""
        path = self.absolute(relative)
        try:
            if path.stat().st_size != size:
                return False
            with path.open("rb") as handle:
                return sniff(handle.read(16)) is not None
        except OSError:
            return False


def _name(text: str) -> str:
    """The text itself when it is a safe file name, else a slug with a digest."""
    if _UNSAFE.search(text) is None and text.strip("._") == text and text:
        return text
    return f"{_slug(text)}-{_digest(text)}"


def _slug(text: str) -> str:
    return _UNSAFE.sub("_", text).strip("._")[:60] or "story"


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:10]
