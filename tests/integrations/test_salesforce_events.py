"""Change Data Capture through the Pub/Sub API: `ChangeStream` against the wire-level fake.

Records change in the fake Salesforce (its REST API, icpbot's own writes, the
"UI"), and the stream hears them as Salesforce says them: entity, record
ids, change type, who made the change, replay ids to resume after.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from integrations.salesforce import token_connection
from integrations.salesforce_events import (
    ChangeEvent,
    ChangeStream,
    ReplayExpired,
    StreamLost,
)
from tests.fakes.salesforce import FakeSalesforce
from tests.fakes.salesforce_pubsub import FakePubSub, replay_number
from tests.support import change_stream, create_lead


@pytest.fixture
def stream(org: FakeSalesforce, pubsub: FakePubSub) -> Iterator[ChangeStream]:
    subscriber = change_stream(org, pubsub)
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


def test_changes_to_every_entity_are_heard_on_one_channel(
    org: FakeSalesforce, stream: ChangeStream
) -> None:
    made: dict[str, str] = {}

    def changes() -> None:
        made["lead"] = create_lead(org, "Ng")
        made["account"] = org.add("Account", {"Name": "Acme", "Website": "acme.com"})

    lead, account = heard(stream, 2, then=changes)
    assert (lead.entity, lead.record_ids, lead.change_type) == ("Lead", (made["lead"],), "CREATE")
    assert lead.client == "webform" and not lead.is_gap
    assert (account.entity, account.record_ids) == ("Account", (made["account"],))
    assert account.client is None  # made in the UI
    assert replay_number(account.replay_id) == (replay_number(lead.replay_id) or 0) + 1


def test_icpbots_own_writes_are_known_by_their_client(
    org: FakeSalesforce, stream: ChangeStream
) -> None:
    lead = org.add("Lead", {"LastName": "Ng", "Company": "Acme"})
    url = org.url
    sf = token_connection(instance_url=url, access_token="test-token", version="62.0")
    (event,) = heard(stream, 1, then=lambda: sf.Lead.update(lead, {"ICP_Tier__c": "A"}))
    assert (event.change_type, event.client, event.record_ids) == ("UPDATE", "icpbot", (lead,))


def test_a_stream_resumes_after_a_stored_id_past_a_hundred_events(
    org: FakeSalesforce, stream: ChangeStream
) -> None:
    (first,) = heard(stream, 1, then=lambda: create_lead(org, "First"))
    ids = [org.add("Lead", {"LastName": f"L{n}", "Company": "Acme"}) for n in range(150)]
    later = heard(stream, 150, after=first.replay_id)  # more than one batch asked for
    assert [e.record_ids[0] for e in later] == ids


def test_an_expired_id_and_a_dropped_connection_are_told_apart(
    org: FakeSalesforce, pubsub: FakePubSub, stream: ChangeStream
) -> None:
    (first,) = heard(stream, 1, then=lambda: create_lead(org, "First"))
    create_lead(org, "Second")
    pubsub.expire(keep_after=(replay_number(first.replay_id) or 0) + 1)
    with pytest.raises(ReplayExpired):
        heard(stream, 1, after=first.replay_id)
    with pytest.raises(StreamLost, match="UNAVAILABLE"):
        heard(stream, 1, then=pubsub.disconnect)


def test_gaps_are_heard_as_records_to_read_again(
    org: FakeSalesforce, pubsub: FakePubSub, stream: ChangeStream
) -> None:
    def both() -> None:
        pubsub.gap("Lead", ["00Q000000000009AAA"])
        pubsub.overflow("Lead")

    (gap, overflow) = heard(stream, 2, then=both)
    assert gap.is_gap and gap.change_type == "GAP_UPDATE"
    assert gap.record_ids == ("00Q000000000009AAA",)
    assert overflow.change_type == "GAP_OVERFLOW"
