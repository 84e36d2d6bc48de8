"""Scoring a CSV file row by row: JSON lines, an annotated CSV, or a summary.

Rows stream from the reader through the engine to the writers, so memory
stays flat whatever the file size. Bad rows are named and kept (with empty
score cells in an output CSV), never silently dropped.
"""

from __future__ import annotations

import csv
import sys
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO

import orjson
from rich.console import Console

from bot.config import Config
from integrations.base import RowError
from integrations.csv import CsvFormatError, CsvRow, open_csv, read_rows
from integrations.records import RecordKind
from scoring.engine import Engine
from scoring.fields import FieldType
from scoring.result import AccountScore
from scoring.serialize import summary

Scored = tuple[CsvRow, AccountScore | None]
OUTPUT_COLUMNS = ("icp_score", "icp_tier", "icp_profile", "icp_coverage", "icp_reasons")


@dataclass(slots=True)
class BatchReport:
    """What a run did: rows scored per tier, and every row it could not read."""

    scored: int = 0
    tiers: Counter[str] = field(default_factory=Counter)
    errors: list[RowError] = field(default_factory=list)


def scored_rows(
    path: Path, *, engine: Engine, types: Mapping[str, FieldType], now: datetime
) -> Iterator[tuple[CsvRow, AccountScore | None]]:
    """Each row with its score, or None when the row could not be read."""
    with open_csv(path) as handle:
        for row in read_rows(handle, source=str(path), kind=RecordKind.ACCOUNT, types=types):
            if row.record is None:
                yield row, None
            else:
                yield row, engine.score_account(row.record.fields, now)


def output_cells(score: AccountScore | None) -> list[object]:
    """The `icp_*` columns of SPEC §9, empty for a row that was not scored."""
    if score is None:
        return [""] * len(OUTPUT_COLUMNS)
    return [
        score.score,
        score.tier.value,
        score.profile_id or "",
        round(score.coverage, 3),
        "\n".join(score.reasons),
    ]


def run(
    rows: Iterator[tuple[CsvRow, AccountScore | None]],
    *,
    on_score: Callable[[CsvRow, AccountScore | None], None],
) -> BatchReport:
    """Feed every row to `on_score` and count what happened."""
    report = BatchReport()
    for row, score in rows:
        on_score(row, score)
        if score is None:
            if row.error:
                report.errors.append(row.error)
            continue
        report.scored += 1
        report.tiers[score.tier.value] += 1
    return report


def json_writer(out: IO[bytes]) -> Callable[[CsvRow, AccountScore | None], None]:
    """One JSON object a line for each scored row (SPEC §9)."""

    def write(row: CsvRow, score: AccountScore | None) -> None:
        if score is not None and row.record is not None:
            out.write(orjson.dumps(summary(score, domain=row.record.domain)))
            out.write(b"\n")

    return write


class CsvWriter:
    """The input columns plus the `icp_*` columns; the header comes from the first row."""

    def __init__(self, out: IO[str]) -> None:
        self._writer = csv.writer(out)
        self._columns: list[str] | None = None

    def __call__(self, row: CsvRow, score: AccountScore | None) -> None:
        if self._columns is None:
            self._columns = list(row.header)
            self._writer.writerow([*self._columns, *OUTPUT_COLUMNS])
        cells = [row.raw.get(c, "") for c in self._columns]
        self._writer.writerow([*cells, *output_cells(score)])


def score_file(
    path: Path,
    *,
    config: Config,
    now: datetime,
    as_json: bool,
    output: Path | None,
    err: Console,
) -> int:
    """Stream a CSV through the engine; name bad rows, score the rest; 1 if any row was bad."""
    if not path.is_file():
        err.print(f"[red]error[/red] {path}: no such file")
        return 1
    engine = Engine(config.icp)
    rows = scored_rows(path, engine=engine, types=config.fields.types, now=now)
    try:
        report = _write(rows, as_json=as_json, output=output)
    except CsvFormatError as exc:
        err.print(f"[red]error[/red] {exc}", soft_wrap=True)
        return 1
    for error in report.errors:
        err.print(f"[yellow]skipped[/yellow] {error}", soft_wrap=True, markup=True)
    tiers = ", ".join(f"{t} {report.tiers[t]}" for t in ("A", "B", "C", "D", "DQ"))
    skipped = f"; {len(report.errors)} row(s) skipped" if report.errors else ""
    err.print(f"scored {report.scored:,} rows ({tiers}){skipped}", highlight=False)
    return 1 if report.errors else 0


def _write(
    rows: Iterator[tuple[CsvRow, AccountScore | None]], *, as_json: bool, output: Path | None
) -> BatchReport:
    if output is not None:
        with output.open("w", newline="", encoding="utf-8") as handle:
            return run(rows, on_score=CsvWriter(handle))
    if as_json:
        out = sys.stdout.buffer
        report = run(rows, on_score=json_writer(out))
        out.flush()
        return report
    return run(rows, on_score=_print_line)


def _print_line(row: CsvRow, score: AccountScore | None) -> None:
    if score is None or row.record is None:
        return
    sys.stdout.write(
        f"{row.record.domain or row.record.crm_id:<32} {score.score:>3} {score.tier.value:<2} "
        f"{score.profile_id or '-':<24} coverage {round(score.coverage * 100):>3}%\n"
    )
