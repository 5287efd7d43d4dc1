"""`python -m narrate` runs the command-line interface."""

from narrate.cli import main

main()
