"""Salesforce Change Data Capture heard through the Pub/Sub API (gRPC): the only module
importing `grpc` and `fastavro`.

A subscription is one long `Subscribe` stream on a channel (`/data/ChangeEvents`
holds every entity selected for Change Data Capture; `/data/LeadChangeEvent`
one). It starts after a stored replay id, or at the tip; events come Avro-
encoded in a schema fetched once per schema id, as many as were asked for
(`BATCH`, the service's maximum), and more are asked for as they are used
up. Each `Heard` is what one response brought: its events, decoded to what
icpbot needs (entity, record ids, change type, the client that made the
change), and the latest replay id, which a keepalive carries too. What goes
wrong is said as the two things a listener does differently:
`ReplayExpired` (the stored id is past the 72 hours Salesforce keeps: start
at the tip, and let the poll catch up) and `StreamLost` (anything else:
reconnect after the stored id).
"""

from __future__ import annotations

import io
import json
import queue
import re
import threading
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass
from typing import Any

import fastavro
import grpc

from integrations.pubsub import pubsub_api_pb2 as pb
from integrations.pubsub import pubsub_api_pb2_grpc as pb_grpc
from integrations.salesforce import StreamSession

PUBSUB_TARGET = "api.pubsub.salesforce.com:7443"
ALL_CHANGES = "/data/ChangeEvents"
BATCH = 100  # events asked for at a time: the service's maximum
_EXPIRED = "sfdc.platform.eventbus.grpc.subscription.fetch.replayid.corrupted"
_CLIENT = re.compile(r"(?:^|;)client=([^;]+)")


@dataclass(frozen=True, slots=True)
class ChangeEvent:
    """One change to one or more records of an entity, as Change Data Capture says it."""

    entity: str  # Lead, Account, Opportunity...
    record_ids: tuple[str, ...]
    change_type: str  # CREATE, UPDATE, DELETE, UNDELETE, GAP_CREATE..., GAP_OVERFLOW
    client: str | None  # the client named by the call that made it (`client=icpbot`)
    replay_id: bytes

    @property
    def is_gap(self) -> bool:
        """Salesforce could not say what changed: the records are to be read again."""
        return self.change_type.startswith("GAP_")


@dataclass(frozen=True, slots=True)
class Heard:
    """What one response brought: its events (none in a keepalive), and the replay id to
    resume after."""

    events: list[ChangeEvent]
    latest_replay_id: bytes


class ReplayExpired(Exception):
    """The replay id to resume after is no longer kept (Salesforce keeps 72 hours)."""


class StreamLost(Exception):
    """The stream ended or could not start; resume after the last stored replay id.
    `hint` says what to do when it keeps happening."""

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.hint = hint


# What to do about a stream that keeps failing, by gRPC status.
HINTS = {
    "UNAVAILABLE": "check that this host reaches {target} (gRPC over HTTP/2, outbound)",
    "UNAUTHENTICATED": "the Salesforce session was refused: check the login settings",
    "PERMISSION_DENIED": (
        "give the integration user API Enabled and View All Data (or View All Records "
        "on Lead, Account and Opportunity)"
    ),
}


