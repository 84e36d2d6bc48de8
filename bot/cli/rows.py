"""Rows that could not be read, reported as a person fixing an export needs them."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

from rich.console import Console
from rich.markup import escape

from bot.views.common import counted
from integrations.base import RowError

SHOWN_ROWS = 10  # bad rows named on the terminal; the rest are counted and go to --errors


def print_row_errors(errors: Sequence[RowError], *, err: Console, to: Path | None) -> None:
    """The first few unreadable rows, a count of the rest, and all of them in `to` (a CSV).

    A 100,000-row export with 3,400 bad rows needs a summary and examples on
    the terminal, not 3,400 lines; the file is for fixing them all.
    """
    ordered = sorted(errors, key=lambda e: (e.source, e.row))
    if to is not None:
        with to.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(["file", "row", "problem"])
            writer.writerows([e.source, e.row, e.message] for e in ordered)
    for error in ordered[:SHOWN_ROWS]:
        err.print(f"[yellow]skipped[/yellow] {escape(str(error))}", soft_wrap=True)
    hidden = len(ordered) - SHOWN_ROWS
    if to is not None and ordered:
        err.print(
            f"every skipped row ({counted(len(ordered), 'row')}) is listed in {to}",
            highlight=False,
            soft_wrap=True,
        )
    elif hidden > 0:
        err.print(
            f"… and {counted(hidden, 'more row')} skipped; --errors FILE lists every one "
            "(file, row, problem) to fix them all",
            highlight=False,
            soft_wrap=True,
        )
