"""`icpbot demo`: the whole flow offline, on the bundled sample CRM, and what it leads to.

Run where a newcomer runs it (a directory of their own, no config of their
own); the commands it ends with are then run exactly as printed.
"""

from __future__ import annotations

import shlex
import sqlite3
from pathlib import Path

import pytest

from tests.support import ROOT, icpbot

SUBCOMMANDS = ("explain", "score", "check")


def next_commands(out: str) -> list[tuple[dict[str, str], list[str]]]:
    """The `Next, try:` commands: their settings prefix and the icpbot arguments."""
    block = out.split("Next, try:\n", 1)[1]
    found = []
    for line in block.splitlines():
        if not line.startswith("  ") or line.startswith("      ") or not line.strip():
            continue
        words = shlex.split(line)
        start = next(i for i, word in enumerate(words) if word in SUBCOMMANDS)
        env = dict(w.split("=", 1) for w in words[:start] if "=" in w)
        found.append((env, words[start:]))
    return found


def test_demo_runs_the_whole_flow_and_its_next_commands_work(tmp_path: Path) -> None:
    done = icpbot("demo", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "Companies by tier" in out and "[Claim]" in out and "/icp " in out
    assert "The store is kept in icpbot.db (the default store" in out
    owners = [ln for ln in out.splitlines() if "Owner: " in ln]
    assert owners and not any("owner-" in ln for ln in owners)  # names from owners.csv
    assert (tmp_path / "icpbot.db").exists()
    commands = next_commands(out)
    assert [args[0] for _, args in commands] == list(SUBCOMMANDS)
    for env, args in commands:
        ran = icpbot(*args, env=env, cwd=tmp_path)
        assert ran.returncode == 0, (args, ran.stderr)
        assert "Traceback" not in ran.stderr
        if args[0] == "explain":
            assert "Matched" in ran.stdout and "Persona fit" in ran.stdout
        if args[0] == "score":
            assert (tmp_path / "scored.csv").exists() and "scored 500 rows" in ran.stderr
    again = icpbot("demo", cwd=tmp_path)  # the store holds only the sample: loaded again
    assert again.returncode == 0 and "kept in icpbot.db (the default" in again.stdout


@pytest.mark.parametrize("crm", ["hubspot", "elsewhere"])
def test_demo_never_loads_the_sample_into_a_store_with_other_data(tmp_path: Path, crm: str) -> None:
    """A store holding a live CRM's accounts (or other companies) is left alone."""
    real = tmp_path / "real.db"
    env = {"ICPBOT_DATABASE_URL": f"sqlite:///{real}"}
    domain = "acme.com" if crm == "hubspot" else "nomia.com"
    loaded = icpbot(
        "backfill",
        "--crm",
        "csv",
        "--source",
        str(company(tmp_path, domain)),
        "--config-dir",
        str(ROOT / "config"),
        env=env,
        cwd=tmp_path,
    )
    assert loaded.returncode == 0, loaded.stderr
    if crm == "hubspot":
        with sqlite3.connect(real) as db:
            db.execute("UPDATE account SET crm = 'hubspot'")
    else:
        with sqlite3.connect(real) as db:
            db.execute("UPDATE account SET domain = 'not-in-the-sample.com'")
    before = real.read_bytes()
    done = icpbot("demo", env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert real.read_bytes() == before
    assert "The store is kept in icpbot-demo.db." in done.stdout
    env_prefix, args = next_commands(done.stdout)[0]
    assert env_prefix == {"ICPBOT_DATABASE_URL": "sqlite:///icpbot-demo.db"}
    assert icpbot(*args, env=env_prefix, cwd=tmp_path).returncode == 0


def company(directory: Path, domain: str) -> Path:
    source = directory / "export"
    source.mkdir()
    (source / "companies.csv").write_text(
        f"domain,name,industry,employees\n{domain},Acme,software,300\n", encoding="utf-8"
    )
    return source