class ChangeStream:
    """Subscriptions to one org's change events on its Pub/Sub API.

    `session` is asked for at each connection, so a renewed login is used;
    `expired` is told when the service refuses it (`UNAUTHENTICATED`), so the
    next connection logs in again. `root_certificates` (PEM) replaces the
    system's trust store (a proxy's or a test's certificate authority).
    """

    def __init__(
        self,
        *,
        session: Callable[[], StreamSession],
        expired: Callable[[], None] = lambda: None,
        target: str = PUBSUB_TARGET,
        root_certificates: bytes | None = None,
    ) -> None:
        self.session = session
        self.expired = expired
        self.target = target
        credentials = grpc.ssl_channel_credentials(root_certificates=root_certificates)
        self._channel = grpc.secure_channel(target, credentials)
        self._stub = pb_grpc.PubSubStub(self._channel)  # type: ignore[no-untyped-call]
        self._schemas: dict[str, Any] = {}

    def close(self) -> None:
        self._channel.close()

    def _metadata(self) -> list[tuple[str, str]]:
        try:
            token, instance_url, tenant_id = self.session()
        except Exception as exc:  # the REST login or the org's id failed: try again later
            raise StreamLost(f"no Salesforce session: {type(exc).__name__}: {exc}") from exc
        return [("accesstoken", token), ("instanceurl", instance_url), ("tenantid", tenant_id)]

    def listen(
        self, topic: str = ALL_CHANGES, *, after: bytes | None = None, stop: threading.Event
    ) -> Generator[Heard, None, None]:
        """What the channel says, from after `after` (or from now), until `stop` is set
        (then it returns) or the stream fails (`ReplayExpired`, `StreamLost`)."""
        requests: queue.Queue[Any] = queue.Queue()
        first = pb.FetchRequest(topic_name=topic, num_requested=BATCH)
        if after:
            first.replay_preset = pb.ReplayPreset.CUSTOM
            first.replay_id = after
        else:
            first.replay_preset = pb.ReplayPreset.LATEST
        requests.put(first)
        call = self._stub.Subscribe(_until_none(requests), metadata=self._metadata())
        watcher = threading.Thread(
            target=_cancel_on, args=(stop, call), name="cdc-stop", daemon=True
        )
        watcher.start()
        try:
            for response in call:
                if response.pending_num_requested == 0 and response.events:
                    requests.put(pb.FetchRequest(num_requested=BATCH))
                yield Heard(
                    [self._decoded(e) for e in response.events], bytes(response.latest_replay_id)
                )
        except grpc.RpcError as error:
            if stop.is_set():
                return
            raise self._said(error) from error
        finally:
            requests.put(None)
            call.cancel()
        if not stop.is_set():
            raise StreamLost("the stream ended")

    def _decoded(self, consumed: Any) -> ChangeEvent:
        event = consumed.event
        record = fastavro.schemaless_reader(
            io.BytesIO(event.payload), self._schema(event.schema_id)
        )
        assert isinstance(record, dict)
        header = record["ChangeEventHeader"]
        found = _CLIENT.search(str(header.get("changeOrigin") or ""))
        return ChangeEvent(
            entity=str(header["entityName"]),
            record_ids=tuple(str(i) for i in header["recordIds"]),
            change_type=str(header["changeType"]),
            client=found.group(1) if found else None,
            replay_id=bytes(consumed.replay_id),
        )

    def _schema(self, schema_id: str) -> Any:
        """The Avro schema of `schema_id`, fetched once."""
        if schema_id not in self._schemas:
            try:
                info = self._stub.GetSchema(
                    pb.SchemaRequest(schema_id=schema_id), metadata=self._metadata()
                )
            except grpc.RpcError as error:
                raise self._said(error) from error
            self._schemas[schema_id] = fastavro.parse_schema(json.loads(info.schema_json))
        return self._schemas[schema_id]

    def _said(self, error: grpc.RpcError) -> Exception:
        """A gRPC failure as what a listener does about it; a refused session is let go."""
        if getattr(error, "code", lambda: None)() == grpc.StatusCode.UNAUTHENTICATED:
            self.expired()
        said = _said(error)
        if isinstance(said, StreamLost) and said.hint:
            said.hint = said.hint.format(target=self.target)
        return said


def _until_none(requests: queue.Queue[Any]) -> Iterator[Any]:
    while (request := requests.get()) is not None:
        yield request


def _cancel_on(stop: threading.Event, call: Any) -> None:
    """Ends the stream when `stop` is set (a gRPC stream blocks until its next response)."""
    while not stop.wait(0.2):
        if not call.is_active():
            return
    call.cancel()


def _said(error: grpc.RpcError) -> Exception:
    """A gRPC failure as what a listener does about it."""
    trailers = dict(getattr(error, "trailing_metadata", lambda: ())() or ())
    code = str(trailers.get("error-code") or "")
    details = str(getattr(error, "details", lambda: "")() or "")
    status = getattr(error, "code", lambda: None)()
    if code == _EXPIRED:
        return ReplayExpired(details)
    name = status.name if isinstance(status, grpc.StatusCode) else "unknown"
    return StreamLost(f"{name}: {details}" if details else name, HINTS.get(name, ""))
