"""The `icpbot` command line, run as a user runs it: a real process, real files."""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SUMMARY_KEYS = {"domain", "score", "tier", "profile", "coverage", "disqualified_by", "criteria"}
OUTPUT_COLUMNS = ["icp_score", "icp_tier", "icp_profile", "icp_coverage", "icp_reasons"]
ROWS = """domain,name,industry,employees,country,technologies,lifecycle_stage
https://www.Acme.co.uk/pricing,Acme,software,450,United Kingdom,hubspot;slack,lead
bad.com,Bad,software,lots,US,,
,NoDomain,software,10,US,,
cust.com,Cust,software,300,US,hubspot,customer
short.com,Short
"""


def icpbot(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("ICPBOT_")}
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**environment, **(env or {})},
        timeout=120,
        check=False,
    )


@pytest.fixture
def rows_csv(tmp_path: Path) -> Path:
    path = tmp_path / "rows.csv"
    path.write_text(ROWS, encoding="utf-8")
    return path


@pytest.fixture
def broken_config(tmp_path: Path) -> Path:
    directory = tmp_path / "config"
    shutil.copytree(ROOT / "config", directory, ignore=shutil.ignore_patterns("sample"))
    text = (directory / "icp.yaml").read_text()
    text = text.replace("between: [200, 800]", "betwen: [200, 800]", 1)
    text = text.replace("field: annual_revenue", "field: revenue_usd", 1)
    (directory / "icp.yaml").write_text(text)
    return directory


def test_check_passes_on_the_shipped_config() -> None:
    done = icpbot("check")
    assert done.returncode == 0, done.stderr
    assert "ICP v7" in done.stdout


def test_check_names_file_line_criterion_and_problem(broken_config: Path) -> None:
    done = icpbot("check", "--config-dir", str(broken_config))
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    text = " ".join(done.stderr.split())
    assert "icp.yaml:" in text
    assert "midmarket-saas/headcount: unknown operator or key 'betwen'" in text
    assert "did you mean 'between'?" in text
    assert "midmarket-saas/revenue: unknown field 'revenue_usd'" in text


def test_config_dir_from_the_environment(broken_config: Path) -> None:
    done = icpbot("check", env={"ICPBOT_CONFIG_DIR": str(broken_config)})
    assert done.returncode == 1 and "betwen" in done.stderr


def test_a_missing_icp_file_is_named(tmp_path: Path) -> None:
    done = icpbot("check", "--config-dir", str(tmp_path))
    assert done.returncode == 1
    assert "icp.yaml" in done.stderr and "not found" in done.stderr


def test_score_csv_json_lines_and_bad_rows(rows_csv: Path) -> None:
    done = icpbot("score", str(rows_csv), "--json", "--as-of", "2026-11-20")
    assert done.returncode == 1  # some rows could not be read
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert [line["domain"] for line in lines] == ["acme.co.uk", "cust.com"]
    assert all(set(line) == SUMMARY_KEYS for line in lines)
    assert lines[1]["tier"] == "DQ" and lines[1]["disqualified_by"] == "customer"
    assert all(set(c) == {"id", "status", "points"} for c in lines[0]["criteria"])
    errors = " ".join(done.stderr.split())
    assert "row 3: employees 'lots': not a number" in errors
    assert "row 4: domain is missing" in errors
    assert "row 6: has 2 cells, the header has 7" in errors
    assert "scored 2 rows" in errors


def test_score_csv_output_keeps_every_row(rows_csv: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.csv"
    done = icpbot("score", str(rows_csv), "-o", str(out), "--as-of", "2026-11-20")
    assert done.returncode == 1
    with out.open(newline="", encoding="utf-8") as handle:
        table = list(csv.reader(handle))
    assert table[0] == ROWS.splitlines()[0].split(",") + OUTPUT_COLUMNS
    assert len(table) == 6  # header + all five rows, the bad ones with empty score cells
    assert table[1][-5:-1] == ["50", "C", "midmarket-saas", "0.5"]
    assert table[2][-5:] == ["", "", "", "", ""]
    assert table[1][-1].splitlines()[0].startswith("+")


@pytest.mark.parametrize(
    ("content", "message"),
    [("", "empty file"), ("name,industry\nAcme,software\n", "no 'domain' column")],
    ids=["empty file", "no domain column"],
)
def test_unreadable_files_exit_1_with_a_message(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(content)
    done = icpbot("score", str(path), "--json")
    assert done.returncode == 1 and message in done.stderr and "Traceback" not in done.stderr


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """A store backfilled from the sample CRM, once for the tests below."""
    directory = tmp_path_factory.mktemp("store")
    env = {"ICPBOT_DATABASE_URL": f"sqlite:///{directory / 'icpbot.db'}"}
    source = directory / "sample"
    shutil.copytree(ROOT / "config" / "sample", source)
    done = icpbot(
        "backfill", "--crm", "csv", "--source", str(source), "--as-of", "2026-11-20", env=env
    )
    assert done.returncode == 0, done.stderr
    assert "tagged 500 accounts" in " ".join(done.stderr.split())
    yield env


def test_score_and_explain_a_stored_domain(store: dict[str, str]) -> None:
    done = icpbot("score", "zoquiera.com", "--json", "--as-of", "2026-11-20", env=store)
    assert done.returncode == 0, done.stderr
    line = json.loads(done.stdout)
    assert set(line) == SUMMARY_KEYS and line["tier"] == "A"
    explained = icpbot("explain", "https://www.zoquiera.com/", "--as-of", "2026-11-20", env=store)
    assert explained.returncode == 0, explained.stderr
    assert "Zoquiera" in explained.stdout and "Matched" in explained.stdout


def test_explain_an_unknown_domain(store: dict[str, str]) -> None:
    done = icpbot("explain", "nowhere.example", env=store)
    assert done.returncode == 1 and "not in the store" in done.stderr
    assert "Traceback" not in done.stderr


def test_backfill_from_an_unknown_crm() -> None:
    done = icpbot("backfill", "--crm", "pipedrive")
    assert done.returncode == 1 and "use hubspot, salesforce or csv" in done.stderr


def test_backfill_from_salesforce_names_the_missing_settings() -> None:
    done = icpbot("backfill", "--crm", "salesforce")
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "SALESFORCE_ACCESS_TOKEN" in done.stderr and "SALESFORCE_USERNAME" in done.stderr


def test_backfill_from_hubspot_names_the_missing_token() -> None:
    done = icpbot("backfill", "--crm", "hubspot", env={"HUBSPOT_ACCESS_TOKEN": ""})
    assert done.returncode == 1
    assert "HUBSPOT_ACCESS_TOKEN" in done.stderr and "Traceback" not in done.stderr


def test_demo_runs_the_whole_flow() -> None:
    done = icpbot("demo")
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "Companies by tier" in out and "[Claim]" in out and "/icp " in out
