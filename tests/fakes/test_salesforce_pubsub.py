"""The Pub/Sub API fake, held to what Salesforce documents, through a real gRPC client.

Records change in the fake Salesforce (through its REST API, as an import or
a form would, or "in the UI"), and the change events arrive on a TLS gRPC
stream, Avro-encoded in the schema `GetSchema` gives, with replay ids, flow
control, keepalives, gaps, an expired replay id and dropped connections.
"""

from __future__ import annotations

import io
import json
import queue
import threading
import time
from collections.abc import Iterator
from typing import Any

import fastavro
import grpc
import pytest

from integrations.pubsub import pubsub_api_pb2 as pb
from integrations.pubsub import pubsub_api_pb2_grpc as pb_grpc
from integrations.salesforce import token_connection
from tests.fakes.salesforce import FakeSalesforce
from tests.fakes.salesforce_pubsub import TENANT, FakePubSub, replay_number, topic_of
from tests.support import create_lead

LEADS = topic_of("Lead")


def stub(fake: FakeSalesforce, bus: FakePubSub) -> pb_grpc.PubSubStub:
    with open(fake.ca_file, "rb") as handle:
        credentials = grpc.ssl_channel_credentials(root_certificates=handle.read())
    channel = grpc.secure_channel(bus.target, credentials)
    return pb_grpc.PubSubStub(channel)


def auth(fake: FakeSalesforce, token: str = "test-token") -> list[tuple[str, str]]:
    return [("accesstoken", token), ("instanceurl", fake.url), ("tenantid", TENANT)]


class Stream:
    """One Subscribe call: requests sent as the test says, responses collected."""

    def __init__(self, client: pb_grpc.PubSubStub, fake: FakeSalesforce, first: Any) -> None:
        self._requests: queue.Queue[Any] = queue.Queue()
        self._requests.put(first)
        self.responses: queue.Queue[Any] = queue.Queue()
        self.error: grpc.RpcError | None = None
        self._call = client.Subscribe(self._send(), metadata=auth(fake))
        threading.Thread(target=self._read, daemon=True).start()

    def _send(self) -> Iterator[Any]:
        while (request := self._requests.get()) is not None:
            yield request

    def _read(self) -> None:
        try:
            for response in self._call:
                self.responses.put(response)
        except grpc.RpcError as error:
            self.error = error
            self.responses.put(None)

    def more(self, count: int) -> None:
        self._requests.put(pb.FetchRequest(num_requested=count))

    def events(self, count: int, timeout: float = 5.0) -> list[Any]:
        """The next `count` events, keepalives skipped; queue.Empty if they do not all
        come within `timeout` seconds."""
        found: list[Any] = []
        deadline = time.monotonic() + timeout
        while len(found) < count:
            response = self.responses.get(timeout=max(0.0, deadline - time.monotonic()))
            assert response is not None, self.error
            found.extend(response.events)
        return found

    def close(self) -> None:
        self._requests.put(None)
        self._call.cancel()


def subscribe(
    client: pb_grpc.PubSubStub,
    fake: FakeSalesforce,
    *,
    preset: int = pb.ReplayPreset.LATEST,
    replay_id: bytes = b"",
    requested: int = 100,
) -> Stream:
    first = pb.FetchRequest(
        topic_name=LEADS, replay_preset=preset, replay_id=replay_id, num_requested=requested
    )
    return Stream(client, fake, first)


def schema_of(client: pb_grpc.PubSubStub, fake: FakeSalesforce, event: Any) -> dict[str, Any]:
    request = pb.SchemaRequest(schema_id=event.event.schema_id)
    found = json.loads(client.GetSchema(request, metadata=auth(fake)).schema_json)
    assert isinstance(found, dict)
    return found


def decoded(client: pb_grpc.PubSubStub, fake: FakeSalesforce, event: Any) -> dict[str, Any]:
    parsed = fastavro.parse_schema(schema_of(client, fake, event))
    record = fastavro.schemaless_reader(io.BytesIO(event.event.payload), parsed)
    assert isinstance(record, dict)
    return record


def wait_subscribed(bus: FakePubSub, count: int = 1) -> None:
    for _ in range(200):
        if bus.subscriptions >= count:
            return
        threading.Event().wait(0.01)
    raise AssertionError("no subscription")


def test_a_lead_created_through_the_api_arrives_as_a_create_event(
    org: FakeSalesforce, pubsub: FakePubSub
) -> None:
    client = stub(org, pubsub)
    topic = client.GetTopic(pb.TopicRequest(topic_name=LEADS), metadata=auth(org))
    assert topic.can_subscribe and topic.schema_id
    stream = subscribe(client, org)
    wait_subscribed(pubsub)
    lead = create_lead(org, "Ng", client="webform")
    (event,) = stream.events(1)
    record = decoded(client, org, event)
    header = record["ChangeEventHeader"]
    assert header["entityName"] == "Lead" and header["recordIds"] == [lead]
    assert header["changeType"] == "CREATE" and header["changeOrigin"].endswith("client=webform")
    assert (record["LastName"], record["Email"]) == ("Ng", "Ng@acme.com")
    assert replay_number(event.replay_id) is not None
    stream.close()


