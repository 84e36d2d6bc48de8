"""Whole markets: `icpbot score FILE` on the columnar path, and the ICP as SQL on DuckDB.

    python benchmarks/scale.py [--rows 10000000] [--parquet-rows 2000000] [--repeat 2]

Targets (issue: lists at scale), each printed with its ratio (< 1.0 is
better than the target):
- 10,000,000 companies scored from CSV with `--summary` in at most 60 s
  wall, peak memory at most 1.5 GB;
- 2,000,000 companies scored to Parquet (`-o out.parquet`, with reasons) in
  at most 15 s;
- time grows linearly with rows: the same summary of a tenth of the rows,
  per row, against the full run's (a ratio near 1.0 is linear);
- for comparison, the query `icpbot sql` prints, run by DuckDB over the same
  10,000,000 rows (read from the CSV into a table of canonical columns).

The export: 200,000 generated companies (the sample generator: realistic
gaps, spellings, URLs as domains, bad cells), repeated with a copy number
in each domain's name so every domain is distinct, as a vendor's file is.
Every `icpbot` run is a process of its own, as a user runs it, cold: wall
clock from start to exit, and its peak resident memory (os.wait4). Two
runs each, medians; the machine's CPU steal is printed too.
"""

from __future__ import annotations

import argparse
import itertools
import os
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import duckdb  # noqa: E402

from bot.cli.sample_data import COMPANY_COLUMNS, SAMPLE_AS_OF, iter_companies, write_csv  # noqa: E402
from bot.config import load_config  # noqa: E402
from scoring.sql import select_sql  # noqa: E402

sys.path.insert(1, str(ROOT / "benchmarks"))
from harness import cpu_steal, steal_said, steal_share  # noqa: E402

SUMMARY_SECONDS, SUMMARY_BYTES = 60.0, 1.5 * 1024**3
PARQUET_SECONDS = 15.0
BASE_ROWS = 200_000
AS_OF = SAMPLE_AS_OF.isoformat()


@dataclass(frozen=True, slots=True)
class Run:
    seconds: float
    peak_bytes: int
    stderr: str


