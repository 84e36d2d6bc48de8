"""Change Data Capture into the inbox: the listener against the Pub/Sub fake, on a real
database, with the Salesforce worker tagging what it stores.

A lead created through the fake's REST API is heard, stored, tagged and
written back; icpbot's own write-back is heard and skipped without a read; a
lead created while the listener is stopped is heard when it starts again
(replay); an id past retention and an overflow wake the poll; one listener
per database, the standby taking over.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine as Database
from sqlalchemy import create_engine, text

from bot.store import checkpoints, repo
from bot.store.db import make_engine, migrate
from bot.store.db import session as open_session
from bot.store.tables import Deal
from bot.sync.cdc import CHECKPOINT, ChangeListener
from integrations.base import ScoreUpdate
from integrations.records import RecordKind
from integrations.salesforce import StreamSession
from integrations.salesforce_events import ChangeStream
from tests.fakes.salesforce import FakeSalesforce
from tests.fakes.salesforce_pubsub import TENANT, FakePubSub, replay_bytes
from tests.integrations.test_salesforce import fields
from tests.support import Woken, change_stream, create_lead, delete, salesforce, wait_for


class Polls:
    """Stands where the poll goes (`SafetyNet`): counts the rounds asked for, and keeps
    what it was told about being covered."""

    def __init__(self) -> None:
        self.asked = threading.Event()
        self.times = 0
        self.told: list[bool] = []

    def wake(self) -> None:
        self.times += 1
        self.asked.set()

    def covered(self, by_changes: bool) -> None:
        self.told.append(by_changes)


def listener(
    fake: FakeSalesforce, bus: FakePubSub, database: Database, drain: object, poll: Polls
) -> ChangeListener:
    return ChangeListener(
        stream=change_stream(fake, bus),
        database=database,
        drain=drain,  # type: ignore[arg-type]
        poll=poll,
        retry_leader=0.1,
        reconnect=(0.05, 0.2),
    )


def pending_ids(database: Database) -> list[str]:
    with open_session(database) as session:
        rows = session.execute(
            text("SELECT object_id FROM inbox_event WHERE event_type = 'cdc' ORDER BY id")
        ).all()
    return [str(r[0]) for r in rows]


def stored_replay(database: Database) -> str | None:
    with open_session(database) as session:
        return checkpoints.get(session=session, name=CHECKPOINT)


def test_a_new_lead_is_stored_with_the_id_to_resume_after(
    org: FakeSalesforce, pubsub: FakePubSub, database: Database
) -> None:
    woken, polls = Woken(), Polls()
    cdc = listener(org, pubsub, database, woken, polls)
    cdc.start()
    try:
        assert cdc.listening.wait(5)
        wait_for(lambda: pubsub.subscriptions == 1)
        lead = create_lead(org, "Ng")
        assert wait_for(lambda: pending_ids(database)) == [lead]
        assert woken.times >= 1 and polls.times == 0
        assert stored_replay(database)
    finally:
        cdc.stop()


def test_icpbots_own_write_back_is_skipped_without_a_read(
    org: FakeSalesforce, pubsub: FakePubSub, database: Database
) -> None:
    lead = org.add("Lead", {"LastName": "Ng", "Company": "Acme", "Email": "ng@acme.com"})
    cdc = listener(org, pubsub, database, Woken(), Polls())
    cdc.start()
    try:
        wait_for(lambda: pubsub.subscriptions == 1)
        before = stored_replay(database)
        crm = salesforce(org)
        reads = len(org.requests())
        crm.write_scores([ScoreUpdate(RecordKind.LEAD, lead, fields())])
        wait_for(lambda: stored_replay(database) != before)
        assert pending_ids(database) == []  # heard, and nothing to read
        assert [r.method for r in org.requests()[reads:]] == ["PATCH"]
    finally:
        cdc.stop()


def test_a_lead_created_while_stopped_is_heard_on_start(
    org: FakeSalesforce, pubsub: FakePubSub, database: Database
) -> None:
    cdc = listener(org, pubsub, database, Woken(), Polls())
    cdc.start()
    wait_for(lambda: pubsub.subscriptions == 1)
    first = create_lead(org, "First")
    wait_for(lambda: pending_ids(database) == [first])
    cdc.stop()
    missed = create_lead(org, "WhileDown")
    again = listener(org, pubsub, database, Woken(), Polls())
    again.start()
    try:
        assert wait_for(lambda: pending_ids(database) == [first, missed])
    finally:
        again.stop()


def test_an_expired_id_or_an_overflow_wakes_the_poll(
    org: FakeSalesforce, pubsub: FakePubSub, database: Database
) -> None:
    create_lead(org, "Old")
    create_lead(org, "Older")
    with open_session(database) as session:
        stored = replay_bytes(1).hex()
        checkpoints.save(session=session, name=CHECKPOINT, value=stored, now=datetime.now(UTC))
    pubsub.expire(keep_after=2)  # both gone: the stored id is past the window
    polls = Polls()
    cdc = listener(org, pubsub, database, Woken(), polls)
    cdc.start()
    try:
        assert polls.asked.wait(5)  # the stored id is gone: listen from now, poll the rest
        wait_for(lambda: pubsub.subscriptions == 1)  # the refused one never started
        polls.asked.clear()
        pubsub.overflow("Lead")
        assert polls.asked.wait(5)
    finally:
        cdc.stop()


@pytest.mark.db
def test_one_listener_per_database_and_the_standby_takes_over(
    org: FakeSalesforce, pubsub: FakePubSub, db_engine: Database
) -> None:
    """Two replicas on one database (PostgreSQL too): one listens, the other stands by and
    takes over, resuming after the replay id the first stored."""
    database = db_engine
    first = listener(org, pubsub, database, Woken(), Polls())
    second = listener(org, pubsub, database, Woken(), Polls())
    first.start()
    assert first.listening.wait(5)
    second.start()
    assert not second.listening.wait(0.5) and pubsub.subscriptions == 1
    wait_for(lambda: stored_replay(database))  # the first's keepalives stored an id
    first.stop()
    between = create_lead(org, "Between")  # no one listening
    try:
        assert second.listening.wait(5)
        lead = create_lead(org, "AfterFailover")
        assert wait_for(lambda: {between, lead} <= set(pending_ids(database)))
    finally:
        second.stop()


def test_a_deleted_opportunity_leaves_the_store_without_a_read(
    org: FakeSalesforce, pubsub: FakePubSub, database: Database
) -> None:
    acme = org.add("Account", {"Name": "Acme", "Website": "acme.com"})
    opportunity = org.add("Opportunity", {"Name": "Acme renewal", "AccountId": acme})
    with open_session(database) as session:
        session.add(
            Deal(
                crm="salesforce",
                crm_id=opportunity,
                account_domain="acme.com",
                name="Acme renewal",
                stage="won",
                created_at=datetime.now(UTC),
            )
        )
    cdc = listener(org, pubsub, database, Woken(), Polls())
    cdc.start()
    try:
        wait_for(lambda: pubsub.subscriptions == 1)
        reads = len(org.requests())
        delete(org, "Opportunity", opportunity)

        def deals() -> list[Deal]:
            with open_session(database) as session:
                return repo.deals(session=session)

        wait_for(lambda: not deals())
        assert [r.method for r in org.requests()[reads:]] == ["DELETE"]  # the test's own
    finally:
        cdc.stop()


def test_an_unreachable_stream_is_said_once_with_what_to_do_and_the_poll_keeps_its_pace(
    org: FakeSalesforce, database: Database, caplog: pytest.LogCaptureFixture
) -> None:
    closed = ChangeStream(
        session=lambda: StreamSession("test-token", org.url, TENANT),
        target="127.0.0.1:9",  # nothing listens here
        root_certificates=Path(org.ca_file).read_bytes(),
    )
    polls = Polls()
    cdc = ChangeListener(
        stream=closed, database=database, drain=Woken(), poll=polls, reconnect=(0.05, 0.1)
    )
    with caplog.at_level(logging.INFO, logger="bot.sync.cdc"):
        cdc.start()
        try:
            wait_for(lambda: len([r for r in caplog.records if "stream lost" in r.message]) >= 3)
        finally:
            cdc.stop()
    lost = [r for r in caplog.records if "stream lost" in r.message]
    assert [r.levelno for r in lost][:3] == [logging.WARNING, logging.INFO, logging.INFO]
    assert "check that this host reaches 127.0.0.1:9 (gRPC over HTTP/2, outbound)" in (
        lost[0].message
    )
    assert True not in polls.told  # never heard from: the poll never slowed down


def test_a_database_that_fails_a_while_does_not_end_the_listening(
    org: FakeSalesforce, pubsub: FakePubSub, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A write refused (another process holds SQLite's lock past the busy timeout): the
    listener says so, tells the poll (which, woken, catches up what came before any id
    was stored), and resumes after the id it stored, losing nothing."""
    path = tmp_path / "icpbot.db"
    migrate(make_engine(f"sqlite:///{path}"))
    impatient = create_engine(f"sqlite:///{path}", connect_args={"timeout": 0.1})
    polls = Polls()
    cdc = listener(org, pubsub, impatient, Woken(), polls)
    cdc.start()
    try:
        wait_for(lambda: pubsub.subscriptions == 1)
        wait_for(lambda: stored_replay(impatient))  # a keepalive's
        blocker = sqlite3.connect(path, isolation_level=None)
        blocker.execute("BEGIN EXCLUSIVE")
        try:
            lead = create_lead(org, "WhileLocked")
            wait_for(lambda: any("changes failed" in r.message for r in caplog.records))
            wait_for(lambda: polls.told[-1] is False)  # told right after it is said
        finally:
            blocker.execute("ROLLBACK")
            blocker.close()
        assert wait_for(lambda: pending_ids(impatient)) == [lead]
        wait_for(lambda: polls.told[-1] is True)  # heard from again: the poll slows down
    finally:
        cdc.stop()
        impatient.dispose()
