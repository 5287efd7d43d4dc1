"""Copying a story's audio out of the cache as numbered files with a manifest.

`--out DIR` gets one file per paragraph with audio, numbered by paragraph
(`0001.wav`, `0002.wav`, ...), and `manifest.json` describing the story.
Each file is copied under a temporary name and renamed, and numbered files
left over from an earlier, longer version of the story are removed, so the
directory always matches its manifest.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from dataclasses import replace
from pathlib import Path

from narrate.engine.results import ParagraphResult, StoryResult, story_dict
from narrate.errors import StoreError

_NUMBERED = re.compile(r"^\d{4,}\.[a-z0-9]+$")


def export_story(result: StoryResult, out_dir: Path) -> StoryResult:
    """Copy the audio into `out_dir`; the result, its audio paths pointing there."""
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        paragraphs = [_copy(p, out_dir) if p.audio else p for p in result.paragraphs]
        exported = replace(result, paragraphs=paragraphs)
        _remove_stale(out_dir, {p.audio.name for p in paragraphs if p.audio})
        _write_atomically(
            out_dir / "manifest.json",
            json.dumps(story_dict(exported), indent=2, ensure_ascii=False).encode(),
        )
    except OSError as error:
        raise StoreError(f"cannot write to {out_dir}: {error}") from error
    return exported


def _copy(paragraph: ParagraphResult, out_dir: Path) -> ParagraphResult:
    assert paragraph.audio is not None
    target = out_dir / f"{paragraph.index:04d}{paragraph.audio.suffix}"
    temporary = target.with_name(f".{target.name}.{os.getpid()}.part")
    shutil.copyfile(paragraph.audio, temporary)
    os.replace(temporary, target)
    return replace(paragraph, audio=target.resolve())


def _remove_stale(out_dir: Path, keep: set[str]) -> None:
    for path in out_dir.iterdir():
        if _NUMBERED.match(path.name) and path.name not in keep:
            path.unlink()


def _write_atomically(path: Path, data: bytes) -> None:
    temporary = path.with_name(f".{path.name}.{os.getpid()}.part")
    temporary.write_bytes(data)
    os.replace(temporary, path)
