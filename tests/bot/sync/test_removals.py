"""Deleted and merged Salesforce records leave the store (the pipeline, on a real database,
against the fake org's REST API and its recycle bin).

A deleted lead stops being listed; a lead merged into one with the same
email keeps its row and history under the master's id; an account merged
into another domain goes while its master is tagged; an account deleted
outright takes its deals along, and a deleted opportunity leaves calibration.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Engine as Database
from sqlmodel import select

from bot.store import repo
from bot.store.db import read_session
from bot.store.db import session as open_session
from bot.store.tables import Deal, Score
from bot.sync.deals import sweep_deals
from bot.sync.pipeline import Pipeline
from bot.sync.sweep import sweep
from bot.sync.tagging import Tagger
from bot.sync.worker import SALESFORCE_SOURCES, Worker
from integrations.records import RecordKind
from scoring.engine import Scorer
from tests.fakes.salesforce import FakeSalesforce
from tests.support import CONFIG, a_tier, delete, salesforce

NOW = datetime(2026, 12, 3, 12, tzinfo=UTC)


def pipeline(org: FakeSalesforce, database: Database) -> Pipeline:
    tagger = Tagger(Scorer(CONFIG.icp))
    with open_session(database) as session:
        tagger.record_version(session=session, icp_text=CONFIG.icp_text, now=NOW)
    return Pipeline(crm=salesforce(org), database=database, tagger=tagger)


def lead(org: FakeSalesforce, email: str, **values: object) -> str:
    return org.add("Lead", {"LastName": "Ng", "Company": "Acme", "Email": email, **values})


def scores_of(database: Database, key: str) -> int:
    with read_session(database) as session:
        return len(session.exec(select(Score).where(Score.subject_key == key)).all())


def test_the_recycle_bin_tells_deleted_merged_and_unkeyable_apart(org: FakeSalesforce) -> None:
    gone, merged, master = lead(org, "a@acme.com"), lead(org, "b@acme.com"), lead(org, "c@x.io")
    no_email = org.add("Lead", {"LastName": "Nobody", "Company": "Acme"})
    delete(org, "Lead", gone)
    org.merge("Lead", master, merged)
    purged = "00Q000000000999AAA"  # emptied from the bin: not even queryAll has it
    crm = salesforce(org)
    assert crm.fetch(RecordKind.LEAD, [gone, merged, no_email, purged]) == []
    assert crm.removed(RecordKind.LEAD, [gone, merged, no_email, purged]) == {
        gone: None,
        merged: master,
        purged: None,
    }
    assert any(q.startswith("SELECT Id, IsDeleted") for q in org.queries())


def test_a_deleted_lead_leaves_the_store_and_its_history_stays_in_the_audit(
    org: FakeSalesforce, database: Database
) -> None:
    run = pipeline(org, database)
    ng = lead(org, "ng@acme.com")
    run.process(RecordKind.LEAD, [ng], now=NOW)
    delete(org, "Lead", ng)
    outcome = run.process(RecordKind.LEAD, [ng], now=NOW)
    assert outcome.done == {ng}
    with read_session(database) as session:
        assert repo.get_contact(session=session, email="ng@acme.com") is None
    assert scores_of(database, "ng@acme.com") == 1  # the audit trail is appended, never cut


def test_a_lead_merged_into_one_with_its_email_keeps_the_row_and_history(
    org: FakeSalesforce, database: Database
) -> None:
    run = pipeline(org, database)
    loser = lead(org, "ng@acme.com", Title="SDR")
    run.process(RecordKind.LEAD, [loser], now=NOW)
    master = lead(org, "ng@acme.com", Title="VP Sales")
    org.merge("Lead", master, loser)
    run.process(RecordKind.LEAD, [loser], now=NOW)  # the DELETE heard before the UPDATE
    with read_session(database) as session:
        row = repo.get_contact(session=session, email="ng@acme.com")
        assert row is not None and row.crm_id == master
        first_seen = row.first_seen_at
    assert scores_of(database, "ng@acme.com") == 2  # the loser's score, then the master's
    assert first_seen == NOW  # the row the loser started, now the master's


def test_an_account_merged_into_another_domain_goes_and_its_master_is_tagged(
    org: FakeSalesforce, database: Database
) -> None:
    run = pipeline(org, database)
    old, master = a_tier(org, "acme-old.com"), a_tier(org, "acme.com")
    run.process(RecordKind.ACCOUNT, [old], now=NOW)
    org.merge("Account", master, old)
    outcome = run.process(RecordKind.ACCOUNT, [old], now=NOW)
    assert [t.record.crm_id for t in outcome.tagged] == [master]
    with read_session(database) as session:
        assert repo.get_account(session=session, domain="acme-old.com") is None
        assert repo.get_account(session=session, domain="acme.com") is not None


def test_an_account_deleted_outright_takes_its_deals_and_a_deleted_deal_goes(
    org: FakeSalesforce, database: Database
) -> None:
    run = pipeline(org, database)
    acme, globex = a_tier(org, "acme.com"), a_tier(org, "globex.com")
    run.process(RecordKind.ACCOUNT, [acme, globex], now=NOW)
    with open_session(database) as session:
        for crm_id, domain in (
            ("006A", "acme.com"),
            ("006G", "globex.com"),
            ("006H", "globex.com"),
        ):
            session.add(
                Deal(
                    crm="salesforce",
                    crm_id=crm_id,
                    account_domain=domain,
                    name="d",
                    stage="won",
                    created_at=NOW,
                )
            )
    delete(org, "Account", acme)
    run.process(RecordKind.ACCOUNT, [acme], now=NOW)
    with open_session(database) as session:
        repo.remove_deals(session=session, crm="salesforce", crm_ids=["006H"])
    with read_session(database) as session:
        assert [d.crm_id for d in repo.deals(session=session)] == ["006G"]


def test_the_poll_finds_deletes_too_without_change_data_capture(
    org: FakeSalesforce, database: Database
) -> None:
    """queryAll on `SystemModstamp`: a deletion moves it, so an org without Change Data
    Capture (or a listener that was down) still has deletes reach the store."""
    run = pipeline(org, database)
    ng, acme = lead(org, "ng@acme.com"), a_tier(org, "acme.com")
    opportunity = org.add("Opportunity", {"Name": "Acme", "StageName": "Won", "AccountId": acme})
    crm = run.crm
    run.process(RecordKind.ACCOUNT, [acme], now=NOW)
    run.process(RecordKind.LEAD, [ng], now=NOW)
    now = datetime.now(UTC)
    sweep(crm=crm, database=database, now=now)  # checkpoints, an hour back
    assert sweep_deals(crm=crm, database=database, now=now).stored == 1
    delete(org, "Lead", ng)
    delete(org, "Opportunity", opportunity)
    worker = Worker(database=database, pipeline=run, sources=SALESFORCE_SOURCES)
    assert sweep(crm=crm, database=database, now=datetime.now(UTC)) == 1
    assert sweep_deals(crm=crm, database=database, now=datetime.now(UTC)).removed == 1
    worker.run_once()
    with read_session(database) as session:
        assert repo.get_contact(session=session, email="ng@acme.com") is None
        assert repo.get_account(session=session, domain="acme.com") is not None
        assert repo.deals(session=session) == []