def export(directory: Path, rows: int) -> Path:
    """`rows` companies: the generated base repeated, each copy's domains made distinct."""
    base = directory / "base.csv"
    count = min(rows, BASE_ROWS)
    write_csv(base, COMPANY_COLUMNS, itertools.islice(iter_companies(count), count))
    path = directory / f"companies-{rows}.csv"
    copies = -(-rows // count)
    columns = ", ".join(
        # The copy number goes after the first label of the name: `acme.co.uk` becomes
        # `acme7.co.uk`, `https://www.Acme.com/x` becomes `https://www.Acme7.com/x`.
        "CASE WHEN copy = 0 THEN domain ELSE regexp_replace(domain, "
        "'^((https?://)?(www[.])?[A-Za-z0-9-]+)', '\\1' || copy) END AS domain"
        if c == "domain"
        else f'"{c}"'
        for c in COMPANY_COLUMNS
    )
    db = duckdb.connect()
    db.execute("SET enable_progress_bar = false")
    db.execute(
        f"COPY (SELECT {columns} FROM range({copies}) AS t(copy), "
        f"read_csv('{base}', all_varchar = true) LIMIT {rows}) "
        f"TO '{path}' (FORMAT CSV, HEADER true)"
    )
    db.close()
    return path


def head(path: Path, rows: int) -> Path:
    """The first `rows` companies of `path`, as a file of their own."""
    out = path.with_name(f"head-{rows}.csv")
    with path.open(encoding="utf-8") as source, out.open("w", encoding="utf-8") as target:
        target.writelines(itertools.islice(source, rows + 1))
    return out


def icpbot(*args: str) -> Run:
    """One `icpbot` run in its own process: wall seconds, peak memory, what it said."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    started = time.perf_counter()
    with tempfile.TemporaryFile() as errors:
        proc = subprocess.Popen(
            [sys.executable, "-m", "bot", *args],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=errors,
        )
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - started
        errors.seek(0)
        said = errors.read().decode(errors="replace")
    if os.waitstatus_to_exitcode(status) not in (0, 1):  # 1: some rows were bad
        raise SystemExit(f"icpbot {' '.join(args)} failed:\n{said[-2000:]}")
    return Run(seconds, usage.ru_maxrss * 1024, said)


def tiers(said: str) -> str:
    found = re.search(r"scored ([\d,]+) rows \(([^)]*)\)", " ".join(said.split()))
    return f"{found.group(1)} rows ({found.group(2)})" if found else "?"


def sql_run(path: Path) -> tuple[float, dict[str, int]]:
    """`icpbot sql`'s query on DuckDB over the CSV read into a table of canonical columns."""
    config = load_config(ROOT / "config")
    now = datetime(SAMPLE_AS_OF.year, SAMPLE_AS_OF.month, SAMPLE_AS_OF.day, 12, tzinfo=UTC)
    query = select_sql(config.icp, config.fields.types, table="accounts", now=now)
    started = time.perf_counter()
    db = duckdb.connect()
    db.execute("SET enable_progress_bar = false")
    db.execute("SET TimeZone = 'UTC'")
    db.execute(
        f"CREATE TEMP TABLE accounts AS SELECT * FROM read_csv('{path}', all_varchar = true)"
    )
    found = db.execute(f"SELECT icp_tier, count(*) FROM ({query}) GROUP BY 1").fetchall()
    seconds = time.perf_counter() - started
    db.close()
    return seconds, {str(t): int(n) for t, n in found}


def median_run(repeat: int, *args: str) -> tuple[Run, list[float]]:
    """The median run; of an even number, the slower of the middle two, never the best."""
    runs = [icpbot(*args) for _ in range(repeat)]
    ordered = sorted(runs, key=lambda r: r.seconds)
    return ordered[len(ordered) // 2], [r.seconds for r in runs]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--parquet-rows", type=int, default=2_000_000)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--no-sql", action="store_true", help="skip the SQL comparison")
    parser.add_argument("--export-only", metavar="DIR", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.export_only:
        export(Path(args.export_only), args.rows)
        return
    steal_before = cpu_steal()
    with tempfile.TemporaryDirectory(prefix="icpbot-scale-") as tmp:
        directory = Path(tmp)
        started = time.perf_counter()
        # In a process of its own: a child forked from a parent that had just held the
        # export would report the parent's pages as its own peak memory.
        subprocess.run(
            [sys.executable, __file__, "--export-only", str(directory), "--rows", str(args.rows)],
            check=True,
        )
        path = directory / f"companies-{args.rows}.csv"
        size = path.stat().st_size / 1024**2
        print(
            f"export: {args.rows:,} companies, {size:,.0f} MB of CSV, "
            f"made in {time.perf_counter() - started:.0f} s"
        )
        tenth = head(path, args.rows // 10)
        small, small_times = median_run(
            args.repeat, "score", str(tenth), "--summary", "--as-of", AS_OF
        )
        full, full_times = median_run(
            args.repeat, "score", str(path), "--summary", "--as-of", AS_OF
        )
        print(
            f"score --summary, {args.rows:,} rows: {full.seconds:.1f} s wall "
            f"(runs {', '.join(f'{s:.1f}' for s in full_times)}; ratio to {SUMMARY_SECONDS:.0f} s: "
            f"{full.seconds / SUMMARY_SECONDS:.2f}), peak {full.peak_bytes / 1024**2:,.0f} MB "
            f"(ratio to 1.5 GB: {full.peak_bytes / SUMMARY_BYTES:.2f}); {tiers(full.stderr)}"
        )
        per_row_small = small.seconds / (args.rows // 10)
        per_row_full = full.seconds / args.rows
        print(
            f"linear: {args.rows // 10:,} rows in {small.seconds:.1f} s "
            f"(runs {', '.join(f'{s:.1f}' for s in small_times)}); per row the full run takes "
            f"{per_row_full / per_row_small:.2f}x the tenth's (1.00 is linear; start-up "
            "weighs more on the smaller run)"
        )
        parquet_rows = head(path, args.parquet_rows)
        out = directory / "scored.parquet"
        written, written_times = median_run(
            args.repeat, "score", str(parquet_rows), "-o", str(out), "--as-of", AS_OF
        )
        print(
            f"score -o out.parquet, {args.parquet_rows:,} rows: {written.seconds:.1f} s wall "
            f"(runs {', '.join(f'{s:.1f}' for s in written_times)}; ratio to "
            f"{PARQUET_SECONDS:.0f} s: {written.seconds / PARQUET_SECONDS:.2f}), peak "
            f"{written.peak_bytes / 1024**2:,.0f} MB; {tiers(written.stderr)}"
        )
        if not args.no_sql:
            seconds, found = sql_run(path)
            counts = ", ".join(f"{t} {found.get(t, 0):,}" for t in ("A", "B", "C", "D", "DQ"))
            print(
                f"icpbot sql's query on DuckDB, {args.rows:,} rows read into a table: "
                f"{seconds:.1f} s ({counts}; its table holds the cells as they are, not "
                "typed as the CSV reader types them, so its tiers can differ a little)"
            )
    print(steal_said(steal_share(steal_before, cpu_steal())))


if __name__ == "__main__":
    main()
