"""The `narrate` command: parse options, call the library, render the result.

Every error is one red `Error: ...` line on stderr with the exit code the
README documents: usage errors too (exit 2), not Click's usage panel. Set
NARRATE_DEBUG=1 to see the traceback of narrate's own errors instead. The
heavy parts (database, providers) are imported only when a command needs
them, so `narrate --help` starts fast.
"""

from __future__ import annotations

import codecs
import contextlib
import json
import logging
import math
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.text import Text

from narrate import __version__
from narrate.errors import (
    EXIT_BAD_INPUT,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    NarrateError,
)

if TYPE_CHECKING:
    from narrate.engine.results import StoryResult
    from narrate.engine.run import BatchJob

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Turn a story text file into narrated audio, one paragraph at a time.",
)
stdout = Console(soft_wrap=True)
stderr = Console(stderr=True, soft_wrap=True)


def main() -> None:
    """Run the command line; the console script's entry point."""
    try:
        code = app(prog_name="narrate", standalone_mode=False)
    except Exception as error:
        code = _usage_error(error)
    sys.exit(code if isinstance(code, int) else EXIT_OK)


def _usage_error(error: Exception) -> int:
    """Show a command-line parsing error as one line; its exit code.

    Typer raises Click's exceptions, from Click or from its own copy of it
    depending on the version, so they are recognised by their shape.
    """
    if type(error).__name__ == "NoArgsIsHelpError":
        return EXIT_USAGE
    if type(error).__name__ == "Abort":
        stderr.print(Text("Interrupted.", style="red"))
        return EXIT_INTERRUPTED
    exit_code = getattr(error, "exit_code", None)
    format_message = getattr(error, "format_message", None)
    if not isinstance(exit_code, int) or not callable(format_message):
        raise error
    _error(str(format_message()))
    return exit_code


def _version(value: bool) -> None:
    if value:
        print(f"narrate {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Show the version."
        ),
    ] = False,
) -> None:
    """Turn a story text file into narrated audio, one paragraph at a time."""


def _positive(value: float | None) -> float | None:
    if value is not None and (math.isnan(value) or value <= 0):
        raise typer.BadParameter("must be a positive number of seconds")
    return value


def _codec(value: str | None) -> str | None:
    if value is not None:
        try:
            codecs.lookup(value)
        except LookupError:
            raise typer.BadParameter(f"no encoding called {value!r}") from None
    return value


def _not_empty(value: str | None) -> str | None:
    if value is not None and not value.strip():
        raise typer.BadParameter("must not be empty")
    return value


# The --db option, the same for every command that opens the cache.
DatabaseOption = Annotated[
    str | None,
    typer.Option(
        help="Cache database URL.",
        show_default="SQLite in the data dir",
        callback=_not_empty,
    ),
]


# The --max-chars option of the commands that send text to providers.
MaxCharsOption = Annotated[
    int | None,
    typer.Option(
        min=0,
        help="Send billed providers at most this many characters in this run; "
        "a provider that would go over is skipped, reason budget.",
        show_default="no limit",
    ),
]


@app.command()
def batch(
    files: Annotated[
        list[Path],
        typer.Argument(
            help="Story files, or directories of .txt and .md stories.",
            show_default=False,
            readable=False,
        ),
    ],
    voice: Annotated[
        str, typer.Option("--voice", "-v", help="Narrator voice.")
    ] = "milo",
    story_id: Annotated[
        str | None,
        typer.Option(
            help="Cache key of the story.",
            show_default="the file name without its extension",
            callback=_not_empty,
        ),
    ] = None,
    chain: Annotated[
        str | None,
        typer.Option(
            help="Providers to try in order, comma-separated, e.g. deepgram,espeak.",
            show_default="elevenlabs,deepgram,edge,espeak, those configured",
        ),
    ] = None,
    concurrency: Annotated[
        int | None,
        typer.Option(min=1, help="Paragraphs narrated at once.", show_default="4"),
    ] = None,
    timeout: Annotated[
        float | None,
        typer.Option(
            help="Seconds one provider request may take at most.",
            show_default="60",
            callback=_positive,
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(help="Copy the audio here as numbered files with a manifest."),
    ] = None,
    db: DatabaseOption = None,
    encoding: Annotated[
        str | None,
        typer.Option(
            help="Read the file in this encoding instead of guessing.", callback=_codec
        ),
    ] = None,
    json_output: Annotated[
        bool, typer.Option("--json", help="Print one JSON object per story on stdout.")
    ] = False,
    require_preferred: Annotated[
        bool,
        typer.Option(
            "--require-preferred",
            help="Exit 5 when the story is complete but not in the preferred voice.",
        ),
    ] = False,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="Print only errors.")
    ] = False,
    verbose: Annotated[
        bool, typer.Option("--verbose", help="Log one line per provider request.")
    ] = False,
    max_chars: MaxCharsOption = None,
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run",
            help="Show what each provider would be sent and what is cached; "
            "send nothing.",
        ),
    ] = False,
) -> None:
    """Narrate stories, each in one voice, by the first provider of the chain that
    can do all of it. Exit 0: every paragraph has audio; 3: some have none; 4: bad
    input or configuration; 5: with --require-preferred, not the preferred voice.
    With several stories, the most serious of their codes."""
    _logging(verbose)
    with _errors():
        from narrate.engine.results import worst_exit_code
        from narrate.engine.run import BatchJob, run_batch

        job = BatchJob(
            paths=files,
            voice=voice,
            story_id=story_id,
            chain=_split_chain(chain),
            concurrency=concurrency,
            timeout=timeout,
            out_dir=out,
            database_url=db,
            encoding=encoding,
            max_chars=max_chars,
        )
        if dry_run:
            _dry_run(job, json_output=json_output)
        if stderr.is_terminal and not (quiet or json_output):
            from narrate.report import ProgressBar

            with ProgressBar(stderr) as bar:
                results = run_batch(job, progress=bar)
        else:
            results = run_batch(job)

    for result in results:
        code = result.exit_code(require_preferred)
        _render(result, json_output=json_output, quiet=quiet, failed=code != EXIT_OK)
    raise typer.Exit(worst_exit_code(results, require_preferred))


