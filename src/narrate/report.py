"""How results reach people and scripts: the table, the summary line, JSON lines.

Knows results, not providers: everything here renders the plain data of
`narrate.engine.results`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table
from rich.text import Text

from narrate.engine.results import Attempt, Outcome, StoryResult, story_dict
from narrate.printable import printable
from narrate.voices import PROVIDER_NAMES, Voice

if TYPE_CHECKING:
    from narrate.engine.plan import StoryPlan
    from narrate.engine.status import ProviderStatus
    from narrate.engine.upgrade import Upgrade
    from narrate.store.models import StoryRecord

_PREVIEW_CHARS = 48
_BREAKER_STYLE = {"closed": "green", "open": "bold red", "half_open": "yellow"}
_STORY_STYLE = {
    "complete": "green",
    "degraded": "bold yellow",
    "incomplete": "bold red",
}
_STATUS_STYLE = {
    "new": "green",
    "cached": "cyan",
    "skipped": "dim",
    "failed": "bold red",
}


def json_line(result: StoryResult) -> str:
    """The story as one line of JSON."""
    return json.dumps(story_dict(result), ensure_ascii=False)


def summary_line(result: StoryResult) -> str:
    """One line: counts, the provider used, and the preferred one when they differ."""
    counts = {status: 0 for status in ("new", "cached", "skipped", "failed")}
    for paragraph in result.paragraphs:
        counts[paragraph.status.value] += 1
    tally = ", ".join(f"{n} {status}" for status, n in counts.items() if n)
    total = len(result.paragraphs)
    noun = "paragraph" if total == 1 else "paragraphs"
    line = f"{result.story_id}: {total} {noun} ({tally}); "

    if result.used_provider is None:
        line += "no provider narrated any paragraph"
    elif result.used_provider == result.preferred_provider:
        line += f"used {result.used_provider}, the preferred provider"
    else:
        line += (
            f"used {result.used_provider}, NOT the preferred "
            f"{result.preferred_provider}"
        )

    reasons = [_why(a) for a in result.attempts if a.outcome is not Outcome.COMPLETE]
    if reasons:
        line += f" ({'; '.join(reasons)})"
    if result.left_out:
        names = ", ".join(item.provider for item in result.left_out)
        line += f"; left out for want of an API key: {names}"
    if not result.complete:
        missing = ", ".join(map(str, result.missing))
        line += f". INCOMPLETE: no audio for paragraph(s) {missing}"
    return line


def _why(attempt: Attempt) -> str:
    """Why a provider did not narrate the story, in a few words."""
    if attempt.outcome is Outcome.FAILED:
        done = attempt.generated + attempt.cached
        return (
            f"{attempt.provider}: {attempt.reason} after {done} of "
            f"{done + attempt.failed} paragraphs"
        )
    return f"{attempt.provider}: {attempt.message or attempt.reason}"


def paragraph_table(result: StoryResult) -> Table:
    """A table of the story's paragraphs: text, length, provider, status."""
    table = Table(title=f"{result.story_id} ({result.voice})", title_justify="left")
    table.add_column("#", justify="right", no_wrap=True, min_width=3)
    table.add_column(
        "text", overflow="ellipsis", no_wrap=True, max_width=_PREVIEW_CHARS
    )
    table.add_column("chars", justify="right", no_wrap=True, min_width=5)
    table.add_column("provider", no_wrap=True, min_width=10)
    table.add_column("status", no_wrap=True, min_width=14)
    for paragraph in result.paragraphs:
        provider = Text(paragraph.provider or "-")
        if paragraph.provider and paragraph.provider != result.preferred_provider:
            provider.stylize("yellow")
        status = paragraph.status.value
        if paragraph.repeat_of:
            status += f" (= #{paragraph.repeat_of})"
        table.add_row(
            str(paragraph.index),
            paragraph.text[: _PREVIEW_CHARS * 2],
            str(paragraph.chars),
            provider,
            Text(status, style=_STATUS_STYLE[paragraph.status.value]),
        )
    return table


def print_story(console: Console, result: StoryResult) -> None:
    """The paragraph table, then the summary line, marked when not preferred."""
    console.print(paragraph_table(result))
    style = "green"
    if result.used_provider != result.preferred_provider:
        style = "bold yellow"
    if not result.complete:
        style = "bold red"
    console.print(Text(summary_line(result), style=style))


