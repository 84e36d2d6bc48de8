"""Change Data Capture through the Pub/Sub API: `ChangeStream` against the wire-level fake.

Records change in the fake Salesforce (its REST API, icpbot's own writes, the
"UI"), and the stream hears them as Salesforce says them: entity, record
ids, change type, who made the change, replay ids to resume after.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
import requests

from integrations.salesforce import token_connection
from integrations.salesforce_events import (
    ChangeEvent,
    ChangeStream,
    ReplayExpired,
    StreamLost,
)
from tests.fakes.salesforce import FakeSalesforce
from tests.fakes.salesforce_pubsub import TENANT, FakePubSub, replay_number


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeSalesforce]:
    with FakeSalesforce() as server:
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", server.ca_file)
        yield server


@pytest.fixture
def bus(fake: FakeSalesforce) -> Iterator[FakePubSub]:
    with FakePubSub(fake, keepalive=0.1) as server:
        yield server


@pytest.fixture
def stream(fake: FakeSalesforce, bus: FakePubSub) -> Iterator[ChangeStream]:
    with open(fake.ca_file, "rb") as handle:
        ca = handle.read()
    subscriber = ChangeStream(
        token=lambda: "test-token",
        instance_url=fake.url,
        tenant_id=TENANT,
        target=bus.target,
        root_certificates=ca,
    )
    yield subscriber
    subscriber.close()


def heard(
    stream: ChangeStream, count: int, *, after: bytes | None = None, then: object = None
) -> list[ChangeEvent]:
    """The first `count` events heard (after `after`); `then` runs once the stream is open."""
    stop = threading.Event()
    found: list[ChangeEvent] = []
    for response in stream.listen(after=after, stop=stop):
        if callable(then):
            then()
            then = None
        found.extend(response.events)
        if len(found) >= count:
            stop.set()
    return found[:count]


def create_lead(fake: FakeSalesforce, name: str) -> str:
    answer = requests.post(
        f"{fake.url}/services/data/v62.0/sobjects/Lead",
        json={"LastName": name, "Company": "Acme"},
        headers={"Authorization": "Bearer test-token", "Sforce-Call-Options": "client=webform"},
        timeout=10,
    )
    assert answer.status_code == 201, answer.text
    return str(answer.json()["id"])


def test_changes_to_every_entity_are_heard_on_one_channel(
    fake: FakeSalesforce, stream: ChangeStream
) -> None:
    made: dict[str, str] = {}

    def changes() -> None:
        made["lead"] = create_lead(fake, "Ng")
        made["account"] = fake.add("Account", {"Name": "Acme", "Website": "acme.com"})

    lead, account = heard(stream, 2, then=changes)
    assert (lead.entity, lead.record_ids, lead.change_type) == ("Lead", (made["lead"],), "CREATE")
    assert lead.client == "webform" and not lead.is_gap
    assert (account.entity, account.record_ids) == ("Account", (made["account"],))
    assert account.client is None  # made in the UI
    assert replay_number(account.replay_id) == (replay_number(lead.replay_id) or 0) + 1


def test_icpbots_own_writes_are_known_by_their_client(
    fake: FakeSalesforce, stream: ChangeStream
) -> None:
    lead = fake.add("Lead", {"LastName": "Ng", "Company": "Acme"})
    sf = token_connection(instance_url=fake.url, access_token="test-token", version="62.0")
    (event,) = heard(stream, 1, then=lambda: sf.Lead.update(lead, {"ICP_Tier__c": "A"}))
    assert (event.change_type, event.client, event.record_ids) == ("UPDATE", "icpbot", (lead,))


def test_a_stream_resumes_after_a_stored_id_past_a_hundred_events(
    fake: FakeSalesforce, stream: ChangeStream
) -> None:
    (first,) = heard(stream, 1, then=lambda: create_lead(fake, "First"))
    ids = [fake.add("Lead", {"LastName": f"L{n}", "Company": "Acme"}) for n in range(150)]
    later = heard(stream, 150, after=first.replay_id)  # more than one batch asked for
    assert [e.record_ids[0] for e in later] == ids


def test_an_expired_id_and_a_dropped_connection_are_told_apart(
    fake: FakeSalesforce, bus: FakePubSub, stream: ChangeStream
) -> None:
    (first,) = heard(stream, 1, then=lambda: create_lead(fake, "First"))
    create_lead(fake, "Second")
    bus.expire(keep_after=(replay_number(first.replay_id) or 0) + 1)
    with pytest.raises(ReplayExpired):
        heard(stream, 1, after=first.replay_id)
    with pytest.raises(StreamLost, match="UNAVAILABLE"):
        heard(stream, 1, then=bus.disconnect)


def test_gaps_are_heard_as_records_to_read_again(
    fake: FakeSalesforce, bus: FakePubSub, stream: ChangeStream
) -> None:
    (gap, overflow) = heard(
        stream, 2, then=lambda: (bus.gap("Lead", ["00Q000000000009AAA"]), bus.overflow("Lead"))
    )
    assert gap.is_gap and gap.change_type == "GAP_UPDATE"
    assert gap.record_ids == ("00Q000000000009AAA",)
    assert overflow.change_type == "GAP_OVERFLOW"
