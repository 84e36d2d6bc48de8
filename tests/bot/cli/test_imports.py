"""Short commands load only what they use: each library below costs a short command a
noticeable share of its time (benchmarks/startup.py), so the ones a command does not need
must not creep back in through a module-level import."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from bot.store.db import open_database, session
from tests.support import A_TIER, ROOT, tag_account

# Run the command line as `python -m bot` does, then list every module it loaded.
_LOADED = """
import atexit, runpy, sys
listing = sys.argv.pop(1)
def _write():
    with open(listing, "w", encoding="utf-8") as out:
        out.write("\\n".join(sorted(sys.modules)))
atexit.register(_write)
runpy.run_module("bot", run_name="__main__", alter_sys=True)
"""

HEAVY = {
    "apscheduler": "the scheduler",
    "tldextract": "the Public Suffix List",
    "requests": "HTTP, under tldextract",
    "pycountry": "country names",
    "sqlalchemy": "the store",
    "alembic": "migrations",
    "sqlglot": "SQL dialects",
    "duckdb": "SQL on files",
    "slack_sdk": "Slack",
    "slack_bolt": "Slack",
    "hubspot": "HubSpot",
    "simple_salesforce": "Salesforce",
    "starlette": "the web app",
    "uvicorn": "the web server",
    "prometheus_client": "metrics",
    "matplotlib": "charts",
    "scipy": "calibration",
    "sklearn": "calibration",
}


def loaded(tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> set[str]:
    """The top-level packages `icpbot ARGS` loaded; it must have succeeded."""
    listing = tmp_path / "modules.txt"
    environment = {k: v for k, v in os.environ.items() if not k.startswith("ICPBOT_")}
    done = subprocess.run(
        [sys.executable, "-c", _LOADED, str(listing), *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**environment, "PYTHONPATH": str(ROOT), **(env or {})},
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return {name.split(".")[0] for name in listing.read_text(encoding="utf-8").split()}


def heavy(modules: set[str], *needed: str) -> dict[str, str]:
    return {name: why for name, why in HEAVY.items() if name in modules and name not in needed}


def test_check_loads_none_of_the_heavy_libraries(tmp_path: Path) -> None:
    """The shipped config has a digest cron and list fields: judged without the scheduler
    or the suffix list."""
    assert heavy(loaded(tmp_path, "check")) == {}


def test_sql_loads_only_sqlglot(tmp_path: Path) -> None:
    assert heavy(loaded(tmp_path, "sql"), "sqlglot") == {}


def test_score_file_loads_only_what_reads_and_scores_its_rows(tmp_path: Path) -> None:
    """The ICP as SQL on DuckDB, over cells whose domains and countries are read as the
    CSV reader reads them."""
    path = tmp_path / "companies.csv"
    path.write_text("domain,name,country\nhttps://www.acme.co.uk/,Acme,United Kingdom\n")
    modules = loaded(tmp_path, "score", str(path), "--json")
    assert heavy(modules, "duckdb", "sqlglot", "tldextract", "requests", "pycountry") == {}


def test_score_domain_opens_a_current_store_without_migrations(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'icpbot.db'}"
    database = open_database(url)
    with session(database) as db:
        tag_account(db, "acme.com", A_TIER, datetime(2026, 11, 20, tzinfo=UTC))
    database.dispose()
    modules = loaded(tmp_path, "score", "acme.com", env={"ICPBOT_DATABASE_URL": url})
    assert heavy(modules, "sqlalchemy", "tldextract", "requests") == {}
