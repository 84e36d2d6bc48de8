"""The web app `icpbot serve` runs: webhooks in, health and metrics out.

A HubSpot delivery is verified, parsed and stored in one short transaction
before it is answered, and the worker does the rest from the inbox. The
database is reached from a worker thread (`run_in_threadpool`), so the event
loop keeps answering while a write waits for SQLite's lock. Nothing is
acknowledged that was not stored: a database failure answers 503 and HubSpot
delivers again.

Routes are a plain list: Bolt's `/slack/events` joins through `extra_routes`.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import uvicorn
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from bot.intake.hubspot import BadPayload, BadSignature, parse_events, verify_v3
from bot.metrics import Metrics
from bot.store import inbox
from bot.store.db import session as open_session
from bot.store.inbox import InboxDrain, NewEvent
from bot.sync.activity import Activity

log = logging.getLogger(__name__)

MAX_BODY = 2 * 1024 * 1024  # a full HubSpot batch is a few tens of kB
HUBSPOT_PATH = "/webhooks/hubspot"

Clock = Callable[[], datetime]
Endpoint = Callable[[Request], Any]


@dataclass(frozen=True, slots=True)
class WebhookSettings:
    """What the HubSpot endpoint needs: the app's secret and the properties worth a re-score.

    `public_url` (scheme://host[:port], as HubSpot calls it) replaces the
    scheme and host the server saw, for when a proxy in front terminates TLS
    or rewrites the Host header: HubSpot signs the URL it called.
    """

    client_secret: str
    watched: Mapping[str, frozenset[str]]
    public_url: str | None = None


def create_app(
    *,
    database: Engine,
    metrics: Metrics,
    hubspot: WebhookSettings | None,
    drain: InboxDrain | None = None,
    clock: Clock = lambda: datetime.now(UTC),
    extra_routes: Sequence[BaseRoute] = (),
    activity: Activity | None = None,
) -> Starlette:
    """The Starlette app; `drain` (HubSpot's worker) is woken when a delivery stored something new.

    `activity` tells background work that deliveries are being handled.
    """
    webhook = (
        _hubspot(database, metrics, hubspot, drain, clock, activity or Activity())
        if hubspot
        else _not_configured
    )
    routes: list[BaseRoute] = [
        Route(HUBSPOT_PATH, webhook, methods=["POST"]),
        Route("/healthz", _healthz(database), methods=["GET"]),
        Route("/metrics", _metrics(metrics), methods=["GET"]),
        *extra_routes,
    ]
    return Starlette(routes=routes)


def _error(message: str, status: int) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


async def _not_configured(request: Request) -> Response:
    return _error("HubSpot webhooks are not configured (HUBSPOT_CLIENT_SECRET)", 404)


async def _read_body(request: Request) -> bytes | None:
    """The raw body (the signature covers its exact bytes), or None past MAX_BODY."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY:
        return None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def signature_base(public_url: str | None, trusted_proxies: str) -> str:
    """What HubSpot's signatures are checked against, said at start so a 401 can be read."""
    if public_url:
        return (
            f"HubSpot signatures are checked against {public_url.rstrip('/')} (ICPBOT_PUBLIC_URL)"
        )
    return (
        "HubSpot signatures are checked against the URL each delivery arrives at, with the "
        f"scheme of X-Forwarded-Proto from {trusted_proxies} (ICPBOT_TRUSTED_PROXIES); behind "
        "a proxy that rewrites the host, set ICPBOT_PUBLIC_URL"
    )


def signed_uri(request: Request, public_url: str | None) -> str:
    """The URI HubSpot signed: as sent on the wire (`raw_path`), not as the server decoded it."""
    raw_path: bytes = request.scope.get("raw_path") or request.url.path.encode()
    base = public_url.rstrip("/") if public_url else f"{request.url.scheme}://{request.url.netloc}"
    query: bytes = request.scope.get("query_string", b"")
    uri = base + raw_path.decode("latin-1")
    return f"{uri}?{query.decode('latin-1')}" if query else uri


def _hubspot(
    database: Engine,
    metrics: Metrics,
    settings: WebhookSettings,
    drain: InboxDrain | None,
    clock: Clock,
    activity: Activity,
) -> Endpoint:
    outcomes = metrics.webhook_requests

    async def webhook(request: Request) -> Response:
        with activity.busy():
            return await receive(request)

    async def receive(request: Request) -> Response:
        body = await _read_body(request)
        if body is None:
            outcomes.labels(outcome="bad_request").inc()
            return _error(f"a delivery is at most {MAX_BODY} bytes", 413)
        try:
            verify_v3(
                secret=settings.client_secret,
                method=request.method,
                uri=signed_uri(request, settings.public_url),
                body=body,
                timestamp=request.headers.get("X-HubSpot-Request-Timestamp"),
                signature=request.headers.get("X-HubSpot-Signature-v3"),
                now=clock(),
            )
        except BadSignature as exc:
            outcomes.labels(outcome="unauthorized").inc()
            return _error(str(exc), 401)
        try:
            parsed = parse_events(body, watched=settings.watched)
        except BadPayload as exc:
            outcomes.labels(outcome="bad_request").inc()
            return _error(str(exc), 400)
        try:
            stored = await run_in_threadpool(_store, database, parsed.events, clock())
        except SQLAlchemyError:
            log.exception("could not store a HubSpot delivery; answering 503 so it is retried")
            outcomes.labels(outcome="error").inc()
            return _error("the inbox is unavailable; deliver again later", 503)
        duplicates = len(parsed.events) - stored
        outcomes.labels(outcome="accepted").inc()
        _count_events(metrics, stored=stored, duplicates=duplicates, ignored=parsed.ignored)
        if stored and drain is not None:
            drain.wake()
        return JSONResponse({"stored": stored, "duplicates": duplicates, "ignored": parsed.ignored})

    return webhook


def _store(database: Engine, events: list[NewEvent], now: datetime) -> int:
    """One short transaction: committed before the delivery is acknowledged."""
    if not events:
        return 0
    with open_session(database) as session:
        return inbox.store_events(session=session, events=events, now=now)


def _count_events(metrics: Metrics, *, stored: int, duplicates: int, ignored: int) -> None:
    results = metrics.webhook_events
    results.labels(result="stored").inc(stored)
    results.labels(result="duplicate").inc(duplicates)
    results.labels(result="ignored").inc(ignored)


def _healthz(database: Engine) -> Endpoint:
    def inbox_counts() -> dict[str, int]:
        """One query answers both: the database is reachable, and how the inbox stands."""
        with open_session(database) as session:
            return inbox.counts(session=session)

    async def healthz(request: Request) -> Response:
        try:
            counts = await run_in_threadpool(inbox_counts)
        except SQLAlchemyError:
            log.warning("health check: the database is unreachable", exc_info=True)
            body = {"status": "unavailable", "database": "unreachable"}
            return JSONResponse(body, status_code=503)
        return JSONResponse({"status": "ok", "database": "ok", "inbox": counts})

    return healthz


def _metrics(metrics: Metrics) -> Endpoint:
    async def render(request: Request) -> Response:
        body, content_type = await run_in_threadpool(metrics.render)
        return Response(body, headers={"Content-Type": content_type})

    return render


def server_config(
    app: Starlette, *, host: str, port: int, trusted_proxies: str = "127.0.0.1"
) -> uvicorn.Config:
    # Requests are counted in /metrics; an access log line per webhook is noise. No
    # websockets here; httptools and uvloop (installed with uvicorn[standard]) parse and
    # loop in C, which is most of a delivery's time outside the database. Forwarded
    # headers are believed from `trusted_proxies` only: behind a TLS-terminating proxy
    # the scheme HubSpot signed (https) is the proxy's X-Forwarded-Proto.
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        proxy_headers=True,
        forwarded_allow_ips=trusted_proxies,
        log_level="warning",
        access_log=False,
        ws="none",
        lifespan="off",
    )


def serve(
    app: Starlette,
    *,
    host: str,
    port: int,
    sock: socket.socket | None = None,
    trusted_proxies: str = "127.0.0.1",
) -> None:
    """Run uvicorn in the foreground until interrupted (on `sock` when given, else host:port)."""
    config = server_config(app, host=host, port=port, trusted_proxies=trusted_proxies)
    server = uvicorn.Server(config)
    server.run(sockets=[sock] if sock is not None else None)
