"""Scoring a CSV file: JSON lines, an annotated CSV, or a line per row.

Rows stream from the file in chunks; each chunk is read, scored and
rendered to output text by a worker process (one per core), and the results
are written in file order. At most a few chunks are in flight, so memory
stays flat whatever the file size. Bad rows are named and kept (with empty
score cells in an output CSV), never silently dropped.
"""

from __future__ import annotations

import csv
import difflib
import io
import os
import sys
from collections import Counter, deque
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from pathlib import Path
from typing import IO

import orjson
import yaml
from more_itertools import chunked
from rich.console import Console

from bot.cli.rows import print_row_errors
from bot.config import Config
from bot.views.common import counted
from integrations.base import RowError
from integrations.csv import (
    CsvFormatError,
    CsvRow,
    Numbered,
    RowReader,
    Unreadable,
    canonical_columns,
    numbered_rows,
    open_csv,
    plain_column,
    separator_hint,
)
from integrations.records import RecordKind
from scoring.engine import Scorer
from scoring.fields import FieldType
from scoring.model import Icp
from scoring.result import AccountScore
from scoring.serialize import summary

OUTPUT_COLUMNS = ("icp_score", "icp_tier", "icp_profile", "icp_coverage", "icp_reasons")
CHUNK_ROWS = 2000
PARALLEL_MIN_BYTES = 1_000_000  # below this, starting workers costs more than it saves


class Output(StrEnum):
    JSON = "json"
    CSV = "csv"
    TEXT = "text"


@dataclass(slots=True)
class BatchReport:
    """What a run did: rows scored per tier, and every row it could not read."""

    scored: int = 0
    tiers: Counter[str] = field(default_factory=Counter)
    errors: list[RowError] = field(default_factory=list)

    def add(self, other: BatchReport) -> None:
        self.scored += other.scored
        self.tiers.update(other.tiers)
        self.errors.extend(other.errors)


@dataclass(slots=True)
class _Job:
    """What a worker needs to score chunks of one file."""

    config: Config
    header: list[str]
    source: str
    now: datetime
    output: Output


class _Scorer:
    """Scores chunks of rows and renders them; one per process."""

    def __init__(self, job: _Job) -> None:
        self.job = job
        self.scorer = Scorer(job.config.icp)
        self.reader = RowReader(
            job.header, source=job.source, kind=RecordKind.ACCOUNT, types=job.config.fields.types
        )

    def chunk(self, rows: list[Numbered]) -> tuple[bytes, BatchReport]:
        report = BatchReport()
        out = io.StringIO() if self.job.output is not Output.JSON else None
        writer = csv.writer(out) if out is not None and self.job.output is Output.CSV else None
        lines: list[bytes] = []
        for number, cells in rows:
            row = self.reader.row(number, cells)
            score = None
            if row.record is not None:
                score = self.scorer.score_account(row.record.fields, self.job.now)
                report.scored += 1
                report.tiers[score.tier.value] += 1
            elif row.error is not None:
                report.errors.append(row.error)
            if isinstance(cells, Unreadable):
                continue  # no cells to carry over; its error is reported with the others
            if writer is not None:
                writer.writerow([*cells, *output_cells(score)])
            elif out is not None:
                out.write(_text_line(row, score))
            elif score is not None and row.record is not None:
                lines.append(orjson.dumps(summary(score, domain=row.record.domain)))
        if out is not None:
            return out.getvalue().encode(), report
        return b"".join(line + b"\n" for line in lines), report


_WORKER: _Scorer | None = None


def _start_worker(job: _Job) -> None:
    global _WORKER
    _WORKER = _Scorer(job)


def _score_in_worker(rows: list[Numbered]) -> tuple[bytes, BatchReport]:
    assert _WORKER is not None
    return _WORKER.chunk(rows)


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


def _text_line(row: CsvRow, score: AccountScore | None) -> str:
    if score is None or row.record is None:
        return ""
    return (
        f"{row.record.domain or row.record.crm_id:<32} {score.score:>3} {score.tier.value:<2} "
        f"{score.profile_id or '-':<24} coverage {round(score.coverage * 100):>3}%\n"
    )


def _in_order_parallel(
    job: _Job, chunks: Iterator[list[Numbered]], workers: int
) -> Iterator[tuple[bytes, BatchReport]]:
    """Results in file order, with at most two chunks per worker in flight."""
    with ProcessPoolExecutor(workers, initializer=_start_worker, initargs=(job,)) as pool:
        pending: deque[Future[tuple[bytes, BatchReport]]] = deque()
        for chunk in chunks:
            pending.append(pool.submit(_score_in_worker, chunk))
            if len(pending) >= 2 * workers:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


def score_csv(
    path: Path,
    *,
    config: Config,
    now: datetime,
    output: Output,
    out: IO[bytes],
    jobs: int | None = None,
) -> BatchReport:
    """Score every row of `path` and write the rendered output to `out`, in file order."""
    report = BatchReport()
    with open_csv(path) as handle:
        header, rows = numbered_rows(handle, source=str(path))
        job = _Job(config, header, str(path), now, output)
        scorer = _Scorer(job)  # validates the header before any worker starts
        if output is Output.CSV:
            text = io.StringIO()
            csv.writer(text).writerow([*header, *OUTPUT_COLUMNS])
            out.write(text.getvalue().encode())
        workers = jobs or os.cpu_count() or 1
        chunks = chunked(rows, CHUNK_ROWS)
        if workers > 1 and path.stat().st_size >= PARALLEL_MIN_BYTES:
            results: Iterable[tuple[bytes, BatchReport]] = _in_order_parallel(job, chunks, workers)
        else:
            results = (scorer.chunk(chunk) for chunk in chunks)
        for data, chunk_report in results:
            out.write(data)
            report.add(chunk_report)
    return report


