"""HubSpot webhook deliveries: signature v3, and which events icpbot keeps.

Pure: bytes and headers in, a verdict or events out; the clock is passed
in. The server stores what `parse_events` keeps; everything else here is
HubSpot's contract: the v3 signature is base64(HMAC-SHA256(client secret,
method + URI + body + timestamp)) with a handful of percent-encoded
characters in the URI decoded first, and a timestamp older than five
minutes is refused so a captured delivery cannot be replayed.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from bot.store.inbox import NewEvent

MAX_EVENTS = 1000
KEPT = {"creation", "propertyChange"}
# HubSpot decodes exactly these in the URI before signing.
_DECODE = {
    "%3A": ":", "%2F": "/", "%3F": "?", "%40": "@", "%21": "!", "%24": "$", "%27": "'",
    "%28": "(", "%29": ")", "%2A": "*", "%2C": ",", "%3B": ";",
}  # fmt: skip
_REQUIRED = {"subscriptionType": str, "objectId": int, "occurredAt": int, "eventId": int}


class BadSignature(Exception):
    """The delivery is not provably HubSpot's (401): nothing of it is stored."""


class BadPayload(Exception):
    """Signed, but not a list of HubSpot events (400)."""


@dataclass(slots=True)
class ParsedDelivery:
    events: list[NewEvent] = field(default_factory=list)
    ignored: int = 0


def _decoded(uri: str) -> str:
    for encoded, plain in _DECODE.items():
        uri = uri.replace(encoded, plain).replace(encoded.lower(), plain)
    return uri


def signature_v3(*, secret: str, method: str, uri: str, body: bytes, timestamp: str) -> str:
    """The signature HubSpot sends in `X-HubSpot-Signature-v3` for this request."""
    message = method.upper().encode() + _decoded(uri).encode() + body + timestamp.encode()
    digest = hmac.new(secret.encode(), message, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def verify_v3(
    *,
    secret: str,
    method: str,
    uri: str,
    body: bytes,
    timestamp: str | None,
    signature: str | None,
    now: datetime,
    window: timedelta = timedelta(minutes=5),
) -> None:
    """Raise BadSignature unless the delivery is signed by HubSpot within the window."""
    if not signature or not timestamp:
        raise BadSignature("missing X-HubSpot-Signature-v3 or X-HubSpot-Request-Timestamp")
    if not timestamp.isdigit():
        raise BadSignature("the timestamp is not milliseconds since the epoch")
    sent = datetime.fromtimestamp(int(timestamp) / 1000, tz=UTC)
    if abs(now - sent) > window:
        raise BadSignature("the timestamp is outside the 5-minute window")
    expected = signature_v3(secret=secret, method=method, uri=uri, body=body, timestamp=timestamp)
    if not hmac.compare_digest(expected.encode(), signature.encode()):
        raise BadSignature("the signature does not match")


def dedupe_key(event: Mapping[str, Any]) -> str:
    """The event's content (SPEC §12): a retried delivery has the same key, a new change not."""
    content = [
        event.get("subscriptionType"), event.get("objectId"), event.get("occurredAt"),
        event.get("propertyName"), event.get("propertyValue"),
    ]  # fmt: skip
    return hashlib.sha256(orjson.dumps(content)).hexdigest()


def parse_events(
    body: bytes, *, watched: Mapping[str, frozenset[str]], ignored_prefix: str = "icp_"
) -> ParsedDelivery:
    """The events worth a re-score; BadPayload names what is wrong with the delivery."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise BadPayload(f"not JSON: {exc}") from exc
    if not isinstance(data, list):
        raise BadPayload("a delivery is a JSON array of events")
    if len(data) > MAX_EVENTS:
        raise BadPayload(f"more than {MAX_EVENTS} events in one delivery")
    parsed = ParsedDelivery()
    for index, event in enumerate(data):
        _check(index, event)
        kept = _kept(event, watched, ignored_prefix)
        if kept is None:
            parsed.ignored += 1
        else:
            parsed.events.append(kept)
    return parsed


def _check(index: int, event: object) -> None:
    if not isinstance(event, dict):
        raise BadPayload(f"event {index} is not an object")
    for name, kind in _REQUIRED.items():
        value = event.get(name)
        if not isinstance(value, kind) or isinstance(value, bool):
            raise BadPayload(
                f"event {index}: {name} must be {'text' if kind is str else 'a whole number'}"
            )


def _kept(
    event: dict[str, Any], watched: Mapping[str, frozenset[str]], ignored_prefix: str
) -> NewEvent | None:
    object_type, _, change = str(event["subscriptionType"]).partition(".")
    if object_type not in watched or change not in KEPT:
        return None
    if change == "propertyChange":
        name = event.get("propertyName")
        if not isinstance(name, str) or name.startswith(ignored_prefix):
            return None  # icpbot's own write-back: never a re-score
        if name not in watched[object_type]:
            return None
    return NewEvent(
        source="hubspot", dedupe_key=dedupe_key(event), object_type=object_type,
        object_id=str(event["objectId"]), event_type=str(event["subscriptionType"]),
        payload=event,
    )  # fmt: skip
