"""Deals reach the store: by a backfill, and while `serve` runs, by the sweep and the poll.

Real SDKs over HTTP(S) to the wire-level fakes, a real SQLite database per
test. The serve tests build the service as `icpbot serve` does and wait for
a deal closed after it started to be stored with its outcome.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine as Database
from sqlmodel import col, select

from bot.service import build_service
from bot.settings import Settings
from bot.store import checkpoints
from bot.store.db import session as open_session
from bot.store.tables import Deal
from bot.sync.backfill import backfill
from bot.sync.deals import deal_checkpoint, sweep_deals
from bot.sync.sweep import Sweeper
from bot.sync.tagging import Tagger
from integrations.fieldmap import FieldMap, parse_field_map
from integrations.hubspot import HubSpotCrm
from integrations.retries import RetryPolicy
from scoring.engine import Scorer
from tests.fakes.hubspot import FakeHubSpot
from tests.fakes.salesforce import SHIPPED_CUSTOM, FakeSalesforce
from tests.support import CONFIG, ROOT, Woken, a_tier, hubspot, saas, wait_for

FAST = RetryPolicy(attempts=3, initial=0.01, max_backoff=0.02)
CHURNED_STAGE = "87654321"


def fields_with_churn() -> FieldMap:
    """The shipped fields.yaml, with the team's "Churned" stage named for HubSpot."""
    shipped = (ROOT / "config" / "fields.yaml").read_text(encoding="utf-8")
    text = shipped.replace("churned_stages: []", "churned_stages: [Churned]", 1)
    fields, _ = parse_field_map(text, source="fields.yaml")
    assert fields.churned_stages("hubspot") == {"churned"}
    return fields


def stored(database: Database, crm: str) -> dict[str, tuple[str, str, datetime | None]]:
    """The stored deals of a CRM: (account domain, stage, closed at) by CRM id."""
    with open_session(database) as session:
        rows = session.exec(select(Deal).where(col(Deal.crm) == crm)).all()
        return {r.crm_id: (r.account_domain, r.stage, r.closed_at) for r in rows}


def closed_at(day: str) -> datetime:
    return datetime.fromisoformat(day).replace(tzinfo=UTC)


def stage_of(database: Database, crm: str, crm_id: str) -> str | None:
    found = stored(database, crm).get(crm_id)
    return found[1] if found else None


# -- the backfill ------------------------------------------------------------------------------


def test_a_hubspot_backfill_stores_every_deal_with_its_outcome(
    fake_hubspot: FakeHubSpot, database: Database
) -> None:
    fake_hubspot.add_deal_stage(CHURNED_STAGE, "Churned", probability=0.0, closed=True)
    acme, initech = saas(fake_hubspot, "acme.com"), saas(fake_hubspot, "initech.com")
    day = "2026-10-01T00:00:00.000Z"
    won = fake_hubspot.add_deal({"dealstage": "closedwon", "closedate": day}, company_id=acme)
    lost = fake_hubspot.add_deal({"dealstage": "closedlost", "closedate": day}, company_id=initech)
    churned = fake_hubspot.add_deal({"dealstage": CHURNED_STAGE, "closedate": day}, company_id=acme)
    still_open = fake_hubspot.add_deal({"dealstage": "contractsent", "closedate": day})
    fake_hubspot.associate_deal(still_open, initech)
    orphan = fake_hubspot.add_deal({"dealstage": "closedwon"})
    portal = hubspot(fake_hubspot)  # the adapter on the fake, with fields.yaml naming churn
    crm = HubSpotCrm(client=portal.client, caller=portal.call, field_map=fields_with_churn())

    def run() -> int:
        report = backfill(
            crm,
            database=database,
            tagger=Tagger(Scorer(CONFIG.icp)),
            now=datetime.now(UTC),
            icp_text=CONFIG.icp_text,
        )
        assert any(str(orphan) in str(row) for row in report.skipped_rows)  # named
        return report.deals

    assert run() == 4
    october = closed_at("2026-10-01")
    assert stored(database, "hubspot") == {
        won: ("acme.com", "closed_won", october),
        lost: ("initech.com", "closed_lost", october),
        churned: ("acme.com", "churned", october),
        still_open: ("initech.com", "open", None),
    }
    fake_hubspot.update_deal(still_open, {"dealstage": "closedwon"})
    assert run() == 4  # read again: updated in place, never a second row
    assert stored(database, "hubspot")[still_open] == ("initech.com", "closed_won", october)
    assert len(stored(database, "hubspot")) == 4


# -- the sweep ---------------------------------------------------------------------------------


