"""The `narrate` command: parse options, call the library, render the result.

Errors narrate raises on purpose become one red `Error: ...` line on stderr
and the exit code documented in the README; set NARRATE_DEBUG=1 to see the
traceback instead. The heavy parts (database, providers) are imported only
when a command needs them, so `narrate --help` starts fast.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.text import Text

from narrate import __version__
from narrate.errors import EXIT_INTERRUPTED, NarrateError

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
    app(prog_name="narrate")


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


@app.command()
def batch(
    file: Annotated[
        Path, typer.Argument(help="The story: a text file.", show_default=False)
    ],
    voice: Annotated[
        str, typer.Option("--voice", "-v", help="Narrator voice.")
    ] = "milo",
    story_id: Annotated[
        str | None,
        typer.Option(help="Cache key of the story [default: the file's stem]."),
    ] = None,
    chain: Annotated[
        str | None,
        typer.Option(
            help="Providers to try in order, comma-separated, e.g. deepgram,espeak."
        ),
    ] = None,
    concurrency: Annotated[
        int | None,
        typer.Option(min=1, help="Paragraphs narrated at once [default: 4]."),
    ] = None,
    timeout: Annotated[
        float | None,
        typer.Option(help="Seconds one provider request may take [default: 60]."),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(help="Copy the audio here as numbered files with a manifest."),
    ] = None,
    db: Annotated[
        str | None,
        typer.Option(help="Cache database URL [default: SQLite in the data dir]."),
    ] = None,
    encoding: Annotated[
        str | None,
        typer.Option(help="Read the file in this encoding instead of guessing."),
    ] = None,
    json_output: Annotated[
        bool, typer.Option("--json", help="Print one JSON object per story on stdout.")
    ] = False,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="Print only errors.")
    ] = False,
    verbose: Annotated[
        bool,
        typer.Option("--verbose", help="Log one line per provider request on stderr."),
    ] = False,
) -> None:
    """Narrate a story: every paragraph, in one voice, from the first provider of the
    chain that can do the whole story. Exit 0 when every paragraph has audio, 3 when
    some have none, 4 on bad input or configuration."""
    _logging(verbose)
    with _errors():
        from narrate.engine.run import BatchJob, run_batch

        job = BatchJob(
            path=file,
            voice=voice,
            story_id=story_id,
            chain=_split_chain(chain),
            concurrency=concurrency,
            timeout=timeout,
            out_dir=out,
            database_url=db,
            encoding=encoding,
        )
        show_progress = stderr.is_terminal and not (quiet or json_output)
        if show_progress:
            from narrate.report import ProgressBar

            with ProgressBar(stderr) as bar:
                result = run_batch(job, progress=bar)
        else:
            result = run_batch(job)

    _render(result, json_output=json_output, quiet=quiet)
    raise typer.Exit(result.exit_code)


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


def _render(result: object, *, json_output: bool, quiet: bool) -> None:
    from narrate.engine.results import StoryResult
    from narrate.report import json_line, print_story

    assert isinstance(result, StoryResult)
    if not quiet:
        for warning in result.warnings:
            stderr.print(
                Text.assemble(("Warning: ", "yellow"), warning), highlight=False
            )
    if json_output:
        print(json_line(result), flush=True)
    elif not quiet:
        print_story(stdout, result)


def _split_chain(chain: str | None) -> list[str] | None:
    if chain is None:
        return None
    return [name.strip() for name in chain.split(",") if name.strip()]


def _logging(verbose: bool) -> None:
    logger = logging.getLogger("narrate")
    logger.addHandler(logging.NullHandler())
    if verbose:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)


@contextlib.contextmanager
def _errors() -> Iterator[None]:
    """Turn narrate's errors and Ctrl-C into one line and an exit code."""
    try:
        yield
    except NarrateError as error:
        if os.environ.get("NARRATE_DEBUG"):
            raise
        stderr.print(Text.assemble(("Error: ", "red"), str(error)), highlight=False)
        raise typer.Exit(error.exit_code) from None
    except KeyboardInterrupt:
        stderr.print("[red]Interrupted.[/red]")
        raise typer.Exit(EXIT_INTERRUPTED) from None
