"""Progress bars and summaries for long CLI runs, on stderr so stdout stays data."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)

from bot.backfill import BackfillReport

TIERS = ("A", "B", "C", "D", "DQ")


@contextmanager
def progress_bar(console: Console) -> Iterator[Callable[[str, int], None]]:
    """A step function `(kind, n)` that advances one bar per record kind."""
    columns = (
        SpinnerColumn(),
        TextColumn("{task.description:<9}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=False) as progress:
        tasks: dict[str, int] = {}

        def step(kind: str, n: int) -> None:
            if kind not in tasks:
                tasks[kind] = progress.add_task(kind, total=None)
            progress.advance(tasks[kind], n)

        yield step


def print_backfill_report(report: BackfillReport, *, dry_run: bool, err: Console) -> None:
    """One summary, then every row that could not be read."""
    tiers = ", ".join(f"{t} {report.tiers[t]}" for t in TIERS)
    verb = "would tag" if dry_run else "tagged"
    err.print(
        f"{verb} {report.scored['account']:,} accounts ({tiers}) and "
        f"{report.scored['contact'] + report.scored['lead']:,} people: "
        f"{report.new:,} new, {report.changed:,} changed, {report.unchanged:,} unchanged",
        highlight=False,
    )
    if not dry_run:
        err.print(f"wrote {report.written:,} records back; loaded {report.deals:,} deals")
    for crm_id, reason in report.write_failures.items():
        err.print(f"[red]write failed[/red] {crm_id}: {reason}", soft_wrap=True)
    for row in report.skipped_rows:
        err.print(f"[yellow]skipped[/yellow] {row}", soft_wrap=True)
