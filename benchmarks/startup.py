"""Start-up cost of the command line: wall-clock of short `icpbot` commands.

    python benchmarks/startup.py [--runs 10] [--baseline DIR]

A RevOps engineer runs `icpbot check` before every merge, `icpbot sql`
into a dbt model, `icpbot score FILE` on a small list and `icpbot score
DOMAIN` to see one account: most of their time is the interpreter and the
imports, not the work. Each command runs as a fresh process `--runs` times,
the commands taking turns so a noisy neighbour hits them alike; the median
is printed beside `python -c pass`, the interpreter's own floor.

`--baseline DIR` (another tree, e.g. `mkdir /tmp/base && git archive main
| tar -x -C /tmp/base`) runs the same commands from there in the same
turns, each pair in alternating order, and prints each pair's ratio: on a
shared machine a ratio within one run is the figure to trust, not two
runs' absolute times.

`score DOMAIN` reads a throwaway SQLite store loaded from the bundled
sample by `icpbot backfill --crm csv`. Bytecode is kept in a throwaway
cache and a first round is not counted, so the figures are those of an
installed package whatever PYTHONDONTWRITEBYTECODE says here.
"""

from __future__ import annotations

import argparse
import itertools
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.cli.sample_data import COMPANY_COLUMNS, iter_companies, write_csv  # noqa: E402

sys.path.insert(1, str(ROOT / "benchmarks"))
from harness import cpu_steal, steal_said, steal_share  # noqa: E402

SAMPLE = ROOT / "config" / "sample"
FILE_ROWS = 200
FLOOR = "python -c pass"


def _first_domain() -> str:
    with (SAMPLE / "companies.csv").open(encoding="utf-8") as rows:
        return rows.readlines()[1].split(",", 1)[0]


def _commands(csv: Path) -> dict[str, list[str]]:
    """The `icpbot` arguments timed, by label (the config directory is added per tree)."""
    return {
        "icpbot check": ["check"],
        "icpbot sql": ["sql"],
        f"icpbot score FILE ({FILE_ROWS} rows) --json": ["score", str(csv), "--json"],
        "icpbot score DOMAIN": ["score", _first_domain()],
    }


class Tree:
    """One checkout's commands, run with its own code and config on the shared store."""

    def __init__(self, root: Path, tmp: Path) -> None:
        self.root = root
        self.env = {
            **{k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"},
            "PYTHONPATH": str(root),
            "PYTHONPYCACHEPREFIX": str(tmp / "pycache"),
            "ICPBOT_DATABASE_URL": f"sqlite:///{tmp}/icpbot.db",
        }

    def command(self, args: list[str]) -> list[str]:
        return [sys.executable, "-m", "bot", *args, "--config-dir", str(self.root / "config")]

    def run(self, command: list[str]) -> float:
        """Seconds from spawn to exit; a failing command stops the benchmark."""
        start = time.perf_counter()
        done = subprocess.run(command, cwd=self.root, env=self.env, capture_output=True)
        seconds = time.perf_counter() - start
        if done.returncode != 0:
            raise SystemExit(f"{' '.join(command)} failed:\n{done.stderr.decode()}")
        return seconds


def measure(trees: list[Tree], commands: dict[str, list[str]], runs: int) -> list[dict]:
    """Seconds of every run, per tree and label; one uncounted round first."""
    timed = [
        {FLOOR: [sys.executable, "-c", "pass"]}
        | {label: tree.command(args) for label, args in commands.items()}
        for tree in trees
    ]
    seconds: list[dict[str, list[float]]] = [{label: [] for label in t} for t in timed]
    for round_ in range(runs + 1):  # round 0: bytecode written, files in the page cache
        for label in timed[0]:
            turn = list(zip(trees, timed, seconds, strict=True))
            for tree, commands_of, times in turn if round_ % 2 else reversed(turn):
                took = tree.run(commands_of[label])
                if round_:
                    times[label].append(took)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--baseline", type=Path, help="Another checkout to compare with.")
    args = parser.parse_args()

    steal_before = cpu_steal()
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        trees = [Tree(ROOT, tmp)] + ([Tree(args.baseline.resolve(), tmp)] if args.baseline else [])
        load = ["backfill", "--crm", "csv", "--source", str(SAMPLE), "--out", f"{tmp}/out.csv"]
        trees[0].run(trees[0].command(load))
        csv = tmp / "companies.csv"
        write_csv(csv, COMPANY_COLUMNS, itertools.islice(iter_companies(FILE_ROWS), FILE_ROWS))
        seconds = measure(trees, _commands(csv), args.runs)
    for label in seconds[0]:
        here = statistics.median(seconds[0][label])
        line = f"{label:<38} {here:.3f} s"
        if args.baseline:
            there = statistics.median(seconds[1][label])
            line += f"   baseline {there:.3f} s   ratio {here / there:.2f}"
        print(line)
    print(f"medians of {args.runs} runs each")
    print(steal_said(steal_share(steal_before, cpu_steal())))


if __name__ == "__main__":
    main()
