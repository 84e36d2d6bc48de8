"""Two `icpbot serve` replicas on one database under stress, as production runs them.

Each replica is a process of its own (`python -m bot serve`) behind a load
balancer that sends every HubSpot delivery to both (HubSpot's retries reach
whichever replica). Mid-burst one is killed with SIGKILL, HubSpot answers a
storm of 429s and 5xxs, and the killed one is started again. Afterwards:
every company is tagged, and written once; every routed lead is posted once;
and HubSpot never saw more requests in any 10 seconds than the limit the
replicas share. Runs on SQLite and, under `make test-postgres`, PostgreSQL.
"""

from __future__ import annotations

import json
import re
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from bot.settings import Settings
from bot.store import inbox
from bot.store.tables import RoutingDecision
from bot.sync.connect import hubspot_crm
from tests.fakes.hubspot import FakeHubSpot
from tests.fakes.slack import FakeSlack
from tests.fakes.webhooks import creation_event, signed_delivery
from tests.support import (
    CHANNELS,
    CONFIG,
    ROOT,
    SLACK_SECRET,
    USERS,
    ServeProcess,
    held_by,
    most_in_any_window,
    wait_for,
)

pytestmark = pytest.mark.db

SECRET = "replica-client-secret"
SHARED_LIMIT = 12  # requests per 10 s for both replicas together: the burst needs more
WINDOW = 10.0
COMPANIES = 240
DELIVERIES = 24
DOMAIN = re.compile(r"company\d+-\d+\.com")


@dataclass
class Deployment:
    hubspot: FakeHubSpot
    slack: FakeSlack
    env: dict[str, str]
    logs: Path

    def replica(self, name: str) -> ServeProcess:
        return ServeProcess(self.env, self.logs / f"{name}.log")


@pytest.fixture
def deployment(db_engine: Engine, tmp_path: Path) -> Iterator[Deployment]:
    with (
        FakeHubSpot(rate_limit=(190, WINDOW), latency=0.05) as hubspot,
        FakeSlack(channels=CHANNELS, users=USERS) as slack,
    ):
        portal = Settings(
            _env_file=None, HUBSPOT_ACCESS_TOKEN=hubspot.token, HUBSPOT_API_URL=hubspot.url
        )  # type: ignore[call-arg]
        hubspot_crm(portal, CONFIG).setup()  # `icpbot crm setup hubspot`, before the deploy
        env = {
            "ICPBOT_DATABASE_URL": db_engine.url.render_as_string(hide_password=False),
            "ICPBOT_CONFIG_DIR": str(ROOT / "config"),
            "ICPBOT_LOG_LEVEL": "WARNING",
            "ICPBOT_HUBSPOT_RATE_LIMIT": str(SHARED_LIMIT),
            "ICPBOT_HUBSPOT_SWEEP_SECONDS": "3600",
            "ICPBOT_LEASE_SECONDS": "4",  # 30 in production; the recovery is the same
            "HUBSPOT_ACCESS_TOKEN": hubspot.token,
            "HUBSPOT_CLIENT_SECRET": SECRET,
            "HUBSPOT_API_URL": hubspot.url,
            "HUBSPOT_PORTAL_ID": "1",
            "SLACK_BOT_TOKEN": slack.token,
            "SLACK_SIGNING_SECRET": SLACK_SECRET,
            "SLACK_API_URL": slack.api_url,
        }
        yield Deployment(hubspot, slack, env, tmp_path)


def deliver(urls: list[str], events: list[dict]) -> None:
    """One delivery, sent to every replica at once (each must answer 200)."""

    def send(url: str) -> None:
        request = signed_delivery(url + "/webhooks/hubspot", events, secret=SECRET)
        with urllib.request.urlopen(request, timeout=30) as answer:
            assert answer.status == 200

    with ThreadPoolExecutor(len(urls)) as pool:
        list(pool.map(send, urls))


def routed(database: Engine) -> list[RoutingDecision]:
    """The leads routing sent to a channel."""
    with Session(database) as session:
        query = select(RoutingDecision).where(col(RoutingDecision.channel).is_not(None))
        return list(session.exec(query).all())


def settled(database: Engine) -> bool:
    """Nothing left to do or parked, and every routed lead posted."""
    with Session(database) as session:
        counts = inbox.counts(session=session)
    assert counts["parked"] == 0
    return counts["pending"] == 0 and all(d.message_ts for d in routed(database))


def test_two_replicas_survive_a_kill_a_storm_and_a_restart(
    deployment: Deployment, db_engine: Engine
) -> None:
    hubspot, slack = deployment.hubspot, deployment.slack
    ids = hubspot.seed_companies(COMPANIES, seed=7)
    size = COMPANIES // DELIVERIES
    batches = [
        [creation_event(c, 1_000 + i * size + n) for n, c in enumerate(ids[i : i + size])]
        for i in range(0, COMPANIES, size)
    ]
    started = time.monotonic()
    first = deployment.replica("first")
    second = deployment.replica("second")  # starts while the first serves and leads
    replicas = [first, second]
    try:
        for batch in batches[: DELIVERIES // 2 - 1]:
            deliver([r.url for r in replicas], batch)
        deliver([first.url], batches[DELIVERIES // 2 - 1])  # woken first, it claims them
        wait_for(lambda: held_by(db_engine, first), seconds=10.0)
        first.kill()  # mid-burst, holding claimed events: another replica must take them over
        hubspot.fail_next(3, status=503)  # a storm: more failures in a row than a call retries
        hubspot.fail_next(6, status=429, retry_after=1)
        for batch in batches[DELIVERIES // 2 : -2]:
            deliver([second.url], batch)  # the load balancer saw the first go
        restarted = deployment.replica("restarted")
        replicas = [restarted, second]
        for batch in batches[DELIVERIES // 2 - 1 :]:  # one delivery HubSpot retries, too
            deliver([r.url for r in replicas], batch)

        tagged = lambda: all("icp_tier" in hubspot.company(c) for c in ids)  # noqa: E731
        wait_for(tagged, seconds=90.0)
        wait_for(lambda: settled(db_engine), seconds=60.0)
        decisions = routed(db_engine)
    finally:
        for replica in replicas:
            replica.stop()
    logs = "\n".join(p.read_text() for p in deployment.logs.glob("*.log"))
    assert "Traceback" not in logs, logs

    requests = [r for r in hubspot.requests if r.at >= started and "/crm/" in r.path]
    written = Counter(
        str(item["id"])
        for r in requests
        if r.path.endswith("/companies/batch/update") and r.status in (200, 207)
        for item in r.body["inputs"]
    )
    assert set(written) == set(ids)
    assert [c for c, n in written.items() if n > 1] == []  # no company written twice
    assert most_in_any_window([r.at for r in requests], WINDOW) <= SHARED_LIMIT * 1.1

    posts = [m for m in slack.messages() if m.thread_ts is None]
    posted = Counter(d for m in posts for d in set(DOMAIN.findall(json.dumps(m.blocks))))
    assert decisions, "the seeded companies include leads routed to a channel"
    assert {d.account_domain for d in decisions} <= set(posted)
    assert [d for d, n in posted.items() if n > 1] == []  # no lead posted twice
