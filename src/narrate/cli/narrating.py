"""The commands that narrate: `batch` (and its dry run) and `upgrade`."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Generic, TypeVar

import typer

from narrate.cli.common import (
    ConcurrencyOption,
    DatabaseOption,
    MaxCharsOption,
    OutputLost,
    QuietOption,
    TimeoutOption,
    VerboseOption,
    app,
    codec,
    emit,
    handled_errors,
    say_error,
    setup_logging,
    stderr,
    stdout,
    story_id_option,
    warn,
    writing_results,
)
from narrate.errors import EXIT_BAD_INPUT, EXIT_OK, InputError

if TYPE_CHECKING:
    from narrate.engine.plan import StoryPlan
    from narrate.engine.results import StoryResult
    from narrate.engine.upgrade import Upgrade

T = TypeVar("T")

# --dry-run, for the commands that narrate.
DryRunOption = Annotated[
    bool,
    typer.Option(
        "--dry-run",
        help="Show what each provider would be sent and what is cached; send nothing.",
    ),
]


@app.command()
def batch(
    files: Annotated[
        list[str],
        typer.Argument(
            help="Story files, or directories of .txt and .md stories.",
            show_default=False,
            metavar="PATH",
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
            callback=story_id_option,
        ),
    ] = None,
    chain: Annotated[
        str | None,
        typer.Option(
            help="Providers to try in order, comma-separated, e.g. deepgram,espeak.",
            show_default="elevenlabs,deepgram,edge,espeak, those configured",
        ),
    ] = None,
    concurrency: ConcurrencyOption = None,
    timeout: TimeoutOption = None,
    out: Annotated[
        Path | None,
        typer.Option(help="Copy the audio here as numbered files with a manifest."),
    ] = None,
    db: DatabaseOption = None,
    encoding: Annotated[
        str | None,
        typer.Option(
            help="Read the file in this encoding instead of guessing.", callback=codec
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
    quiet: QuietOption = False,
    verbose: VerboseOption = False,
    max_chars: MaxCharsOption = None,
    dry_run: DryRunOption = False,
) -> None:
    """Narrate stories, each in one voice, by the first provider of the chain that
    can do all of it. Exit 0: every paragraph has audio; 3: some have none; 4: bad
    input or configuration; 5: with --require-preferred, not the preferred voice.
    With several stories, the most serious of their codes."""
    setup_logging(verbose)
    with handled_errors():
        from narrate.engine.results import worst_exit_code
        from narrate.engine.run import BatchJob, run_batch

        job = BatchJob(
            paths=[_story_path(name) for name in files],
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
            from narrate.engine.run import plan_batch

            _dry_run(plan_batch(job), json_output=json_output)

        def render(result: StoryResult) -> None:
            code = result.exit_code(require_preferred)
            _render(
                result, json_output=json_output, quiet=quiet, failed=code != EXIT_OK
            )

        # JSON lines go out as each story finishes, so a pipeline reads them
        # at once and an interrupted run keeps those of the finished stories;
        # a person gets them at the end, below the progress bar.
        as_done = _AsDone(render)
        results = _with_progress(
            run_batch,
            job,
            show=not (quiet or json_output),
            on_result=as_done if json_output else None,
        )
    as_done.check()

    if not json_output:
        for result in results:
            render(result)
    raise typer.Exit(worst_exit_code(results, require_preferred))


class _AsDone(Generic[T]):
    """`render` for each item as the run finishes it. When the output is lost
    (its reader went away, the disk is full) the rendering stops but the work
    goes on, so every story still ends in the cache; `check` then reports the
    loss."""

    def __init__(self, render: Callable[[T], None]) -> None:
        self.render = render
        self.lost: OutputLost | None = None

    def __call__(self, item: T) -> None:
        if self.lost is None:
            try:
                self.render(item)
            except OutputLost as lost:
                self.lost = lost

    def check(self) -> None:
        """Raise the `OutputLost` of the first failed write, if one failed."""
        if self.lost is not None:
            raise self.lost


def _story_path(name: str) -> Path:
    """The path named; an empty name is refused rather than read as the
    current directory, which `Path("")` would be."""
    if not name:
        raise InputError("'': an empty story path names no file")
    return Path(name)


@app.command()
def upgrade(
    limit: Annotated[
        int | None,
        typer.Option(
            min=1, help="Upgrade at most this many stories, the longest waiting first."
        ),
    ] = None,
    concurrency: ConcurrencyOption = None,
    timeout: TimeoutOption = None,
    db: DatabaseOption = None,
    json_output: Annotated[
        bool, typer.Option("--json", help="Print one JSON object per story.")
    ] = False,
    quiet: QuietOption = False,
    verbose: VerboseOption = False,
    max_chars: MaxCharsOption = None,
    dry_run: DryRunOption = False,
) -> None:
    """Bring degraded and incomplete stories back to their preferred voice: try
    the preferred provider again on each story's source file, requesting only
    the paragraphs it lacks. Exit 0: every story is complete in its preferred
    voice (or another upgrade run has it); 5: some are still degraded; 3: some
    are still incomplete; 4: a story's source or provider cannot be used."""
    setup_logging(verbose)
    with handled_errors():
        from narrate.engine.upgrade import UpgradeJob, run_upgrade

        job = UpgradeJob(
            limit=limit,
            concurrency=concurrency,
            timeout=timeout,
            database_url=db,
            max_chars=max_chars,
        )
        if dry_run:
            from narrate.engine.upgrade import plan_upgrade

            _dry_run(plan_upgrade(job), json_output=json_output)
        as_done = _AsDone(_upgrade_json)
        upgrades = _with_progress(
            run_upgrade,
            job,
            show=not (quiet or json_output),
            on_upgrade=as_done if json_output else None,
        )
    as_done.check()

    from narrate.engine.results import worst
    from narrate.report import upgrade_line

    if not json_output:
        for item in upgrades:
            _upgrade_error(item)
    if not (json_output or quiet):
        if upgrades:
            for item in upgrades:
                stdout.print(upgrade_line(item), highlight=False)
        else:
            stdout.print("No degraded or incomplete stories.")
    raise typer.Exit(worst(item.exit_code() for item in upgrades))