def voice_table(voices: Iterable[Voice]) -> Table:
    """The voice catalog: each narrator voice and its voice at every provider."""
    table = Table(title="voices", show_lines=True)
    table.add_column("voice", no_wrap=True)
    table.add_column("language", no_wrap=True)
    table.add_column("description")
    table.add_column("provider voices", no_wrap=True)
    for voice in voices:
        ids = "\n".join(
            f"{name:<11}{voice.for_provider(name) or '-'}" for name in PROVIDER_NAMES
        )
        table.add_row(voice.name, voice.language, voice.description, ids)
    return table


def provider_rows(statuses: Iterable[ProviderStatus]) -> list[dict[str, object]]:
    """The providers as JSON-ready dictionaries."""
    return [
        {
            "provider": s.provider,
            "configured": s.configured,
            "note": s.note,
            "breaker": s.state,
            "failures": s.failures,
            "last_failure_at": _iso(s.last_failure_at),
            "last_reason": s.last_reason,
            "last_message": s.last_message,
            "retry_at": _iso(s.retry_at),
            "month_chars": s.month_chars,
            "monthly_chars": s.monthly_chars,
        }
        for s in statuses
    ]


def provider_table(statuses: Iterable[ProviderStatus]) -> Table:
    """Each provider: configured or not, breaker, last failure, next try."""
    table = Table(title="providers")
    for column in (
        "provider",
        "configured",
        "breaker",
        "last failure",
        "tried again",
        "sent this month",
    ):
        table.add_column(column)
    for s in statuses:
        configured = Text("yes", "green") if s.configured else Text("no key", "yellow")
        breaker = Text(s.state, _BREAKER_STYLE.get(s.state, ""))
        if s.failures:
            breaker.append(f" ({s.failures} failed)")
        failure = "-"
        if s.last_failure_at:
            failure = f"{_local(s.last_failure_at)} {s.last_reason or ''}".strip()
        again = "now"
        if s.state == "half_open":
            again = "being probed"
        elif s.retry_at and s.retry_at > datetime.now(UTC):
            again = _local(s.retry_at)
        elif s.retry_at:
            again = "cool-down over: the next run probes it"
        month = f"{s.month_chars:,}"
        if s.monthly_chars is not None:
            month += f" of {s.monthly_chars:,}"
        table.add_row(s.provider, configured, breaker, failure, again, month)
    return table


def story_rows(stories: Iterable[StoryRecord]) -> list[dict[str, object]]:
    """The story table as JSON-ready dictionaries."""
    return [
        {
            "story_id": s.story_id,
            "voice": s.voice,
            "source": s.source,
            "status": s.status,
            "preferred_provider": s.preferred_provider,
            "used_provider": s.used_provider,
            "paragraphs": s.paragraphs,
            "chars": s.chars,
            "narrated_at": _iso(s.narrated_at),
            "upgrade_tried_at": _iso(s.upgrade_tried_at),
            "encoding": s.encoding,
        }
        for s in stories
    ]


def story_table(stories: Iterable[StoryRecord]) -> Table:
    """Every story: its voice, status, the provider used and the one preferred."""
    stories = list(stories)
    table = Table(title="stories")
    _story_column(table, [s.story_id for s in stories])
    for column in ("voice", "status", "used", "preferred", "paragraphs", "narrated"):
        table.add_column(column)
    for s in stories:
        used = Text(s.used_provider or "-")
        if s.used_provider != s.preferred_provider:
            used.stylize("yellow")
        table.add_row(
            s.story_id,
            s.voice,
            Text(s.status, _STORY_STYLE.get(s.status, "")),
            used,
            s.preferred_provider,
            str(s.paragraphs),
            _local(s.narrated_at),
        )
    return table


