"""`icpbot impact`: what a proposed ICP would change, measured on the store and read-only."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlmodel import Session, func, select

from bot.change.impact import NothingDeployed, deployed_icp, measure
from bot.store.ratelimit import BACKGROUND_SHARE
from bot.store.tables import Score
from scoring.validation import parse_icp
from tests.support import A_TIER, CONFIG, ROOT, icp_v8_text, icpbot, sample_store, tag_account

NOW = datetime(2026, 11, 20, tzinfo=UTC)
RATES = {"hubspot": 19.0, "salesforce": 50.0}
TYPES = CONFIG.fields.types


PROPOSED, _ = parse_icp(icp_v8_text(), source="icp.yaml", fields=TYPES)
B_TIER_US = {**A_TIER, "has_revops": False, "sales_motion": "product-led"}  # B 70 → A 80


@pytest.mark.db
def test_the_store_scored_by_both_icps(db_session: Session) -> None:
    tag_account(db_session, "stays.com", A_TIER, NOW)
    tag_account(db_session, "climbs.com", B_TIER_US, NOW)
    tag_account(db_session, "drops.com", {**A_TIER, "technologies": "pipedrive"}, NOW)
    tag_account(db_session, "abroad.com", {**B_TIER_US, "country": "DE"}, NOW)
    db_session.flush()
    scores_before = db_session.exec(select(func.count()).select_from(Score)).one()
    deployed = deployed_icp(db_session, types=TYPES)
    assert deployed.version == 7
    found = measure(db_session, deployed, PROPOSED, now=NOW, rates=RATES)
    assert found.accounts == 4
    assert sum(found.matrix.values()) == 4
    assert [m.domain for m in found.entering_a] == ["climbs.com"]
    climb = found.entering_a[0]
    assert climb.old_tier != "A" and climb.new_tier == "A"
    assert any(line.startswith("geography ") for line in climb.why), climb.why
    assert [m.domain for m in found.newly_disqualified] == ["drops.com"]
    assert found.newly_disqualified[0].why[0] == "now disqualified by on-pipedrive"
    assert found.matrix[("A", "A")] == 1  # stays.com
    assert found.matrix[("B", "C")] == 1  # abroad.com: geography now weighs more, it lacks it
    assert found.changed == 3
    assert {b.owner for b in found.books} == {""}  # no owners on these
    # Every account was scored under v7, so the rollout writes each once, 100 a call.
    assert [(c.crm, c.records, c.calls) for c in found.costs] == [("hubspot", 4, 1)]
    assert found.costs[0].seconds == pytest.approx(1 / (19.0 * BACKGROUND_SHARE))
    # Read-only: no score was added.
    assert db_session.exec(select(func.count()).select_from(Score)).one() == scores_before


@pytest.mark.db
def test_an_empty_store_has_nothing_deployed(db_session: Session) -> None:
    with pytest.raises(NothingDeployed, match="icpbot backfill"):
        deployed_icp(db_session, types=TYPES)


@pytest.fixture
def store(tmp_path: Path) -> dict[str, str]:
    """The sample CRM loaded into a SQLite store by `icpbot backfill --crm csv` (v7)."""
    env = sample_store(tmp_path)
    return env


@pytest.fixture
def proposed_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "proposed"
    shutil.copytree(ROOT / "config", directory, ignore=shutil.ignore_patterns("sample"))
    (directory / "icp.yaml").write_text(icp_v8_text(), encoding="utf-8")
    return directory


def test_impact_as_a_user_runs_it(store: dict[str, str], proposed_dir: Path) -> None:
    args = ("impact", "--config-dir", str(proposed_dir), "--as-of", "2026-11-20")
    done = icpbot(*args, "--json", env=store)
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout)
    assert (found["deployed_version"], found["proposed_version"]) == (7, 8)
    assert found["accounts"] == 500
    assert sum(sum(row.values()) for row in found["matrix"].values()) == 500
    assert found["changed"] > 0 and found["entering_a"]
    assert all(m["to"]["tier"] == "A" and m["from"]["tier"] != "A" for m in found["entering_a"])
    assert all(m["to"]["tier"] == "DQ" for m in found["newly_disqualified"])
    assert found["newly_disqualified"], "pipedrive users are newly disqualified"
    assert found["people"]["total"] > 1000
    assert found["rollout"] == []  # a CSV store: nothing to write to a CRM
    markdown = icpbot(*args, "--markdown", env=store)
    assert markdown.returncode == 0
    assert "| before \\ after |" in markdown.stdout and "<details>" in markdown.stdout
    text = icpbot(*args, env=store)
    assert "v7 (deployed) → v8 (proposed)" in text.stdout
    assert "Entering tier A:" in text.stdout


def test_a_changed_icp_that_keeps_its_version_is_warned_about(
    store: dict[str, str], proposed_dir: Path
) -> None:
    icp = proposed_dir / "icp.yaml"
    icp.write_text(icp.read_text().replace("version: 8", "version: 7", 1))
    done = icpbot("impact", "--config-dir", str(proposed_dir), env=store)
    assert done.returncode == 0
    assert "keeps version 7" in " ".join(done.stderr.split())


def test_an_empty_store_is_said_with_what_to_do(tmp_path: Path) -> None:
    env = {"ICPBOT_DATABASE_URL": f"sqlite:///{tmp_path / 'empty.db'}"}
    done = icpbot("impact", env=env)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "no scores yet" in done.stderr and "icpbot backfill" in done.stderr


def test_the_shipped_ci_example_runs_impact_on_a_change_to_the_icp() -> None:
    import yaml

    workflow = yaml.safe_load((ROOT / "config" / "ci" / "icp-impact.github.yml").read_text())
    assert "config/icp.yaml" in workflow[True]["pull_request"]["paths"]  # YAML 1.1: on → True
    steps = workflow["jobs"]["impact"]["steps"]
    commands = " ".join(str(step.get("run", "")) for step in steps)
    assert "icpbot check --config-dir config" in commands
    assert "icpbot impact --config-dir config --markdown" in commands
    assert "gh pr comment" in commands
