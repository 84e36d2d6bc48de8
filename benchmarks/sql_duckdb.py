"""The ICP as SQL on DuckDB against `icpbot score FILE`, on the same generated export.

    python benchmarks/sql_duckdb.py [--rows 1000000] [--repeat 2] [--engine-rows 200000]

The issue's target for whole markets is 10,000,000 companies in 60 s
(166,667 rows/s); this measures the query `icpbot sql` prints, run by DuckDB
over a CSV export of generated companies (realistic gaps and spread): read
as text, countries mapped to ISO codes as the CSV reader maps them (one
lookup per distinct value) into a table, every row scored, tiers counted. Wall-clock,
a fresh DuckDB connection each run, two runs, medians. The engine's
`icpbot score FILE --json` runs on the first `--engine-rows` rows of the same
file for comparison, and its tier counts must equal the SQL's there.
"""

from __future__ import annotations

import argparse
import itertools
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import duckdb  # noqa: E402

from bot.cli.sample_data import COMPANY_COLUMNS, SAMPLE_AS_OF, iter_companies, write_csv  # noqa: E402
from bot.config import load_config  # noqa: E402
from integrations.domains import normalize_country  # noqa: E402
from scoring.sql import select_sql  # noqa: E402

sys.path.insert(1, str(ROOT / "benchmarks"))
from harness import cpu_steal, steal_said, steal_share  # noqa: E402

TARGET_ROWS_PER_SECOND = 10_000_000 / 60
NOW = datetime(SAMPLE_AS_OF.year, SAMPLE_AS_OF.month, SAMPLE_AS_OF.day, 12, tzinfo=UTC)


def export(directory: Path, rows: int) -> Path:
    path = directory / f"companies-{rows}.csv"
    write_csv(path, COMPANY_COLUMNS, itertools.islice(iter_companies(rows), rows))
    return path


def sql_run(path: Path, limit: int | None = None) -> tuple[float, Counter[str]]:
    """Seconds from a fresh connection to the tier counts, and the counts."""
    config = load_config(ROOT / "config")
    query = select_sql(config.icp, config.fields.types, table="accounts", now=NOW)
    start = time.perf_counter()
    db = duckdb.connect()
    db.execute("SET TimeZone = 'UTC'")
    head = f" LIMIT {limit}" if limit else ""
    db.execute(f"CREATE VIEW raw AS SELECT * FROM read_csv('{path}', all_varchar = true){head}")
    names = [row[0] for row in db.execute("SELECT DISTINCT country FROM raw").fetchall()]
    pairs = [(name, normalize_country(name)) for name in names if name]
    db.execute("CREATE TABLE countries (name VARCHAR, code VARCHAR)")
    if pairs:
        db.executemany("INSERT INTO countries VALUES (?, ?)", pairs)
    # Materialised once: scored through a view over the CSV and the join, the same query
    # runs about nine times slower (its expressions are planned over the join).
    db.execute(
        "CREATE TEMP TABLE accounts AS SELECT * REPLACE (COALESCE(c.code, raw.country) AS "
        "country) FROM raw LEFT JOIN countries AS c ON c.name = raw.country"
    )
    found = db.execute(f"SELECT icp_tier, count(*) FROM ({query}) GROUP BY 1").fetchall()
    seconds = time.perf_counter() - start
    db.close()
    return seconds, Counter(dict(found))


def engine_run(path: Path, rows: int) -> tuple[float, Counter[str]]:
    """`icpbot score` of the first `rows` rows, --json to nowhere: seconds and tier counts."""
    head = path.with_name(f"head-{rows}.csv")
    with path.open(encoding="utf-8") as source, head.open("w", encoding="utf-8") as out:
        out.writelines(itertools.islice(source, rows + 1))
    command = [sys.executable, "-m", "bot", "score", str(head), "--json", "--as-of", "2026-11-20"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    start = time.perf_counter()
    done = subprocess.run(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, cwd=ROOT, env=env
    )
    seconds = time.perf_counter() - start
    line = " ".join(done.stderr.split())
    counts = re.search(r"\(A ([\d,]+), B ([\d,]+), C ([\d,]+), D ([\d,]+), DQ ([\d,]+)\)", line)
    assert counts, line
    tiers = ("A", "B", "C", "D", "DQ")
    return seconds, Counter(
        {t: int(n.replace(",", "")) for t, n in zip(tiers, counts.groups(), strict=True)}
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--engine-rows", type=int, default=200_000)
    args = parser.parse_args()
    steal_before = cpu_steal()
    with tempfile.TemporaryDirectory(prefix="icpbot-sql-bench-") as tmp:
        started = time.perf_counter()
        path = export(Path(tmp), args.rows)
        print(f"generated {args.rows:,} companies in {time.perf_counter() - started:.1f} s")
        runs = [sql_run(path) for _ in range(args.repeat)]
        seconds = statistics.median(s for s, _ in runs)
        rate = args.rows / seconds
        print(
            f"SQL on DuckDB: {args.rows:,} rows in {seconds:.2f} s wall (runs: "
            f"{', '.join(f'{s:.2f}' for s, _ in runs)}), {rate:,.0f} rows/s "
            f"(target {TARGET_ROWS_PER_SECOND:,.0f}; ratio {rate / TARGET_ROWS_PER_SECOND:.2f})"
        )
        if args.engine_rows:
            rows = min(args.engine_rows, args.rows)
            engine_seconds, engine_tiers = engine_run(path, rows)
            _, sql_tiers = sql_run(path, limit=rows)
            print(
                f"icpbot score FILE --json (engine): {rows:,} rows in {engine_seconds:.2f} s, "
                f"{rows / engine_seconds:,.0f} rows/s; the SQL is "
                f"{rate / (rows / engine_seconds):.1f}x faster per row"
            )
            same = "equal" if engine_tiers == sql_tiers else "DIFFERENT"
            tiers = dict(sorted(engine_tiers.items()))
            print(f"tier counts on those rows, engine vs SQL: {same} {tiers}")
    print(steal_said(steal_share(steal_before, cpu_steal())))


if __name__ == "__main__":
    main()