def upgrade_dict(upgrade: Upgrade) -> dict[str, object]:
    """The story's upgrade as the JSON object `narrate upgrade --json` prints."""
    story, result = upgrade.story, upgrade.result
    attempt = result.attempts[-1] if result and result.attempts else None
    upgraded = upgrade.outcome.value == "upgraded"
    return {
        "story_id": story.story_id,
        "voice": story.voice,
        "source": story.source,
        "outcome": upgrade.outcome.value,
        "preferred_provider": story.preferred_provider,
        "was_provider": story.used_provider,
        "was_status": story.status,
        "used_provider": story.preferred_provider if upgraded else story.used_provider,
        "status": "complete" if upgraded else story.status,
        "generated": attempt.generated if attempt else 0,
        "cached": attempt.cached if attempt else 0,
        "missing": attempt.failed if attempt and not upgraded else None,
        "reason": attempt.reason if attempt and not upgraded else None,
        "message": upgrade.message,
    }


def upgrade_line(upgrade: Upgrade) -> Text:
    """One line for a story an upgrade pass looked at: what came of it, and why.

    A line, not a table: it stays readable in a narrow terminal and in the
    mail cron sends.
    """
    row = upgrade_dict(upgrade)
    outcome = str(row["outcome"])
    line = Text.assemble((str(row["story_id"]), "bold"), f" ({row['voice']}): ")
    if outcome == "upgraded":
        line.append(f"upgraded to {row['used_provider']}", "green")
        line.append(f" ({row['generated']} new, {row['cached']} cached)")
        return line
    style = "bold red" if outcome == "error" else "yellow"
    line.append(outcome.replace("_", " "), style)
    if outcome == "not_upgraded":
        line.append(f", still {row['status']} on {row['was_provider'] or 'nothing'}")
    if row["message"]:
        line.append(f": {row['message']}")
    return line


def plan_table(plans: Iterable[StoryPlan]) -> Table:
    """A dry run: per story and provider, what is cached and what would be sent."""
    plans = list(plans)
    table = Table(title="dry run: nothing was sent")
    _story_column(table, [plan.story_id for plan in plans])
    for column in ("provider", "cached", "to send", "characters", "note"):
        table.add_column(column, no_wrap=column != "note")
    for plan in plans:
        if plan.error is not None:
            table.add_row(
                Text(plan.story_id), "-", "-", "-", "-", Text(printable(plan.error))
            )
            continue
        for step in plan.providers:
            note = step.note or ""
            if step.lands:
                note = f"lands here; {note}" if note else "lands here"
            table.add_row(
                Text(plan.story_id),
                Text(
                    step.provider, "bold" if step.lands else "dim" if step.skip else ""
                ),
                str(step.cached),
                str(step.to_send),
                f"{step.chars:,}",
                Text(note, "yellow" if step.skip else ""),
            )
        for item in plan.left_out:
            table.add_row(
                Text(plan.story_id),
                Text(item.provider, "dim"),
                "-",
                "-",
                "-",
                item.message,
            )
    return table


def _story_column(table: Table, story_ids: list[str]) -> None:
    """The story column: the one never squeezed out of sight in a narrow
    terminal; a long id folds onto more lines instead."""
    widest = max((len(story_id) for story_id in story_ids), default=5)
    table.add_column("story", overflow="fold", min_width=min(widest, 16))


def _iso(moment: datetime | None) -> str | None:
    return moment.astimezone(UTC).isoformat() if moment else None


def _local(moment: datetime) -> str:
    return moment.astimezone().strftime("%Y-%m-%d %H:%M:%S")


class ProgressBar:
    """A Rich progress bar fed by the engine's progress calls."""

    def __init__(self, console: Console) -> None:
        self._progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=True,
        )
        self._tasks: dict[str, TaskID] = {}

    def __enter__(self) -> ProgressBar:
        self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._progress.stop()

    def begin(self, story_id: str, provider: str, done: int, total: int) -> None:
        """Show a fresh bar for the provider now narrating the story."""
        if story_id in self._tasks:
            self._progress.remove_task(self._tasks[story_id])
        name = story_id if len(story_id) <= 24 else f"{story_id[:23]}…"
        description = f"{escape(name)} [bold]{provider}[/bold]"
        task = self._progress.add_task(description, total=total, completed=done)
        self._tasks[story_id] = task

    def advance(self, story_id: str) -> None:
        """One more paragraph of the story has audio."""
        if story_id in self._tasks:
            self._progress.advance(self._tasks[story_id])
