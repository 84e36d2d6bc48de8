"""HubSpot's side of a webhook delivery: events shaped as HubSpot sends them, signed v3.

Used by the tests and the benchmarks to send real signed requests; the
signature is computed here independently of `bot.intake.hubspot`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import urllib.request


def signed_delivery(url: str, events: list[dict], *, secret: str) -> urllib.request.Request:
    """A POST of `events` to `url`, signed as HubSpot signs v3: method + uri + body + timestamp."""
    body = json.dumps(events).encode()
    timestamp = str(int(time.time() * 1000))
    message = b"POST" + url.encode() + body + timestamp.encode()
    signature = base64.b64encode(hmac.new(secret.encode(), message, hashlib.sha256).digest())
    headers = {
        "Content-Type": "application/json",
        "X-HubSpot-Signature-v3": signature.decode(),
        "X-HubSpot-Request-Timestamp": timestamp,
    }
    return urllib.request.Request(url, data=body, method="POST", headers=headers)


def creation_event(object_id: str, event_id: int, *, object_type: str = "company") -> dict:
    """A `company.creation` (or `contact.creation`) event as HubSpot delivers it."""
    return {
        "eventId": event_id,
        "subscriptionId": 1,
        "portalId": 1,
        "appId": 1,
        "occurredAt": int(time.time() * 1000),
        "subscriptionType": f"{object_type}.creation",
        "attemptNumber": 0,
        "objectId": int(object_id),
        "changeSource": "CRM",
    }
