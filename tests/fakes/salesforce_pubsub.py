"""A wire-level fake of Salesforce's Pub/Sub API (gRPC over TLS), for Change Data Capture.

Driven by the fake Salesforce's own records: every change committed there
to an object the org selected for Change Data Capture (`cdc_selected`, what
`icpbot crm setup salesforce` selects) — a record created through the REST
API, an update, a delete, a merge, a change "made in the UI" by
`FakeSalesforce.touch` — becomes a change event on the entity's
channel (`/data/LeadChangeEvent`, `/data/AccountChangeEvent`,
`/data/OpportunityChangeEvent`) and on `/data/ChangeEvents`, which carries
every selected entity's, each in its entity's schema, as Salesforce
publishes them:

- `GetTopic` and `GetSchema` answer as the service does; events are Avro
  (binary, no container) in the schema `GetSchema` returns, with a
  `ChangeEventHeader` (`entityName`, `recordIds`, `changeType`,
  `changeOrigin`, `transactionKey`, `sequenceNumber`, `commitTimestamp`,
  `commitNumber`, `commitUser`, and the bitmap fields `nulledFields`,
  `diffFields`, `changedFields` as hex strings, as the Pub/Sub API sends
  them). Record fields are nullable; dates are epoch milliseconds.
- `Subscribe` is the bidirectional stream: the first `FetchRequest` names
  the topic and where to start (`LATEST`, `EARLIEST`, or `CUSTOM` after a
  replay id); events flow only as far as `num_requested` allows, each
  `FetchResponse` saying how many are still pending; with nothing to send, a
  keepalive (no events, the latest replay id) every `keepalive` seconds.
- Replay ids are opaque bytes, not contiguous (8, big-endian here). At most
  100 events are asked for at a time, as the service caps `num_requested`. The service keeps events
  72 hours: `expire()` drops the oldest so a stored id can fall out of the
  window, and `CUSTOM` from such an id fails as Salesforce's does
  (`INVALID_ARGUMENT`). `gap()` publishes a `GAP_*` event, and `overflow()`
  a `GAP_OVERFLOW`; `disconnect()` ends every open stream (`UNAVAILABLE`).
- Errors end a stream with a gRPC status, the service's own error code in
  the trailers (`error-code`) and `rpcId: ...` at the end of the details.
- A change made by a call that named its client (`Sforce-Call-Options:
  client=icpbot`) carries it in `changeOrigin`
  (`com/salesforce/api/rest/62.0;client=icpbot`).
- Calls need the metadata Salesforce asks for: `accesstoken`, `instanceurl`
  and `tenantid` (the org's id, `SELECT Id FROM Organization`); a token the
  fake Salesforce does not know, or another org's id, is `UNAUTHENTICATED`.

Binds to 127.0.0.1 on a free port, TLS with the fake Salesforce's own
certificate authority (`fake.ca_file`).
"""

from __future__ import annotations

import contextlib
import io
import itertools
import json
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent import futures
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import fastavro
import grpc

from integrations.pubsub import pubsub_api_pb2 as pb
from integrations.pubsub import pubsub_api_pb2_grpc as pb_grpc
from tests.fakes.salesforce import ORG_ID, Change, FakeSalesforce

ENTITIES = ("Lead", "Account", "Opportunity")
ALL_CHANGES = "/data/ChangeEvents"
MAX_REQUESTED = 100  # events one FetchRequest may ask for
TENANT = ORG_ID
API_VERSION = "62.0"
CHANGE_TYPES = [
    "CREATE",
    "UPDATE",
    "DELETE",
    "UNDELETE",
    "GAP_CREATE",
    "GAP_UPDATE",
    "GAP_DELETE",
    "GAP_UNDELETE",
    "GAP_OVERFLOW",
]
_AVRO_TYPES = {
    "int": "long",
    "double": "double",
    "currency": "double",
    "percent": "double",
    "boolean": "boolean",
    "date": "long",
    "datetime": "long",
}


def topic_of(entity: str) -> str:
    return f"/data/{entity}ChangeEvent"


def replay_bytes(number: int) -> bytes:
    """The opaque replay id of the event numbered `number`. Not contiguous, as Salesforce's
    are not: a client must store them, never compute one from another."""
    return (number * 16 + 5).to_bytes(8, "big")


def replay_number(replay_id: bytes) -> int | None:
    """The event number a replay id of this fake stands for; None for any other bytes."""
    if len(replay_id) != 8:
        return None
    value = int.from_bytes(replay_id, "big")
    return (value - 5) // 16 if value % 16 == 5 else None


def bitmap(indexes: list[int]) -> list[str]:
    """Field positions as the Pub/Sub API's bitmap fields give them: one hex string whose
    bit N is the schema's field N."""
    if not indexes:
        return []
    return [hex(sum(1 << i for i in set(indexes)))]