def test_the_sweep_stores_changed_deals_from_its_own_checkpoint(
    fake_hubspot: FakeHubSpot, database: Database
) -> None:
    acme = saas(fake_hubspot, "acme.com")
    deal = fake_hubspot.add_deal({"dealstage": "contractsent"}, company_id=acme)
    crm = hubspot(fake_hubspot)
    later = datetime.now(UTC) + timedelta(hours=2)
    nothing = sweep_deals(crm=crm, database=database, now=later)  # looks back an hour only
    assert (nothing.stored, nothing.skipped, stored(database, "hubspot")) == (0, 0, {})
    with open_session(database) as session:
        checkpoints.clear(session=session, name=deal_checkpoint("hubspot"))
    first = sweep_deals(crm=crm, database=database, now=datetime.now(UTC))
    assert (first.stored, stage_of(database, "hubspot", deal)) == (1, "open")
    with open_session(database) as session:
        mark = checkpoints.get(session=session, name=deal_checkpoint("hubspot"))
    assert mark is not None
    fake_hubspot.update_deal(deal, {"dealstage": "closedlost"})
    orphan_changed = fake_hubspot.add_deal({"dealstage": "closedwon"})
    again = sweep_deals(crm=crm, database=database, now=datetime.now(UTC))
    assert (again.stored, again.skipped) == (1, 1)  # the one without a company is counted
    assert stored(database, "hubspot") == {deal: ("acme.com", "closed_lost", None)}
    assert [str(e) for e in crm.errors()] == [
        f"hubspot deal row {orphan_changed}: has no associated company"
    ]
    with open_session(database) as session:
        moved = checkpoints.get(session=session, name=deal_checkpoint("hubspot"))
    assert moved is not None and moved > mark
    searches = [r for r in fake_hubspot.requests if r.path == "/crm/v3/objects/deals/search"]
    since = int(searches[-1].body["filterGroups"][0]["filters"][0]["value"])
    assert since == int(datetime.fromisoformat(mark).timestamp() * 1000)  # from its checkpoint


def test_a_deal_sweep_that_fails_leaves_the_records_sweep_running(
    fake_hubspot: FakeHubSpot, database: Database, caplog: pytest.LogCaptureFixture
) -> None:
    """A token without the deals scope (403 on every deal call) must not stop the safety
    net for companies and contacts, and says why once, not every round."""
    saas(fake_hubspot, "acme.com")
    fake_hubspot.fail_next(1000, status=403, path="/crm/v3/objects/deals")
    woken = Woken()
    sweeper = Sweeper(crm=hubspot(fake_hubspot), database=database, interval=0.05, drain=woken)
    sweeper.start()
    try:
        wait_for(lambda: woken.times >= 1)  # the company was found and its worker woken
        wait_for(lambda: len([r for r in fake_hubspot.requests if "deals" in r.path]) >= 3)
    finally:
        sweeper.stop()
    assert caplog.text.count("hubspot deal sweep failed") == 1


# -- serve -------------------------------------------------------------------------------------


def test_serve_stores_a_hubspot_deal_closed_after_it_started(
    fake_hubspot: FakeHubSpot, tmp_path: Path
) -> None:
    acme = saas(fake_hubspot, "acme.com")
    deal = fake_hubspot.add_deal({"dealname": "Acme", "dealstage": "contractsent"}, company_id=acme)
    settings = Settings(
        _env_file=None,
        ICPBOT_DATABASE_URL=f"sqlite:///{tmp_path / 'icpbot.db'}",
        HUBSPOT_ACCESS_TOKEN=fake_hubspot.token,
        HUBSPOT_CLIENT_SECRET="client-secret",
        HUBSPOT_API_URL=fake_hubspot.url,
        ICPBOT_HUBSPOT_SWEEP_SECONDS=0.1,
    )  # type: ignore[call-arg]
    service = build_service(settings, CONFIG, policy=FAST)
    service.start()
    try:
        wait_for(lambda: stage_of(service.database, "hubspot", deal) == "open")
        day = "2026-11-19T00:00:00.000Z"
        fake_hubspot.update_deal(deal, {"dealstage": "closedwon", "closedate": day})
        wait_for(lambda: stage_of(service.database, "hubspot", deal) == "closed_won")
        found = stored(service.database, "hubspot")
    finally:
        service.stop()
        service.database.dispose()
    assert found == {deal: ("acme.com", "closed_won", closed_at("2026-11-19"))}


@pytest.fixture
def fake_salesforce(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeSalesforce]:
    with FakeSalesforce(custom_fields=SHIPPED_CUSTOM) as server:
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", server.ca_file)
        yield server


def test_serve_stores_a_salesforce_opportunity_closed_after_it_started(
    fake_salesforce: FakeSalesforce, tmp_path: Path
) -> None:
    acme = a_tier(fake_salesforce, "acme.com")
    opportunity = fake_salesforce.add(
        "Opportunity",
        {
            "Name": "Acme",
            "StageName": "Negotiation/Review",
            "IsWon": False,
            "IsClosed": False,
            "CloseDate": "2027-01-31",
            "AccountId": acme,
        },
    )
    settings = Settings(
        _env_file=None,
        ICPBOT_DATABASE_URL=f"sqlite:///{tmp_path / 'icpbot.db'}",
        SALESFORCE_INSTANCE_URL=fake_salesforce.url,
        SALESFORCE_ACCESS_TOKEN="test-token",
        ICPBOT_SALESFORCE_POLL_SECONDS=0.1,
    )  # type: ignore[call-arg]
    service = build_service(settings, CONFIG, policy=FAST)
    service.start()
    try:
        wait_for(lambda: stage_of(service.database, "salesforce", opportunity) == "open")
        fake_salesforce.touch(
            "Opportunity",
            opportunity,
            StageName="Closed Lost",
            IsClosed=True,
            CloseDate="2026-11-19",
        )
        wait_for(lambda: stage_of(service.database, "salesforce", opportunity) == "closed_lost")
        found = stored(service.database, "salesforce")
    finally:
        service.stop()
        service.database.dispose()
    assert found == {opportunity: ("acme.com", "closed_lost", closed_at("2026-11-19"))}
    polls = [q for q in fake_salesforce.queries() if "FROM Opportunity" in q]
    assert all("WHERE SystemModstamp >= " in q for q in polls)  # changes only, never all
