"""The sweep: HubSpot's safety net for missed webhooks, and how Salesforce is heard at all.

Real SDKs over HTTP(S) to the wire-level fakes, a real SQLite database per
test; the worker follows each sweep, and its own write-backs never loop.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine as Database

from bot.store.db import session as open_session
from bot.sync.connect import ApiBudget
from bot.sync.pipeline import Pipeline
from bot.sync.sweep import Sweeper, sweep
from bot.sync.tagging import Tagger
from bot.sync.worker import SALESFORCE_SOURCES, Worker
from integrations.records import RecordKind
from integrations.salesforce import SalesforceCrm
from scoring.engine import Scorer
from tests.fakes.hubspot import FakeHubSpot
from tests.fakes.salesforce import SHIPPED_CUSTOM, FakeSalesforce
from tests.support import (
    CONFIG,
    Clock,
    Woken,
    a_tier,
    hubspot,
    saas,
    salesforce,
    wait_for,
    worker,
    writes,
)

# -- HubSpot's sweep -----------------------------------------------------------------------------


def test_the_sweep_finds_what_webhooks_missed_and_its_own_writes_do_not_loop(
    fake_hubspot: FakeHubSpot, database: Database
) -> None:
    clock = Clock()
    clock.now = datetime.now(UTC)
    acme = saas(fake_hubspot, "acme.com")
    crm = hubspot(fake_hubspot)
    run = worker(fake_hubspot, database, clock)
    assert sweep(crm=crm, database=database, now=clock()) == 1
    run.run_once()
    assert fake_hubspot.company(acme)["icp_tier"]
    assert len(writes(fake_hubspot)) == 1
    # our write bumped the modification time: seen once more, read, found equal, not written
    assert sweep(crm=crm, database=database, now=clock()) == 1
    run.run_once()
    assert len(writes(fake_hubspot)) == 1
    assert sweep(crm=crm, database=database, now=clock()) == 0


# -- Salesforce's poll ---------------------------------------------------------------------------


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeSalesforce]:
    with FakeSalesforce(custom_fields=SHIPPED_CUSTOM) as server:
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", server.ca_file)
        yield server


def salesforce_worker(crm: SalesforceCrm, database: Database) -> Worker:
    tagger = Tagger(Scorer(CONFIG.icp))
    with open_session(database) as session:
        tagger.record_version(session=session, icp_text=CONFIG.icp_text, now=datetime.now(UTC))
    pipeline = Pipeline(crm=crm, database=database, tagger=tagger)
    return Worker(database=database, pipeline=pipeline, sources=SALESFORCE_SOURCES)


def composite_writes(fake: FakeSalesforce) -> int:
    return len([r for r in fake.requests() if r.path.endswith("/composite/sobjects")])


def test_the_poll_tags_new_records_and_its_own_writes_do_not_loop(
    fake: FakeSalesforce, database: Database
) -> None:
    acme = a_tier(fake, "acme.com")
    lead = fake.add(
        "Lead",
        {"LastName": "Reyes", "Email": "vp@acme.com", "Company": "Acme", "Title": "VP Sales"},
    )
    crm, now = salesforce(fake), datetime.now(UTC)
    run = salesforce_worker(crm, database)
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


def test_a_poll_woken_runs_at_once_not_at_its_next_interval(
    fake: FakeSalesforce, database: Database
) -> None:
    """Change Data Capture wakes the slow safety-net poll when it lost track (an overflow,
    a replay id no longer kept): the round runs then, not an interval later."""
    crm = salesforce(fake)
    a_tier(fake, "acme.com")
    poller = Sweeper(crm=crm, database=database, interval=3600, drain=Woken())
    poller.start()
    try:
        time.sleep(0.2)
        assert not [q for q in fake.queries() if "SystemModstamp >=" in q]
        poller.wake()
        wait_for(lambda: [q for q in fake.queries() if "SystemModstamp >=" in q])
    finally:
        started = time.monotonic()
        poller.stop()
    assert time.monotonic() - started < 5  # stopping does not wait out the hour


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


def test_polling_holds_after_salesforce_refuses_the_daily_limit_and_resumes(
    fake: FakeSalesforce, database: Database
) -> None:
    """REQUEST_LIMIT_EXCEEDED is the org's daily limit: the poll holds and says why, the
    limits are read again every `recheck`, and polling resumes once Salesforce answers."""
    crm = salesforce(fake)
    acme = a_tier(fake, "acme.com")
    fake.fail_next(3, status=403, code="REQUEST_LIMIT_EXCEEDED")
    with pytest.raises(Exception):  # noqa: B017  (the adapter's own error, not retried)
        crm.fetch(RecordKind.ACCOUNT, [acme])
    assert len(fake.requests()) == 1 and crm.limit_refused()
    budget = ApiBudget(crm, 0.8, recheck=0.2)
    said = budget.exceeded()  # the limits re-read is refused too (the 2nd injected failure)
    assert said is not None and "REQUEST_LIMIT_EXCEEDED" in said
    assert budget.exceeded() is not None  # within `recheck`: nothing asked
    assert len(fake.requests()) == 2
    time.sleep(0.25)
    assert budget.exceeded() is not None  # refused again (the 3rd)
    time.sleep(0.25)
    assert budget.exceeded() is None  # Salesforce answers: poll again
    assert not crm.limit_refused()
