"""`icpbot serve`: the web app, the inbox workers, the sweep and the poll, started together.

Start-up is where settings and config meet: the database is migrated, the
ICP version recorded, and each CRM whose settings are present gets its
worker, and its way of hearing changes (HubSpot: webhook and sweep;
Salesforce: the poll). A required setting that is missing stops the
start with its name; the config was validated before this runs.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Protocol

from rich.console import Console
from slack_bolt import App
from slack_bolt.adapter.socket_mode import SocketModeHandler
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlalchemy import Engine as Database
from starlette.applications import Starlette
from starlette.routing import BaseRoute

from bot.activity import Activity
from bot.aging import AgingJob
from bot.config import Config
from bot.crms import (
    ApiBudget,
    MissingSettings,
    hubspot_configured,
    hubspot_crm,
    salesforce_configured,
    salesforce_crm,
)
from bot.metrics import Metrics
from bot.pipeline import Pipeline
from bot.schedule import DigestJob, Scheduled, Scheduler
from bot.server import WebhookSettings, create_app, serve
from bot.settings import Settings, given, missing
from bot.slack.answers import Answers
from bot.slack.app import SlackContext, build_app
from bot.slack.client import make_client
from bot.slack.http import slack_routes
from bot.slack.people import Directory
from bot.slack.poster import Poster, queue_posts
from bot.slack.router import Router
from bot.store.db import make_engine, migrate
from bot.store.db import session as open_session
from bot.sweep import Sweeper
from bot.tagging import Tagger
from bot.worker import CRM_SOURCES, SALESFORCE_SOURCES, Worker
from integrations.base import LiveCrm
from integrations.retries import RetryPolicy
from integrations.salesforce import SalesforceCrm
from integrations.salesforce import client_error as salesforce_client_error
from scoring.engine import Engine

log = logging.getLogger(__name__)
Clock = Callable[[], datetime]

RESCORE_JOB_ID = "daily-rescore"
RESCORE_GRACE = timedelta(hours=20)  # a re-score missed while down still runs the same day


class Background(Protocol):
    """A part that runs beside the web app."""

    def start(self) -> None: ...
    def stop(self) -> None: ...


@dataclass(slots=True)
class Service:
    """Everything `serve` runs; `start` and `stop` the background parts around the web app."""

    app: Starlette
    database: Database
    metrics: Metrics
    pipelines: dict[str, Pipeline] = field(default_factory=dict)  # by CRM name
    workers: dict[str, Worker] = field(default_factory=dict)
    poster: Poster | None = None
    client: WebClient | None = None
    background: list[Background] = field(default_factory=list)

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
    service = Service(None, database, metrics)  # type: ignore[arg-type]  # the app comes last
    activity = Activity()
    webhook = _hubspot(service, settings, config, tagger, policy, clock, activity, sweep)
    _salesforce(service, settings, config, tagger, policy, clock, sweep)
    slack = _slack(service, settings, config, tagger, clock)
    if service.poster is not None:
        for pipeline in service.pipelines.values():
            pipeline.on_tagged = queue_posts
    service.background.append(_schedule(service, settings, config, tagger, clock))
    hubspot_worker = service.workers.get("hubspot")
    service.app = create_app(
        database=database, metrics=metrics, hubspot=webhook,
        on_events=hubspot_worker.wake if hubspot_worker else lambda: None,
        clock=clock, activity=activity, extra_routes=slack,
    )  # fmt: skip
    return service


def _schedule(
    service: Service, settings: Settings, config: Config, tagger: Tagger, clock: Clock
) -> Scheduler:
    """The daily re-score of time-based criteria, and the weekly digest when Slack has channels."""
    workers = list(service.workers.values())

    def wake() -> None:
        for worker in workers:
            worker.wake()

    aging = AgingJob(database=service.database, tagger=tagger, wake=wake, clock=clock)
    trigger = settings.rescore_trigger(config.digest.timezone)
    jobs = [Scheduled(RESCORE_JOB_ID, "daily re-score of time-based criteria", trigger, aging,
                      RESCORE_GRACE)]  # fmt: skip
    if service.client is not None and config.digest.channels:
        digest = DigestJob(
            database=service.database, client=service.client, icp=config.icp,
            config=config.digest, worker=f"{socket.gethostname()}:{os.getpid()}:digest",
            clock=clock,
        )  # fmt: skip
        jobs.append(digest.scheduled())
    return Scheduler(service.database, jobs, timezone=config.digest.timezone)


def _listen(
    service: Service,
    crm: LiveCrm,
    tagger: Tagger,
    clock: Clock,
    *,
    sources: tuple[str, ...],
    activity: Activity | None = None,
    sweep: float | None = None,
    hold: Callable[[], str | None] | None = None,
) -> Worker:
    """A CRM's pipeline, the inbox worker that feeds it and, every `sweep` seconds, the
    sweep (or poll) that asks the CRM what changed; all started with the service."""
    pipeline = Pipeline(crm=crm, database=service.database, tagger=tagger)
    worker = Worker(
        database=service.database, pipeline=pipeline, metrics=service.metrics, clock=clock,
        name=f"{socket.gethostname()}:{os.getpid()}:{crm.name}", activity=activity,
        sources=sources,
    )  # fmt: skip
    service.pipelines[crm.name] = pipeline
    service.workers[crm.name] = worker
    service.background.append(worker)
    if sweep is not None:
        service.background.append(
            Sweeper(
                crm=crm,
                database=service.database,
                interval=sweep,
                on_events=worker.wake,
                clock=clock,
                hold=hold,
            )  # fmt: skip
        )
    return worker


def _hubspot(
    service: Service,
    settings: Settings,
    config: Config,
    tagger: Tagger,
    policy: RetryPolicy | None,
    clock: Clock,
    activity: Activity,
    sweep: bool,
) -> WebhookSettings | None:
    """HubSpot's adapter, worker and sweep when its token is set; the webhook's settings."""
    if not hubspot_configured(settings):
        log.warning("HUBSPOT_ACCESS_TOKEN is not set: serving without HubSpot")
        return None
    absent = missing(settings, "hubspot_client_secret")
    if absent or settings.hubspot_client_secret is None:
        raise MissingSettings("HubSpot webhooks", absent)
    crm = hubspot_crm(settings, config, metrics=service.metrics, policy=policy)
    every = settings.hubspot_sweep_seconds if sweep else None
    _listen(service, crm, tagger, clock, sources=CRM_SOURCES, activity=activity, sweep=every)
    return WebhookSettings(
        client_secret=settings.hubspot_client_secret.get_secret_value(),
        watched={
            "company": frozenset(config.fields.properties("hubspot", "company")),
            "contact": frozenset(config.fields.properties("hubspot", "contact")),
        },
        public_url=settings.public_url,
    )


def _salesforce(
    service: Service,
    settings: Settings,
    config: Config,
    tagger: Tagger,
    policy: RetryPolicy | None,
    clock: Clock,
    poll: bool,
) -> None:
    """Salesforce's adapter, worker and poll when its credentials are set."""
    if not salesforce_configured(settings):
        return
    crm = salesforce_crm(settings, config, metrics=service.metrics, policy=policy)
    budget = ApiBudget(crm, settings.salesforce_api_budget, service.metrics)
    every = settings.salesforce_poll_seconds if poll else None
    _listen(service, crm, tagger, clock, sources=SALESFORCE_SOURCES, sweep=every,
            hold=budget.exceeded)  # fmt: skip


