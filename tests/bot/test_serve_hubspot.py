"""`icpbot serve` end to end: a signed webhook in, the company tagged in the fake HubSpot."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
import requests

from bot.config import load_config
from bot.intake.web import ServerThread
from bot.service import Service, build_service
from bot.settings import Settings
from bot.sync.connect import MissingSettings, hubspot_crm
from integrations.retries import RetryPolicy
from tests.fakes.hubspot import FakeHubSpot
from tests.fakes.webhooks import creation_event, signed_delivery

ROOT = Path(__file__).resolve().parents[2]
CONFIG = load_config(ROOT / "config", today=datetime(2026, 11, 20).date())
SECRET = "bench-client-secret"


def settings(fake: FakeHubSpot, tmp_path: Path, **extra: object) -> Settings:
    values: dict[str, object] = {
        "ICPBOT_DATABASE_URL": f"sqlite:///{tmp_path / 'icpbot.db'}",
        "HUBSPOT_ACCESS_TOKEN": fake.token,
        "HUBSPOT_CLIENT_SECRET": SECRET,
        "HUBSPOT_API_URL": fake.url,
        **extra,
    }
    return Settings(_env_file=None, **values)  # type: ignore[arg-type]


@pytest.fixture
def fake() -> Iterator[FakeHubSpot]:
    with FakeHubSpot(rate_limit=None) as server:
        portal = Settings(
            _env_file=None, HUBSPOT_ACCESS_TOKEN=server.token, HUBSPOT_API_URL=server.url
        )  # type: ignore[call-arg]
        hubspot_crm(portal, CONFIG).setup()  # the portal after `icpbot crm setup hubspot`
        yield server


@pytest.fixture
def served(fake: FakeHubSpot, tmp_path: Path) -> Iterator[tuple[Service, str]]:
    policy = RetryPolicy(attempts=3, initial=0.01, max_backoff=0.02)
    service = build_service(settings(fake, tmp_path), CONFIG, policy=policy, sweep=False)
    service.start()
    try:
        with ServerThread(service.app) as base_url:
            yield service, base_url
    finally:
        service.stop()
        service.database.dispose()


def wait_for(check, seconds: float = 10.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.02)
    return False


def post(url: str, events: list[dict]) -> requests.Response:
    prepared = signed_delivery(url, events, secret=SECRET)
    return requests.post(url, data=prepared.data, headers=dict(prepared.header_items()), timeout=10)


def test_a_new_company_is_tagged_in_hubspot_after_its_webhook(
    fake: FakeHubSpot, served: tuple[Service, str]
) -> None:
    _, base_url = served
    acme = fake.add_company(
        {"domain": "acme.com", "name": "Acme", "industry": "software", "numberofemployees": "300"}
    )
    delivery = [creation_event(acme, 1)]
    answer = post(base_url + "/webhooks/hubspot", delivery)
    assert answer.status_code == 200
    assert wait_for(lambda: bool(fake.company(acme).get("icp_tier")))
    again = post(base_url + "/webhooks/hubspot", delivery)  # HubSpot retrying
    assert again.status_code == 200
    assert again.json()["stored"] == 0
    tagged = 'icpbot_records_tagged_total{crm="hubspot",kind="account"} 1.0'
    # the worker counts a batch once its write-back returns: a moment after HubSpot has it
    assert wait_for(lambda: tagged in requests.get(base_url + "/metrics", timeout=10).text)
    assert requests.get(base_url + "/healthz", timeout=10).json()["status"] == "ok"


def test_an_unsigned_delivery_is_refused_and_nothing_is_tagged(
    fake: FakeHubSpot, served: tuple[Service, str]
) -> None:
    _, base_url = served
    acme = fake.add_company({"domain": "acme.com", "name": "Acme"})
    answer = requests.post(
        base_url + "/webhooks/hubspot", json=[creation_event(acme, 1)], timeout=10
    )
    assert answer.status_code == 401
    time.sleep(0.3)
    assert not fake.company(acme).get("icp_tier")


def test_serving_hubspot_without_the_client_secret_names_the_setting(
    fake: FakeHubSpot, tmp_path: Path
) -> None:
    with pytest.raises(MissingSettings, match="HUBSPOT_CLIENT_SECRET"):
        build_service(settings(fake, tmp_path, HUBSPOT_CLIENT_SECRET=None), CONFIG)
