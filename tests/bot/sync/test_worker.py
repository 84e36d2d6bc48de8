"""The inbox worker with HubSpot: inbox → worker → fake HubSpot, and back to the inbox.

Real SDK, real HTTP to the wire-level fake, a real SQLite database per test;
the clock is passed in so backoff and leases are tested without waiting.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine as Database
from sqlmodel import select

from bot.store import inbox
from bot.store.db import session as open_session
from bot.store.tables import Contact, InboxEvent, Score
from bot.sync.lease import LEASE
from integrations.retries import RetryPolicy
from tests.fakes.hubspot import FakeHubSpot
from tests.support import CONFIG, Clock, event, hubspot, saas, store, worker, writes

ONE_TRY = RetryPolicy(attempts=1)


@pytest.fixture
def fake() -> Iterator[FakeHubSpot]:
    with FakeHubSpot(rate_limit=None) as server:
        hubspot(server).setup()  # the portal after `icpbot crm setup hubspot`
        server.fail_next(0)
        yield server


def counts(database: Database) -> dict[str, int]:
    with open_session(database) as session:
        return inbox.counts(session=session)


def test_new_companies_are_scored_and_tagged_in_hubspot(
    fake: FakeHubSpot, database: Database
) -> None:
    clock = Clock()
    ids = [saas(fake, f"acme{n}.com") for n in range(3)]
    assert store(database, clock, *(event("company", i) for i in ids)) == 3
    assert worker(fake, database, clock).run_once() == 3
    for company_id in ids:
        props = fake.company(company_id)
        assert props["icp_tier"] in {"A", "B", "C", "D"}
        assert props["icp_version"] == str(CONFIG.icp.version)
        assert props["icp_reasons"]
    assert counts(database)["done"] == 3
    assert len(writes(fake)) == 1
    with open_session(database) as session:
        assert len(session.exec(select(Score)).all()) == 3


def test_a_record_refused_inside_a_207_is_retried_not_taken_as_written(
    fake: FakeHubSpot, database: Database
) -> None:
    clock = Clock()
    acme, globex = saas(fake, "acme.com"), saas(fake, "globex.com")
    store(database, clock, event("company", acme), event("company", globex))
    fake.refuse_updates({globex: "Property values were not valid"})
    run = worker(fake, database, clock)
    assert run.run_once() == 2
    assert fake.company(acme)["icp_tier"] and not fake.company(globex).get("icp_tier")
    with open_session(database) as session:
        (waiting,) = session.exec(select(InboxEvent).where(InboxEvent.status == "pending")).all()
    assert (waiting.object_id, waiting.attempts) == (globex, 1)
    assert "Property values were not valid" in (waiting.last_error or "")
    fake.refuse_updates({})
    clock.advance(minutes=1)  # past its backoff
    assert run.run_once() == 1
    assert fake.company(globex)["icp_tier"] and counts(database)["done"] == 2


def test_a_duplicate_delivery_changes_nothing(fake: FakeHubSpot, database: Database) -> None:
    clock = Clock()
    acme = saas(fake, "acme.com")
    run = worker(fake, database, clock)
    store(database, clock, event("company", acme))
    run.run_once()
    # the same content again: stored once
    assert store(database, clock, event("company", acme)) == 0
    # HubSpot's echo of our own write, or any later event for an unchanged record
    store(database, clock, event("company", acme, at=2, kind="propertyChange"))
    assert run.run_once() == 1
    assert len(writes(fake)) == 1
    with open_session(database) as session:
        assert len(session.exec(select(Score)).all()) == 1


def test_several_events_for_one_company_cost_one_read(
    fake: FakeHubSpot, database: Database
) -> None:
    clock = Clock()
    acme = saas(fake, "acme.com")
    store(database, clock, *(event("company", acme, at=n) for n in range(5)))
    assert worker(fake, database, clock).run_once() == 5
    reads = [r for r in fake.requests if r.path.endswith("/batch/read")]
    assert [len(r.body["inputs"]) for r in reads] == [1]
    assert counts(database)["done"] == 5


def test_contacts_find_their_associated_company(fake: FakeHubSpot, database: Database) -> None:
    clock = Clock()
    acme = saas(fake, "acme.com")
    dana = fake.add_contact({"email": "dana@gmail.com", "jobtitle": "VP of Sales"}, company_id=acme)
    store(database, clock, event("contact", dana), event("company", acme))
    worker(fake, database, clock).run_once()
    with open_session(database) as session:
        contact = session.exec(select(Contact)).one()
    assert contact.account_domain == "acme.com"
    props = fake.contact(dana)
    assert props["icp_persona_score"] not in (None, "")
    assert props["icp_tier"] == fake.company(acme)["icp_tier"]


def test_a_change_to_a_company_reaches_its_contacts(fake: FakeHubSpot, database: Database) -> None:
    clock = Clock()
    acme = saas(fake, "acme.com")
    dana = fake.add_contact({"email": "dana@acme.com", "jobtitle": "VP of Sales"}, company_id=acme)
    run = worker(fake, database, clock)
    store(database, clock, event("company", acme), event("contact", dana))
    run.run_once()
    before = fake.company(acme)["icp_score"]
    assert fake.contact(dana)["icp_score"] == before
    fake.update_company(acme, {"numberofemployees": "5000"})  # out of the mid-market band
    clock.advance(minutes=1)
    store(database, clock, event("company", acme, at=2, kind="propertyChange"))
    assert run.run_once() == 1
    after = fake.company(acme)["icp_score"]
    assert after != before and fake.contact(dana)["icp_score"] == before  # not yet
    assert run.run_once() == 1  # the contact, queued when its company's fit moved
    assert fake.contact(dana)["icp_score"] == after
    store(database, clock, event("company", acme, at=3, kind="propertyChange"))
    assert run.run_once() == 1 and run.run_once() == 0  # unmoved: the contact is left alone


def test_a_contact_that_came_first_gets_its_company_fit_when_the_company_arrives(
    fake: FakeHubSpot, database: Database
) -> None:
    clock = Clock()
    acme = saas(fake, "acme.com")
    dana = fake.add_contact({"email": "dana@acme.com", "jobtitle": "VP of Sales"}, company_id=acme)
    run = worker(fake, database, clock)
    store(database, clock, event("contact", dana))
    run.run_once()
    assert not fake.contact(dana).get("icp_score")  # no company fit yet: persona only
    assert fake.contact(dana)["icp_persona_score"]
    store(database, clock, event("company", acme))
    assert run.run_once() == 1
    assert run.run_once() == 1  # the contact, queued when its company was first tagged
    assert fake.contact(dana)["icp_score"] == fake.company(acme)["icp_score"]


def test_failing_work_backs_off_then_is_parked_never_dropped(
    fake: FakeHubSpot, database: Database
) -> None:
    clock = Clock()
    acme = saas(fake, "acme.com")
    run = worker(fake, database, clock, policy=ONE_TRY, max_attempts=2)
    store(database, clock, event("company", acme))
    fake.fail_next(2, status=500)
    run.run_once()
    assert counts(database)["pending"] == 1
    assert run.run_once() == 0  # backing off
    clock.advance(hours=1)
    run.run_once()
    assert counts(database)["parked"] == 1
    with open_session(database) as session:
        (parked,) = inbox.parked(session=session)
        assert "500" in (parked.last_error or "")
        assert inbox.requeue_parked(session=session, now=clock()) == 1
    run.run_once()
    assert counts(database)["done"] == 1
    assert fake.company(acme)["icp_tier"]


def test_work_claimed_by_a_killed_process_is_resumed_within_30_seconds(
    fake: FakeHubSpot, database: Database
) -> None:
    clock = Clock()
    acme = saas(fake, "acme.com")
    store(database, clock, event("company", acme))
    with open_session(database) as session:  # claimed, then the process died
        inbox.claim(session=session, worker="dead", limit=10, now=clock(), lease=LEASE)
    run = worker(fake, database, clock, name="alive")
    assert run.run_once() == 0
    clock.advance(seconds=31)
    assert run.run_once() == 1
    assert fake.company(acme)["icp_tier"]


def test_a_live_worker_keeps_its_events_while_a_slow_crm_answers(
    fake: FakeHubSpot, database: Database
) -> None:
    def now() -> datetime:
        return datetime.now(UTC)

    acme = saas(fake, "acme.com")
    store(database, now, event("company", acme))
    fake.latency = 0.5  # a read and a write: the batch takes over a second
    slow = worker(fake, database, now, name="slow", lease=timedelta(seconds=0.45))
    working = threading.Thread(target=slow.run_once)
    working.start()
    time.sleep(0.8)  # past the lease it claimed with: only renewing keeps the events its own
    with open_session(database) as session:
        taken = inbox.claim(session=session, worker="other", limit=10, now=now(), lease=LEASE)
    working.join(20)
    assert taken == []
    assert counts(database)["done"] == 1 and fake.company(acme)["icp_tier"]
