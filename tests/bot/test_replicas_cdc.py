"""Two `icpbot serve` replicas on one database listening to Salesforce's Change Data
Capture, as production starts them: the second against a live first.

One subscribes; the other stands by (one subscription in all). The first is
killed with SIGKILL; the standby takes the listener's lock over, resumes
after the replay id the first stored, and tags the lead created while no
one listened. Runs on SQLite and, under `make test-postgres`, PostgreSQL.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from sqlalchemy import Engine

from tests.fakes.salesforce import FakeSalesforce
from tests.fakes.salesforce_pubsub import FakePubSub
from tests.support import ROOT, ServeProcess, create_lead, lead_tagged, wait_for

pytestmark = pytest.mark.db


def test_one_replica_listens_and_the_standby_takes_over_when_it_is_killed(
    db_engine: Engine, org: FakeSalesforce, pubsub: FakePubSub, tmp_path: Path
) -> None:
    env = {
        "ICPBOT_DATABASE_URL": db_engine.url.render_as_string(hide_password=False),
        "ICPBOT_CONFIG_DIR": str(ROOT / "config"),
        "ICPBOT_LOG_LEVEL": "INFO",
        "ICPBOT_SALESFORCE_POLL_SECONDS": "3600",  # what is tagged was heard, not polled
        "SALESFORCE_INSTANCE_URL": org.url,
        "SALESFORCE_ACCESS_TOKEN": "test-token",
        "SALESFORCE_PUBSUB_TARGET": pubsub.target,
        "REQUESTS_CA_BUNDLE": org.ca_file,
    }
    first = ServeProcess(env, tmp_path / "first.log")
    second: ServeProcess | None = None
    try:
        wait_for(lambda: pubsub.subscriptions == 1)
        second = ServeProcess(env, tmp_path / "second.log")  # against the live first
        both_up = create_lead(org, "BothUp")
        wait_for(lambda: lead_tagged(org, both_up))
        time.sleep(0.5)  # the second has tried the lock by now, at its start
        assert pubsub.subscriptions == 1, (tmp_path / "second.log").read_text()
        first.kill()
        unheard = create_lead(org, "WhileNoOneListens")
        wait_for(lambda: lead_tagged(org, unheard), seconds=30)
        assert pubsub.subscriptions == 2  # the standby's, after the first's stored id
    finally:
        first.stop()
        if second is not None:
            second.stop()
