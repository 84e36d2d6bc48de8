"""The daily re-score of time-based criteria: found in the store, handed to the CRM's worker.

A stored record whose `within_days` criterion has expired since it was
scored must change in the store and in its CRM without any CRM event;
everything else must be left alone. Real stores (SQLite and PostgreSQL),
and the real SDKs against the wire-level fakes for the write-back.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine as Database

from bot.store import inbox
from bot.store.db import session as open_session
from bot.store.inbox import read_again
from bot.sync.ageing import AgeingJob, find_due, requeue
from bot.sync.pipeline import Pipeline
from bot.sync.tagging import Tagger
from bot.sync.worker import SALESFORCE_SOURCES, Worker
from integrations.records import CrmRecord, RecordKind
from scoring.engine import Scorer
from tests.fakes.hubspot import FakeHubSpot
from tests.fakes.salesforce import SHIPPED_CUSTOM, FakeSalesforce
from tests.support import CONFIG, Clock, Woken, a_tier, event, hubspot, salesforce, store, writes

T0 = datetime(2026, 11, 20, 9, tzinfo=UTC)
LATER = T0 + timedelta(days=70)  # a funding round 300 days before T0 is 370 days old by then
SAAS = {
    "name": "x",
    "industry": "software",
    "employees": 400,
    "country": "United States",
    "technologies": ["hubspot"],
    "lifecycle_stage": "lead",
}


def test_the_shipped_icp_names_its_dated_fields() -> None:
    assert CONFIG.icp.dated_fields() >= {"last_funding_at", "sdr_hiring_posted_at"}
    without = dataclasses.replace(CONFIG.icp, profiles=(), disqualify=(), persona=())
    assert without.dated_fields() == frozenset() == without.dated_persona_fields()


def company(domain: str, **fields: object) -> CrmRecord:
    return CrmRecord(RecordKind.ACCOUNT, "csv", domain, {**SAAS, "domain": domain, **fields})


def person(email: str, **fields: object) -> CrmRecord:
    values = {"email": email, "job_title": "VP Sales", **fields}
    return CrmRecord(RecordKind.CONTACT, "csv", email, values)


def tagged(database: Database, *records: CrmRecord, tagger: Tagger | None = None) -> Tagger:
    tagger = tagger or Tagger(Scorer(CONFIG.icp))
    with open_session(database) as session:
        tagger.record_version(session=session, icp_text=CONFIG.icp_text, now=T0)
        tagger.tag_many(session=session, records=list(records), now=T0)
    return tagger


def due_keys(database: Database, tagger: Tagger, now: datetime, suffix: str) -> set[str]:
    due = find_due(database=database, tagger=tagger, now=now)
    return {d.record.key or "" for d in due if (d.record.key or "").endswith(suffix)}


@pytest.mark.db
def test_only_records_the_calendar_moved_are_due(db_engine: Database) -> None:
    suffix = "-moved.com"
    funded = company(f"funded{suffix}", last_funding_at=(T0 - timedelta(days=300)).date())
    recent = company(f"recent{suffix}", last_funding_at=(T0 - timedelta(days=10)).date())
    undated = company(f"undated{suffix}")
    tagger = tagged(
        db_engine,
        funded,
        recent,
        undated,
        person(f"vp@funded{suffix}"),
        person(f"vp@undated{suffix}"),
    )
    assert due_keys(db_engine, tagger, T0, suffix) == set()  # nothing moved yet
    moved = due_keys(db_engine, tagger, LATER, suffix)
    # the expired round, and the contact whose company fit moved with it
    assert moved == {f"funded{suffix}", f"vp@funded{suffix}"}


@pytest.mark.db
def test_a_csv_record_is_rescored_in_the_store_once(db_engine: Database) -> None:
    suffix = "-csv.com"
    funded = company(f"funded{suffix}", last_funding_at=(T0 - timedelta(days=300)).date())
    tagger = tagged(db_engine, funded, person(f"vp@funded{suffix}"))
    due = [
        d
        for d in find_due(database=db_engine, tagger=tagger, now=LATER)
        if (d.record.key or "").endswith(suffix)
    ]
    (account,) = [d for d in due if d.record.kind is RecordKind.ACCOUNT]
    assert account.now.score is not None and account.now.score < account.previous.score
    assert any("funding:" in reason for reason in account.previous.reasons)
    assert "funding:" not in account.now.reasons
    done = requeue(database=db_engine, tagger=tagger, due=due, now=LATER)
    assert done.retagged == 2 and not done.queued
    assert due_keys(db_engine, tagger, LATER, suffix) == set()  # stored: not due again


@pytest.mark.db
def test_every_due_record_says_which_criterion_the_calendar_moved(db_engine: Database) -> None:
    """Even when the expired criterion was not among the five top reasons."""
    suffix = "-why.com"
    fields = {
        "annual_revenue": 20_000_000,
        "sales_motion": "sales-led",
        "has_revops": "yes",
        "last_funding_at": (T0 - timedelta(days=300)).date(),
    }
    funded = company(f"funded{suffix}", **fields)
    tagger = tagged(db_engine, funded, person(f"vp@funded{suffix}"))
    due = [
        d
        for d in find_due(database=db_engine, tagger=tagger, now=LATER)
        if (d.record.key or "").endswith(suffix)
    ]
    assert len(due) == 2
    assert not any("funding:" in reason for reason in due[0].previous.reasons)  # not top 5
    expected = "funding no longer matches (last_funding_at within the last 365 days, got "
    for found in due:
        assert len(found.changes) == 1 and found.changes[0].startswith(expected), found.changes


@pytest.mark.db
def test_scores_under_an_older_icp_are_left_to_the_backfill(db_engine: Database) -> None:
    suffix = "-older.com"
    funded = company(f"funded{suffix}", last_funding_at=(T0 - timedelta(days=300)).date())
    tagged(db_engine, funded)
    newer = dataclasses.replace(CONFIG.icp, version=CONFIG.icp.version + 1)
    tagger = Tagger(Scorer(newer))
    with open_session(db_engine) as session:
        tagger.record_version(session=session, icp_text=CONFIG.icp_text + "\n# v+1", now=T0)
    assert due_keys(db_engine, tagger, LATER, suffix) == set()


# -- through the CRMs ---------------------------------------------------------------------------


def funded_company(fake: FakeHubSpot, clock: Clock) -> str:
    """A SaaS company whose funding round, 300 days old at the start, counts for now."""
    funded = (clock() - timedelta(days=300)).date().isoformat()
    return fake.add_company(
        {
            "domain": "acme.com",
            "name": "Acme",
            "industry": "software",
            "numberofemployees": "400",
            "country": "United States",
            "web_technologies": "hubspot",
            "last_funding_date": funded,
        }
    )


def test_an_expired_round_reaches_hubspot_through_the_inbox_once(
    fake_hubspot: FakeHubSpot, database: Database
) -> None:
    clock = Clock()
    acme = funded_company(fake_hubspot, clock)
    dana = fake_hubspot.add_contact(
        {"email": "dana@acme.com", "jobtitle": "VP of Sales"}, company_id=acme
    )
    tagger = Tagger(Scorer(CONFIG.icp))
    with open_session(database) as session:
        tagger.record_version(session=session, icp_text=CONFIG.icp_text, now=clock())
    pipeline = Pipeline(crm=hubspot(fake_hubspot), database=database, tagger=tagger)
    run = Worker(database=database, pipeline=pipeline, clock=clock)
    store(database, clock, event("company", acme), event("contact", dana))
    run.run_once()
    before = fake_hubspot.company(acme)
    assert "funding:" in before["icp_reasons"]
    clock.advance(days=70)
    woken = Woken()
    job = AgeingJob(database=database, tagger=tagger, drains=[woken], clock=clock)
    assert job().queued == {"hubspot": 2} and woken.times == 1
    assert job().queued == {"hubspot": 2}  # asked again the same day: stored once
    assert run.run_once() == 2
    after = fake_hubspot.company(acme)
    assert int(after["icp_score"]) < int(before["icp_score"])
    assert "funding:" not in after["icp_reasons"]
    assert fake_hubspot.contact(dana)["icp_score"] == after["icp_score"]
    written = len(writes(fake_hubspot))
    assert run.run_once() == 1  # the contact again, following its company: already told
    clock.advance(days=1)
    assert not job().queued  # the store has the new score: nothing is due
    assert run.run_once() == 0 and len(writes(fake_hubspot)) == written


def test_a_hubspot_outage_during_the_write_back_is_retried_later(
    fake_hubspot: FakeHubSpot, database: Database
) -> None:
    clock = Clock()
    acme = funded_company(fake_hubspot, clock)
    tagger = Tagger(Scorer(CONFIG.icp))
    with open_session(database) as session:
        tagger.record_version(session=session, icp_text=CONFIG.icp_text, now=clock())
    pipeline = Pipeline(crm=hubspot(fake_hubspot), database=database, tagger=tagger)
    run = Worker(database=database, pipeline=pipeline, clock=clock)
    store(database, clock, event("company", acme))
    run.run_once()
    score = fake_hubspot.company(acme)["icp_score"]
    clock.advance(days=70)
    AgeingJob(database=database, tagger=tagger, clock=clock)()
    fake_hubspot.fail_next(3, status=503)  # every try of one round
    run.run_once()
    assert fake_hubspot.company(acme)["icp_score"] == score  # not yet
    with open_session(database) as session:
        assert inbox.counts(session=session)["pending"] == 1  # kept, backing off
    clock.advance(hours=1)
    run.run_once()
    assert int(fake_hubspot.company(acme)["icp_score"]) < int(score)


def test_an_expired_round_reaches_salesforce(
    monkeypatch: pytest.MonkeyPatch, database: Database
) -> None:
    with FakeSalesforce(custom_fields=SHIPPED_CUSTOM) as fake:
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", fake.ca_file)
        clock = Clock()
        funded = (clock() - timedelta(days=300)).date().isoformat()
        acme = a_tier(fake, "acme.com", Last_Funding_Date__c=funded)
        tagger = Tagger(Scorer(CONFIG.icp))
        with open_session(database) as session:
            tagger.record_version(session=session, icp_text=CONFIG.icp_text, now=clock())
        pipeline = Pipeline(crm=salesforce(fake), database=database, tagger=tagger)
        run = Worker(database=database, pipeline=pipeline, clock=clock, sources=SALESFORCE_SOURCES)
        new = read_again("salesforce", RecordKind.ACCOUNT, acme, reason="poll", stamp="1")
        store(database, clock, new)
        run.run_once()
        before = fake.row("Account", acme)
        clock.advance(days=70)
        job = AgeingJob(database=database, tagger=tagger, clock=clock)
        assert job().queued == {"salesforce": 1}
        assert run.run_once() == 1
        after = fake.row("Account", acme)
        assert after["ICP_Score__c"] < before["ICP_Score__c"]
        assert not job().queued
