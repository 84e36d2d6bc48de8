"""Scoring a whole list on DuckDB (SPEC §13): CSV or Parquet in; JSON lines, CSV, Parquet
or the market's summary out.

One query does it all, streamed by DuckDB over the file in constant memory:
the cells as text (`raw`), typed as the CSV reader types them (`canonical`,
see `canonical.py`), then the ICP compiled once by `scoring.sql.list_sql`
into statuses, profile scores, the verdict and its reasons (`scored`). Its
results are the per-record engine's, row for row; the engine stays the
reference, and a property test holds the two equal.

A row the reader would refuse (a headcount of `abc`, no domain) is scored
by nobody: it is named in the run's errors with its line and kept, with
empty score cells and its problem in `icp_error`, in an output file. Rows
DuckDB's CSV reader cannot read at all (a broken quote, too many cells) are
named from its reject table.

No query numbers its rows: DuckDB numbers rows (a window, `WITH
ORDINALITY`) on one thread only, and everything in the pipeline with it
then runs on that thread. Rows are found by their place in what a query
returns in order instead (`preserve_insertion_order`): counted as they are
fetched, or read back with `file_row_number` from Parquet written in order.
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

from bot.lists.canonical import KEY, Canonical, blank_row
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
    "icp_error",  # empty, or why the row was not scored
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
    return f"SELECT * FROM {read}"


def _read_parquet(source: Source, path: str) -> str:
    return f"SELECT {_parquet_cells(source)} FROM read_parquet({path})"


def _parquet_cells(source: Source) -> str:
    """Each Parquet column as the text a CSV would hold (lists `;`-joined), named as
    `source.cells` names them: a select list."""
    db = duckdb.connect()
    try:
        kinds = db.execute(
            f"DESCRIBE SELECT * FROM read_parquet({literal(str(source.path))})"
        ).fetchall()
    finally:
        db.close()
    cells = []
    for (name, kind, *_), cell in zip(kinds, source.cells, strict=True):
        value = column(str(name))
        if str(kind).endswith("[]"):  # a list: its items as CSV gives them
            cells.append(f"array_to_string({value}, ';') AS {cell}")
        else:
            cells.append(f"CAST({value} AS VARCHAR) AS {cell}")
    return ", ".join(cells)


@dataclass(frozen=True, slots=True)
class _Plan:
    db: duckdb.DuckDBPyConnection
    source: Source
    spill: Path  # DuckDB's temporary directory, and this run's scratch files


def _prepare(
    db: duckdb.DuckDBPyConnection,
    source: Source,
    icp: Icp,
    types: Mapping[str, FieldType],
    now: datetime,
    spill: Path,
) -> _Plan:
    db.execute(f"CREATE TEMP VIEW raw AS {_read(source)}")
    canonical = Canonical(db, types).select(source.columns, source.cells, "raw")
    db.execute(f"CREATE TEMP VIEW canonical AS {canonical}")
    db.execute(f"CREATE TEMP VIEW scored AS {list_sql(icp, types, table='canonical', now=now)}")
    return _Plan(db, source, spill)


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
            plan = _prepare(db, source, icp, types, now, Path(spill))
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
        run.errors = _named(plan, _in_order(plan, "SELECT icp_problem FROM canonical"))
    return run


def _in_order(plan: _Plan, query: str) -> list[tuple[int, str]]:
    """(place, value) of each non-NULL value of a one-column `query`, places counted from 0
    in the order it returns rows: written to Parquet in that order (on every thread),
    then read back with each row's number in the file."""
    path = literal(str(plan.spill / "in-order.parquet"))
    plan.db.execute(f"COPY ({query}) TO {path} (FORMAT PARQUET)")
    found = plan.db.execute(
        f"SELECT * FROM (SELECT file_row_number, COLUMNS(* EXCLUDE file_row_number) "
        f"FROM read_parquet({path}, file_row_number = true)) AS t(place, value) "
        "WHERE value IS NOT NULL ORDER BY place"
    ).fetchall()
    return [(int(place), str(value)) for place, value in found]


def _write(plan: _Plan, path: Path, output: Output) -> ListRun:
    """Input columns as read (but any of `OUTPUT_COLUMNS`' names: this run's verdict
    replaces them), then the verdict; a refused row has empty score cells and its
    problem in `icp_error`.

    One pass: DuckDB scores the rows as it writes the file, on every thread and
    in file order; the tiers, and where the refused rows are, are then read
    back from the file's own `icp_tier` and `icp_error` columns.
    """
    good = "icp_problem IS NULL"
    verdict = [
        f"CASE WHEN {good} THEN icp_score END AS icp_score",
        f"CASE WHEN {good} THEN icp_tier END AS icp_tier",
        f"CASE WHEN {good} THEN icp_profile END AS icp_profile",
        f"CASE WHEN {good} THEN icp_coverage_shown END AS icp_coverage",
        f"CASE WHEN {good} THEN icp_disqualified_by END AS icp_disqualified_by",
        f"CASE WHEN {good} THEN icp_reasons END AS icp_reasons",
        "icp_problem AS icp_error",
    ]
    named = [
        f"{cell} AS {column(name)}"
        for cell, name in zip(plan.source.cells, kept_names(plan.source.header), strict=True)
        if name is not None
    ]
    target = literal(str(path))
    if output is Output.PARQUET:
        form = "FORMAT PARQUET"
        written = f"read_parquet({target}, file_row_number = true)"
        place = "file_row_number"
    else:
        form = "FORMAT CSV, HEADER true"
        written = (
            f"read_csv({target}, header = true, all_varchar = true, "
            f"max_line_size = {MAX_LINE_BYTES})"
        )
        place = "row_number() OVER () - 1"  # on one thread, and only when a row was refused
    plan.db.execute(
        f"COPY (SELECT {', '.join([*named, *verdict])} FROM scored) TO {target} ({form})"
    )
    tiers = plan.db.execute(f"SELECT icp_tier, count(*) FROM {written} GROUP BY 1").fetchall()
    run = ListRun(tiers=Counter({str(t): int(n) for t, n in tiers if t is not None}))
    run.scored = sum(run.tiers.values())
    if any(t is None for t, _ in tiers):
        found = plan.db.execute(
            f"SELECT * FROM (SELECT {place} AS place, icp_error FROM {written}) "
            "WHERE icp_error IS NOT NULL ORDER BY place"
        ).fetchall()
        run.errors = _named(plan, [(int(place), str(error)) for place, error in found])
    return run


