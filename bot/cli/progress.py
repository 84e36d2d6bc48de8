"""Progress bars and summaries for long CLI runs, on stderr so stdout stays data."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

from bot.cli.rows import print_row_errors
from bot.sync.backfill import BackfillReport

TIERS = ("A", "B", "C", "D", "DQ")


class _Bars:
    """One bar per stage; a total when the CRM can say it, resumed work counted as done."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.tasks: dict[str, TaskID] = {}

    def begin(self, stage: str, *, total: int | None, done: int) -> None:
        task = self._task(stage)
        self.progress.update(task, total=total, completed=done)

    def __call__(self, stage: str, n: int) -> None:
        self.progress.advance(self._task(stage), n)

    def _task(self, stage: str) -> TaskID:
        if stage not in self.tasks:
            self.tasks[stage] = self.progress.add_task(stage, total=None)
        return self.tasks[stage]


@contextmanager
def progress_bar(console: Console) -> Iterator[_Bars]:
    """Progress bars a backfill advances, per stage (accounts, people, deals)."""
    columns = (
        SpinnerColumn(),
        TextColumn("{task.description:<9}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=False) as progress:
        yield _Bars(progress)


def print_backfill_report(
    report: BackfillReport, *, dry_run: bool, err: Console, errors_to: Path | None = None
) -> None:
    """One summary, then every row that could not be read."""
    tiers = ", ".join(f"{t} {report.tiers[t]:,}" for t in TIERS)
    verb = "would tag" if dry_run else "tagged"
    err.print(
        f"{verb} {report.scored['account']:,} accounts ({tiers}) and "
        f"{report.scored['contact'] + report.scored['lead']:,} people: "
        f"{report.new:,} new, {report.changed:,} changed, {report.unchanged:,} unchanged",
        highlight=False,
    )
    for stage, done in report.resumed.items():
        err.print(f"resumed {stage} after {done:,} records done by an earlier run")
    if not dry_run:
        err.print(f"wrote {report.written:,} records back; loaded {report.deals:,} deals")
    for crm_id, reason in report.write_failures.items():
        err.print(f"[red]write failed[/red] {crm_id}: {reason}", soft_wrap=True)
    print_row_errors(report.skipped_rows, err=err, to=errors_to)
