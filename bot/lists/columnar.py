"""Scoring a whole list on DuckDB (SPEC §13): CSV or Parquet in; JSON lines, CSV, Parquet
or the market's summary out.

One query does it all, streamed by DuckDB over the file in constant memory:
the cells as text (`raw`), typed as the CSV reader types them (`canonical`,
see `canonical.py`), then the ICP compiled once by `scoring.sql.list_sql`
into statuses, profile scores, the verdict and its reasons (`scored`). Its
results are the per-record engine's, row for row; the engine stays the
reference, and a property test holds the two equal.

A row the reader would refuse (a headcount of `abc`, no domain) is scored
by nobody: it is named in the run's errors with its row number and kept,
with empty score cells, in an output file. Rows DuckDB's CSV reader cannot
read at all (a broken quote, too many cells) are named from its reject
table.
"""

from __future__ import annotations

import csv
import os
import tempfile
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import IO

import duckdb
from duckdb import func, sqltypes

from bot.lists.canonical import KEY, Canonical
from bot.lists.market import Market, market_of
from integrations.base import RowError
from integrations.csv import RowReader, canonical_columns
from integrations.records import RecordKind
from scoring.fields import FieldType
from scoring.model import Icp
from scoring.sql import column, list_sql, literal

OUTPUT_COLUMNS = (
    "icp_score",
    "icp_tier",
    "icp_profile",
    "icp_coverage",
    "icp_disqualified_by",
    "icp_reasons",
)
MEMORY_LIMIT = "1GB"  # DuckDB's own; it spills to a temporary directory beyond it
BATCH_ROWS = 20_000
# A real export can hold a long notes cell; DuckDB's default (2 MB a line) would refuse it.
# Its read buffers grow with this limit, so it stays well under the memory limit.
MAX_LINE_BYTES = 16 * 1024 * 1024


class Output(StrEnum):
    JSON = "json"
    CSV = "csv"
    PARQUET = "parquet"
    TEXT = "text"
    SUMMARY = "summary"


def is_parquet(path: Path) -> bool:
    return path.suffix.lower() == ".parquet"


@dataclass(slots=True)
class ListRun:
    """What a run did: rows scored per tier, every row it could not read, the market."""

    scored: int = 0
    tiers: Counter[str] = field(default_factory=Counter)
    errors: list[RowError] = field(default_factory=list)
    market: Market | None = None


@dataclass(frozen=True, slots=True)
class Source:
    """A list file: its header as written, and the canonical field each column holds."""

    path: Path
    header: list[str]
    columns: list[str]
    parquet: bool

    @property
    def cells(self) -> list[str]:
        """The SQL names of its text cells, by position: headers can be anything."""
        return [f"icp_cell_{index}" for index in range(len(self.header))]


def open_source(path: Path, header: list[str], types: Mapping[str, FieldType]) -> Source:
    """The file's columns, checked as the CSV reader checks them (a key column is needed)."""
    RowReader(header, source=str(path), kind=RecordKind.ACCOUNT, types=types)
    columns = canonical_columns(header, {*types, KEY})
    return Source(path, header, columns, is_parquet(path))


def parquet_header(path: Path) -> list[str]:
    db = duckdb.connect()
    try:
        found = db.execute(f"DESCRIBE SELECT * FROM read_parquet({literal(str(path))})").fetchall()
    finally:
        db.close()
    return [str(row[0]) for row in found]


def _connect(threads: int | None, spill: str) -> duckdb.DuckDBPyConnection:
    db = duckdb.connect(
        config={
            "threads": threads or os.cpu_count() or 1,
            "memory_limit": MEMORY_LIMIT,
            "temp_directory": spill,
            "preserve_insertion_order": True,
        }
    )
    db.execute("SET TimeZone = 'UTC'")
    # DuckDB would draw its progress bar on stdout, amid the JSON lines a script reads.
    db.execute("SET enable_progress_bar = false")  # the engine's clock; naive times are UTC
    return db


def _read(source: Source) -> str:
    """The file as text cells, one row a record, numbered as the reader numbers rows."""
    path = literal(str(source.path))
    if source.parquet:
        return _read_parquet(source, path)
    types = ", ".join(f"{literal(c)}: 'VARCHAR'" for c in source.cells)
    read = (
        f"read_csv({path}, header = true, delim = ',', quote = '\"', escape = '\"', "
        f"auto_detect = false, columns = {{{types}}}, store_rejects = true, "
        f"strict_mode = true, null_padding = false, max_line_size = {MAX_LINE_BYTES})"
    )
    # The header is row 1, as a spreadsheet and the CSV reader count.
    return f"SELECT row_number() OVER () + 1 AS icp_row, * FROM {read}"


def _read_parquet(source: Source, path: str) -> str:
    db = duckdb.connect()
    try:
        kinds = db.execute(f"DESCRIBE SELECT * FROM read_parquet({path})").fetchall()
    finally:
        db.close()
    cells = []
    for (name, kind, *_), cell in zip(kinds, source.cells, strict=True):
        value = column(str(name))
        if str(kind).endswith("[]"):  # a list: its items as CSV gives them
            text = f"array_to_string({value}, ';')"
        else:
            text = f"CAST({value} AS VARCHAR)"
        cells.append(f"{text} AS {cell}")
    # Parquet has no header row: its first record is row 1.
    return f"SELECT row_number() OVER () AS icp_row, {', '.join(cells)} FROM read_parquet({path})"


