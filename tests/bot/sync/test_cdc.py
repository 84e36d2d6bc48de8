"""Change Data Capture into the inbox: the listener against the Pub/Sub fake, on a real
database, with the Salesforce worker tagging what it stores.

A lead created through the fake's REST API is heard, stored, tagged and
written back; icpbot's own write-back is heard and skipped without a read; a
lead created while the listener is stopped is heard when it starts again
(replay); an id past retention and an overflow wake the poll; one listener
per database, the standby taking over.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
import requests
from sqlalchemy import Engine as Database
from sqlalchemy import text

from bot.store import checkpoints
from bot.store.db import session as open_session
from bot.sync.cdc import CHECKPOINT, ChangeListener
from integrations.base import ScoreUpdate
from integrations.records import RecordKind
from integrations.salesforce_events import ChangeStream
from tests.fakes.salesforce import SHIPPED_CUSTOM, FakeSalesforce
from tests.fakes.salesforce_pubsub import TENANT, FakePubSub, replay_bytes
from tests.integrations.test_salesforce import fields
from tests.support import Woken, salesforce, wait_for


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeSalesforce]:
    with FakeSalesforce(custom_fields=SHIPPED_CUSTOM) as server:
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", server.ca_file)
        yield server


@pytest.fixture
def bus(fake: FakeSalesforce) -> Iterator[FakePubSub]:
    with FakePubSub(fake, keepalive=0.1) as server:
        yield server


class Polls:
    """Stands where the poll's `wake` goes: counts the rounds asked for."""

    def __init__(self) -> None:
        self.asked = threading.Event()
        self.times = 0

    def __call__(self) -> None:
        self.times += 1
        self.asked.set()


def listener(
    fake: FakeSalesforce, bus: FakePubSub, database: Database, drain: object, poll: Polls
) -> ChangeListener:
    with open(fake.ca_file, "rb") as handle:
        ca = handle.read()
    stream = ChangeStream(
        token=lambda: "test-token",
        instance_url=fake.url,
        tenant_id=TENANT,
        target=bus.target,
        root_certificates=ca,
    )
    return ChangeListener(
        stream=stream,
        database=database,
        drain=drain,  # type: ignore[arg-type]
        poll=poll,
        retry_leader=0.1,
        reconnect=(0.05, 0.2),
    )


def create_lead(fake: FakeSalesforce, name: str, *, client: str = "webform") -> str:
    answer = requests.post(
        f"{fake.url}/services/data/v62.0/sobjects/Lead",
        json={"LastName": name, "Company": "Acme", "Email": f"{name.lower()}@acme.com"},
        headers={"Authorization": "Bearer test-token", "Sforce-Call-Options": f"client={client}"},
        timeout=10,
    )
    assert answer.status_code == 201, answer.text
    return str(answer.json()["id"])


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
    fake: FakeSalesforce, bus: FakePubSub, database: Database
) -> None:
    woken, polls = Woken(), Polls()
    cdc = listener(fake, bus, database, woken, polls)
    cdc.start()
    try:
        assert cdc.listening.wait(5)
        wait_for(lambda: bus.subscriptions == 1)
        lead = create_lead(fake, "Ng")
        assert wait_for(lambda: pending_ids(database)) == [lead]
        assert woken.times >= 1 and polls.times == 0
        assert stored_replay(database)
    finally:
        cdc.stop()


def test_icpbots_own_write_back_is_skipped_without_a_read(
    fake: FakeSalesforce, bus: FakePubSub, database: Database
) -> None:
    lead = fake.add("Lead", {"LastName": "Ng", "Company": "Acme", "Email": "ng@acme.com"})
    cdc = listener(fake, bus, database, Woken(), Polls())
    cdc.start()
    try:
        wait_for(lambda: bus.subscriptions == 1)
        before = stored_replay(database)
        crm = salesforce(fake)
        reads = len(fake.requests())
        crm.write_scores([ScoreUpdate(RecordKind.LEAD, lead, fields())])
        wait_for(lambda: stored_replay(database) != before)
        assert pending_ids(database) == []  # heard, and nothing to read
        assert [r.method for r in fake.requests()[reads:]] == ["PATCH"]
    finally:
        cdc.stop()


def test_a_lead_created_while_stopped_is_heard_on_start(
    fake: FakeSalesforce, bus: FakePubSub, database: Database
) -> None:
    cdc = listener(fake, bus, database, Woken(), Polls())
    cdc.start()
    wait_for(lambda: bus.subscriptions == 1)
    first = create_lead(fake, "First")
    wait_for(lambda: pending_ids(database) == [first])
    cdc.stop()
    missed = create_lead(fake, "WhileDown")
    again = listener(fake, bus, database, Woken(), Polls())
    again.start()
    try:
        assert wait_for(lambda: pending_ids(database) == [first, missed])
    finally:
        again.stop()


def test_an_expired_id_or_an_overflow_wakes_the_poll(
    fake: FakeSalesforce, bus: FakePubSub, database: Database
) -> None:
    create_lead(fake, "Old")
    create_lead(fake, "Older")
    with open_session(database) as session:
        stored = replay_bytes(1).hex()
        checkpoints.save(session=session, name=CHECKPOINT, value=stored, now=datetime.now(UTC))
    bus.expire(keep_after=2)  # both gone: the stored id is past the window
    polls = Polls()
    cdc = listener(fake, bus, database, Woken(), polls)
    cdc.start()
    try:
        assert polls.asked.wait(5)  # the stored id is gone: listen from now, poll the rest
        wait_for(lambda: bus.subscriptions == 1)  # the refused one never started
        polls.asked.clear()
        bus.overflow("Lead")
        assert polls.asked.wait(5)
    finally:
        cdc.stop()


@pytest.mark.db
def test_one_listener_per_database_and_the_standby_takes_over(
    fake: FakeSalesforce, bus: FakePubSub, db_engine: Database
) -> None:
    """Two replicas on one database (PostgreSQL too): one listens, the other stands by and
    takes over, resuming after the replay id the first stored."""
    database = db_engine
    first = listener(fake, bus, database, Woken(), Polls())
    second = listener(fake, bus, database, Woken(), Polls())
    first.start()
    assert first.listening.wait(5)
    second.start()
    assert not second.listening.wait(0.5) and bus.subscriptions == 1
    wait_for(lambda: stored_replay(database))  # the first's keepalives stored an id
    first.stop()
    between = create_lead(fake, "Between")  # no one listening
    try:
        assert second.listening.wait(5)
        lead = create_lead(fake, "AfterFailover")
        assert wait_for(lambda: {between, lead} <= set(pending_ids(database)))
    finally:
        second.stop()
