"""How `narrate cache verify` and `narrate cache prune` report: a table for
people, one JSON object for scripts. Kept apart from `narrate.report`, which
renders narration results, so the two change independently."""

from __future__ import annotations

from datetime import UTC

from rich.table import Table
from rich.text import Text

from narrate.store.care import REASONS, PruneReport, VerifyReport

_REASON_LABEL = {
    "missing": "removed: file missing",
    "wrong_size": "removed: wrong size",
    "not_audio": "removed: not audio",
}


def verify_dict(report: VerifyReport) -> dict[str, object]:
    """The verify report as a JSON-ready dictionary."""
    return {
        "checked": report.checked,
        "fine": report.fine,
        "removed": report.removed.total(),
        "reasons": {reason: report.removed[reason] for reason in REASONS},
        "busy": report.busy,
        "leftover_files_removed": report.leftovers,
    }


def verify_table(report: VerifyReport) -> Table:
    """Entries checked, fine, removed by reason, and left to a running narration."""
    table = Table(title="cache verify", title_justify="left")
    table.add_column("entries")
    table.add_column("count", justify="right")
    table.add_row("checked", str(report.checked))
    table.add_row("fine", Text(str(report.fine), "green"))
    for reason in REASONS:
        count = report.removed[reason]
        table.add_row(
            _REASON_LABEL[reason], Text(str(count), "yellow" if count else "")
        )
    if report.busy:
        table.add_row("left to a running narration", str(report.busy))
    if report.leftovers:
        table.caption = (
            f"{report.leftovers} leftover .part files of killed runs removed"
        )
    return table


def prune_dict(report: PruneReport) -> dict[str, object]:
    """The prune report as a JSON-ready dictionary; `providers` has only the
    providers something was removed from."""
    freed = report.providers.values()
    return {
        "cutoff": report.cutoff.astimezone(UTC).isoformat(),
        "removed": sum(f.entries for f in freed),
        "bytes": sum(f.bytes for f in freed),
        "providers": {
            name: {"entries": f.entries, "bytes": f.bytes}
            for name, f in sorted(report.providers.items())
        },
        "busy": report.busy,
    }


def prune_table(report: PruneReport) -> Table:
    """Entries and bytes removed per provider, and the total."""
    cutoff = report.cutoff.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    table = Table(
        title=f"cache prune: entries created before {cutoff}",
        title_justify="left",
        show_footer=True,
    )

    totals = prune_dict(report)
    table.add_column("provider", footer="total")
    table.add_column("entries", justify="right", footer=f"{totals['removed']:,}")
    table.add_column("bytes", justify="right", footer=f"{totals['bytes']:,}")
    for name, freed in sorted(report.providers.items()):
        table.add_row(name, f"{freed.entries:,}", f"{freed.bytes:,}")

    if report.busy:
        table.caption = f"{report.busy} left to a running narration"
    return table
