"""What every `narrate` command shares: the app, the consoles, options, and
the one-line errors with their exit codes."""

from __future__ import annotations

import codecs
import contextlib
import errno
import logging
import math
import os
import sys
from collections.abc import Iterator
from typing import Annotated

import typer
from rich.console import Console
from rich.text import Text

from narrate.config import CONCURRENCY_RANGE, TIMEOUT_RANGE
from narrate.errors import EXIT_BAD_INPUT, EXIT_INTERRUPTED, NarrateError
from narrate.printable import printable

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Turn a story text file into narrated audio, one paragraph at a time.",
)


class OutputLost(Exception):  # noqa: N818 - it is an event, not a mistake
    """Writing the results to stdout failed (a closed pipe, a full disk).

    Not an `OSError`, so that `handled_errors` lets it through to `main`,
    which says so once and exits 4.
    """

    def __init__(self, error: OSError) -> None:
        super().__init__(str(error))
        self.error = error


class _Stdout(Console):
    """The results' console: a reader that went away (a closed pipe, `| head`)
    is `OutputLost`, reported as such, where rich would exit 1 without a word."""

    def on_broken_pipe(self) -> None:
        self.quiet = True  # what is still buffered goes nowhere
        raise OutputLost(BrokenPipeError(errno.EPIPE, os.strerror(errno.EPIPE)))


stdout = _Stdout(soft_wrap=True)
stderr = Console(stderr=True, soft_wrap=True)


def seconds(value: float | None) -> float | None:
    """A callback: the value must be a number of seconds in the range the
    config file's `timeout` allows."""
    low, high = TIMEOUT_RANGE
    if value is not None and not (math.isfinite(value) and low <= value <= high):
        raise typer.BadParameter(f"must be a number of seconds from {low} to {high}")
    return value


def codec(value: str | None) -> str | None:
    """A callback: the value must name a known text encoding."""
    if value is not None:
        try:
            found = codecs.lookup(value)
        except LookupError:
            raise typer.BadParameter(f"no encoding called {value!r}") from None
        if not getattr(found, "_is_text_encoding", True):  # rot13, base64, zlib
            raise typer.BadParameter(f"{value!r} is a transform, not a text encoding")
    return value


def not_empty(value: str | None) -> str | None:
    """A callback: the value must not be blank."""
    if value is not None and not value.strip():
        raise typer.BadParameter("must not be empty")
    return value


def story_id_option(value: str | None) -> str | None:
    """A callback: a story id must not be blank nor hold control characters
    (it is printed in tables and lines a terminal shows)."""
    not_empty(value)
    if value is not None and printable(value) != value:
        raise typer.BadParameter("must not hold control characters")
    return value


# The --db option, the same for every command that opens the cache.
DatabaseOption = Annotated[
    str | None,
    typer.Option(
        help="Cache database URL.",
        show_default="SQLite in the data dir",
        callback=not_empty,
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

# The options several commands share.
ConcurrencyOption = Annotated[
    int | None,
    typer.Option(
        min=CONCURRENCY_RANGE[0],
        max=CONCURRENCY_RANGE[1],
        help="Paragraphs narrated at once.",
        show_default="4",
    ),
]
TimeoutOption = Annotated[
    float | None,
    typer.Option(
        help="Seconds one provider request may take at most.",
        show_default="60",
        callback=seconds,
    ),
]
QuietOption = Annotated[bool, typer.Option("--quiet", "-q", help="Print only errors.")]
VerboseOption = Annotated[
    bool, typer.Option("--verbose", help="Log one line per provider request.")
]


def setup_logging(verbose: bool) -> None:
    """Log to stderr with --verbose; say nothing otherwise."""
    logger = logging.getLogger("narrate")
    logger.addHandler(logging.NullHandler())
    if verbose:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)


def say_error(message: str) -> None:
    """One red `Error: ...` line on stderr: the message's line breaks become
    spaces, and other control characters (from a file name, say) are shown
    escaped, so they cannot move the cursor or recolour the terminal."""
    line = printable(" ".join(message.split()))
    stderr.print(Text.assemble(("Error: ", "red"), line), highlight=False)


def emit(line: str) -> None:
    """One line of results on stdout, flushed at once; a failed write is
    `OutputLost` (typer would turn a closed pipe into a silent exit 1)."""
    with writing_results():
        print(line, flush=True)


@contextlib.contextmanager
def writing_results() -> Iterator[None]:
    """Around what prints results: a failed write becomes `OutputLost`."""
    try:
        yield
    except OSError as error:
        raise OutputLost(error) from error


@contextlib.contextmanager
def handled_errors() -> Iterator[None]:
    """Turn narrate's errors, the system's and Ctrl-C into one line and an exit code."""
    try:
        yield
    except NarrateError as error:
        if os.environ.get("NARRATE_DEBUG"):
            raise
        say_error(str(error))
        raise typer.Exit(error.exit_code) from None
    except OSError as error:
        if os.environ.get("NARRATE_DEBUG"):
            raise
        say_error(str(error))
        raise typer.Exit(EXIT_BAD_INPUT) from None
    except KeyboardInterrupt:  # `main` says so, as for Ctrl-C anywhere else
        raise typer.Exit(EXIT_INTERRUPTED) from None


def warn(message: str) -> None:
    """One yellow `Warning: ...` line on stderr."""
    stderr.print(Text.assemble(("Warning: ", "yellow"), message), highlight=False)