@app.command()
def voices(
    json_output: Annotated[
        bool, typer.Option("--json", help="Print the catalog as JSON.")
    ] = False,
) -> None:
    """List the narrator voices and the voice each provider uses for them."""
    with _errors():
        from narrate.config import load_settings
        from narrate.voices import load_catalog

        catalog = load_catalog(load_settings().voices)

    if json_output:
        rows = [
            {
                "name": v.name,
                "language": v.language,
                "description": v.description,
                **v.ids,
            }
            for v in catalog.values()
        ]
        print(json.dumps(rows, ensure_ascii=False))
        return
    from narrate.report import voice_table

    stdout.print(voice_table(catalog.values()))


@app.command()
def providers(
    db: DatabaseOption = None,
    json_output: Annotated[
        bool, typer.Option("--json", help="Print the providers as JSON.")
    ] = False,
) -> None:
    """Show each provider: configured or not, its circuit breaker, its last
    failure and when it will be tried again."""
    with _errors():
        from narrate.engine.status import provider_statuses

        statuses = provider_statuses(db)

    from narrate.report import provider_rows, provider_table

    if json_output:
        print(json.dumps(provider_rows(statuses), ensure_ascii=False))
    else:
        stdout.print(provider_table(statuses))


@app.command()
def status(
    degraded: Annotated[
        bool,
        typer.Option(
            "--degraded",
            help="Only stories not complete in their preferred voice.",
        ),
    ] = False,
    db: DatabaseOption = None,
    json_output: Annotated[
        bool, typer.Option("--json", help="Print one JSON object per story.")
    ] = False,
) -> None:
    """List the stories narrated with this cache: status (complete, degraded,
    incomplete), the provider used and the one preferred, when last narrated."""
    with _errors():
        from narrate.engine.status import story_statuses

        stories = story_statuses(db, degraded=degraded)

    from narrate.report import story_rows, story_table

    if json_output:
        for row in story_rows(stories):
            print(json.dumps(row, ensure_ascii=False))
    else:
        stdout.print(story_table(stories))


@app.command()
def upgrade(
    limit: Annotated[
        int | None,
        typer.Option(
            min=1, help="Upgrade at most this many stories, the longest waiting first."
        ),
    ] = None,
    concurrency: Annotated[
        int | None,
        typer.Option(min=1, help="Paragraphs narrated at once.", show_default="4"),
    ] = None,
    timeout: Annotated[
        float | None,
        typer.Option(
            help="Seconds one provider request may take at most.",
            show_default="60",
            callback=_positive,
        ),
    ] = None,
    db: DatabaseOption = None,
    json_output: Annotated[
        bool, typer.Option("--json", help="Print one JSON object per story.")
    ] = False,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="Print only errors.")
    ] = False,
    verbose: Annotated[
        bool, typer.Option("--verbose", help="Log one line per provider request.")
    ] = False,
    max_chars: MaxCharsOption = None,
) -> None:
    """Bring degraded and incomplete stories back to their preferred voice: try
    the preferred provider again on each story's source file, requesting only
    the paragraphs it lacks. Exit 0: every story is complete in its preferred
    voice (or another upgrade run has it); 5: some are still degraded; 3: some
    are still incomplete; 4: a story's source or provider cannot be used."""
    _logging(verbose)
    with _errors():
        from narrate.engine.upgrade import UpgradeJob, run_upgrade

        job = UpgradeJob(
            limit=limit,
            concurrency=concurrency,
            timeout=timeout,
            database_url=db,
            max_chars=max_chars,
        )
        if stderr.is_terminal and not (quiet or json_output):
            from narrate.report import ProgressBar

            with ProgressBar(stderr) as bar:
                upgrades = run_upgrade(job, progress=bar)
        else:
            upgrades = run_upgrade(job)

    from narrate.engine.results import worst
    from narrate.engine.upgrade import UpgradeOutcome, upgrade_dict
    from narrate.report import upgrade_table

    for item in upgrades:
        if item.outcome is UpgradeOutcome.ERROR:
            _error(f"{item.story.story_id}: {item.message}")
    if json_output:
        for item in upgrades:
            print(json.dumps(upgrade_dict(item), ensure_ascii=False), flush=True)
    elif not quiet:
        if upgrades:
            stdout.print(upgrade_table(upgrades))
        else:
            stdout.print("No degraded or incomplete stories.")
    raise typer.Exit(worst(item.exit_code() for item in upgrades))


