"""`icpbot check` and the config directory, run as a user runs them: a real process, real files."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.support import icpbot

ROOT = Path(__file__).resolve().parents[3]


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
    assert "midmarket-saas/headcount: 'betwen' is not an operator or key" in text
    assert "did you mean 'between'?" in text
    assert "midmarket-saas/revenue: unknown field 'revenue_usd'" in text
    assert "routing.yaml" not in text  # its profiles exist: only what is wrong is reported


def test_config_dir_from_the_environment(broken_config: Path) -> None:
    done = icpbot("check", env={"ICPBOT_CONFIG_DIR": str(broken_config)})
    assert done.returncode == 1 and "betwen" in done.stderr


def test_a_missing_config_directory_says_how_to_name_one(tmp_path: Path) -> None:
    done = icpbot("check", "--config-dir", str(tmp_path / "nowhere"))
    assert done.returncode == 1
    text = " ".join(done.stderr.split())
    assert "config directory not found" in text
    assert "--config-dir" in text and "ICPBOT_CONFIG_DIR" in text


def test_a_missing_icp_file_is_named(tmp_path: Path) -> None:
    done = icpbot("check", "--config-dir", str(tmp_path))
    assert done.returncode == 1
    assert "icp.yaml" in done.stderr and "not found" in done.stderr


def test_every_command_takes_config_dir() -> None:
    from bot.cli.main import app

    names = []
    for command in app.registered_commands:
        params = command.callback.__annotations__ if command.callback else {}
        if "config_dir" not in params and not command.hidden:
            names.append(command.name or getattr(command.callback, "__name__", "?"))
    assert names == []


def test_version_and_help_read_as_a_command_line_should() -> None:
    version = icpbot("--version")
    assert version.returncode == 0 and version.stdout.startswith("icpbot ")
    helped = icpbot("score", "--help")
    assert helped.returncode == 0
    assert "--json " in helped.stdout and "<bool>" not in helped.stdout


def test_every_help_writes_arguments_and_options_plainly() -> None:
    """`explain [OPTIONS] DOMAIN`: no `{DOMAIN}`, no `<str>`/`<bool>` types, no strftime."""
    from typer.testing import CliRunner

    from bot.cli.main import app

    runner = CliRunner()
    listed = runner.invoke(app, ["--help"]).output
    commands = [ln.split()[0] for ln in listed.split("Commands:")[1].splitlines() if ln.strip()]
    assert {"score", "explain", "backfill", "demo", "crm"} <= set(commands)
    for command in [*([c] for c in commands), ["crm", "setup"]]:
        shown = runner.invoke(app, [*command, "--help"]).output
        for noise in ("{", "<str>", "<bool>", "%Y"):
            assert noise not in shown, (command, noise, shown)
    assert (
        "Usage: root explain [OPTIONS] DOMAIN\n" in runner.invoke(app, ["explain", "--help"]).output
    )


def test_what_a_user_reads_documents_itself() -> None:
    """README, the shipped config's comments and every command's help stand on their own:
    they cite no document the repository does not hold."""
    shipped = [ROOT / "README.md", *sorted((ROOT / "config").glob("*.yaml"))]
    cited = [p.name for p in shipped if "SPEC" in p.read_text(encoding="utf-8")]
    assert cited == []
    helped = icpbot("--help").stdout
    commands = [
        line.split()[0] for line in helped.split("Commands:")[1].splitlines() if line.strip()
    ]
    for command in commands:
        assert "SPEC" not in icpbot(command, "--help").stdout, command


def test_a_csv_backfill_writes_its_scores_where_it_runs_and_says_where(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    source = tmp_path / "export"
    shutil.copytree(ROOT / "config" / "sample", source)
    here = tmp_path / "work"
    here.mkdir()
    environment = {k: v for k, v in os.environ.items() if not k.startswith("ICPBOT_")}
    done = subprocess.run(
        [sys.executable, "-m", "bot", "backfill", "--crm", "csv", "--source", str(source)]
        + ["--config-dir", str(ROOT / "config"), "--as-of", "2026-11-20"],
        cwd=here,
        env={
            **environment,
            "PYTHONPATH": str(ROOT),
            "ICPBOT_DATABASE_URL": f"sqlite:///{tmp_path / 'icpbot.db'}",
        },
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert (here / "scores.csv").is_file() and not (source / "scores.csv").exists()
    assert "the scores written back are in scores.csv" in " ".join(done.stderr.split())


@pytest.mark.parametrize("command", [["status"], ["explain", "acme.com"], ["age", "--dry-run"]])
def test_every_command_says_why_the_store_cannot_be_opened(command: list[str]) -> None:
    """As serve does: one message naming ICPBOT_DATABASE_URL, the password hidden."""
    from tests.fakes.unreachable import closed_port

    not_a_url = icpbot(*command, env={"ICPBOT_DATABASE_URL": "nonsense"})
    assert not_a_url.returncode == 1 and "Traceback" not in not_a_url.stderr
    assert "ICPBOT_DATABASE_URL is not a database URL" in not_a_url.stderr
    url = f"postgresql://icp:secret@127.0.0.1:{closed_port()}/icp"
    refused = icpbot(*command, env={"ICPBOT_DATABASE_URL": url})
    said = " ".join(refused.stderr.split())
    assert refused.returncode == 1 and "Traceback" not in said and "secret" not in said
    assert "could not be opened" in said and "Next: start the database server" in said


def test_sql_prints_one_select_a_database_runs(tmp_path: Path) -> None:
    """`icpbot sql` as a RevOps engineer pipes it: run on DuckDB over a canonical table."""
    import duckdb

    done = icpbot("sql", "--table", "crm.accounts", "--as-of", "2026-11-20")
    assert done.returncode == 0, done.stderr
    head = done.stdout.splitlines()[0]
    assert head.startswith("-- icpbot: ICP v7 as SQL (duckdb). Reads the columns ")
    reads = head.split("Reads the columns ")[1].split(" of crm.accounts")[0].split(", ")
    given = {"industry": "software", "employees": "350", "country": "US"}
    db = duckdb.connect()
    db.execute("CREATE SCHEMA crm")
    values = ", ".join(
        f"'{given[c]}' AS {c}" if c in given else f"CAST(NULL AS VARCHAR) AS {c}"
        for c in ["domain", *reads]
        if c != "domain"
    )
    db.execute(f"CREATE TABLE crm.accounts AS SELECT 'acme.com' AS domain, {values}")
    row = db.execute(done.stdout).fetchone()
    names = [d[0] for d in db.description or []]
    found = dict(zip(names, row or (), strict=True))
    assert found["domain"] == "acme.com" and found["icp_profile"] == "midmarket-saas"
    assert found["icp_midmarket_saas__industry"] == "matched"
    assert found["icp_midmarket_saas__revenue"] == "unknown"
    wrong = icpbot("sql", "--dialect", "oracle")
    assert (
        wrong.returncode == 1 and "use one of duckdb, postgres, snowflake, bigquery" in wrong.stderr
    )
