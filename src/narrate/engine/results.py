"""What a run found out: per paragraph, per provider attempt, per story.

Plain data, so that the report can render it without knowing providers,
the database or the network.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from narrate.errors import (
    EXIT_BAD_INPUT,
    EXIT_INCOMPLETE,
    EXIT_NOT_PREFERRED,
    EXIT_OK,
)


class Status(StrEnum):
    """How a paragraph came to have its audio, or not."""

    NEW = "new"
    CACHED = "cached"
    SKIPPED = "skipped"
    FAILED = "failed"


class Outcome(StrEnum):
    """How one provider's attempt at a story ended."""

    COMPLETE = "complete"
    FAILED = "failed"
    SKIPPED = "skipped"
    UNAVAILABLE = "unavailable"


@dataclass
class ParagraphResult:
    """One paragraph of a story and the audio it ended up with."""

    index: int
    text: str
    text_hash: str
    status: Status
    provider: str | None = None
    audio: Path | None = None
    duration_s: float | None = None
    repeat_of: int | None = None

    @property
    def chars(self) -> int:
        """The paragraph's length in characters."""
        return len(self.text)


@dataclass
class Attempt:
    """One provider's try at a story."""

    provider: str
    outcome: Outcome
    reason: str | None = None
    message: str | None = None
    request_id: str | None = None
    generated: int = 0
    cached: int = 0
    failed: int = 0
    seconds: float = 0.0


@dataclass(frozen=True)
class LeftOut:
    """A provider of the default chain that could not run, and why."""

    provider: str
    reason: str
    message: str


@dataclass
class StoryResult:
    """A whole story: which provider narrated it, and each paragraph's audio."""

    story_id: str
    source: Path
    voice: str
    preferred_provider: str
    used_provider: str | None
    paragraphs: list[ParagraphResult]
    attempts: list[Attempt] = field(default_factory=list)
    encoding: str | None = None
    warnings: list[str] = field(default_factory=list)
    left_out: list[LeftOut] = field(default_factory=list)
    error: str | None = None

    @property
    def complete(self) -> bool:
        """Whether every speakable paragraph has audio."""
        if self.error is not None:
            return False
        return all(p.status is not Status.FAILED for p in self.paragraphs)

    @property
    def status(self) -> str:
        """`complete`, `degraded` (all audio, not all preferred) or `incomplete`."""
        if not self.complete:
            return "incomplete"
        return "degraded" if self.degraded else "complete"

    @property
    def degraded(self) -> bool:
        """Whether the story was narrated, but not by its preferred provider;
        a story whose file could not be read was not narrated at all."""
        if self.error is not None:
            return False
        return self.used_provider != self.preferred_provider

    @property
    def missing(self) -> list[int]:
        """The indexes of the paragraphs that have no audio."""
        return [p.index for p in self.paragraphs if p.status is Status.FAILED]

    def exit_code(self, require_preferred: bool = False) -> int:
        """The story's share of the process exit code."""
        if self.error is not None:
            return EXIT_BAD_INPUT
        if not self.complete:
            return EXIT_INCOMPLETE
        if require_preferred and self.degraded:
            return EXIT_NOT_PREFERRED
        return EXIT_OK


# Exit codes from the least to the most serious, to pick a run's worst.
_SEVERITY = (EXIT_OK, EXIT_NOT_PREFERRED, EXIT_INCOMPLETE, EXIT_BAD_INPUT)


def worst_exit_code(results: list[StoryResult], require_preferred: bool) -> int:
    """The most serious exit code of the stories of a run."""
    return worst([result.exit_code(require_preferred) for result in results])


def worst(codes: Iterable[int]) -> int:
    """The most serious of the exit codes; 0 when there are none."""
    return max(codes, key=_SEVERITY.index, default=EXIT_OK)


def story_dict(result: StoryResult) -> dict[str, object]:
    """The story as the JSON object that `--json` prints and `manifest.json` holds."""
    return {
        "story_id": result.story_id,
        "source": str(result.source),
        "voice": result.voice,
        "preferred_provider": result.preferred_provider,
        "used_provider": result.used_provider,
        "complete": result.complete,
        "degraded": result.degraded,
        "status": result.status,
        "error": result.error,
        "encoding": result.encoding,
        "warnings": result.warnings,
        "missing": result.missing,
        "paragraphs": [_paragraph_dict(p) for p in result.paragraphs],
        "attempts": [_attempt_dict(a) for a in result.attempts],
        "left_out": [
            {"provider": item.provider, "reason": item.reason, "message": item.message}
            for item in result.left_out
        ],
    }


def _paragraph_dict(paragraph: ParagraphResult) -> dict[str, object]:
    return {
        "index": paragraph.index,
        "status": paragraph.status.value,
        "provider": paragraph.provider,
        "cached": paragraph.status is Status.CACHED,
        "audio": str(paragraph.audio) if paragraph.audio else None,
        "chars": paragraph.chars,
        "duration_s": paragraph.duration_s,
        "text_hash": paragraph.text_hash,
        "repeat_of": paragraph.repeat_of,
    }


def _attempt_dict(attempt: Attempt) -> dict[str, object]:
    return {
        "provider": attempt.provider,
        "outcome": attempt.outcome.value,
        "reason": attempt.reason,
        "message": attempt.message,
        "request_id": attempt.request_id,
        "generated": attempt.generated,
        "cached": attempt.cached,
        "failed": attempt.failed,
        "seconds": attempt.seconds,
    }
