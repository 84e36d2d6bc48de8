"""`icpbot serve` end to end: the composition root with each CRM, Slack and the schedule.

Requests reach the service as HubSpot and Slack send them, signed, over HTTP;
it talks to the wire-level fakes through the real SDKs.
"""

from __future__ import annotations

import dataclasses
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
import requests
from sqlalchemy import Engine

from bot.schedule import Scheduler
from bot.service import Service, build_service
from bot.settings import Settings
from bot.sync.ageing import JOB_ID as AGEING_JOB_ID
from bot.sync.connect import MissingSettings, hubspot_crm
from bot.views.routing_post import CLAIM
from integrations.retries import RetryPolicy
from tests.fakes.hubspot import FakeHubSpot
from tests.fakes.salesforce import SHIPPED_CUSTOM, FakeSalesforce
from tests.fakes.slack import FakeSlack
from tests.fakes.slack_requests import (
    block_action,
    command_body,
    interaction_body,
    signature_headers,
)
from tests.fakes.webhooks import creation_event, signed_delivery
from tests.support import (
    CHANNELS,
    CONFIG,
    MONDAY_9,
    NEW_YORK,
    SLACK_SECRET,
    USERS,
    ServerThread,
    a_tier,
    icpbot,
    wait_for,
)

SECRET = "bench-client-secret"


# -- HubSpot: a signed webhook in, the company tagged ----------------------------------------------


def hubspot_settings(fake_hubspot: FakeHubSpot, tmp_path: Path, **extra: object) -> Settings:
    values: dict[str, object] = {
        "ICPBOT_DATABASE_URL": f"sqlite:///{tmp_path / 'icpbot.db'}",
        "HUBSPOT_ACCESS_TOKEN": fake_hubspot.token,
        "HUBSPOT_CLIENT_SECRET": SECRET,
        "HUBSPOT_API_URL": fake_hubspot.url,
        **extra,
    }
    return Settings(_env_file=None, **values)  # type: ignore[arg-type]


@pytest.fixture
def fake_hubspot() -> Iterator[FakeHubSpot]:
    with FakeHubSpot(rate_limit=None) as server:
        portal = Settings(
            _env_file=None, HUBSPOT_ACCESS_TOKEN=server.token, HUBSPOT_API_URL=server.url
        )  # type: ignore[call-arg]
        hubspot_crm(portal, CONFIG).setup()  # the portal after `icpbot crm setup hubspot`
        yield server


@pytest.fixture
def served(fake_hubspot: FakeHubSpot, tmp_path: Path) -> Iterator[tuple[Service, str]]:
    policy = RetryPolicy(attempts=3, initial=0.01, max_backoff=0.02)
    service = build_service(
        hubspot_settings(fake_hubspot, tmp_path), CONFIG, policy=policy, sweep=False
    )
    service.start()
    try:
        with ServerThread(service.app) as base_url:
            yield service, base_url
    finally:
        service.stop()
        service.database.dispose()


def post(url: str, events: list[dict]) -> requests.Response:
    prepared = signed_delivery(url, events, secret=SECRET)
    return requests.post(url, data=prepared.data, headers=dict(prepared.header_items()), timeout=10)


def test_a_new_company_is_tagged_in_hubspot_after_its_webhook(
    fake_hubspot: FakeHubSpot, served: tuple[Service, str]
) -> None:
    _, base_url = served
    acme = fake_hubspot.add_company(
        {"domain": "acme.com", "name": "Acme", "industry": "software", "numberofemployees": "300"}
    )
    delivery = [creation_event(acme, 1)]
    answer = post(base_url + "/webhooks/hubspot", delivery)
    assert answer.status_code == 200
    assert wait_for(lambda: bool(fake_hubspot.company(acme).get("icp_tier")), seconds=10.0)
    again = post(base_url + "/webhooks/hubspot", delivery)  # HubSpot retrying
    assert again.status_code == 200
    assert again.json()["stored"] == 0
    tagged = 'icpbot_records_tagged_total{crm="hubspot",kind="account"} 1.0'
    # the worker counts a batch once its write-back returns: a moment after HubSpot has it
    assert wait_for(
        lambda: tagged in requests.get(base_url + "/metrics", timeout=10).text, seconds=10.0
    )
    assert requests.get(base_url + "/healthz", timeout=10).json()["status"] == "ok"


