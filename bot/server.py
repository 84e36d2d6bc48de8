"""The web app `icpbot serve` runs: webhooks in, health and metrics out.

A HubSpot delivery is verified, parsed and stored in one short transaction
(in a thread, so the event loop never waits on the database) before it is
answered; the worker does the rest. Nothing is acknowledged that was not
stored: a database failure answers 503 and HubSpot delivers again.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime

import uvicorn
from sqlalchemy import Engine as Database
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from bot.hubspot_webhook import BadPayload, BadSignature, parse_events, verify_v3
from bot.metrics import Metrics
from bot.store import inbox
from bot.store.db import session as open_session
from bot.store.inbox import NewEvent

log = logging.getLogger(__name__)
MAX_BODY = 2 * 1024 * 1024
Clock = Callable[[], datetime]


@dataclass(frozen=True, slots=True)
class WebhookSettings:
    """What the HubSpot endpoint needs: the app's secret and the properties worth a re-score."""

    client_secret: str
    watched: Mapping[str, frozenset[str]]
    public_url: str | None = None  # scheme://host as HubSpot calls it, behind a proxy


def create_app(
    *,
    database: Database,
    metrics: Metrics,
    hubspot: WebhookSettings | None,
    on_events: Callable[[], None] = lambda: None,
    clock: Clock = lambda: datetime.now(UTC),
    extra_routes: Sequence[BaseRoute] = (),
) -> Starlette:
    """The Starlette app; `on_events` wakes the worker when a delivery stored something."""
    routes: list[BaseRoute] = [
        Route("/healthz", _healthz(database), methods=["GET"]),
        Route("/metrics", _metrics(metrics), methods=["GET"]),
        *extra_routes,
    ]
    if hubspot is not None:
        handler = _hubspot(database, metrics, hubspot, on_events, clock)
        routes.append(Route("/webhooks/hubspot", handler, methods=["POST"]))
    return Starlette(routes=routes)


def _signed_uri(request: Request, public_url: str | None) -> str:
    if not public_url:
        return str(request.url)
    query = f"?{request.url.query}" if request.url.query else ""
    return public_url.rstrip("/") + request.url.path + query


def _hubspot(
    database: Database,
    metrics: Metrics,
    settings: WebhookSettings,
    on_events: Callable[[], None],
    clock: Clock,
) -> Callable[[Request], object]:
    async def webhook(request: Request) -> Response:
        body = await request.body()
        if len(body) > MAX_BODY:
            metrics.webhook_requests.labels(outcome="bad_request").inc()
            return JSONResponse({"error": "delivery too large"}, status_code=413)
        try:
            verify_v3(
                secret=settings.client_secret, method=request.method,
                uri=_signed_uri(request, settings.public_url), body=body,
                timestamp=request.headers.get("X-HubSpot-Request-Timestamp"),
                signature=request.headers.get("X-HubSpot-Signature-v3"), now=clock(),
            )  # fmt: skip
            parsed = parse_events(body, watched=settings.watched)
        except BadSignature as exc:
            metrics.webhook_requests.labels(outcome="unauthorized").inc()
            return JSONResponse({"error": str(exc)}, status_code=401)
        except BadPayload as exc:
            metrics.webhook_requests.labels(outcome="bad_request").inc()
            return JSONResponse({"error": str(exc)}, status_code=400)
        try:
            stored = await run_in_threadpool(_store, database, parsed.events, clock())
        except SQLAlchemyError:
            log.exception("could not store a HubSpot delivery; answering 503 so it is retried")
            metrics.webhook_requests.labels(outcome="error").inc()
            return JSONResponse({"error": "storage unavailable"}, status_code=503)
        duplicates = len(parsed.events) - stored
        metrics.webhook_requests.labels(outcome="accepted").inc()
        metrics.webhook_events.labels(result="stored").inc(stored)
        metrics.webhook_events.labels(result="duplicate").inc(duplicates)
        metrics.webhook_events.labels(result="ignored").inc(parsed.ignored)
        if stored:
            on_events()
        return JSONResponse({"stored": stored, "duplicates": duplicates, "ignored": parsed.ignored})

    return webhook


def _store(database: Database, events: list[NewEvent], now: datetime) -> int:
    if not events:
        return 0
    with open_session(database) as session:
        return inbox.store_events(session=session, events=events, now=now)


def _healthz(database: Database) -> Callable[[Request], object]:
    def check() -> dict[str, int]:
        with open_session(database) as session:
            session.execute(text("SELECT 1"))
            return inbox.counts(session=session)

    async def healthz(request: Request) -> Response:
        try:
            counts = await run_in_threadpool(check)
        except SQLAlchemyError:
            body = {"status": "unavailable", "database": "unreachable"}
            return JSONResponse(body, status_code=503)
        return JSONResponse({"status": "ok", "database": "ok", "inbox": counts})

    return healthz


def _metrics(metrics: Metrics) -> Callable[[Request], object]:
    async def render(request: Request) -> Response:
        body, content_type = await run_in_threadpool(metrics.render)
        return Response(body, media_type=content_type)

    return render


def serve(app: Starlette, *, host: str, port: int, sock: socket.socket | None = None) -> None:
    """Run uvicorn in the foreground until interrupted."""
    server = uvicorn.Server(_config(app, host, port))
    server.run(sockets=[sock] if sock is not None else None)


def _config(app: Starlette, host: str, port: int) -> uvicorn.Config:
    return uvicorn.Config(
        app, host=host, port=port, log_level="warning", access_log=False, lifespan="off"
    )


class ServerThread:
    """uvicorn on 127.0.0.1, a free port, in a thread: for tests and benchmarks.

    `with ServerThread(app) as base_url:` — started when the block begins,
    shut down cleanly when it ends.
    """

    def __init__(self, app: Starlette) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        port = self.sock.getsockname()[1]
        self.server = uvicorn.Server(_config(app, "127.0.0.1", port))
        self.base_url = f"http://127.0.0.1:{port}"
        self.thread = threading.Thread(target=self._run, name="uvicorn", daemon=True)

    def _run(self) -> None:
        self.server.run(sockets=[self.sock])

    def __enter__(self) -> str:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started and time.monotonic() < deadline:
            time.sleep(0.01)
        if not self.server.started:
            raise RuntimeError("the test server did not start")
        return self.base_url

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)
        self.sock.close()


@contextmanager
def running_server(app: Starlette) -> Iterator[str]:
    with ServerThread(app) as base_url:
        yield base_url
