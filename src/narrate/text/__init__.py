"""Turn a story file into paragraphs and chunks: bytes, text, paragraphs, chunks.

`load_story` is the one call the rest of narrate needs: it reads and decodes
the file, splits it into normalised paragraphs and refuses a story with nothing
to narrate. `split_chunks` then fits one paragraph to a provider's limit.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from narrate.errors import InputError
from narrate.text.chunks import split_chunks, split_sentences
from narrate.text.paragraphs import Paragraph, split_paragraphs
from narrate.text.reader import StoryText, read_story

__all__ = [
    "LoadedStory",
    "Paragraph",
    "StoryText",
    "load_story",
    "read_story",
    "split_chunks",
    "split_sentences",
]


@dataclass(frozen=True)
class LoadedStory:
    """A story's paragraphs in order, with how its file was decoded.

    `warning` is set when the encoding was a guess; the CLI shows it.
    """

    paragraphs: list[Paragraph]
    encoding: str
    warning: str | None


def load_story(path: Path, encoding: str | None = None) -> LoadedStory:
    """Read the story at `path` and split it into paragraphs.

    Raises `InputError` when the file cannot be read or decoded, and when it is
    empty, whitespace only, or has no paragraph with a letter or digit.
    """
    story = read_story(path, encoding)
    paragraphs = split_paragraphs(story.text)

    reason = _nothing_to_narrate(story.text, paragraphs)
    if reason:
        raise InputError(f"{path}: nothing to narrate ({reason})")
    return LoadedStory(
        paragraphs=paragraphs, encoding=story.encoding, warning=story.warning
    )


def _nothing_to_narrate(text: str, paragraphs: list[Paragraph]) -> str | None:
    """Say why a story has nothing to narrate, or None when it has something."""
    if not text:
        return "the file is empty"
    if not paragraphs:
        return "the file holds only whitespace"
    if not any(paragraph.speakable for paragraph in paragraphs):
        return "no paragraph has a letter or digit"
    return None
