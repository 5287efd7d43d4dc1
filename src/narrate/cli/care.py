"""`narrate cache ...`: looking after the cache's entries and audio files."""

from __future__ import annotations

import json
import math
from typing import Annotated

import typer

from narrate.cli.common import (
    DatabaseOption,
    QuietOption,
    app,
    emit,
    handled_errors,
    stdout,
)

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
    quiet: QuietOption = False,
) -> None:
    """Check that every cache entry's audio file is there, of the recorded size,
    and decodes as audio; remove the entries that fail, and their files, so the
    next run narrates them again; remove the temporary files of killed runs
    over an hour old. Exit 0 when done (removed entries count as repaired); 4:
    bad database or configuration."""
    with handled_errors():
        from narrate.engine.care import verify_cache

        report = verify_cache(db)

    from narrate.care_report import verify_dict, verify_table

    if json_output:
        emit(json.dumps(verify_dict(report), ensure_ascii=False))
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
    quiet: QuietOption = False,
) -> None:
    """Remove old cache entries, and their files, of providers a story does not
    need: neither its preferred provider nor the one it was last narrated by.
    Entries of stories with no story record are kept. Exit 0 when done; 2: bad
    --older-than; 4: bad database or configuration."""
    with handled_errors():
        from narrate.engine.care import prune_cache

        report = prune_cache(older_than, db)

    from narrate.care_report import prune_dict, prune_table

    if json_output:
        emit(json.dumps(prune_dict(report), ensure_ascii=False))
    elif not quiet:
        stdout.print(prune_table(report))
