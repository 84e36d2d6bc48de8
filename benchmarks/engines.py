"""DuckDB or polars: the same compiled ICP, one `SELECT`, on each engine over the same export.

    python benchmarks/engines.py [--rows 10000000] [--repeat 2] [--polars-python PYTHON]

The issue (lists at scale) asks for both embedded columnar engines to be
measured on the 10M case before one is chosen. The plan compared is
`icpbot sql`'s query for the shipped ICP: the statuses, profile scores and
verdict of SPEC §2, over the export read as text cells (no reader typing,
no reasons), grouped into tiers. DuckDB runs the query in its own dialect;
polars runs the PostgreSQL translation in its SQL context (it has no
`regexp_matches`), over a lazy `scan_csv`. Both must give the same tiers.

polars is not a dependency of icpbot: install it anywhere (`pip install
polars`) and pass that interpreter with `--polars-python`, or run this
script with one that has it. Every run is a process of its own, cold; wall
clock and peak resident memory (os.wait4); two runs each, the slower quoted.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(1, str(ROOT / "benchmarks"))

from harness import cpu_steal, steal_said, steal_share  # noqa: E402

from bot.config import load_config  # noqa: E402
from scoring.sql import select_sql  # noqa: E402

AS_OF = datetime(2026, 11, 20, tzinfo=UTC)

DUCKDB_RUN = """
import json, sys, duckdb
csv, sql = sys.argv[1], open(sys.argv[2]).read()
db = duckdb.connect()
db.execute("SET enable_progress_bar = false")
db.execute("SET TimeZone = 'UTC'")
db.execute(f"CREATE VIEW accounts AS SELECT * FROM read_csv('{csv}', all_varchar = true)")
tiers = db.execute(f"SELECT icp_tier, count(*) FROM ({sql}) GROUP BY 1").fetchall()
print(json.dumps(dict(tiers)))
"""

POLARS_RUN = """
import json, sys, polars as pl
csv, sql = sys.argv[1], open(sys.argv[2]).read()
context = pl.SQLContext(accounts=pl.scan_csv(csv, infer_schema=False))
scored = context.execute(sql)
tiers = scored.group_by("icp_tier").len().collect(engine="streaming")
print(json.dumps(dict(tiers.rows())))
"""


def run(python: str, code: str, *args: str) -> tuple[float, int, dict[str, int]]:
    """Seconds, peak resident bytes and the tier counts of one cold process."""
    started = time.perf_counter()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as errors:
        child = subprocess.Popen([python, "-c", code, *args], stdout=out, stderr=errors)
        _, status, usage = os.wait4(child.pid, 0)
        seconds = time.perf_counter() - started
        out.seek(0)
        errors.seek(0)
        if os.waitstatus_to_exitcode(status) != 0:
            raise SystemExit(f"{python} failed:\n{errors.read().decode()[-2000:]}")
        tiers = json.loads(out.read())
    return seconds, usage.ru_maxrss * 1024, {str(k): int(v) for k, v in tiers.items()}


def has_polars(python: str) -> bool:
    found = subprocess.run([python, "-c", "import polars"], capture_output=True, check=False)
    return found.returncode == 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--polars-python", default=sys.executable)
    args = parser.parse_args()
    if not has_polars(args.polars_python):
        sys.exit(
            f"{args.polars_python} has no polars: `pip install polars` into some environment "
            "and pass its python with --polars-python"
        )
    config = load_config(ROOT / "config")
    steal_before = cpu_steal()
    with tempfile.TemporaryDirectory(prefix="icpbot-engines-") as scratch:
        directory = Path(scratch)
        # In a process of its own: a child forked from a parent that held the export would
        # report the parent's pages as its own peak memory.
        subprocess.run(
            [
                sys.executable,
                str(ROOT / "benchmarks" / "scale.py"),
                "--export-only",
                str(directory),
                "--rows",
                str(args.rows),
            ],
            check=True,
        )
        path = directory / f"companies-{args.rows}.csv"
        queries = {}
        for dialect in ("duckdb", "postgres"):
            text = select_sql(config.icp, config.fields.types, now=AS_OF, dialect=dialect)
            queries[dialect] = directory / f"icp-{dialect}.sql"
            queries[dialect].write_text(text.split("\n", 1)[1], encoding="utf-8")
        engines = {
            "DuckDB": (sys.executable, DUCKDB_RUN, queries["duckdb"]),
            "polars": (args.polars_python, POLARS_RUN, queries["postgres"]),
        }
        found: dict[str, dict[str, int]] = {}
        for name, (python, code, query) in engines.items():
            runs = [run(python, code, str(path), str(query)) for _ in range(args.repeat)]
            slower = sorted(runs)[len(runs) // 2]
            found[name] = slower[2]
            print(
                f"{name}: {args.rows:,} rows scored by the compiled ICP in {slower[0]:.1f} s "
                f"wall (runs {', '.join(f'{r[0]:.1f}' for r in runs)}), "
                f"peak {slower[1] / 1024**2:,.0f} MB; "
                f"tiers {json.dumps(found[name], sort_keys=True)}"
            )
    same = found["DuckDB"] == found["polars"]
    print(f"same tiers on both engines: {'yes' if same else 'NO'}")
    print(steal_said(steal_share(steal_before, cpu_steal())))
    sys.exit(0 if same else 1)


if __name__ == "__main__":
    main()
