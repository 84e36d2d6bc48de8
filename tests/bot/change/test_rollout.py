"""The rollout of a new ICP version: `serve` started with v8 over a store scored under v7
re-scores every stored record in the background and writes back through the fake HubSpot,
over HTTP, exactly what `icpbot impact` said it would."""

from __future__ import annotations

import os
import random
import signal
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine

from bot.change.impact import deployed_icp, measure
from bot.change.rollout import begin_rollout, current, pause, resume
from bot.config import Config, load_config
from bot.service import build_service
from bot.settings import Settings
from bot.store.db import make_engine, migrate, read_session
from bot.store.db import session as open_session
from bot.sync.backfill import backfill
from bot.sync.connect import hubspot_crm
from bot.sync.tagging import Tagger
from integrations.records import RecordKind
from scoring.engine import Scorer
from scoring.validation import parse_icp
from tests.fakes.hubspot import FakeHubSpot
from tests.fakes.slack import FakeSlack
from tests.support import (
    CHANNELS,
    CONFIG,
    ROOT,
    SLACK_SECRET,
    USERS,
    ServeProcess,
    icp_v8_text,
    icpbot,
    wait_for,
)

COMPANIES = 150
SECRET = "rollout-client-secret"


def company(rng: random.Random, n: int) -> dict[str, str]:
    """A HubSpot company somewhere between tier A and D, some on Pipedrive."""
    return {
        "domain": f"rollout{n:04d}.com",
        "name": f"Rollout {n}",
        "industry": rng.choice(["COMPUTER_SOFTWARE", "INTERNET", "FINANCIAL_SERVICES", "retail"]),
        "numberofemployees": str(rng.choice([50, 250, 400, 900, 3000])),
        "annualrevenue": str(rng.choice([2_000_000, 20_000_000, 200_000_000])),
        "country": rng.choice(["US", "US", "GB", "DE", "FR"]),
        "web_technologies": rng.choice(["hubspot", "salesforce", "pipedrive", "hubspot;slack"]),
        "sales_motion": rng.choice(["sales-led", "product-led", "hybrid"]),
        "has_revops": rng.choice(["true", "false"]),
    }


IDS: list[str] = []  # the companies' HubSpot ids, filled by the fixture


@pytest.fixture
def hubspot() -> Iterator[FakeHubSpot]:
    with FakeHubSpot(rate_limit=None) as fake:
        portal = Settings(_env_file=None, HUBSPOT_ACCESS_TOKEN=fake.token, HUBSPOT_API_URL=fake.url)  # type: ignore[call-arg]
        hubspot_crm(portal, CONFIG).setup()
        rng = random.Random(5)
        IDS[:] = [fake.add_company(company(rng, n)) for n in range(COMPANIES)]
        yield fake


@pytest.fixture
def settings(hubspot: FakeHubSpot, tmp_path: Path) -> Settings:
    values = {
        "ICPBOT_DATABASE_URL": f"sqlite:///{tmp_path / 'icpbot.db'}",
        "HUBSPOT_ACCESS_TOKEN": hubspot.token,
        "HUBSPOT_CLIENT_SECRET": SECRET,
        "HUBSPOT_API_URL": hubspot.url,
        "ICPBOT_LEASE_SECONDS": "5",
    }
    return Settings(_env_file=None, **values)  # type: ignore[arg-type]


@pytest.fixture
def v8(tmp_path: Path) -> Config:
    directory = tmp_path / "v8"
    directory.mkdir()
    for name in ("fields.yaml", "routing.yaml", "digest.yaml"):
        (directory / name).write_text((ROOT / "config" / name).read_text())
    (directory / "icp.yaml").write_text(icp_v8_text())
    return load_config(directory)


@pytest.fixture
def store(settings: Settings) -> Engine:
    """Every company tagged under v7 by a backfill, as a store is before the change."""
    database = make_engine(settings.database_url)
    migrate(database)
    crm = hubspot_crm(settings, CONFIG, database=database)
    tagger = Tagger(Scorer(CONFIG.icp))
    backfill(crm, database=database, tagger=tagger, now=datetime.now(UTC), icp_text=CONFIG.icp_text)
    return database


def tiers(hubspot: FakeHubSpot) -> dict[str, tuple[str, str]]:
    """Each company's (icp_tier, icp_version) as HubSpot holds them."""
    found = {}
    for item in IDS:
        props = hubspot.company(item)
        found[props["domain"]] = (props.get("icp_tier") or "", props.get("icp_version") or "")
    return found


def writes_since(hubspot: FakeHubSpot, since: float) -> Counter[str]:
    return Counter(
        str(item["id"])
        for r in hubspot.requests
        if r.at >= since and r.path.endswith("/companies/batch/update") and r.status in (200, 207)
        for item in r.body["inputs"]
    )


