"""A story as the engine works on it: distinct paragraph texts and their chunks.

Pure functions, no I/O: which paragraphs need audio, what each request
carries as context, and how the cache entries of the provider used turn
into the per-paragraph results.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from narrate.engine.results import ParagraphResult, Status
from narrate.providers.base import SpeechRequest
from narrate.store.models import AudioEntry
from narrate.text import Paragraph, split_chunks
from narrate.voices import Voice

# How much of a neighbouring paragraph goes along as context for prosody.
CONTEXT_CHARS = 500


@dataclass(frozen=True)
class Unit:
    """One distinct paragraph text to narrate, with its neighbours."""

    index: int
    text: str
    text_hash: str
    previous_text: str | None
    next_text: str | None


@dataclass(frozen=True)
class Story:
    """The story being narrated: its id, its voice, its distinct texts."""

    story_id: str
    voice: Voice
    units: list[Unit]


def units(paragraphs: Sequence[Paragraph]) -> list[Unit]:
    """The distinct speakable paragraph texts, in order, with their neighbours."""
    speakable = [p for p in paragraphs if p.speakable]
    found: dict[str, Unit] = {}
    for position, paragraph in enumerate(speakable):
        if paragraph.text_hash in found:
            continue
        before = speakable[position - 1].text if position > 0 else None
        after = speakable[position + 1].text if position + 1 < len(speakable) else None
        found[paragraph.text_hash] = Unit(
            paragraph.index,
            paragraph.text,
            paragraph.text_hash,
            before[-CONTEXT_CHARS:] if before else None,
            after[:CONTEXT_CHARS] if after else None,
        )
    return list(found.values())


def planned_chars(todo: Sequence[Unit], limit: int) -> int:
    """The characters requests for `todo` carry, chunked within `limit`: what a
    provider is sent (and bills) for them when no chunk has to be split again."""
    return sum(len(chunk) for unit in todo for chunk in split_chunks(unit.text, limit))


def chunk_requests(request: SpeechRequest, limit: int) -> list[SpeechRequest]:
    """The request split into chunks within `limit`, each with its neighbours."""
    return requests_for(request, split_chunks(request.text, limit))


def requests_for(request: SpeechRequest, chunks: list[str]) -> list[SpeechRequest]:
    """One request per chunk; each chunk's neighbours are its context."""
    requests = []
    for position, chunk in enumerate(chunks):
        before = chunks[position - 1] if position > 0 else request.previous_text
        after = (
            chunks[position + 1] if position + 1 < len(chunks) else request.next_text
        )
        requests.append(
            replace(request, text=chunk, previous_text=before, next_text=after)
        )
    return requests


def most_complete(entries: dict[str, dict[str, AudioEntry]], total: int) -> str | None:
    """The provider with audio for the most paragraphs; the earliest on a tie."""
    best, best_count = None, 0
    for provider, found in entries.items():
        if len(found) > best_count:
            best, best_count = provider, len(found)
        if best_count == total:
            break
    return best


def paragraph_results(
    paragraphs: Sequence[Paragraph],
    used: str | None,
    entries: dict[str, AudioEntry],
    generated: set[str],
    audio_root: Path,
) -> list[ParagraphResult]:
    """Each paragraph's status and audio, from the entries of the provider used."""
    first_index: dict[str, int] = {}
    results = []
    for paragraph in paragraphs:
        result = ParagraphResult(
            paragraph.index, paragraph.text, paragraph.text_hash, Status.SKIPPED
        )
        if paragraph.speakable:
            repeat_of = first_index.setdefault(paragraph.text_hash, paragraph.index)
            if repeat_of != paragraph.index:
                result.repeat_of = repeat_of
            _fill(result, used, entries.get(paragraph.text_hash), generated, audio_root)
        results.append(result)
    return results


def _fill(
    result: ParagraphResult,
    used: str | None,
    entry: AudioEntry | None,
    generated: set[str],
    audio_root: Path,
) -> None:
    if entry is None:
        result.status = Status.FAILED
        return
    fresh = entry.text_hash in generated and result.repeat_of is None
    result.status = Status.NEW if fresh else Status.CACHED
    result.provider = used
    result.audio = (audio_root / entry.path).resolve()
    result.duration_s = entry.duration_s