def _dry_run(job: BatchJob, *, json_output: bool) -> None:
    from narrate.engine.plan import plan_dict
    from narrate.engine.run import plan_batch
    from narrate.report import plan_table

    plans = plan_batch(job)
    for plan in plans:
        if plan.error is not None:
            _error(plan.error)
        for warning in plan.warnings:
            stderr.print(
                Text.assemble(("Warning: ", "yellow"), warning), highlight=False
            )
    if json_output:
        for plan in plans:
            print(json.dumps(plan_dict(plan), ensure_ascii=False), flush=True)
    else:
        stdout.print(plan_table(plans))
    failed = any(plan.error is not None for plan in plans)
    raise typer.Exit(EXIT_BAD_INPUT if failed else EXIT_OK)


# `narrate cache ...`: looking after the cache's entries and audio files.
cache_app = typer.Typer(
    no_args_is_help=True,
    help="Look after the cache: verify its audio files, prune old audio.",
)
app.add_typer(cache_app, name="cache")


def _days(value: float) -> float:
    if math.isnan(value) or math.isinf(value):
        raise typer.BadParameter("must be a number of days")
    return value


@cache_app.command("verify")
def cache_verify(
    db: DatabaseOption = None,
    json_output: Annotated[
        bool, typer.Option("--json", help="Print the counts as one JSON object.")
    ] = False,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="Print only errors.")
    ] = False,
) -> None:
    """Check that every cache entry's audio file is there, of the recorded size,
    and decodes as audio; remove the entries that fail, and their files, so the
    next run narrates them again. Exit 0 when done (removed entries count as
    repaired); 4: bad database or configuration."""
    with _errors():
        from narrate.engine.care import verify_cache

        report = verify_cache(db)

    from narrate.care_report import verify_dict, verify_table

    if json_output:
        print(json.dumps(verify_dict(report), ensure_ascii=False))
    elif not quiet:
        stdout.print(verify_table(report))


@cache_app.command("prune")
def cache_prune(
    older_than: Annotated[
        float,
        typer.Option(
            "--older-than",
            min=0,
            metavar="DAYS",
            help="Remove only entries created more than this many days ago.",
            callback=_days,
        ),
    ],
    db: DatabaseOption = None,
    json_output: Annotated[
        bool, typer.Option("--json", help="Print what was removed as one JSON object.")
    ] = False,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="Print only errors.")
    ] = False,
) -> None:
    """Remove old cache entries, and their files, of providers a story does not
    need: neither its preferred provider nor the one it was last narrated by.
    Entries of stories with no story record are kept. Exit 0 when done; 2: bad
    --older-than; 4: bad database or configuration."""
    with _errors():
        from narrate.engine.care import prune_cache

        report = prune_cache(older_than, db)

    from narrate.care_report import prune_dict, prune_table

    if json_output:
        print(json.dumps(prune_dict(report), ensure_ascii=False))
    elif not quiet:
        stdout.print(prune_table(report))


def _render(
    result: StoryResult, *, json_output: bool, quiet: bool, failed: bool
) -> None:
    from narrate.report import json_line, print_story, summary_line

    if result.error is not None:
        _error(result.error)
        if json_output:
            print(json_line(result), flush=True)
        return
    if not quiet:
        for warning in result.warnings:
            stderr.print(
                Text.assemble(("Warning: ", "yellow"), warning), highlight=False
            )
    if json_output:
        print(json_line(result), flush=True)
    elif not quiet:
        print_story(stdout, result)
    if quiet and failed:
        _error(summary_line(result))


def _split_chain(chain: str | None) -> list[str] | None:
    if chain is None:
        return None
    return [name.strip().lower() for name in chain.split(",") if name.strip()]


def _logging(verbose: bool) -> None:
    logger = logging.getLogger("narrate")
    logger.addHandler(logging.NullHandler())
    if verbose:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)


def _error(message: str) -> None:
    line = " ".join(message.split())
    stderr.print(Text.assemble(("Error: ", "red"), line), highlight=False)


@contextlib.contextmanager
def _errors() -> Iterator[None]:
    """Turn narrate's errors, the system's and Ctrl-C into one line and an exit code."""
    try:
        yield
    except NarrateError as error:
        if os.environ.get("NARRATE_DEBUG"):
            raise
        _error(str(error))
        raise typer.Exit(error.exit_code) from None
    except OSError as error:
        if os.environ.get("NARRATE_DEBUG"):
            raise
        _error(str(error))
        raise typer.Exit(EXIT_BAD_INPUT) from None
    except KeyboardInterrupt:
        stderr.print(Text("Interrupted.", style="red"))
        raise typer.Exit(EXIT_INTERRUPTED) from None