def test_serve_rolls_a_new_version_out_as_impact_said(
    hubspot: FakeHubSpot, settings: Settings, store: Engine, v8: Config
) -> None:
    before = tiers(hubspot)
    assert {version for _, version in before.values()} == {"7"}
    with read_session(store) as session:
        deployed = deployed_icp(session, types=v8.fields.types)
        predicted = measure(
            session, deployed, v8.icp, now=datetime.now(UTC), rates={"hubspot": 19.0}
        )
    assert predicted.changed > 0, "the generated companies must move for this to test anything"
    started = time.monotonic()
    service = build_service(settings, v8, sweep=False)
    # Live traffic gets to one company first (a webhook, under v8): the rollout skips it.
    live = service.pipelines["hubspot"].process(RecordKind.ACCOUNT, [IDS[0]], now=datetime.now(UTC))
    assert live.written == 1
    service.start()
    try:
        wait_for(
            lambda: (p := current(store, now=datetime.now(UTC))) and p.state == "done", seconds=60
        )
    finally:
        service.stop()
    after = tiers(hubspot)
    assert {version for _, version in after.values()} == {"8"}  # every record rolled out
    moved = Counter((before[d][0], after[d][0]) for d in before)
    assert moved == predicted.matrix  # impact's matrix is what the rollout wrote
    written = writes_since(hubspot, started)
    assert written[IDS[0]] == 1  # by live traffic only
    assert set(written) == set(IDS) and max(written.values()) == 1  # each written once
    progress = current(store, now=datetime.now(UTC))
    assert progress is not None and progress.done == progress.total and progress.parked == 0
    exposition = service.metrics.render()[0].decode()
    assert f'icpbot_rollout_records{{state="done",version="8"}} {COMPANIES}.0' in exposition
    assert 'icpbot_rollout_records{state="remaining",version="8"} 0.0' in exposition
    assert 'icpbot_rollout_running{version="8"} 0.0' in exposition


def test_pause_holds_the_rollout_and_resume_finishes_it(
    hubspot: FakeHubSpot, settings: Settings, store: Engine, v8: Config
) -> None:
    service = build_service(settings, v8, sweep=False)  # the rollout begins here, not yet run
    found = current(store, now=datetime.now(UTC))
    assert found is not None and found.state == "running" and found.done == 0
    assert pause(store, version=8, now=datetime.now(UTC))
    service.start()
    try:
        time.sleep(3)
        paused = current(store, now=datetime.now(UTC))
        assert paused is not None and paused.state == "paused" and paused.done == 0
        assert {v for _, v in tiers(hubspot).values()} == {"7"}  # nothing written while paused
        assert resume(store, version=8, now=datetime.now(UTC))
        wait_for(
            lambda: (p := current(store, now=datetime.now(UTC))) and p.state == "done", seconds=60
        )
    finally:
        service.stop()
    assert {v for _, v in tiers(hubspot).values()} == {"8"}


@pytest.fixture
def v7_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "deployed"
    directory.mkdir()
    for name in ("fields.yaml", "routing.yaml", "digest.yaml", "icp.yaml"):
        (directory / name).write_text((ROOT / "config" / name).read_text())
    return directory


def test_a_reload_serves_a_new_version_and_refuses_a_bad_one(
    hubspot: FakeHubSpot, settings: Settings, store: Engine, v7_dir: Path
) -> None:
    service = build_service(settings, load_config(v7_dir), sweep=False)
    service.start()
    try:
        icp = v7_dir / "icp.yaml"
        assert service.reload() == "reload: ICP v7 unchanged"
        icp.write_text(CONFIG.icp_text.replace("between: [200, 800]", "betwen: [200, 800]", 1))
        refused = service.reload()
        assert "still serving ICP v7" in refused
        assert "icp.yaml:" in refused and "midmarket-saas/headcount" in refused
        icp.write_text(CONFIG.icp_text.replace("weight: 15", "weight: 25", 1))
        assert "bump `version`" in service.reload()
        assert service.tagger is not None and service.tagger.version == 7
        assert current(store, now=datetime.now(UTC)) is None  # nothing to roll out yet
        icp.write_text(icp_v8_text())
        assert service.reload() == "reload: serving ICP v8 (was v7); rolling it out"
        assert service.pipelines["hubspot"].tagger.version == 8
        wait_for(
            lambda: (p := current(store, now=datetime.now(UTC))) and p.state == "done", seconds=60
        )
    finally:
        service.stop()
    assert {v for _, v in tiers(hubspot).values()} == {"8"}


