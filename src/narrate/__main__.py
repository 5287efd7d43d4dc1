"""`python -m narrate`, and the `narrate` console script: run the command line.

The command line is imported inside `main`, so that Ctrl-C while it is still
loading (typer and rich take a moment) ends like Ctrl-C at any other time:
one line and exit 130, not a traceback.
"""

import sys


def main() -> None:
    """Load the command line and run it."""
    try:
        from narrate.cli import main as run
    except KeyboardInterrupt:
        sys.stderr.write("Interrupted.\n")
        sys.exit(130)  # EXIT_INTERRUPTED; narrate.errors may not be loaded yet
    run()


if __name__ == "__main__":
    main()