def _slack(
    service: Service, settings: Settings, config: Config, tagger: Tagger, clock: Clock
) -> list[BaseRoute]:
    """The Bolt app and the poster when a bot token is set; the web routes it needs."""
    if not given(settings, "slack_bot_token") or settings.slack_bot_token is None:
        log.warning("SLACK_BOT_TOKEN is not set: serving without Slack")
        return []
    socket_mode = given(settings, "slack_app_token")
    if not socket_mode and not given(settings, "slack_signing_secret"):
        raise MissingSettings("Slack over HTTP", ["SLACK_SIGNING_SECRET (or SLACK_APP_TOKEN)"])
    client = make_client(
        token=settings.slack_bot_token.get_secret_value(), base_url=settings.slack_api_url
    )
    directory = Directory(client)
    crms = {name: pipeline.crm for name, pipeline in service.pipelines.items()}
    router = Router(
        database=service.database, routing=config.routing, directory=directory, crms=crms
    )
    answers = Answers(
        database=service.database, icp=config.icp, tagger=tagger,
        pipelines=service.pipelines, clock=clock,
    )  # fmt: skip
    context = SlackContext(
        database=service.database, client=client, answers=answers, router=router,
        directory=directory, icp=config.icp, admins=frozenset(settings.admins),
        crms=crms, clock=clock, metrics=service.metrics,
    )  # fmt: skip
    service.client = client
    service.poster = Poster(
        database=service.database, client=client, router=router, clock=clock,
        name=f"{socket.gethostname()}:{os.getpid()}:slack", metrics=service.metrics,
    )  # fmt: skip
    service.background.append(service.poster)
    if socket_mode and settings.slack_app_token is not None:
        app = build_app(context, signing_secret=None)
        service.background.append(
            SocketMode(app, settings.slack_app_token.get_secret_value(), client)
        )
        return []
    assert settings.slack_signing_secret is not None
    secret = settings.slack_signing_secret.get_secret_value()
    return slack_routes(build_app(context, signing_secret=secret), signing_secret=secret)


class SocketMode:
    """Slack's Socket Mode connection as a background part: no public URL needed."""

    def __init__(self, app: App, app_token: str, client: WebClient) -> None:
        self.handler = SocketModeHandler(app, app_token, web_client=client)

    def start(self) -> None:
        self.handler.connect()

    def stop(self) -> None:
        self.handler.close()


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
    if service.client is not None:
        problem = _slack_token_problem(service.client)
        if problem:
            err.print(f"[red]error[/red] SLACK_BOT_TOKEN: {problem}")
            return 1
    salesforce = service.pipelines.get("salesforce")
    if salesforce is not None and isinstance(salesforce.crm, SalesforceCrm):
        problem = _salesforce_problem(salesforce.crm)
        if problem:
            err.print(f"[red]error[/red] Salesforce: {problem}")
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


def _salesforce_problem(crm: SalesforceCrm) -> str | None:
    """Why Salesforce refuses icpbot's credentials, or None when it takes them."""
    try:
        crm.check()
    except Exception as exc:
        refused = salesforce_client_error(exc)
        if refused is None and not isinstance(exc, OSError):
            raise
        return refused or f"could not be reached ({exc})"
    return None


def _slack_token_problem(client: WebClient) -> str | None:
    """Why Slack refuses the bot token (`auth.test`), or None when it takes it."""
    try:
        client.auth_test()
    except SlackApiError as exc:
        return f"Slack refused it ({exc.response.get('error')})"
    except OSError as exc:
        return f"Slack could not be reached at the configured SLACK_API_URL ({exc})"
    return None
