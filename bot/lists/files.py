"""`icpbot score FILE`: a CSV or Parquet list, scored on the columnar path.

What the command says around the scoring lives here: a note on columns it
does not read and fields no column holds (said once, before any row), a
note on a dated export, the bad rows named, and the tiers counted. The
scoring itself is `columnar.py`; the market summary is `market.py`, shown
as `bot.views.market` writes it.
"""

from __future__ import annotations

import csv
import difflib
import sys
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from pathlib import Path

import duckdb
import orjson
import yaml
from rich.console import Console

from bot.cli.rows import print_row_errors
from bot.config import Config
from bot.lists.columnar import (
    ListRun,
    Output,
    is_parquet,
    kept_names,
    open_source,
    parquet_header,
    score_list,
)
from bot.views.common import counted
from bot.views.market import market_lines
from integrations.csv import (
    CsvFormatError,
    canonical_columns,
    open_csv,
    plain_column,
    separator_hint,
)
from scoring.fields import FieldType
from scoring.model import Icp

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
    summary: bool = False,
) -> int:
    """The `icpbot score FILE` command: name bad rows, score the rest; 1 if any was bad.

    `pinned`: the user chose the moment (`--as-of`); else a dated export
    (a `manifest.yaml` beside it, as the sample has) is scored as of now and
    the note says why its time-based results can differ from that date's.
    """
    if not path.is_file():
        err.print(f"[red]error[/red] {path}: no such file")
        return 1
    if summary and output is not None:
        err.print(
            "[red]error[/red] --summary prints the market; -o writes every row: "
            "choose one (run the command twice for both)"
        )
        return 1
    _note_dated_export(path, now, pinned, err)
    try:
        header = parquet_header(path) if is_parquet(path) else _csv_header(path)
    except (OSError, UnicodeDecodeError, duckdb.Error) as exc:
        err.print(f"[red]error[/red] {path}: cannot be read ({exc})", soft_wrap=True)
        return 1
    if not header:
        err.print(f"[red]error[/red] {path}: empty file, expected a header row")
        return 1
    for note in column_notes(header, config.icp, config.fields.types):
        err.print(f"[yellow]note[/yellow] {note}", soft_wrap=True, highlight=False)
    try:
        source = open_source(path, header, config.fields.types)
    except CsvFormatError as exc:
        err.print(f"[red]error[/red] {exc}", soft_wrap=True)
        return 1
    mode = _mode(output, as_json=as_json, summary=summary)
    replaced = [name for name, kept in zip(header, kept_names(header), strict=True) if not kept]
    if output is not None and replaced:
        err.print(
            f"[yellow]note[/yellow] {', '.join(replaced)}: scored before; "
            f"{output} has this run's columns of these names instead",
            soft_wrap=True,
            highlight=False,
        )
    run = score_list(
        source,
        icp=config.icp,
        types=config.fields.types,
        now=now,
        output=mode,
        out=None if output is not None or summary else sys.stdout.buffer,
        out_path=output,
        threads=jobs,
    )
    sys.stdout.flush()
    if run.market is not None:
        _print_market(run, config.icp, now, as_json=as_json)
    print_row_errors(run.errors, err=err, to=errors_to)
    tiers = ", ".join(f"{t} {run.tiers[t]:,}" for t in ("A", "B", "C", "D", "DQ"))
    skipped = f"; {counted(len(run.errors), 'row')} skipped" if run.errors else ""
    written = f"; every row read is in {output}" if output is not None else ""
    err.print(
        f"scored {counted(run.scored, 'row')} ({tiers}){skipped}{written}",
        highlight=False,
        soft_wrap=True,
    )
    return 1 if run.errors else 0


def _csv_header(path: Path) -> list[str]:
    with open_csv(path) as handle:
        return next(csv.reader(handle), [])


def _mode(output: Path | None, *, as_json: bool, summary: bool) -> Output:
    if summary:
        return Output.SUMMARY
    if output is not None:
        return Output.PARQUET if is_parquet(output) else Output.CSV
    return Output.JSON if as_json else Output.TEXT


def _note_dated_export(path: Path, now: datetime, pinned: bool, err: Console) -> None:
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


def _print_market(run: ListRun, icp: Icp, now: datetime, *, as_json: bool) -> None:
    assert run.market is not None
    if as_json:
        sys.stdout.buffer.write(orjson.dumps(run.market.as_dict()) + b"\n")
        sys.stdout.flush()
        return
    lines = market_lines(run.market, version=icp.version, day=now.date(), refused=len(run.errors))
    sys.stdout.write("\n".join(lines) + "\n")
    sys.stdout.flush()
