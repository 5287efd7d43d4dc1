"""The `narrate` command: parse options, call the library, render the result.

Every error is one red `Error: ...` line on stderr with the exit code the
README documents: usage errors too (exit 2), not Click's usage panel. Set
NARRATE_DEBUG=1 to see the traceback of narrate's own errors instead. The
heavy parts (database, providers) are imported only when a command needs
them, so `narrate --help` starts fast.
"""

from __future__ import annotations

import os
import sys
from typing import Annotated

import typer
from rich.text import Text

from narrate import __version__
from narrate.cli.common import OutputLost, app, emit, say_error, stderr
from narrate.errors import EXIT_BAD_INPUT, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE

# Importing the command modules adds their commands, in this order, to `app`.
# isort: off
from narrate.cli import narrating  # noqa: E402, F401
from narrate.cli import listing  # noqa: E402, F401
from narrate.cli import care  # noqa: E402, F401

# isort: on

__all__ = ["app", "main"]


def main() -> None:
    """Run the command line (`narrate.__main__` calls this)."""
    try:
        code = app(prog_name="narrate", standalone_mode=False)
    except OSError as error:  # stdout closed or full: the work itself is done
        code = _output_lost(error)
    except OutputLost as lost:  # the same, while the work was going on
        code = _output_lost(lost.error)
    except KeyboardInterrupt:  # outside the commands' own handling: rendering
        code = EXIT_INTERRUPTED
    except Exception as error:
        code = _usage_error(error)
    if code == EXIT_INTERRUPTED:  # however it came: typer's parsing gives 130 too
        stderr.print(Text("Interrupted.", style="red"))
    sys.exit(code if isinstance(code, int) else EXIT_OK)


def _output_lost(error: OSError) -> int:
    """Say once that the output could not be written; exit 4.

    Only writing the results fails here (narrate's own errors are handled
    inside the commands); stdout is pointed at /dev/null so that Python's
    last flush on the way out does not fail again.
    """
    if os.environ.get("NARRATE_DEBUG"):
        raise error
    with_null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(with_null, sys.stdout.fileno())
    os.close(with_null)
    say_error(f"the output could not be written: {error.strerror or error}")
    return EXIT_BAD_INPUT


def _usage_error(error: Exception) -> int:
    """Show a command-line parsing error as one line; its exit code.

    Typer raises Click's exceptions, from Click or from its own copy of it
    depending on the version, so they are recognised by their shape.
    """
    if type(error).__name__ == "NoArgsIsHelpError":
        return EXIT_USAGE
    if type(error).__name__ == "Abort":
        return EXIT_INTERRUPTED
    exit_code = getattr(error, "exit_code", None)
    format_message = getattr(error, "format_message", None)
    if not isinstance(exit_code, int) or not callable(format_message):
        raise error
    say_error(str(format_message()))
    return exit_code


def _version(value: bool) -> None:
    if value:
        emit(f"narrate {__version__}")
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