def _upgrade_error(item: Upgrade) -> None:
    """The `Error:` line of a story that could not be tried, if it is one."""
    from narrate.engine.upgrade import UpgradeOutcome

    if item.outcome is UpgradeOutcome.ERROR:
        say_error(f"{item.story.story_id}: {item.message}")


def _upgrade_json(item: Upgrade) -> None:
    from narrate.report import upgrade_dict

    _upgrade_error(item)
    emit(json.dumps(upgrade_dict(item), ensure_ascii=False))


def _dry_run(plans: list[StoryPlan], *, json_output: bool) -> None:
    """Show the plans and exit: 0, or 4 when a story cannot be planned. Only
    an upgrade can have no story to plan."""
    from narrate.engine.plan import plan_dict
    from narrate.report import plan_table

    for plan in plans:
        if plan.error is not None:
            say_error(plan.error)
        for warning in plan.warnings:
            warn(warning)
    with writing_results():
        if json_output:
            for plan in plans:
                emit(json.dumps(plan_dict(plan), ensure_ascii=False))
        elif plans:
            stdout.print(plan_table(plans))
        else:
            stdout.print("No degraded or incomplete stories.")
    failed = any(plan.error is not None for plan in plans)
    raise typer.Exit(EXIT_BAD_INPUT if failed else EXIT_OK)


def _with_progress(
    work: Callable[..., T], job: object, *, show: bool, **options: object
) -> T:
    """`work(job, **options)`, with a progress bar on stderr when `show` and it
    is a terminal."""
    if not (show and stderr.is_terminal):
        return work(job, **options)
    from narrate.report import ProgressBar

    with ProgressBar(stderr) as bar:
        return work(job, progress=bar, **options)


def _render(
    result: StoryResult, *, json_output: bool, quiet: bool, failed: bool
) -> None:
    from narrate.report import json_line, print_story, summary_line

    if result.error is not None:
        say_error(result.error)
        if json_output:
            emit(json_line(result))
        return
    if not quiet:
        for warning in result.warnings:
            warn(warning)
    if json_output:
        emit(json_line(result))
    elif not quiet:
        print_story(stdout, result)
    if quiet and failed:
        say_error(summary_line(result))


def _split_chain(chain: str | None) -> list[str] | None:
    if chain is None:
        return None
    return [name.strip().lower() for name in chain.split(",") if name.strip()]
