"""`icpbot serve`: the web app, the inbox worker and the sweep, started together.

Start-up is where settings and config meet: the database is migrated, the
ICP version recorded, and each CRM whose settings are present gets its
webhook, worker and sweep. A required setting that is missing stops the
start with its name; the config was validated before this runs.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from rich.console import Console
from sqlalchemy import Engine as Database
from starlette.applications import Starlette

from bot.activity import Activity
from bot.config import Config
from bot.crms import MissingSettings, hubspot_configured, hubspot_crm
from bot.metrics import Metrics
from bot.pipeline import Pipeline
from bot.server import WebhookSettings, create_app, serve
from bot.settings import Settings, missing
from bot.store.db import make_engine, migrate
from bot.store.db import session as open_session
from bot.sweep import Sweeper
from bot.tagging import Tagger
from bot.worker import Worker
from integrations.hubspot import HubSpotCrm
from integrations.retries import RetryPolicy
from scoring.engine import Engine

log = logging.getLogger(__name__)
Clock = Callable[[], datetime]


@dataclass(slots=True)
class Service:
    """Everything `serve` runs; `start` and `stop` the background parts around the web app."""

    app: Starlette
    database: Database
    metrics: Metrics
    crm: HubSpotCrm | None = None
    worker: Worker | None = None
    sweeper: Sweeper | None = None
    background: list[Worker | Sweeper] = field(default_factory=list)

    def start(self) -> None:
        for part in self.background:
            part.start()

    def stop(self) -> None:
        for part in reversed(self.background):
            part.stop()


def build_service(
    settings: Settings,
    config: Config,
    *,
    clock: Clock = lambda: datetime.now(UTC),
    policy: RetryPolicy | None = None,
    sweep: bool = True,
) -> Service:
    """Wire the parts for these settings; MissingSettings names what is not set."""
    database = make_engine(settings.database_url)
    migrate(database)
    metrics = Metrics(database=database)
    tagger = Tagger(Engine(config.icp))
    with open_session(database) as session:
        tagger.record_version(session=session, icp_text=config.icp_text, now=clock())
    if not hubspot_configured(settings):
        log.warning("HUBSPOT_ACCESS_TOKEN is not set: serving without HubSpot")
        return Service(
            create_app(database=database, metrics=metrics, hubspot=None), database, metrics
        )
    absent = missing(settings, "hubspot_client_secret")
    if absent or settings.hubspot_client_secret is None:
        raise MissingSettings("HubSpot webhooks", absent)
    crm = hubspot_crm(settings, config, metrics=metrics, policy=policy)
    pipeline = Pipeline(crm=crm, database=database, tagger=tagger)
    activity = Activity()
    worker = Worker(
        database=database, pipeline=pipeline, metrics=metrics, clock=clock,
        name=f"{socket.gethostname()}:{os.getpid()}", activity=activity,
    )  # fmt: skip
    webhook = WebhookSettings(
        client_secret=settings.hubspot_client_secret.get_secret_value(),
        watched={
            "company": frozenset(config.fields.properties("hubspot", "company")),
            "contact": frozenset(config.fields.properties("hubspot", "contact")),
        },
        public_url=settings.public_url,
    )
    app = create_app(
        database=database, metrics=metrics, hubspot=webhook, on_events=worker.wake, clock=clock,
        activity=activity,
    )  # fmt: skip
    service = Service(app, database, metrics, crm, worker)
    service.background.append(worker)
    if sweep:
        service.sweeper = Sweeper(
            crm=crm, database=database, interval=settings.hubspot_sweep_seconds,
            on_events=worker.wake, clock=clock,
        )  # fmt: skip
        service.background.append(service.sweeper)
    return service


def run(*, config: Config, err: Console) -> int:
    """Serve until interrupted; exit code 1 with the names of missing settings."""
    settings = Settings()
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        service = build_service(settings, config)
    except MissingSettings as exc:
        err.print(f"[red]error[/red] {exc}")
        return 1
    listener = socket.create_server((settings.host, settings.port))  # port 0: any free port
    host, port = listener.getsockname()[:2]
    service.start()
    err.print(f"icpbot serving on http://{host}:{port}", highlight=False)
    try:
        serve(service.app, host=host, port=port, sock=listener)
    finally:
        service.stop()
        listener.close()
    return 0
