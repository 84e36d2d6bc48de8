"""Salesforce end to end: the poll, the worker, the CLI, and Slack, against the TLS fake.

Real simple-salesforce over HTTPS to the wire-level fake; Slack requests
reach `icpbot serve` signed, over HTTP, and the app answers through the
fake Slack Web API.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlalchemy import Engine as Database

from bot.config import load_config
from bot.intake.web import ServerThread
from bot.service import Service, build_service
from bot.settings import Settings
from bot.store.db import session as open_session
from bot.sync.connect import ApiBudget
from bot.sync.pipeline import Pipeline
from bot.sync.sweep import Sweeper, sweep
from bot.sync.tagging import Tagger
from bot.sync.worker import SALESFORCE_SOURCES, Worker
from bot.views.routing_post import CLAIM
from integrations.ratelimit import RateLimiter
from integrations.retries import CrmCaller, RetryPolicy
from integrations.salesforce import SalesforceCrm, classify, token_connection
from scoring.engine import Scorer
from tests.bot.test_slack_app import CHANNELS, SLACK_SECRET, USERS, wait_for
from tests.fakes.salesforce import SHIPPED_CUSTOM, FakeSalesforce
from tests.fakes.slack import FakeSlack
from tests.fakes.slack_requests import (
    block_action,
    command_body,
    interaction_body,
    signature_headers,
)
from tests.support import Woken

ROOT = Path(__file__).resolve().parents[2]
CONFIG = load_config(ROOT / "config", today=datetime(2026, 11, 20).date())
A_TIER = {
    "Industry": "Software",
    "NumberOfEmployees": 300,
    "AnnualRevenue": 20_000_000.0,
    "BillingCountry": "US",
    "Technologies__c": "hubspot;salesforce",
    "Sales_Motion__c": "sales-led",
    "Has_RevOps__c": True,
    "Last_Funding_Date__c": "2026-06-01",
}


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeSalesforce]:
    with FakeSalesforce(custom_fields=SHIPPED_CUSTOM) as server:
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", server.ca_file)
        yield server


def a_tier(fake: FakeSalesforce, domain: str, **values: Any) -> str:
    name = domain.split(".")[0].title()
    return fake.add(
        "Account", {"Name": name, "Website": f"https://www.{domain}", **A_TIER, **values}
    )


def salesforce(fake: FakeSalesforce) -> SalesforceCrm:
    policy = RetryPolicy(attempts=3, initial=0.01, max_backoff=0.02)
    caller = CrmCaller(
        crm="salesforce", limiter=RateLimiter(1000, 1.0), classify=classify, policy=policy
    )
    return SalesforceCrm(
        connect=lambda: token_connection(
            instance_url=fake.url, access_token="test-token", version="62.0"
        ),
        caller=caller,
        field_map=CONFIG.fields,
    )


def worker(crm: SalesforceCrm, database: Database) -> Worker:
    tagger = Tagger(Scorer(CONFIG.icp))
    with open_session(database) as session:
        tagger.record_version(session=session, icp_text=CONFIG.icp_text, now=datetime.now(UTC))
    pipeline = Pipeline(crm=crm, database=database, tagger=tagger)
    return Worker(database=database, pipeline=pipeline, sources=SALESFORCE_SOURCES)


def composite_writes(fake: FakeSalesforce) -> int:
    return len([r for r in fake.requests() if r.path.endswith("/composite/sobjects")])


# -- the poll ----------------------------------------------------------------------------------


def test_the_poll_tags_new_records_and_its_own_writes_do_not_loop(
    fake: FakeSalesforce, database: Database
) -> None:
    acme = a_tier(fake, "acme.com")
    lead = fake.add(
        "Lead",
        {"LastName": "Reyes", "Email": "vp@acme.com", "Company": "Acme", "Title": "VP Sales"},
    )
    crm, now = salesforce(fake), datetime.now(UTC)
    run = worker(crm, database)
    assert sweep(crm=crm, database=database, now=now) == 2
    run.run_once()
    assert fake.row("Account", acme)["ICP_Tier__c"] == "A"
    assert fake.row("Lead", lead)["ICP_Persona_Score__c"] > 0
    assert composite_writes(fake) == 2
    # our writes moved SystemModstamp: polled once more, read, found equal, not written again
    assert sweep(crm=crm, database=database, now=datetime.now(UTC)) == 2
    run.run_once()
    assert composite_writes(fake) == 2
    fake.touch("Account", acme, NumberOfEmployees=5)  # someone edits it in Salesforce
    assert sweep(crm=crm, database=database, now=datetime.now(UTC)) >= 1
    run.run_once()
    assert fake.row("Account", acme)["ICP_Tier__c"] != "A"
    assert fake.row("Lead", lead)["ICP_Tier__c"] == "A"  # the lead follows next
    assert run.run_once() == 1
    assert fake.row("Lead", lead)["ICP_Tier__c"] == fake.row("Account", acme)["ICP_Tier__c"]


def test_polling_holds_while_the_daily_api_budget_is_spent(
    fake: FakeSalesforce, database: Database
) -> None:
    crm = salesforce(fake)
    a_tier(fake, "acme.com")
    fake.set_api_usage(95_000)
    crm.count(crm.person_kind)  # any answer carries Sforce-Limit-Info
    poller = Sweeper(
        crm=crm,
        database=database,
        interval=0.05,
        drain=Woken(),
        hold=ApiBudget(crm, 0.8, recheck=60).exceeded,
    )
    poller.start()
    try:
        wait_for(lambda: len(fake.requests()) >= 2)  # the count, then one limits re-read
        before = len(fake.requests())
        time.sleep(0.3)
        assert len(fake.requests()) == before  # no SOQL while the budget is spent
    finally:
        poller.stop()
    assert not [q for q in fake.queries() if "SystemModstamp >=" in q]


# -- the command line --------------------------------------------------------------------------


def icpbot(fake: FakeSalesforce, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ICPBOT_", "SALESFORCE_"))}
    env.update(
        SALESFORCE_INSTANCE_URL=fake.url,
        SALESFORCE_ACCESS_TOKEN="test-token",
        REQUESTS_CA_BUNDLE=fake.ca_file,
        ICPBOT_DATABASE_URL=f"sqlite:///{tmp_path}/icpbot.db",
        ICPBOT_CONFIG_DIR=str(ROOT / "config"),
    )
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=120,
        check=False,
    )


def test_setup_then_backfill_from_the_command_line_resumes_after_a_failure(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    with FakeSalesforce(icp_fields=False, custom_fields=SHIPPED_CUSTOM) as fake:
        setup = icpbot(fake, tmp_path, "crm", "setup", "salesforce")
        assert setup.returncode == 0, setup.stderr
        assert "13 created, 0 already there" in setup.stdout and "ICP_Fields" in setup.stdout
        ids = [a_tier(fake, f"c{n}.com") for n in range(450)]
        fake.fail_next(1, status=400, path="composite", code="INVALID_FIELD")
        failed = icpbot(fake, tmp_path, "backfill", "--crm", "salesforce")
        assert failed.returncode == 1 and "Nothing is lost" in failed.stderr
        assert "INVALID_FIELD" in failed.stderr and "Traceback" not in failed.stderr
        done = icpbot(fake, tmp_path, "backfill", "--crm", "salesforce")
        assert done.returncode == 0, done.stderr
        assert all(fake.row("Account", i).get("ICP_Tier__c") == "A" for i in ids)


def test_serve_reports_a_refused_token_by_name(fake: FakeSalesforce, tmp_path: Path) -> None:
    env_token = {"SALESFORCE_ACCESS_TOKEN": "expired"}
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("ICPBOT_", "SLACK_"))}
    environment.update(
        SALESFORCE_INSTANCE_URL=fake.url,
        REQUESTS_CA_BUNDLE=fake.ca_file,
        ICPBOT_DATABASE_URL=f"sqlite:///{tmp_path}/icpbot.db",
        ICPBOT_PORT="0",
        **env_token,
    )
    done = subprocess.run(
        [sys.executable, "-m", "bot", "serve"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=environment,
        timeout=120,
        check=False,
    )
    assert done.returncode == 1
    assert "Salesforce: HTTP 401: INVALID_SESSION_ID" in done.stderr
    assert "Traceback" not in done.stderr


# -- Slack -------------------------------------------------------------------------------------


@dataclass
class Bot:
    service: Service
    url: str
    salesforce: FakeSalesforce
    slack: FakeSlack

    def post(self, body: bytes, content_type: str) -> requests.Response:
        return requests.post(
            self.url + "/slack/events",
            data=body,
            timeout=10,
            headers={"Content-Type": content_type, **signature_headers(body, secret=SLACK_SECRET)},
        )

    def command(self, text: str) -> requests.Response:
        body = command_body(text, user="U0DANA", response_url=self.slack.response_url())
        return self.post(body, "application/x-www-form-urlencoded")


@pytest.fixture
def bot(fake: FakeSalesforce, tmp_path: Path) -> Iterator[Bot]:
    with FakeSlack(channels=CHANNELS, users=USERS) as slack:
        values: dict[str, object] = {
            "ICPBOT_DATABASE_URL": f"sqlite:///{tmp_path / 'icpbot.db'}",
            "SALESFORCE_INSTANCE_URL": fake.url,
            "SALESFORCE_ACCESS_TOKEN": "test-token",
            "ICPBOT_SALESFORCE_POLL_SECONDS": "0.1",
            "SLACK_BOT_TOKEN": slack.token,
            "SLACK_SIGNING_SECRET": SLACK_SECRET,
            "SLACK_API_URL": slack.api_url,
        }
        settings = Settings(_env_file=None, **values)  # type: ignore[arg-type]
        policy = RetryPolicy(attempts=3, initial=0.01, max_backoff=0.02)
        service = build_service(settings, CONFIG, policy=policy)
        assert service.poster is not None
        service.poster.pace = 0.05
        service.start()
        try:
            with ServerThread(service.app) as url:
                yield Bot(service, url, fake, slack)
        finally:
            service.stop()
            service.database.dispose()


def test_a_polled_account_is_routed_and_claim_sets_its_owner_id(bot: Bot) -> None:
    dana = bot.salesforce.add_user("dana.reyes@example.com")
    acme = a_tier(bot.salesforce, "acme.com")
    post = wait_for(
        lambda: [m for m in bot.slack.messages("C0A") if "acme.com" in json.dumps(m.blocks)]
    )[0]
    assert f"{bot.salesforce.url}/lightning/r/Account/{acme}/view" in json.dumps(post.blocks)
    click = block_action(
        {"action_id": CLAIM, "type": "button", "value": "acme.com"},
        message={"ts": post.ts, "blocks": post.blocks},
        response_url=bot.slack.response_url(),
    )
    assert bot.post(interaction_body(click), "application/x-www-form-urlencoded").status_code == 200
    wait_for(lambda: bot.salesforce.row("Account", acme).get("OwnerId") == dana)
    assert "is yours in Salesforce" in wait_for(lambda: bot.slack.responses)[0].body["text"]


def test_icp_on_a_lead_link_fetches_it_from_salesforce(bot: Bot) -> None:
    bot.service.stop()  # no poll: the lead is not stored when /icp asks for it
    lead = bot.salesforce.add(
        "Lead",
        {
            "LastName": "Reyes",
            "Email": "vp@initech.com",
            "Company": "Initech",
            "Title": "VP Sales",
            "Industry": "Software",
            "NumberOfEmployees": 400,
        },
    )
    link = f"https://acme.lightning.force.com/lightning/r/Lead/{lead}/view"
    answer = bot.command(link)
    assert answer.status_code == 200
    assert "looking it up in Salesforce" in answer.json()["text"]
    response = wait_for(lambda: bot.slack.responses)[0]
    text = json.dumps(response.body["blocks"])
    assert "Initech" in text and "initech.com" in text and "VP Sales" in text
    assert bot.salesforce.row("Lead", lead).get("ICP_Tier__c")
