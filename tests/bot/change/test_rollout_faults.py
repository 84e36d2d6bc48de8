"""A rollout under stress, as production runs it: `icpbot serve` processes started with a new
ICP version over a store scored under the old one. The first is killed with SIGKILL while it
holds claimed rollout work, HubSpot answers a storm of 503s and 429s, a second replica and
the restarted first carry on. Afterwards every company holds the new version, none was
written twice, and the tiers moved exactly as `icpbot impact` predicted. Runs on SQLite and,
under `make test-postgres`, PostgreSQL.
"""

from __future__ import annotations

import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine

from bot.change.impact import deployed_icp, measure
from bot.change.rollout import current
from bot.settings import Settings
from bot.store.db import read_session
from bot.sync.backfill import backfill
from bot.sync.connect import hubspot_crm
from bot.sync.tagging import Tagger
from scoring.engine import Scorer
from scoring.validation import parse_icp
from tests.fakes.hubspot import FakeHubSpot
from tests.support import CONFIG, ROOT, ServeProcess, held_by, icp_v8_text, wait_for

pytestmark = pytest.mark.db

COMPANIES = 300
SECRET = "rollout-faults-secret"


def test_a_rollout_survives_a_kill_a_storm_and_a_second_replica(
    db_engine: Engine, tmp_path: Path
) -> None:
    url = db_engine.url.render_as_string(hide_password=False)
    config_dir = tmp_path / "v8"
    config_dir.mkdir()
    for name in ("fields.yaml", "routing.yaml", "digest.yaml"):
        (config_dir / name).write_text((ROOT / "config" / name).read_text())
    (config_dir / "icp.yaml").write_text(icp_v8_text())
    v8, _ = parse_icp(icp_v8_text(), source="icp.yaml", fields=CONFIG.fields.types)
    # Slow answers (0.4 s a call) so that a batch is still in flight when the kill comes.
    with FakeHubSpot(rate_limit=(190, 10.0), latency=0.4) as hubspot:
        settings = Settings(  # type: ignore[call-arg]
            _env_file=None,
            ICPBOT_DATABASE_URL=url,
            HUBSPOT_ACCESS_TOKEN=hubspot.token,
            HUBSPOT_API_URL=hubspot.url,
        )
        crm = hubspot_crm(settings, CONFIG, database=db_engine)
        crm.setup()
        ids = hubspot.seed_companies(COMPANIES, seed=11)
        tagger = Tagger(Scorer(CONFIG.icp))
        now = datetime.now(UTC)
        backfill(crm, database=db_engine, tagger=tagger, now=now, icp_text=CONFIG.icp_text)
        before = {i: hubspot.company(i).get("icp_tier") for i in ids}
        with read_session(db_engine) as session:
            deployed = deployed_icp(session, types=CONFIG.fields.types)
            predicted = measure(session, deployed, v8, now=now, rates={"hubspot": 19.0})
        env = {
            "ICPBOT_DATABASE_URL": url,
            "ICPBOT_CONFIG_DIR": str(config_dir),
            "ICPBOT_LOG_LEVEL": "WARNING",
            "ICPBOT_HUBSPOT_SWEEP_SECONDS": "3600",
            "ICPBOT_LEASE_SECONDS": "4",  # 30 in production; the recovery is the same
            "HUBSPOT_ACCESS_TOKEN": hubspot.token,
            "HUBSPOT_CLIENT_SECRET": SECRET,
            "HUBSPOT_API_URL": hubspot.url,
        }
        started = time.monotonic()
        first = ServeProcess(env, tmp_path / "first.log")
        replicas = [first]
        try:
            wait_for(lambda: held_by(db_engine, first), seconds=30.0)
            first.kill()  # holding claimed rollout work: another replica must take it over
            hubspot.fail_next(3, status=503)  # more failures in a row than a call retries
            hubspot.fail_next(6, status=429, retry_after=1)
            replicas = [ServeProcess(env, tmp_path / "second.log")]
            replicas.append(ServeProcess(env, tmp_path / "restarted.log"))

            def finished() -> bool:
                found = current(db_engine, now=datetime.now(UTC))
                return found is not None and found.state == "done"

            wait_for(finished, seconds=120.0)
        finally:
            for replica in replicas:
                replica.stop()
        logs = "\n".join(p.read_text() for p in tmp_path.glob("*.log"))
        assert "Traceback" not in logs, logs
        after = {i: hubspot.company(i) for i in ids}
        written = Counter(
            str(item["id"])
            for r in hubspot.requests
            if r.at >= started
            and r.path.endswith("/companies/batch/update")
            and r.status in (200, 207)
            for item in r.body["inputs"]
        )
    assert {props.get("icp_version") for props in after.values()} == {"8"}  # nothing skipped
    assert set(written) == set(ids)
    assert [i for i, n in written.items() if n > 1] == []  # nothing written twice
    moved = Counter((before[i], after[i].get("icp_tier")) for i in ids)
    assert moved == predicted.matrix  # impact's matrix is what the rollout wrote
    progress = current(db_engine, now=datetime.now(UTC))
    assert progress is not None and progress.done == progress.total == COMPANIES
