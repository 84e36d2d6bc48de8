"""HubSpot webhook deliveries: signature v3, and which events icpbot keeps.

Pure: bytes and headers in, a verdict or events out; the clock is passed
in. The rules are HubSpot's ("Validate requests using the v3 request
signature"): the signature is base64(HMAC-SHA256(app client secret,
method + URI + body + timestamp)), where the URI is the one HubSpot called
with a fixed set of percent-encoded characters decoded first, and a
timestamp more than five minutes off is refused, so a captured delivery
cannot be replayed later.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import orjson

from bot.store.inbox import NewEvent

SOURCE = "hubspot"
MAX_EVENTS = 1000  # HubSpot sends at most 100; anything far beyond is not HubSpot
OBJECT_TYPES = frozenset({"company", "contact"})
# HubSpot's generic subscriptions (`object.creation`, `object.propertyChange`) name the
# object by its type id instead: 0-1 contacts, 0-2 companies.
GENERIC_TYPES = {"0-1": "contact", "0-2": "company"}

# Exactly the characters HubSpot's documentation says to decode before signing.
_DECODED = {
    "%3A": ":",
    "%2F": "/",
    "%3F": "?",
    "%40": "@",
    "%21": "!",
    "%24": "$",
    "%27": "'",
    "%28": "(",
    "%29": ")",
    "%2A": "*",
    "%2C": ",",
    "%3B": ";",
}
_REQUIRED: dict[str, type] = {
    "subscriptionType": str,
    "objectId": int,
    "occurredAt": int,
    "eventId": int,
}


class BadSignature(Exception):
    """The delivery is not provably HubSpot's (401): nothing of it is stored."""


class BadPayload(Exception):
    """Signed, but not a list of HubSpot events (400)."""


@dataclass(slots=True)
class ParsedDelivery:
    """The events worth storing, and how many others the delivery held."""

    events: list[NewEvent] = field(default_factory=list)
    ignored: int = 0


def decode_uri(uri: str) -> str:
    """The URI as HubSpot signs it: only the listed escapes decoded, in either case."""
    for encoded, plain in _DECODED.items():
        uri = uri.replace(encoded, plain).replace(encoded.lower(), plain)
    return uri


def signature_v3(*, secret: str, method: str, uri: str, body: bytes, timestamp: str) -> str:
    """The value HubSpot sends in `X-HubSpot-Signature-v3` for this request."""
    message = method.upper().encode() + decode_uri(uri).encode() + body + timestamp.encode()
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
    """Raise BadSignature unless HubSpot signed this request within `window` of `now`."""
    if not signature or not timestamp:
        raise BadSignature("missing X-HubSpot-Signature-v3 or X-HubSpot-Request-Timestamp")
    if not (timestamp.isascii() and timestamp.isdigit()):
        raise BadSignature("X-HubSpot-Request-Timestamp is not milliseconds since the epoch")
    # Compared as integers of milliseconds: no datetime to overflow on a forged value.
    skew_ms = abs(int(now.timestamp() * 1000) - int(timestamp))
    if skew_ms > window / timedelta(milliseconds=1):
        raise BadSignature("X-HubSpot-Request-Timestamp is too old or in the future")
    expected = signature_v3(secret=secret, method=method, uri=uri, body=body, timestamp=timestamp)
    if not hmac.compare_digest(expected.encode(), signature.encode()):
        raise BadSignature("X-HubSpot-Signature-v3 does not match")


def dedupe_key(event: Mapping[str, Any]) -> str:
    """The event's content (SPEC §12), hashed: a retried delivery has the same key.

    Not `eventId` alone: the same change can arrive under another id, and
    two changes of one property differ in their value or time. A generic
    subscription's event is keyed as its legacy twin (`object.creation` of
    0-2 as `company.creation`), so a portal subscribed both ways stores it once.
    """
    content = [
        _legacy_subscription(event) or event.get("subscriptionType"),
        event.get("objectId"),
        event.get("occurredAt"),
        event.get("propertyName"),
        event.get("propertyValue"),
    ]
    return hashlib.sha256(orjson.dumps(content)).hexdigest()


def parse_events(
    body: bytes, *, watched: Mapping[str, frozenset[str]], ignored_prefix: str = "icp_"
) -> ParsedDelivery:
    """The events worth a re-score; BadPayload names what is wrong with the delivery.

    `watched` maps "company"/"contact" to the properties whose change can
    move a score. Properties starting with `ignored_prefix` are icpbot's own
    write-back, never watched whatever the mapping says: HubSpot reports our
    writes as changes, and re-scoring on them would loop forever.
    """
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise BadPayload(f"the body is not JSON: {exc}") from exc
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
            wanted = "a string" if kind is str else "an integer"
            raise BadPayload(f"event {index}: {name} must be {wanted}")


def _kept(
    event: dict[str, Any], watched: Mapping[str, frozenset[str]], ignored_prefix: str
) -> NewEvent | None:
    subscription = _legacy_subscription(event) or event["subscriptionType"]
    object_type, _, change = subscription.partition(".")
    if object_type not in OBJECT_TYPES:
        return None
    if change == "propertyChange":
        if not _watched(event.get("propertyName"), watched.get(object_type), ignored_prefix):
            return None
    elif change != "creation":
        return None
    return NewEvent(
        source=SOURCE,
        dedupe_key=dedupe_key(event),
        object_type=object_type,
        object_id=str(event["objectId"]),
        event_type=subscription,
        payload=event,
    )


def _legacy_subscription(event: Mapping[str, Any]) -> str | None:
    """`company.creation` for a generic `object.creation` of type 0-2, and so on; None for a
    legacy event, or a generic one of an object icpbot does not score."""
    object_type, _, change = str(event.get("subscriptionType")).partition(".")
    if object_type != "object":
        return None
    type_id = event.get("objectTypeId")
    name = GENERIC_TYPES.get(type_id) if isinstance(type_id, str) else None
    return f"{name}.{change}" if name else None


def _watched(name: object, properties: frozenset[str] | None, ignored_prefix: str) -> bool:
    if not isinstance(name, str) or name.startswith(ignored_prefix):
        return False
    return properties is not None and name in properties
