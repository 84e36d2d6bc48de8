"""Slack's side of a request to the app: slash commands, interactions and events, signed.

Shaped as Slack sends them (form-encoded commands, a `payload` form field for
interactions, JSON for events) and signed with v0 HMAC-SHA256 over
`v0:{timestamp}:{body}`, computed here independently of the app's code.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from urllib.parse import urlencode

TEAM = "T0TEST"


def signature_headers(body: bytes, *, secret: str, timestamp: int | None = None) -> dict[str, str]:
    """The headers Slack adds: `X-Slack-Request-Timestamp` and `X-Slack-Signature`."""
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    base = b"v0:" + stamp.encode() + b":" + body
    digest = hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": stamp, "X-Slack-Signature": f"v0={digest}"}


def command_body(text: str, *, user: str = "U0DANA", response_url: str = "", **extra: str) -> bytes:
    """A `/icp` slash command as Slack posts it (form-encoded)."""
    fields = {
        "token": "legacy-verification-token",
        "team_id": TEAM,
        "team_domain": "acme-sales",
        "channel_id": "C0SDR",
        "channel_name": "sdr",
        "user_id": user,
        "user_name": "dana",
        "command": "/icp",
        "text": text,
        "api_app_id": "A0ICP",
        "is_enterprise_install": "false",
        "response_url": response_url,
        "trigger_id": "13345224609.738474920.8088930838d88f008e0",
        **extra,
    }
    return urlencode(fields).encode()


def interaction_body(payload: dict[str, object]) -> bytes:
    """A block action or view submission: JSON in a `payload` form field."""
    return urlencode({"payload": json.dumps(payload)}).encode()


def block_action(
    action: dict[str, object],
    *,
    user: str = "U0DANA",
    channel: str = "C0A",
    message: dict[str, object] | None = None,
    response_url: str = "",
    trigger_id: str = "",
) -> dict[str, object]:
    """A `block_actions` payload for a button click or a menu choice on a message."""
    return {
        "type": "block_actions",
        "team": {"id": TEAM, "domain": "acme-sales"},
        "user": {"id": user, "username": "dana", "team_id": TEAM},
        "api_app_id": "A0ICP",
        "token": "legacy",
        "trigger_id": trigger_id,
        "container": {
            "type": "message",
            "channel_id": channel,
            "message_ts": (message or {}).get("ts", ""),
        },
        "channel": {"id": channel, "name": "icp-a-tier"},
        "message": message or {},
        "response_url": response_url,
        "actions": [{"block_id": "b", "action_ts": str(time.time()), **action}],
    }


def view_submission(
    callback_id: str, values: dict[str, object], *, private_metadata: str, user: str = "U0DANA"
) -> dict[str, object]:
    """A modal's `view_submission` payload."""
    return {
        "type": "view_submission",
        "team": {"id": TEAM, "domain": "acme-sales"},
        "user": {"id": user, "username": "dana", "team_id": TEAM},
        "api_app_id": "A0ICP",
        "token": "legacy",
        "trigger_id": "",
        "view": {
            "id": "V0MODAL",
            "type": "modal",
            "callback_id": callback_id,
            "private_metadata": private_metadata,
            "state": {"values": values},
            "hash": "1",
            "team_id": TEAM,
            "app_id": "A0ICP",
            "blocks": [],
        },
    }


def event_body(event: dict[str, object]) -> bytes:
    """An Events API `event_callback` envelope (JSON)."""
    return json.dumps(
        {
            "token": "legacy",
            "team_id": TEAM,
            "api_app_id": "A0ICP",
            "event": event,
            "type": "event_callback",
            "event_id": f"Ev{int(time.time() * 1e6)}",
            "event_time": int(time.time()),
            "authorizations": [{"team_id": TEAM, "user_id": "U0BOT", "is_bot": True}],
        }
    ).encode()
