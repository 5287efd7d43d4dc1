"""The commands that look things up: `voices`, `providers` and `status`."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from narrate.cli.common import DatabaseOption, app, emit, handled_errors, stdout


@app.command()
def voices(
    json_output: Annotated[
        bool, typer.Option("--json", help="Print the catalog as JSON.")
    ] = False,
) -> None:
    """List the narrator voices and the voice each provider uses for them."""
    with handled_errors():
        from narrate.config import load_settings
        from narrate.engine.chain import check_config

        catalog = check_config(load_settings())

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
        emit(json.dumps(rows, ensure_ascii=False))
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
    with handled_errors():
        from narrate.engine.status import provider_statuses

        statuses = provider_statuses(db)

    from narrate.report import provider_rows, provider_table

    if json_output:
        emit(json.dumps(provider_rows(statuses), ensure_ascii=False))
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
    with handled_errors():
        from narrate.engine.status import story_statuses

        stories = story_statuses(db, degraded=degraded)

    from narrate.report import story_rows, story_table

    if json_output:
        for row in story_rows(stories):
            emit(json.dumps(row, ensure_ascii=False))
    elif stories:
        stdout.print(story_table(stories))
    else:
        stdout.print(
            "No stories narrated yet."
            if not degraded
            else "No degraded or incomplete stories."
        )
