"""Copying a story's audio out of the cache as numbered files with a manifest.

`--out DIR` gets one file per paragraph with audio, numbered by paragraph
(`0001.wav`, `0002.wav`, ...), and `manifest.json` describing the story.
Each file is copied under a temporary name and renamed. The only files ever
removed are numbered files an earlier manifest of the same story listed and
the new one does not, so the directory matches its manifest and nothing
else in it is touched. A directory whose manifest belongs to another story,
or is not narrate's, is refused before any narration starts.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from narrate.engine.results import ParagraphResult, StoryResult, story_dict
from narrate.errors import ConfigError, StoreError

MANIFEST = "manifest.json"


def check_out_dir(out_dir: Path, story_id: str) -> None:
    """Refuse an `--out` directory that is a file or holds another story."""
    if out_dir.exists() and not out_dir.is_dir():
        raise ConfigError(f"--out {out_dir} is not a directory")
    previous = _manifest(out_dir)
    if previous is not None and previous["story_id"] != story_id:
        raise ConfigError(
            f"--out {out_dir} holds the story {previous['story_id']!r}; "
            "choose another directory"
        )


def export_story(result: StoryResult, out_dir: Path) -> StoryResult:
    """Copy the audio into `out_dir`; the result, its audio paths pointing there."""
    check_out_dir(out_dir, result.story_id)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        before = _listed_files(_manifest(out_dir), out_dir)
        paragraphs = [_copy(p, out_dir) if p.audio else p for p in result.paragraphs]
        exported = replace(result, paragraphs=paragraphs)
        text = json.dumps(story_dict(exported), indent=2, ensure_ascii=False)
        _write_atomically(
            out_dir / MANIFEST, lambda temporary: temporary.write_text(text)
        )
        for stale in before - {p.audio for p in paragraphs if p.audio}:
            stale.unlink(missing_ok=True)
    except OSError as error:
        raise StoreError(f"cannot write to {out_dir}: {error}") from error
    return exported


def _manifest(out_dir: Path) -> dict[str, Any] | None:
    """The manifest narrate left in `out_dir`, None if there is none."""
    path = out_dir / MANIFEST
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        data = None
    if not isinstance(data, dict) or not isinstance(data.get("paragraphs"), list):
        raise ConfigError(f"{path} is not a narrate manifest; choose another --out")
    if "story_id" not in data:
        raise ConfigError(f"{path} is not a narrate manifest; choose another --out")
    return data


def _listed_files(manifest: dict[str, Any] | None, out_dir: Path) -> set[Path]:
    """The audio files a manifest lists inside `out_dir`."""
    files = set()
    for paragraph in (manifest or {}).get("paragraphs", []):
        audio = paragraph.get("audio") if isinstance(paragraph, dict) else None
        if isinstance(audio, str) and Path(audio).parent == out_dir.resolve():
            files.add(Path(audio))
    return files


def _copy(paragraph: ParagraphResult, out_dir: Path) -> ParagraphResult:
    assert paragraph.audio is not None
    source = paragraph.audio
    target = out_dir.resolve() / f"{paragraph.index:04d}{source.suffix}"
    _write_atomically(target, lambda temporary: shutil.copyfile(source, temporary))
    return replace(paragraph, audio=target)


def _write_atomically(path: Path, write: Callable[[Path], object]) -> None:
    """Write through `write(temporary)`, then rename; no temporary file is left."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.part")
    try:
        write(temporary)
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