def kept_names(header: Sequence[str]) -> list[str | None]:
    """Header names as output columns: None for a name of `OUTPUT_COLUMNS` (the file was
    scored before: this run's verdict replaces that one), `_2`, `_3`... after a name
    seen before, so every output column has a name of its own."""
    ours = frozenset(name.lower() for name in OUTPUT_COLUMNS)  # DuckDB ignores case
    taken = set(ours)
    names: list[str | None] = []
    for name in header:
        if name.lower() in ours:
            names.append(None)
            continue
        unique, copy = name, 1
        while unique.lower() in taken:
            copy += 1
            unique = f"{name}_{copy}"
        taken.add(unique.lower())
        names.append(unique)
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
    cursor = plan.db.execute(f"SELECT icp_problem, icp_tier, {line} FROM scored")
    run = ListRun()
    refused = []
    place = 0  # rows arrive in file order: counted here, not numbered by DuckDB
    while batch := cursor.fetchmany(BATCH_ROWS):
        lines = []
        for problem, tier, text in batch:
            if problem is not None:
                refused.append((place, problem))
            else:
                run.tiers[tier] += 1
                lines.append(text)
            place += 1
        if lines:
            out.write(("\n".join(lines) + "\n").encode())
    run.scored = sum(run.tiers.values())
    run.errors = _named(plan, refused)
    return run


def _named(plan: _Plan, found: Sequence[tuple[int, str]]) -> list[RowError]:
    """Refused rows as errors, each named by its line in the file (its row, in Parquet);
    `found`: (place, problem), places counted from 0 among the rows scored."""
    if not found:
        return []
    lines = line_numbers(plan, [place for place, _ in found])
    source = str(plan.source.path)
    return [RowError(source, lines[place], problem) for place, problem in found]


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


def line_numbers(plan: _Plan, places: Sequence[int]) -> dict[int, int]:
    """The line in the file of each of these rows, by its place (from 0) among the rows
    scored: the rows read, less the blank ones (every cell empty), as `canonical` keeps
    them.

    A CSV whose every record is one line, with no blank or unreadable lines or
    blank rows, has record N on line N + 1. Otherwise the file is read once more
    with Python's CSV reader, as the per-record path reads it, to find the line
    where each record ends. In Parquet, a row's number is its line.
    """
    if plan.source.parquet:
        return _parquet_rows(plan, places)
    records = plan.db.execute("SELECT count(*) FROM raw").fetchall()[0][0]
    rejected = plan.db.execute("SELECT count(DISTINCT line) FROM reject_errors").fetchall()[0][0]
    blank = plan.db.execute(
        f"SELECT count(*) FROM raw WHERE {blank_row(plan.source.cells)}"
    ).fetchall()[0][0]
    if not rejected and not blank and _newlines(plan.source.path) == records + 1:
        return {place: place + 2 for place in places}
    wanted = set(places)
    found: dict[int, int] = {}
    width = len(plan.source.header)
    with plan.source.path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.reader(handle)
        next(reader, None)
        place = 0
        for cells in reader:
            if len(cells) != width or all(not c or c.isspace() for c in cells):
                continue  # a blank line or row, or a row DuckDB's reader rejected
            if place in wanted:
                found[place] = reader.line_num
                if len(found) == len(wanted):
                    break
            place += 1
    return found


def _parquet_rows(plan: _Plan, places: Sequence[int]) -> dict[int, int]:
    """Rows of a Parquet file by place among the rows scored: blank rows skipped."""
    path = literal(str(plan.source.path))
    cells = _parquet_cells(plan.source)
    numbered = f"SELECT file_row_number, {cells} FROM read_parquet({path}, file_row_number = true)"
    blanks = [
        int(row)
        for (row,) in plan.db.execute(
            f"SELECT file_row_number FROM ({numbered}) "
            f"WHERE {blank_row(plan.source.cells)} ORDER BY 1"
        ).fetchall()
    ]
    found: dict[int, int] = {}
    skipped = 0
    for place in sorted(places):  # the n-th row kept is row n + the blank rows before it
        while skipped < len(blanks) and blanks[skipped] <= place + skipped:
            skipped += 1
        found[place] = place + skipped + 1
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
