"""`POST /slack/events`: Slack's requests into the Bolt app, for the web app.

Transport only: the signature is checked on the raw bytes, the body parsed,
and the request handed to Bolt in a worker thread; what is answered is the
listeners' business (`bot.slack.app`).
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Mapping, Sequence
from typing import Any

import anyio
import anyio.to_thread
from slack_bolt import App, BoltRequest
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

PATH = "/slack/events"
MAX_BODY = 1024 * 1024  # Slack's payloads are a few kB
MAX_AGE = 300  # seconds: Slack's advice against replayed requests
# Requests handled at once; the rest wait in the event loop. One interpreter runs Python
# one thread at a time: more threads would only share it and stretch every answer.
DISPATCHERS = 4


def _signed(body: bytes, headers: Mapping[str, Any], secret: str) -> bool:
    """Slack's v0 signature over the raw bytes, and a timestamp within 5 minutes.

    Checked on bytes (not text) so that a body that is not UTF-8 is still
    judged by its signature first; Bolt checks again with the SDK's verifier.
    """
    stamp = str(headers.get("x-slack-request-timestamp") or "")
    signature = str(headers.get("x-slack-signature") or "")
    if not stamp.isdigit() or abs(time.time() - int(stamp)) > MAX_AGE:
        return False
    base = b"v0:" + stamp.encode() + b":" + body
    expected = "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, signature)


def slack_routes(app: App, *, signing_secret: str, path: str = PATH) -> list[BaseRoute]:
    """`POST /slack/events` for the web app: signature, then Bolt, in a worker thread.

    The signature is checked before the body is parsed, so a forged request
    is refused with 401 and a signed one Bolt cannot parse with 400 (Bolt
    itself would answer a parse error with a 500).
    """
    limiter = anyio.CapacityLimiter(DISPATCHERS)

    async def endpoint(request: Request) -> Response:
        body = await request.body()
        if len(body) > MAX_BODY:
            return PlainTextResponse("payload too large", status_code=413)
        headers: dict[str, str | Sequence[str]] = {k.lower(): v for k, v in request.headers.items()}
        if not _signed(body, headers, signing_secret):
            return PlainTextResponse("invalid signature", status_code=401)
        try:
            bolt_request = BoltRequest(
                body=body.decode("utf-8"), query=dict(request.query_params), headers=headers
            )
        except (ValueError, UnicodeDecodeError):
            return PlainTextResponse("malformed payload", status_code=400)
        answer = await anyio.to_thread.run_sync(app.dispatch, bolt_request, limiter=limiter)
        return Response(
            status_code=answer.status,
            content=answer.body,
            headers=answer.first_headers_without_set_cookie(),
        )

    return [Route(path, endpoint, methods=["POST"])]
