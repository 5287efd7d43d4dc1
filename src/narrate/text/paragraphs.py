"""Split story text into paragraphs and normalise each into what a provider hears.

A paragraph is a run of non-blank lines; blank or whitespace-only lines separate
paragraphs. A paragraph's hash depends only on its normalised text, so the
same story saved with other line endings or a byte-order mark hits the cache.

A paragraph longer than `MAX_PARAGRAPH_CHARS` (about twenty minutes of speech)
is cut at sentence ends into parts within that length, and each part becomes a
paragraph of its own. Without this, a story with no blank lines would be one
paragraph whose audio is joined in memory into a single file of gigabytes.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass

from narrate.text.chunks import split_chunks
from narrate.text.reader import unify_line_endings

MAX_PARAGRAPH_CHARS = 20_000

# Invisible characters that carry nothing to say: zero-width space, word
# joiner, soft hyphen and a byte-order mark left inside the text.
_INVISIBLE = re.compile("[\u200b\u2060\u00ad\ufeff]")

_HEADING_MARK = re.compile(r"#{1,6}\s+")
_ESCAPED_PUNCTUATION = re.compile(r"\\([!-/:-@\[-`{-~])")
_DASHES = "-\u2010\u2011\u2013\u2014"


@dataclass(frozen=True)
class Paragraph:
    """One paragraph of a story, ready to be narrated or skipped.

    `index` counts from 1 in story order, unspeakable paragraphs included.
    `text` is exactly what a provider is sent; `text_hash` is the SHA-256 hex
    digest of its UTF-8 bytes. `speakable` is false when it has no letter or
    digit, as in scene breaks like `* * *`.
    """

    index: int
    text: str
    text_hash: str
    speakable: bool


def normalise(text: str) -> str:
    """Return a paragraph's text as one clean line.

    Applies Unicode NFC and drops Markdown residue: a heading mark at the start
    of a line, a backslash before punctuation, a backslash ending a line (a
    hard line break). A line ending in a hyphen or dash attached to a word
    joins the next line directly (`well-` + `known`); every other run of
    whitespace becomes a single space.
    """
    text = _INVISIBLE.sub("", unicodedata.normalize("NFC", text))

    pieces: list[str] = []
    for line in text.split("\n"):
        line = _clean_line(line)
        if pieces and line:
            pieces.append("" if _ends_with_attached_dash(pieces[-1]) else " ")
        if line:
            pieces.append(line)

    return " ".join("".join(pieces).split())


def _clean_line(line: str) -> str:
    """Strip one line and drop its Markdown residue."""
    line = line.strip()
    heading = _HEADING_MARK.match(line)
    if heading:
        line = line[heading.end() :]
    if line.endswith("\\"):
        line = line[:-1].rstrip()
    return _ESCAPED_PUNCTUATION.sub(r"\1", line)


def _ends_with_attached_dash(line: str) -> bool:
    """Tell whether a line ends in hyphens or dashes that follow a word."""
    word = line.rstrip(_DASHES)
    return word != line and bool(word) and not word[-1].isspace()


def is_speakable(text: str) -> bool:
    """Tell whether `text` has at least one letter or digit (Unicode L* or N*)."""
    return any(unicodedata.category(char)[0] in "LN" for char in text)


def split_paragraphs(text: str) -> list[Paragraph]:
    """Split story text into normalised paragraphs, numbered from 1.

    Any line endings are accepted; blank and whitespace-only lines separate
    paragraphs, and the lines inside one are joined by `normalise`. A paragraph
    longer than `MAX_PARAGRAPH_CHARS` is cut by `split_chunks` into parts within
    that length, at sentence ends when it can be (else at clause marks, then
    spaces), and each part is a paragraph with its own index, text and hash.
    Indexes stay consecutive, so the paragraphs after a cut one shift.
    """
    paragraphs: list[Paragraph] = []
    for block in _blocks(unify_line_endings(text)):
        for part in _parts(normalise(block)):
            paragraphs.append(_paragraph(len(paragraphs) + 1, part))
    return paragraphs


def _parts(text: str) -> list[str]:
    """Cut a normalised paragraph into parts within `MAX_PARAGRAPH_CHARS`.

    A paragraph within the limit is its own one part, even when it is empty.
    """
    if len(text) <= MAX_PARAGRAPH_CHARS:
        return [text]
    return split_chunks(text, MAX_PARAGRAPH_CHARS)


def _blocks(text: str) -> list[str]:
    """Group the lines of `text` into runs of non-blank lines."""
    blocks: list[str] = []
    lines: list[str] = []
    for line in text.split("\n"):
        if line.strip():
            lines.append(line)
        elif lines:
            blocks.append("\n".join(lines))
            lines = []

    if lines:
        blocks.append("\n".join(lines))
    return blocks


def _paragraph(index: int, text: str) -> Paragraph:
    """Build a `Paragraph` from its already normalised text."""
    text_hash = hashlib.sha256(text.encode("utf-8")).hexdigest()
    return Paragraph(
        index=index, text=text, text_hash=text_hash, speakable=is_speakable(text)
    )