@dataclass(frozen=True, slots=True)
class _Plan:
    db: duckdb.DuckDBPyConnection
    source: Source


def _prepare(
    db: duckdb.DuckDBPyConnection,
    source: Source,
    icp: Icp,
    types: Mapping[str, FieldType],
    now: datetime,
) -> _Plan:
    db.execute(f"CREATE TEMP VIEW raw AS {_read(source)}")
    canonical = Canonical(db, types).select(source.columns, source.cells, "raw")
    db.execute(f"CREATE TEMP VIEW canonical AS {canonical}")
    db.execute(f"CREATE TEMP VIEW scored AS {list_sql(icp, types, table='canonical', now=now)}")
    return _Plan(db, source)


def score_list(
    source: Source,
    *,
    icp: Icp,
    types: Mapping[str, FieldType],
    now: datetime,
    output: Output,
    out: IO[bytes] | None = None,
    out_path: Path | None = None,
    threads: int | None = None,
) -> ListRun:
    """Score every row of `source`; write `output` to the stream `out` (JSON lines, text)
    or the file `out_path` (CSV, Parquet); a summary is returned, not written."""
    with tempfile.TemporaryDirectory(prefix="icpbot-list-") as spill:
        db = _connect(threads, spill)
        try:
            plan = _prepare(db, source, icp, types, now)
            if output is Output.SUMMARY:
                run = _summary(plan)
            elif output in (Output.CSV, Output.PARQUET):
                assert out_path is not None
                run = _write(plan, out_path, output)
            else:
                assert out is not None
                run = _stream(plan, output, out)
            run.errors += _rejects(plan)
            run.errors.sort(key=lambda e: e.row)
            return run
        finally:
            db.close()


def _summary(plan: _Plan) -> ListRun:
    market = market_of(plan.db, "scored")
    run = ListRun(market.scored, market.tiers, market=market)
    if market.refused:  # named by a second pass, over the rows alone: no scoring
        found = plan.db.execute(
            "SELECT icp_row, icp_problem FROM canonical WHERE icp_problem IS NOT NULL"
        ).fetchall()
        run.errors = _named(plan, found)
    return run


class _Refused:
    """Collects the rows a single `COPY` refuses, as DuckDB writes the file: called only for
    them, from the expression of their (empty) `icp_score` cell."""

    def __init__(self) -> None:
        self.rows: list[tuple[int, str]] = []

    def __call__(self, row: int, problem: str) -> None:
        self.rows.append((row, problem))


def _write(plan: _Plan, path: Path, output: Output) -> ListRun:
    """Input columns as read, then the verdict; a refused row keeps empty score cells.

    One pass: the rows are scored as DuckDB writes the file, the refused ones
    noted on the way; the tiers are then counted from the file's own
    `icp_tier` column, a cheap read of what was just written.
    """
    refused = _Refused()
    plan.db.create_function(
        "icp_refused",
        refused,
        [sqltypes.BIGINT, sqltypes.VARCHAR],
        sqltypes.INTEGER,
        side_effects=True,
        null_handling=func.SPECIAL,
    )
    good = "icp_problem IS NULL"
    verdict = [
        f"CASE WHEN {good} THEN icp_score ELSE icp_refused(icp_row, icp_problem) END AS icp_score",
        f"CASE WHEN {good} THEN icp_tier END AS icp_tier",
        f"CASE WHEN {good} THEN icp_profile END AS icp_profile",
        f"CASE WHEN {good} THEN icp_coverage_shown END AS icp_coverage",
        f"CASE WHEN {good} THEN icp_disqualified_by END AS icp_disqualified_by",
        f"CASE WHEN {good} THEN icp_reasons END AS icp_reasons",
    ]
    named = [
        f"{cell} AS {column(name)}"
        for cell, name in zip(plan.source.cells, _unique(plan.source.header), strict=True)
    ]
    target = literal(str(path))
    if output is Output.PARQUET:
        form, written = "FORMAT PARQUET", f"read_parquet({target})"
    else:
        form = "FORMAT CSV, HEADER true"
        written = (
            f"read_csv({target}, header = true, all_varchar = true, "
            f"max_line_size = {MAX_LINE_BYTES})"
        )
    plan.db.execute(
        f"COPY (SELECT {', '.join([*named, *verdict])} FROM scored) TO {target} ({form})"
    )
    tiers = plan.db.execute(
        f"SELECT icp_tier, count(*) FROM {written} WHERE icp_tier IS NOT NULL GROUP BY 1"
    ).fetchall()
    run = ListRun(tiers=Counter({str(t): int(n) for t, n in tiers}))
    run.scored = sum(run.tiers.values())
    run.errors = _named(plan, sorted(refused.rows))
    return run