def test_an_unsigned_delivery_is_refused_and_nothing_is_tagged(
    fake_hubspot: FakeHubSpot, served: tuple[Service, str]
) -> None:
    _, base_url = served
    acme = fake_hubspot.add_company({"domain": "acme.com", "name": "Acme"})
    answer = requests.post(
        base_url + "/webhooks/hubspot", json=[creation_event(acme, 1)], timeout=10
    )
    assert answer.status_code == 401
    time.sleep(0.3)
    assert not fake_hubspot.company(acme).get("icp_tier")


def test_serving_hubspot_without_the_client_secret_names_the_setting(
    fake_hubspot: FakeHubSpot, tmp_path: Path
) -> None:
    with pytest.raises(MissingSettings, match="HUBSPOT_CLIENT_SECRET"):
        build_service(hubspot_settings(fake_hubspot, tmp_path, HUBSPOT_CLIENT_SECRET=None), CONFIG)


# -- Salesforce: polled, routed in Slack, claimed and asked about there ----------------------------


@pytest.fixture
def fake_salesforce(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeSalesforce]:
    with FakeSalesforce(custom_fields=SHIPPED_CUSTOM) as server:
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", server.ca_file)
        yield server


def test_serve_reports_a_refused_token_by_name(
    fake_salesforce: FakeSalesforce, tmp_path: Path
) -> None:
    env = {
        "SALESFORCE_INSTANCE_URL": fake_salesforce.url,
        "REQUESTS_CA_BUNDLE": fake_salesforce.ca_file,
        "ICPBOT_DATABASE_URL": f"sqlite:///{tmp_path}/icpbot.db",
        "ICPBOT_PORT": "0",
        "SALESFORCE_ACCESS_TOKEN": "expired",
    }
    done = icpbot("serve", env=env)
    assert done.returncode == 1
    assert "Salesforce: HTTP 401: INVALID_SESSION_ID" in done.stderr
    assert "Traceback" not in done.stderr


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
def bot(fake_salesforce: FakeSalesforce, tmp_path: Path) -> Iterator[Bot]:
    with FakeSlack(channels=CHANNELS, users=USERS) as slack:
        values: dict[str, object] = {
            "ICPBOT_DATABASE_URL": f"sqlite:///{tmp_path / 'icpbot.db'}",
            "SALESFORCE_INSTANCE_URL": fake_salesforce.url,
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
                yield Bot(service, url, fake_salesforce, slack)
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


# -- the schedule: the daily re-score beside the digest --------------------------------------------


def test_serve_schedules_the_daily_rescore_in_the_team_timezone(tmp_path: Path) -> None:
    settings = Settings(
        _env_file=None,
        ICPBOT_DATABASE_URL=f"sqlite:///{tmp_path / 'icpbot.db'}",
        ICPBOT_RESCORE_CRON="30 4 * * *",
    )  # type: ignore[call-arg]
    config = dataclasses.replace(CONFIG, digest=MONDAY_9)
    service = build_service(settings, config, sweep=False)
    (part,) = [p for p in service.background if isinstance(p, Scheduler)]
    # no Slack: no digest, but scores still age
    assert [(j.id, j.trigger.timezone) for j in part.jobs] == [(AGEING_JOB_ID, NEW_YORK)]
    fire = part.jobs[0].trigger.get_next_fire_time(None, datetime(2026, 11, 23, tzinfo=UTC))
    assert fire is not None and (fire.hour, fire.minute) == (4, 30)
    service.database.dispose()


@pytest.mark.db
def test_a_second_replica_starts_while_the_first_leads_the_schedule(db_engine: Engine) -> None:
    """A rolling deploy or a scale-out: the second `serve` migrates and stands by at once,
    however long the first holds the scheduler's lock."""
    url = db_engine.url.render_as_string(hide_password=False)
    settings = Settings(_env_file=None, ICPBOT_DATABASE_URL=url)  # type: ignore[call-arg]
    first = build_service(settings, CONFIG, sweep=False)
    first.start()
    second: list[Service] = []
    starting = threading.Thread(
        target=lambda: second.append(build_service(settings, CONFIG, sweep=False)), daemon=True
    )
    try:
        (leader,) = [p for p in first.background if isinstance(p, Scheduler)]
        wait_for(lambda: leader.scheduler is not None)
        starting.start()
        starting.join(20)
        assert second, "the second replica did not finish starting while the first leads"
        second[0].start()
        (standby,) = [p for p in second[0].background if isinstance(p, Scheduler)]
        time.sleep(0.3)
        assert standby.scheduler is None  # one leader: the second waits to take over
    finally:
        first.stop()
        first.database.dispose()
        if starting.is_alive():
            starting.join(20)
        for service in second:
            service.stop()
            service.database.dispose()