def test_sighup_reloads_a_running_serve(
    hubspot: FakeHubSpot, settings: Settings, store: Engine, v7_dir: Path, tmp_path: Path
) -> None:
    env = {
        "ICPBOT_DATABASE_URL": settings.database_url,
        "ICPBOT_CONFIG_DIR": str(v7_dir),
        "ICPBOT_HUBSPOT_SWEEP_SECONDS": "3600",
        "HUBSPOT_ACCESS_TOKEN": hubspot.token,
        "HUBSPOT_CLIENT_SECRET": SECRET,
        "HUBSPOT_API_URL": hubspot.url,
    }
    served = ServeProcess(env, tmp_path / "serve.log")
    try:
        (v7_dir / "icp.yaml").write_text(icp_v8_text())
        os.kill(served.proc.pid, signal.SIGHUP)
        wait_for(
            lambda: (p := current(store, now=datetime.now(UTC))) and p.state == "done", seconds=60
        )
    finally:
        served.stop()
    assert "serving ICP v8 (was v7)" in (tmp_path / "serve.log").read_text()
    assert {v for _, v in tiers(hubspot).values()} == {"8"}


def test_a_rollout_replies_in_threads_and_sums_up_a_crowded_channel(
    hubspot: FakeHubSpot, settings: Settings, tmp_path: Path, v8: Config
) -> None:
    """No new routing post; a moved account's post gets a reply in its thread, or, when
    more than a handful moved in one channel, one summary post there says so."""
    with FakeSlack(channels=CHANNELS, users=USERS) as slack:
        chat = Settings(  # type: ignore[call-arg]
            _env_file=None,
            ICPBOT_DATABASE_URL=settings.database_url,
            ICPBOT_LEASE_SECONDS="5",
            HUBSPOT_ACCESS_TOKEN=hubspot.token,
            HUBSPOT_CLIENT_SECRET=SECRET,
            HUBSPOT_API_URL=hubspot.url,
            SLACK_BOT_TOKEN=slack.token,
            SLACK_SIGNING_SECRET=SLACK_SECRET,
            SLACK_API_URL=slack.api_url,
        )
        deployed = build_service(chat, CONFIG, sweep=False)  # v7, routing new leads
        deployed.start()
        try:
            for start in range(0, COMPANIES, 10):  # as webhooks would bring them
                batch = IDS[start : start + 10]
                deployed.pipelines["hubspot"].process(
                    RecordKind.ACCOUNT, batch, now=datetime.now(UTC)
                )
            assert deployed.poster is not None
            wait_for(lambda: slack.messages() and deployed.poster.run_once() == 0, seconds=60)
        finally:
            deployed.stop()
        posts_before = {(m.channel, m.ts) for m in slack.messages() if m.thread_ts is None}
        assert posts_before
        rolled = build_service(chat, v8, sweep=False)
        rolled.start()
        try:
            database = rolled.database
            wait_for(
                lambda: (p := current(database, now=datetime.now(UTC))) and p.state == "done",
                seconds=60,
            )
            assert rolled.poster is not None
            wait_for(lambda: rolled.poster.run_once() == 0, seconds=30)
        finally:
            rolled.stop()
        new_posts = [
            m
            for m in slack.messages()
            if m.thread_ts is None and (m.channel, m.ts) not in posts_before
        ]
        replies = [m for m in slack.messages() if m.thread_ts is not None]
    assert new_posts and replies, "v8 moves many accounts of one channel and a few of another"
    assert all("re-scored" in m.text for m in new_posts)  # summaries only: no routing post
    assert all(m.thread_ts in {ts for _, ts in posts_before} for m in replies)


def test_revops_sees_pauses_and_resumes_a_rollout(store: Engine, settings: Settings) -> None:
    env = {"ICPBOT_DATABASE_URL": settings.database_url}
    none = icpbot("rollout", env=env)
    assert none.returncode == 0 and "no rollout yet" in none.stderr
    nothing = icpbot("rollout", "--pause", env=env)
    assert nothing.returncode == 1 and "nothing to pause" in nothing.stderr
    with open_session(store) as session:
        Tagger(
            Scorer(parse_icp(icp_v8_text(), source="icp.yaml", fields=CONFIG.fields.types)[0])
        ).record_version(session=session, icp_text=icp_v8_text(), now=datetime.now(UTC))
    assert begin_rollout(store, version=8, now=datetime.now(UTC)) is not None
    shown = icpbot("rollout", "--status", env=env)
    assert shown.returncode == 0
    assert f"ICP v8 rollout: running, 0 of {COMPANIES} records (0%)" in shown.stdout
    paused = icpbot("rollout", "--pause", env=env)
    assert "ICP v8 rollout: paused" in paused.stdout
    again = icpbot("rollout", "--pause", env=env)
    assert "nothing to pause" in again.stderr
    resumed = icpbot("rollout", "--resume", env=env)
    assert "ICP v8 rollout: running" in resumed.stdout
    status = icpbot("status", env=env)
    assert "ICP v8 rollout: running" in status.stdout
    both = icpbot("rollout", "--pause", "--resume", env=env)
    assert both.returncode == 2