def _unique(header: Sequence[str]) -> list[str]:
    """Header names as output columns: a name seen before gets `_2`, `_3`, ..."""
    seen: Counter[str] = Counter()
    names = []
    for name in header:
        seen[name] += 1
        names.append(name if seen[name] == 1 else f"{name}_{seen[name]}")
    return names


def _stream(plan: _Plan, output: Output, out: IO[bytes]) -> ListRun:
    """JSON lines (SPEC §9's shape) or a line of text per scored row, in file order."""
    if output is Output.JSON:
        line = (
            "to_json({'domain': domain, 'score': icp_score, 'tier': icp_tier, "
            "'profile': icp_profile, 'coverage': icp_coverage_shown, "
            "'disqualified_by': icp_disqualified_by, 'criteria': icp_criteria})::VARCHAR"
        )
    else:
        line = (
            "format('{:<32} {:>3} {:<2} {:<24} coverage {:>3}%', domain, icp_score, icp_tier, "
            "COALESCE(icp_profile, '-'), icp_coverage_percent)"
        )
    cursor = plan.db.execute(f"SELECT icp_row, icp_problem, icp_tier, {line} FROM scored")
    run = ListRun()
    refused = []
    while batch := cursor.fetchmany(BATCH_ROWS):
        lines = []
        for row, problem, tier, text in batch:
            if problem is not None:
                refused.append((row, problem))
                continue
            run.tiers[tier] += 1
            lines.append(text)
        if lines:
            out.write(("\n".join(lines) + "\n").encode())
    run.scored = sum(run.tiers.values())
    run.errors = _named(plan, refused)
    return run


def _named(plan: _Plan, found: Sequence[tuple[int, str]]) -> list[RowError]:
    """Refused rows as errors, each named by its line in the file."""
    if not found:
        return []
    lines = line_numbers(plan, [row for row, _ in found])
    source = str(plan.source.path)
    return [RowError(source, lines.get(row, row), problem) for row, problem in found]


def _rejects(plan: _Plan) -> list[RowError]:
    """Lines DuckDB's CSV reader could not read at all, said as the CSV reader says them."""
    if plan.source.parquet:
        return []
    found = plan.db.execute(
        "SELECT DISTINCT line_byte_position, error_type, csv_line, error_message "
        "FROM reject_errors ORDER BY 1"
    ).fetchall()
    lines = _lines_at(plan.source.path, sorted({int(row[0]) for row in found}))
    width = len(plan.source.header)
    errors: dict[int, RowError] = {}
    for offset, kind, text, message in found:
        line = lines[int(offset)]
        if line in errors:
            continue
        if kind in ("TOO MANY COLUMNS", "MISSING COLUMNS"):
            cells = next(csv.reader([str(text)]), [])
            problem = f"has {len(cells)} cells, the header has {width}"
        else:
            problem = f"cannot be read as CSV ({message}): skipped"
        errors[line] = RowError(str(plan.source.path), line, problem)
    return list(errors.values())


def _lines_at(path: Path, offsets: Sequence[int]) -> dict[int, int]:
    """The line (from 1) each byte offset of the file is on; `offsets` ascending."""
    found: dict[int, int] = {}
    if not offsets:
        return found
    pending = list(offsets)
    lines, start = 1, 0
    with path.open("rb") as handle:
        while pending and (chunk := handle.read(1 << 24)):
            while pending and pending[0] < start + len(chunk):
                found[pending[0]] = lines + chunk.count(b"\n", 0, pending[0] - start)
                pending.pop(0)
            lines += chunk.count(b"\n")
            start += len(chunk)
    found.update(dict.fromkeys(pending, lines))
    return found


def line_numbers(plan: _Plan, rows: Sequence[int]) -> dict[int, int]:
    """The line in the file of each of these records (numbered as `raw` numbers them).

    Records count from the header's row 1; a file whose every record is one line
    without blank lines or unreadable ones between has records on those lines.
    Otherwise the file is read once more with Python's CSV reader, as the
    per-record path reads it, to find the line where each record ends.
    """
    if plan.source.parquet:
        return {row: row for row in rows}
    records = plan.db.execute("SELECT count(*) FROM raw").fetchall()[0][0]
    rejected = plan.db.execute("SELECT count(DISTINCT line) FROM reject_errors").fetchall()[0][0]
    if not rejected and _newlines(plan.source.path) == records + 1:
        return {row: row for row in rows}
    wanted = set(rows)
    found: dict[int, int] = {}
    width = len(plan.source.header)
    with plan.source.path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.reader(handle)
        next(reader, None)
        record = 1
        for cells in reader:
            if not cells or len(cells) != width:
                continue  # a blank line, or a row DuckDB's reader rejected
            record += 1
            if record in wanted:
                found[record] = reader.line_num
                if len(found) == len(wanted):
                    break
    return found


def _newlines(path: Path) -> int:
    """Lines in the file, the last one counted whether or not a newline ends it."""
    count = 0
    last = b"\n"
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 24):
            count += chunk.count(b"\n")
            last = chunk[-1:]
    return count + (last != b"\n")