@dataclass(slots=True)
class _Stored:
    number: int
    payload: bytes
    schema_id: str


@dataclass(slots=True)
class _Topic:
    entity: str
    schema: dict[str, Any]
    schema_id: str
    parsed: Any
    names: list[str]  # top-level field names, in schema order
    kinds: dict[str, str]  # record field → its Avro type (besides null)
    events: list[_Stored] = field(default_factory=list)

    def after(self, number: int, most: int) -> list[_Stored]:
        """Up to `most` events kept after the one numbered `number`, oldest first."""
        return [e for e in self.events if e.number > number][:most]


class FakePubSub(pb_grpc.PubSubServicer):  # type: ignore[misc]
    """The Pub/Sub API of `salesforce` (started), on its own port."""

    def __init__(self, salesforce: FakeSalesforce, *, keepalive: float = 0.5) -> None:
        self.salesforce = salesforce
        self.keepalive = keepalive
        self.target = ""
        self._lock = threading.Condition()
        self._numbers = itertools.count(1)
        self._commits = itertools.count(1)
        self._latest = 0
        self._generation = 0  # moved by disconnect(): streams opened before it end
        self._topics = {topic_of(e): self._topic(e) for e in ENTITIES}
        self._all = _Topic("*", {}, "", None, [], {})  # /data/ChangeEvents
        self._topics[ALL_CHANGES] = self._all
        self._server: grpc.Server | None = None
        self.subscriptions = 0  # Subscribe calls accepted, for tests
        self._overflowing: set[str] = set()  # entities inside `one_transaction`
        salesforce.listen(self._record)

    # -- the schema --------------------------------------------------------------------------

    def _topic(self, entity: str) -> _Topic:
        header = {
            "type": "record",
            "name": "ChangeEventHeader",
            "fields": [
                {"name": "entityName", "type": "string"},
                {"name": "recordIds", "type": {"type": "array", "items": "string"}},
                {
                    "name": "changeType",
                    "type": {"type": "enum", "name": "ChangeType", "symbols": CHANGE_TYPES},
                },
                {"name": "changeOrigin", "type": "string"},
                {"name": "transactionKey", "type": "string"},
                {"name": "sequenceNumber", "type": "int"},
                {"name": "commitTimestamp", "type": "long"},
                {"name": "commitNumber", "type": "long"},
                {"name": "commitUser", "type": "string"},
                {"name": "nulledFields", "type": {"type": "array", "items": "string"}},
                {"name": "diffFields", "type": {"type": "array", "items": "string"}},
                {"name": "changedFields", "type": {"type": "array", "items": "string"}},
            ],
        }
        fields: list[dict[str, Any]] = [{"name": "ChangeEventHeader", "type": header}]
        for spec in self.salesforce.fields(entity):
            if spec.name == "Id":
                continue
            kind = _AVRO_TYPES.get(spec.type, "string")
            fields.append({"name": spec.name, "type": ["null", kind], "default": None})
        schema = {
            "type": "record",
            "name": f"{entity}ChangeEvent",
            "namespace": "com.sforce.eventbus",
            "fields": fields,
        }
        schema_id = uuid.uuid5(uuid.NAMESPACE_URL, json.dumps(schema, sort_keys=True)).hex[:22]
        parsed = fastavro.parse_schema(schema)
        kinds = {f["name"]: f["type"][1] for f in fields[1:]}
        return _Topic(entity, schema, schema_id, parsed, [f["name"] for f in fields], kinds)

    # -- events ------------------------------------------------------------------------------

    def _record(self, change: Change) -> None:
        """A change committed in the fake Salesforce, published on its entity's channel."""
        name = topic_of(change.obj)
        heard = change.obj in self.salesforce.cdc_selected() and change.obj not in self._overflowing
        if name in self._topics and heard:
            self._publish(name, change.kind, [change.id], change.fields, change.client)

    @contextlib.contextmanager
    def one_transaction(self, entity: str) -> Iterator[None]:
        """Changes to `entity` made inside are one transaction too big to describe (over
        100,000 changes): none is published, and one `GAP_OVERFLOW` is at the end."""
        with self._lock:
            self._overflowing.add(entity)
        try:
            yield
        finally:
            with self._lock:
                self._overflowing.discard(entity)
            self.overflow(entity)

    def gap(self, entity: str, ids: list[str], kind: str = "UPDATE") -> None:
        """A change Salesforce could not describe (`GAP_UPDATE`...): ids only, no fields."""
        self._publish(topic_of(entity), f"GAP_{kind}", ids, {}, None)

    def overflow(self, entity: str) -> None:
        """More than 100,000 changes in one transaction: one `GAP_OVERFLOW`, no ids."""
        self._publish(topic_of(entity), "GAP_OVERFLOW", ["000000000000000AAA"], {}, None)

    def _publish(
        self, name: str, kind: str, ids: list[str], values: dict[str, Any], client: str | None
    ) -> None:
        topic = self._topics[name]
        origin = f"com/salesforce/api/rest/{API_VERSION};client={client}" if client else ""
        indexes = [topic.names.index(k) for k in values if k in topic.names]
        nulled = [topic.names.index(k) for k, v in values.items() if v is None and k in topic.names]
        now = datetime.now(UTC)
        record: dict[str, Any] = {
            "ChangeEventHeader": {
                "entityName": topic.entity,
                "recordIds": ids,
                "changeType": kind,
                "changeOrigin": origin,
                "transactionKey": uuid.uuid4().hex,
                "sequenceNumber": 1,
                "commitTimestamp": int(now.timestamp() * 1000),
                "commitNumber": next(self._commits),
                "commitUser": "005000000000001AAA",
                "nulledFields": bitmap(nulled) if kind == "UPDATE" else [],
                "diffFields": [],
                "changedFields": bitmap(indexes) if kind == "UPDATE" else [],
            }
        }
        for key, value in values.items():
            if key in topic.kinds:
                record[key] = _avro_value(value, topic.kinds[key])
        buffer = io.BytesIO()
        fastavro.schemaless_writer(buffer, topic.parsed, record)
        with self._lock:
            number = next(self._numbers)
            stored = _Stored(number, buffer.getvalue(), topic.schema_id)
            topic.events.append(stored)
            self._all.events.append(stored)
            self._latest = number
            self._lock.notify_all()

    def expire(self, keep_after: int) -> None:
        """The retention window passed: events numbered up to `keep_after` are gone."""
        with self._lock:
            for topic in self._topics.values():
                topic.events = [e for e in topic.events if e.number > keep_after]

    def disconnect(self) -> None:
        """Every open stream ends (`UNAVAILABLE`), as when a connection drops."""
        with self._lock:
            self._generation += 1
            self._lock.notify_all()

    def latest(self) -> bytes:
        """The replay id of the latest event published on any channel."""
        with self._lock:
            return replay_bytes(self._latest)

    def published(self, entity: str) -> int:
        with self._lock:
            return len(self._topics[topic_of(entity)].events)

    # -- the service -------------------------------------------------------------------------

    def _authorised(self, context: grpc.ServicerContext) -> None:
        metadata = dict(context.invocation_metadata())
        token = metadata.get("accesstoken", "")
        if not self.salesforce.knows_token(str(token)) or metadata.get("tenantid") != TENANT:
            _abort(
                context,
                grpc.StatusCode.UNAUTHENTICATED,
                "sfdc.platform.eventbus.grpc.service.auth.error",
                "An error occurred while trying to authenticate. Verify your credentials.",
            )

    def _named(self, name: str, context: grpc.ServicerContext) -> _Topic:
        topic = self._topics.get(name)
        if topic is None:
            _abort(
                context,
                grpc.StatusCode.PERMISSION_DENIED,
                "sfdc.platform.eventbus.grpc.subscription.topic.not.found",
                f"Topic {name} not found or you have no access to it.",
            )
        return topic  # type: ignore[return-value]

    def GetTopic(self, request: Any, context: grpc.ServicerContext) -> Any:  # noqa: N802
        self._authorised(context)
        topic = self._named(request.topic_name, context)
        return pb.TopicInfo(
            topic_name=request.topic_name,
            tenant_guid=TENANT,
            can_publish=False,
            can_subscribe=True,
            schema_id=topic.schema_id,
            rpc_id=uuid.uuid4().hex,
        )

    def GetSchema(self, request: Any, context: grpc.ServicerContext) -> Any:  # noqa: N802
        self._authorised(context)
        for topic in self._topics.values():
            if topic.schema_id and topic.schema_id == request.schema_id:
                return pb.SchemaInfo(
                    schema_json=json.dumps(topic.schema),
                    schema_id=topic.schema_id,
                    rpc_id=uuid.uuid4().hex,
                )
        _abort(
            context,
            grpc.StatusCode.NOT_FOUND,
            "sfdc.platform.eventbus.grpc.schema.not.found",
            f"Schema {request.schema_id} not found.",
        )
        return None

    def Subscribe(  # noqa: N802
        self, requests: Iterator[Any], context: grpc.ServicerContext
    ) -> Iterator[Any]:
        self._authorised(context)
        credit = _Credit()
        first = next(requests, None)
        if first is None:
            return
        topic = self._named(first.topic_name, context)
        with self._lock:
            position = self._start(topic, first, context)
            generation = self._generation
            self.subscriptions += 1
        credit.add(first.num_requested)
        threading.Thread(target=credit.feed, args=(requests,), daemon=True).start()
        quiet_since = time.monotonic()
        while context.is_active():
            with self._lock:
                if self._generation != generation:
                    _abort(
                        context,
                        grpc.StatusCode.UNAVAILABLE,
                        "sfdc.platform.eventbus.grpc.service.unavailable",
                        "The service is unavailable. Try again later.",
                    )
                ready = topic.after(position, credit.available())
                if not ready:
                    self._lock.wait(0.05)
                    ready = topic.after(position, credit.available())
                latest = self._latest
            if ready:
                position = ready[-1].number
                credit.take(len(ready))
                quiet_since = time.monotonic()
                yield pb.FetchResponse(
                    events=[
                        pb.ConsumerEvent(
                            event=pb.ProducerEvent(
                                id=uuid.uuid4().hex, schema_id=e.schema_id, payload=e.payload
                            ),
                            replay_id=replay_bytes(e.number),
                        )
                        for e in ready
                    ],
                    latest_replay_id=replay_bytes(position),
                    rpc_id=uuid.uuid4().hex,
                    pending_num_requested=credit.available(),
                )
            elif time.monotonic() - quiet_since >= self.keepalive:
                quiet_since = time.monotonic()
                yield pb.FetchResponse(
                    latest_replay_id=replay_bytes(max(position, latest)),
                    rpc_id=uuid.uuid4().hex,
                    pending_num_requested=credit.available(),
                )

    def _start(self, topic: _Topic, first: Any, context: grpc.ServicerContext) -> int:
        """Called holding the lock: the number after which this subscription's events come."""
        if first.replay_preset == pb.ReplayPreset.EARLIEST:
            return topic.events[0].number - 1 if topic.events else self._latest
        if first.replay_preset == pb.ReplayPreset.CUSTOM:
            number = replay_number(first.replay_id)
            oldest = topic.events[0].number if topic.events else self._latest + 1
            if number is None or number > self._latest or number < oldest - 1:
                _abort(
                    context,
                    grpc.StatusCode.INVALID_ARGUMENT,
                    "sfdc.platform.eventbus.grpc.subscription.fetch.replayid.corrupted",
                    "The Replay ID validation failed. Ensure that the Replay ID is valid.",
                )
            return number  # type: ignore[return-value]
        return self._latest

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> FakePubSub:
        server = grpc.server(futures.ThreadPoolExecutor(max_workers=16))
        pb_grpc.add_PubSubServicer_to_server(self, server)
        cert = self.salesforce.certificate
        credentials = grpc.ssl_server_credentials(
            [(cert.private_key_pem.bytes(), b"".join(c.bytes() for c in cert.cert_chain_pems))]
        )
        port = server.add_secure_port("127.0.0.1:0", credentials)
        server.start()
        self._server = server
        self.target = f"127.0.0.1:{port}"
        return self

    def stop(self) -> None:
        if self._server is not None:
            self.disconnect()
            self._server.stop(grace=1).wait(5)
            self._server = None

    def __enter__(self) -> FakePubSub:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class _Credit:
    """How many events the subscriber asked for and has not had yet (flow control)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._left = 0

    def add(self, count: int) -> None:
        with self._lock:
            self._left += max(0, min(count, MAX_REQUESTED))

    def take(self, count: int) -> None:
        with self._lock:
            self._left -= count

    def available(self) -> int:
        with self._lock:
            return self._left

    def feed(self, requests: Iterator[Any]) -> None:
        """Later FetchRequests on the same stream add to the credit."""
        try:
            for request in requests:
                self.add(request.num_requested)
        except grpc.RpcError:
            return


def _abort(context: grpc.ServicerContext, status: grpc.StatusCode, code: str, text: str) -> None:
    """End the call as the service does: the status, its error code in the trailers, and
    the RPC id after the message."""
    rpc_id = uuid.uuid4().hex
    context.set_trailing_metadata((("error-code", code), ("rpc-id", rpc_id)))
    context.abort(status, f"{text} rpcId: {rpc_id}")


def _avro_value(value: Any, kind: str) -> Any:
    """A REST value as the change event's Avro field of `kind` holds it: dates and times
    in epoch milliseconds, numbers as numbers, the rest as text."""
    if value is None:
        return None
    if kind == "long" and isinstance(value, str):
        if len(value) == 10:
            day = date.fromisoformat(value)
            return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp() * 1000)
        moment = datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%f%z")
        return int(moment.timestamp() * 1000)
    if kind == "long":
        return int(value)
    if kind == "double":
        return float(value)
    if kind == "boolean":
        return bool(value)
    return value if isinstance(value, str) else str(value)