def test_icpbots_own_write_names_it_and_says_which_fields_changed(
    org: FakeSalesforce, pubsub: FakePubSub
) -> None:
    lead = org.add("Lead", {"LastName": "Ng", "Email": "ng@acme.com", "Company": "Acme"})
    client = stub(org, pubsub)
    stream = subscribe(client, org)
    wait_subscribed(pubsub)
    sf = token_connection(instance_url=org.url, access_token="test-token", version="62.0")
    sf.Lead.update(lead, {"ICP_Tier__c": "A"})
    (event,) = stream.events(1)
    record = decoded(client, org, event)
    header = record["ChangeEventHeader"]
    assert header["changeType"] == "UPDATE"
    assert header["changeOrigin"] == "com/salesforce/api/rest/62.0;client=icpbot"
    names = [f["name"] for f in schema_of(client, org, event)["fields"]]
    bits = int(header["changedFields"][0], 16)
    assert [n for i, n in enumerate(names) if bits >> i & 1] == ["ICP_Tier__c"]
    stream.close()


def test_events_flow_only_as_far_as_requested(org: FakeSalesforce, pubsub: FakePubSub) -> None:
    client = stub(org, pubsub)
    stream = subscribe(client, org, requested=2)
    wait_subscribed(pubsub)
    for name in ("A", "B", "C"):
        org.add("Lead", {"LastName": name, "Company": "Acme"})
    assert len(stream.events(2)) == 2
    with pytest.raises(queue.Empty):  # only keepalives until more is asked for
        stream.events(1, timeout=0.6)
    stream.more(5)
    assert len(stream.events(1)) == 1
    stream.close()


def test_replay_after_a_stored_id_or_from_the_earliest_kept(
    org: FakeSalesforce, pubsub: FakePubSub
) -> None:
    ids = [org.add("Lead", {"LastName": n, "Company": "Acme"}) for n in ("A", "B", "C")]
    client = stub(org, pubsub)
    everything = subscribe(client, org, preset=pb.ReplayPreset.EARLIEST)
    events = everything.events(3)
    assert [decoded(client, org, e)["ChangeEventHeader"]["recordIds"][0] for e in events] == ids
    everything.close()
    after_first = subscribe(
        client, org, preset=pb.ReplayPreset.CUSTOM, replay_id=events[0].replay_id
    )
    later = after_first.events(2)
    assert [e.replay_id for e in later] == [e.replay_id for e in events[1:]]
    after_first.close()


def test_an_id_past_the_retention_window_is_refused(
    org: FakeSalesforce, pubsub: FakePubSub
) -> None:
    for name in ("A", "B", "C"):
        org.add("Lead", {"LastName": name, "Company": "Acme"})
    client = stub(org, pubsub)
    events = subscribe(client, org, preset=pb.ReplayPreset.EARLIEST).events(3)
    pubsub.expire(keep_after=replay_number(events[1].replay_id) or 0)
    stale = subscribe(client, org, preset=pb.ReplayPreset.CUSTOM, replay_id=events[0].replay_id)
    assert stale.responses.get(timeout=5) is None
    assert stale.error is not None and stale.error.code() == grpc.StatusCode.INVALID_ARGUMENT
    trailers = dict(stale.error.trailing_metadata() or ())  # type: ignore[attr-defined]
    assert trailers["error-code"] == (
        "sfdc.platform.eventbus.grpc.subscription.fetch.replayid.corrupted"
    )
    assert "rpcId: " in (stale.error.details() or "")


def test_an_idle_stream_gets_keepalives_with_the_latest_id(
    org: FakeSalesforce, pubsub: FakePubSub
) -> None:
    org.add("Lead", {"LastName": "A", "Company": "Acme"})
    client = stub(org, pubsub)
    stream = subscribe(client, org)
    keepalive = stream.responses.get(timeout=5)
    assert keepalive is not None and not keepalive.events
    assert replay_number(keepalive.latest_replay_id) == 1
    assert keepalive.latest_replay_id != (1).to_bytes(8, "big")  # opaque, not a count
    stream.close()


def test_gaps_overflow_and_dropped_connections(org: FakeSalesforce, pubsub: FakePubSub) -> None:
    client = stub(org, pubsub)
    stream = subscribe(client, org)
    wait_subscribed(pubsub)
    pubsub.gap("Lead", ["00Q000000000001AAA"])
    pubsub.overflow("Lead")
    kinds = [decoded(client, org, e)["ChangeEventHeader"]["changeType"] for e in stream.events(2)]
    assert kinds == ["GAP_UPDATE", "GAP_OVERFLOW"]
    pubsub.disconnect()
    while (response := stream.responses.get(timeout=5)) is not None:
        assert not response.events
    assert stream.error is not None and stream.error.code() == grpc.StatusCode.UNAVAILABLE


def test_calls_without_a_known_token_or_to_an_unknown_topic_are_refused(
    org: FakeSalesforce, pubsub: FakePubSub
) -> None:
    client = stub(org, pubsub)
    with pytest.raises(grpc.RpcError) as refused:
        client.GetTopic(pb.TopicRequest(topic_name=LEADS), metadata=auth(org, token="nope"))
    assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
    with pytest.raises(grpc.RpcError) as unknown:
        client.GetTopic(pb.TopicRequest(topic_name="/data/Nope"), metadata=auth(org))
    assert unknown.value.code() == grpc.StatusCode.PERMISSION_DENIED


def test_at_most_a_hundred_events_are_asked_for_at_once(
    org: FakeSalesforce, pubsub: FakePubSub
) -> None:
    for n in range(120):
        org.add("Lead", {"LastName": f"L{n}", "Company": "Acme"})
    client = stub(org, pubsub)
    stream = subscribe(client, org, preset=pb.ReplayPreset.EARLIEST, requested=150)
    assert len(stream.events(100)) == 100
    with pytest.raises(queue.Empty):
        stream.events(1, timeout=0.5)
    stream.more(100)
    assert len(stream.events(20)) == 20
    stream.close()