MANIFEST = "manifest.yaml"


def export_date(path: Path) -> date | None:
    """The `as_of` date of the `manifest.yaml` beside an export, if there is one."""
    manifest = path.parent / MANIFEST
    try:
        found = yaml.safe_load(manifest.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return None
    day = found.get("as_of") if isinstance(found, dict) else None
    return day if isinstance(day, date) else None


def column_notes(header: Sequence[str], icp: Icp, types: Mapping[str, FieldType]) -> list[str]:
    """What the header means for the scores, said once before any row: a column icpbot does
    not read (with a did-you-mean for a likely typo), and a field the ICP scores that no
    column holds, with the coverage it costs on every row."""
    if separator_hint(header):
        return []  # the file's error says why no column was found
    columns = canonical_columns(header, {*types, "domain"})
    notes = []
    read_as = [
        f"{h.strip()!r} as {c}"
        for h, c in zip(header, columns, strict=True)
        if plain_column(h) != c
    ]
    if read_as:
        notes.append(f"columns read as the fields they hold: {', '.join(read_as)}")
    unread = [c for c in columns if c and c not in types]
    for column in unread:
        close = difflib.get_close_matches(column, list(types), n=1, cutoff=0.75)
        if close and close[0] not in columns:
            notes.append(
                f"column {column!r} is not a field icpbot reads: did you mean {close[0]!r}?"
            )
    others = [c for c in unread if not any(repr(c) in n for n in notes)]
    if others:
        notes.append(f"columns not read (not fields icpbot knows): {', '.join(others)}")
    missing = sorted(_coverage_without(columns, icp).items(), key=lambda item: -item[1])
    if missing:
        named = ", ".join(f"{name} ({cost:.0%})" for name, cost in missing)
        notes.append(
            f"no column for {counted(len(missing), 'field')} the ICP scores, so their criteria are "
            f"unknown on every row (up to this share of a profile's coverage): {named}"
        )
    return notes


def _coverage_without(columns: Sequence[str], icp: Icp) -> dict[str, float]:
    """Each field the ICP's profiles score and no column holds: the largest share of a
    profile's positive weight it carries."""
    cost: dict[str, float] = {}
    for profile in icp.profiles:
        total = sum(c.weight for c in profile.criteria if c.weight > 0) or 1
        for criterion in profile.criteria:
            if criterion.weight > 0 and criterion.field not in columns:
                share = (
                    sum(
                        c.weight
                        for c in profile.criteria
                        if c.field == criterion.field and c.weight > 0
                    )
                    / total
                )
                cost[criterion.field] = max(cost.get(criterion.field, 0.0), share)
    return cost


def score_file(
    path: Path,
    *,
    config: Config,
    now: datetime,
    as_json: bool,
    output: Path | None,
    err: Console,
    jobs: int | None = None,
    errors_to: Path | None = None,
    pinned: bool = False,
) -> int:
    """The `icpbot score FILE.csv` command: name bad rows, score the rest; 1 if any was bad.

    `pinned`: the user chose the moment (`--as-of`); else a dated export
    (a `manifest.yaml` beside it, as the sample has) is scored as of now and
    the note says why its time-based results can differ from that date's.
    """
    if not path.is_file():
        err.print(f"[red]error[/red] {path}: no such file")
        return 1
    dated = None if pinned else export_date(path)
    if dated is not None and dated != now.date():
        err.print(
            f"[yellow]note[/yellow] {path.parent / MANIFEST} dates this export {dated}; it is "
            f"scored as of {now.date()}, so time-based criteria (within_days) can differ from "
            f"what that day's scores said (`icpbot demo` scores the sample as of {dated}). "
            f"Add --as-of {dated} to score it as of that day.",
            soft_wrap=True,
            highlight=False,
        )
    mode = Output.CSV if output else Output.JSON if as_json else Output.TEXT
    with open_csv(path) as handle:
        header = next(csv.reader(handle), [])
    for note in column_notes(header, config.icp, config.fields.types):
        err.print(f"[yellow]note[/yellow] {note}", soft_wrap=True, highlight=False)
    try:
        if output is not None:
            with output.open("wb") as handle:
                report = score_csv(path, config=config, now=now, output=mode, out=handle, jobs=jobs)
        else:
            stdout = sys.stdout.buffer
            report = score_csv(path, config=config, now=now, output=mode, out=stdout, jobs=jobs)
            stdout.flush()
    except CsvFormatError as exc:
        err.print(f"[red]error[/red] {exc}", soft_wrap=True)
        return 1
    print_row_errors(report.errors, err=err, to=errors_to)
    tiers = ", ".join(f"{t} {report.tiers[t]:,}" for t in ("A", "B", "C", "D", "DQ"))
    skipped = f"; {counted(len(report.errors), 'row')} skipped" if report.errors else ""
    err.print(f"scored {counted(report.scored, 'row')} ({tiers}){skipped}", highlight=False)
    return 1 if report.errors else 0
