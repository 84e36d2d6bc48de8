"""`icpbot serve`: the composition root. Every part of the running service is built here,
and this is where to read what feeds what:

    HubSpot webhook ─► intake.web ──────┐
    Salesforce change events ─► sync.cdc┤ (the poll's pace: slow while they are heard)
    HubSpot sweep, Salesforce poll ─────┤
    ageing (daily, schedule) ───────────┤
    a new ICP version (start, SIGHUP):  │
      change.rollout ───────────────────┴─► inbox ─► sync.worker ─► sync.pipeline ─► CRM write-back
                                                                         │ announce
                                                                         ▼
    Slack: /icp, buttons ─► slack.http ─► slack.app          slack.poster ─► routing posts
    weekly digest (schedule) ─► digest.post ─► Slack

Each callback between parts is named by what it does and typed (`InboxDrain`:
new events are stored, drain the inbox now; `Announce`: records were tagged,
queue their posts in the same transaction; `Hold`: skip this poll; `Reps`: who
the reps are, Slack's directory as routing sees it). Start-up
is where settings and config meet: the database is migrated, the ICP version
recorded, and each CRM whose settings are present gets its sync. A required
setting that is missing stops the start with its name; the config was
validated before this runs. `bot.cli.serve` binds the port, checks Slack and
Salesforce and runs what this builds.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Protocol

from slack_bolt import App
from slack_bolt.adapter.socket_mode import SocketModeHandler
from slack_sdk import WebClient
from sqlalchemy import Engine as Database
from starlette.applications import Starlette
from starlette.routing import BaseRoute

from bot.change.rollout import RolloutDriver, begin_rollout
from bot.config import Config, load_config
from bot.digest.job import DigestJob
from bot.intake.web import WebhookSettings, create_app
from bot.metrics import Metrics
from bot.routing.owners import Owners
from bot.routing.router import Router
from bot.schedule import Scheduled, Scheduler
from bot.settings import Settings, given
from bot.slack.answers import Answers
from bot.slack.app import SlackContext, build_app
from bot.slack.client import make_client
from bot.slack.http import slack_routes
from bot.slack.people import Directory
from bot.slack.poster import Poster, queue_posts
from bot.store.db import open_database
from bot.store.db import session as open_session
from bot.store.inbox import InboxDrain
from bot.store.repo import IcpVersionConflict
from bot.store.wal import WalCheckpoints
from bot.sync.activity import Activity
from bot.sync.ageing import AgeingJob
from bot.sync.cdc import ChangeListener
from bot.sync.connect import (
    HUBSPOT_README,
    SALESFORCE_README,
    ApiBudget,
    MissingSettings,
    hubspot_configured,
    hubspot_crm,
    hubspot_way,
    salesforce_configured,
    salesforce_crm,
    salesforce_ways,
)
from bot.sync.pipeline import Announce, Pipeline
from bot.sync.sweep import Hold, Sweeper
from bot.sync.tagging import Tagger
from bot.sync.worker import CRM_SOURCES, SALESFORCE_SOURCES, Worker
from integrations.base import LiveCrm
from integrations.retries import RetryPolicy
from integrations.salesforce import SalesforceCrm
from integrations.salesforce_events import ChangeStream
from scoring.engine import Scorer
from scoring.problems import ConfigError

log = logging.getLogger(__name__)
Clock = Callable[[], datetime]
SLACK_README = "Connecting Slack"
NO_SLACK = (
    "SLACK_BOT_TOKEN is not set: serving without Slack (no /icp, routing posts or digest). "
    "To connect it, set SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET (or SLACK_APP_TOKEN for "
    f"Socket Mode) in the environment or .env; README: {SLACK_README}."
)
NO_CRM = (
    "no CRM is connected: serving only what the store already holds (nothing is read from "
    "or written to a CRM). To connect one, set in the environment or .env\n"
    f"  for HubSpot (README: {HUBSPOT_README}): {hubspot_way()}\n"
    f"  for Salesforce (README: {SALESFORCE_README}): {salesforce_ways()}"
)
WORKER_THREADS = 3  # per CRM: one for live events only, two for everything, live first


class Background(Protocol):
    """A part that runs beside the web app, in threads of its own."""

    def start(self) -> None: ...
    def stop(self) -> None: ...


@dataclass(frozen=True, slots=True)
class CrmSync:
    """One CRM kept in step: the worker drains its inbox events into the pipeline, which
    reads, tags and writes back; the sweeper (HubSpot's sweep, Salesforce's poll) asks the
    CRM what changed and stores it in the inbox for the worker; Salesforce's change
    listener stores its changes as they happen, the sweeper then its safety net."""

    pipeline: Pipeline
    worker: Worker
    sweeper: Sweeper | None
    listener: ChangeListener | None = None

    def background(self) -> list[Background]:
        """Its parts that run beside the web app, in the order they start."""
        parts: list[Background] = [self.worker]
        return parts + [p for p in (self.sweeper, self.listener) if p is not None]


@dataclass(frozen=True, slots=True)
class SlackParts:
    """Slack's side of the service: the poster and how requests reach the Bolt app."""

    client: WebClient
    poster: Poster
    routes: list[BaseRoute]  # POST /slack/events; none in Socket Mode
    socket_mode: SocketMode | None


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
    background: list[Background] = field(default_factory=list)  # started in this order
    tagger: Tagger | None = None  # what every part scores with; `reload` swaps its ICP
    config: Config | None = None
    clock: Clock = lambda: datetime.now(UTC)

    def reload(self) -> str:
        """Read the config directory again (`SIGHUP`): a new ICP version is served from the
        next batch on and rolled out to every stored record; an invalid config, or a changed
        ICP that kept its version, is refused with `icpbot check`'s words and the running
        version stays. What happened, in one message (also logged)."""
        if self.tagger is None or self.config is None:
            return "nothing to reload"
        running = self.tagger.version
        try:
            config = load_config(self.config.directory, today=self.clock().date())
        except ConfigError as exc:
            message = f"reload refused, still serving ICP v{running}:\n{exc}"
            log.error("%s", message)
            return message
        if config.icp.version == running:
            if config.icp_text == self.config.icp_text:
                return f"reload: ICP v{running} unchanged"
            message = (
                f"reload refused, still serving ICP v{running}: icp.yaml changed but kept "
                f"version {running}; bump `version` so every score names the ICP that made it"
            )
            log.error("%s", message)
            return message
        scorer = Scorer(config.icp)
        try:
            with open_session(self.database) as session:
                Tagger(scorer).record_version(
                    session=session, icp_text=config.icp_text, now=self.clock()
                )
        except IcpVersionConflict as exc:
            log.error("reload refused, still serving ICP v%d: %s", running, exc)
            return f"reload refused, still serving ICP v{running}: {exc}"
        self.tagger.use(scorer)
        self.config = config
        begin_rollout(self.database, version=config.icp.version, now=self.clock())
        message = f"reload: serving ICP v{config.icp.version} (was v{running}); rolling it out"
        log.info("%s", message)
        return message

    def start(self) -> None:
        for part in self.background:
            part.start()

    def stop(self) -> None:
        for part in reversed(self.background):
            part.stop()


@dataclass(frozen=True, slots=True)
class Core:
    """What every part shares: the database, the metrics, the tagger, the clock, and the
    lease under which the inbox's workers claim their work."""

    database: Database
    metrics: Metrics
    tagger: Tagger
    clock: Clock
    lease: timedelta


def build_service(
    settings: Settings,
    config: Config,
    *,
    clock: Clock = lambda: datetime.now(UTC),
    policy: RetryPolicy | None = None,
    sweep: bool = True,
) -> Service:
    """Wire the parts for these settings; MissingSettings names what is not set.

    `sweep=False` leaves out the sweeps and polls (tests drive them by hand).
    """
    core = _core(settings, config, clock)
    client = _slack_client(settings)
    announce = queue_posts if client is not None else None  # routing posts need Slack
    webhook = _webhook_settings(settings, config)
    activity = Activity()  # deliveries in progress: HubSpot's worker steps aside for them

    syncs: dict[str, CrmSync] = {}
    if webhook is not None:
        hubspot = hubspot_crm(
            settings, config, metrics=core.metrics, policy=policy, database=core.database
        )
        every = settings.hubspot_sweep_seconds if sweep else None
        syncs[hubspot.name] = _sync(core, hubspot, announce, CRM_SOURCES, every, activity=activity)
    if salesforce_configured(settings):
        salesforce = salesforce_crm(
            settings, config, metrics=core.metrics, policy=policy, database=core.database
        )
        budget = ApiBudget(salesforce, settings.salesforce_api_budget, core.metrics)
        every = settings.salesforce_poll_seconds if sweep else None
        sync = _sync(
            core,
            salesforce,
            announce,
            SALESFORCE_SOURCES,
            every,
            hold=budget.exceeded,
            safety=settings.salesforce_safety_poll_seconds,
        )
        if sync.sweeper is not None and settings.salesforce_cdc:
            listener = _change_listener(core, settings, salesforce, sync.worker, sync.sweeper)
            sync = replace(sync, listener=listener)
        syncs[salesforce.name] = sync
    if not syncs:
        log.warning("%s", NO_CRM)
    elif "hubspot" not in syncs:
        log.info("HUBSPOT_ACCESS_TOKEN is not set: serving Salesforce only")
    pipelines = {name: sync.pipeline for name, sync in syncs.items()}
    workers = {name: sync.worker for name, sync in syncs.items()}

    owners = Owners({name: pipeline.crm for name, pipeline in pipelines.items()})
    slack = _slack(core, client, settings, config, pipelines, owners) if client else None
    scheduler = _scheduler(
        core, settings, config, client, drains=list(workers.values()), owners=owners
    )
    hubspot_sync = syncs.get("hubspot")
    app = create_app(
        database=core.database,
        metrics=core.metrics,
        hubspot=webhook,
        drain=hubspot_sync.worker if hubspot_sync else None,
        clock=clock,
        activity=activity,
        extra_routes=slack.routes if slack else (),
    )
    background: list[Background] = [WalCheckpoints(core.database)]  # no commit does it
    for sync in syncs.values():
        background += sync.background()
    if slack is not None:
        background += [slack.poster, *([slack.socket_mode] if slack.socket_mode else [])]
    if begin_rollout(core.database, version=config.icp.version, now=clock()) is not None:
        log.info("ICP v%d is new to this store: rolling it out", config.icp.version)
    background.append(
        RolloutDriver(database=core.database, tagger=core.tagger, drains=workers, clock=clock)
    )
    background.append(scheduler)
    return Service(
        app=app,
        database=core.database,
        metrics=core.metrics,
        pipelines=pipelines,
        workers=workers,
        poster=slack.poster if slack else None,
        client=client,
        background=background,
        tagger=core.tagger,
        config=config,
        clock=clock,
    )


def _core(settings: Settings, config: Config, clock: Clock) -> Core:
    """The database migrated and this ICP version recorded before anything is scored."""
    database = open_database(settings.database_url, checkpoint_on_commit=False)
    tagger = Tagger(Scorer(config.icp))
    with open_session(database) as session:
        tagger.record_version(session=session, icp_text=config.icp_text, now=clock())
    lease = timedelta(seconds=settings.lease_seconds)
    return Core(database, Metrics(database=database), tagger, clock, lease)


def _sync(
    core: Core,
    crm: LiveCrm,
    announce: Announce | None,
    sources: tuple[str, ...],
    every: float | None,
    *,
    hold: Hold | None = None,
    activity: Activity | None = None,
    safety: float | None = None,
) -> CrmSync:
    """A CRM's pipeline, the worker that feeds it from the inbox (events from `sources`),
    and, every `every` seconds (every `safety` seconds while its changes are heard as they
    happen), the sweep or poll that asks the CRM what changed and wakes that worker."""
    pipeline = Pipeline(crm=crm, database=core.database, tagger=core.tagger, announce=announce)
    worker = Worker(
        database=core.database,
        pipeline=pipeline,
        metrics=core.metrics,
        clock=core.clock,
        name=_process_name(crm.name),
        lease=core.lease,
        activity=activity,
        sources=sources,
        threads=WORKER_THREADS,
    )
    sweeper = None
    if every is not None:
        sweeper = Sweeper(
            crm=crm,
            database=core.database,
            interval=every,
            drain=worker,
            clock=core.clock,
            hold=hold,
            safety_interval=safety,
            metrics=core.metrics,
        )
    return CrmSync(pipeline, worker, sweeper)


def _change_listener(
    core: Core, settings: Settings, crm: SalesforceCrm, worker: Worker, poll: Sweeper
) -> ChangeListener:
    """Salesforce's Change Data Capture through its Pub/Sub API, on the adapter's session:
    changes into `worker`'s inbox as they happen, `poll` told when it can slow down."""
    stream = ChangeStream(
        session=crm.stream_session,
        expired=crm.session_expired,
        target=settings.salesforce_pubsub_target,
        root_certificates=_ca_bundle(settings),
    )
    return ChangeListener(
        stream=stream,
        database=core.database,
        drain=worker,
        poll=poll,
        entities=crm.cdc_entities,
        metrics=core.metrics,
        clock=core.clock,
    )


def _ca_bundle(settings: Settings) -> bytes | None:
    """The certificate authorities REQUESTS_CA_BUNDLE names, for gRPC (which reads no
    environment); None: the system's. A directory of certificates is requests' alone."""
    path = settings.ca_bundle
    if path is None:
        return None
    if not path.is_file():
        log.warning(
            "REQUESTS_CA_BUNDLE=%s is not a file: the Pub/Sub API is checked against "
            "the system's certificate authorities",
            path,
        )
        return None
    return path.read_bytes()


def _webhook_settings(settings: Settings, config: Config) -> WebhookSettings | None:
    """HubSpot's webhook when its token is set (its client secret is then required)."""
    if not hubspot_configured(settings):
        return None
    if not given(settings, "hubspot_client_secret") or settings.hubspot_client_secret is None:
        secret = "HUBSPOT_CLIENT_SECRET, the HubSpot app's client secret that signs its webhooks"
        raise MissingSettings("HubSpot webhooks", [secret], see=HUBSPOT_README)
    return WebhookSettings(
        client_secret=settings.hubspot_client_secret.get_secret_value(),
        watched={
            "company": frozenset(config.fields.properties("hubspot", "company")),
            "contact": frozenset(config.fields.properties("hubspot", "contact")),
        },
        public_url=settings.public_url,
    )


def _slack_client(settings: Settings) -> WebClient | None:
    """Slack's Web API client when a bot token is set; without it, no Slack at all."""
    if not given(settings, "slack_bot_token") or settings.slack_bot_token is None:
        log.warning("%s", NO_SLACK)
        return None
    if not given(settings, "slack_app_token") and not given(settings, "slack_signing_secret"):
        raise MissingSettings(
            "Slack over HTTP",
            ["SLACK_SIGNING_SECRET (or SLACK_APP_TOKEN, for Socket Mode)"],
            see=SLACK_README,
        )
    return make_client(
        token=settings.slack_bot_token.get_secret_value(), base_url=settings.slack_api_url
    )


def _slack(
    core: Core,
    client: WebClient,
    settings: Settings,
    config: Config,
    pipelines: dict[str, Pipeline],
    owners: Owners,
) -> SlackParts:
    """The Bolt app (over HTTP, or Socket Mode when an app token is set) and the poster.

    `/icp` and the buttons reach each CRM through its pipeline: an account not
    stored yet is fetched, tagged and answered the way a webhook's would be.
    """
    database, clock = core.database, core.clock
    directory = Directory(client)
    crms = {name: pipeline.crm for name, pipeline in pipelines.items()}
    router = Router(
        database=database, routing=config.routing, directory=directory, crms=crms, owners=owners
    )
    answers = Answers(database=database, tagger=core.tagger, pipelines=pipelines, clock=clock)
    context = SlackContext(
        database=database,
        client=client,
        answers=answers,
        router=router,
        directory=directory,
        admins=frozenset(settings.admins),
        crms=crms,
        clock=clock,
        metrics=core.metrics,
        field_types=config.fields.types,
    )
    poster = Poster(
        database=database,
        client=client,
        router=router,
        clock=clock,
        name=_process_name("slack"),
        metrics=core.metrics,
        lease=core.lease,
    )
    if given(settings, "slack_app_token") and settings.slack_app_token is not None:
        app = build_app(context, signing_secret=None)
        socket_mode = SocketMode(app, settings.slack_app_token.get_secret_value(), client)
        return SlackParts(client, poster, [], socket_mode)
    assert settings.slack_signing_secret is not None  # _slack_client checked it
    secret = settings.slack_signing_secret.get_secret_value()
    routes = slack_routes(build_app(context, signing_secret=secret), signing_secret=secret)
    return SlackParts(client, poster, routes, None)


def _scheduler(
    core: Core,
    settings: Settings,
    config: Config,
    client: WebClient | None,
    *,
    drains: list[InboxDrain],
    owners: Owners | None = None,
) -> Scheduler:
    """The daily ageing of time-based scores (its CRM records go to the inbox, `drains`
    are woken), and the weekly digest when Slack has channels for it."""
    ageing = AgeingJob(database=core.database, tagger=core.tagger, drains=drains, clock=core.clock)
    jobs: list[Scheduled] = [ageing.scheduled(settings.ageing_trigger(config.digest.timezone))]
    if client is not None and config.digest.channels:
        digest = DigestJob(
            database=core.database,
            client=client,
            icp=lambda: core.tagger.scorer.icp,
            config=config.digest,
            owners=owners,
            worker=_process_name("digest"),
            clock=core.clock,
        )
        jobs.append(digest.scheduled())
    return Scheduler(core.database, jobs, timezone=config.digest.timezone)


def _process_name(part: str) -> str:
    """Who holds a claim or a lease: host, process and part, for `icpbot status` and logs."""
    return f"{socket.gethostname()}:{os.getpid()}:{part}"


class SocketMode:
    """Slack's Socket Mode connection as a background part: no public URL needed."""

    def __init__(self, app: App, app_token: str, client: WebClient) -> None:
        self.handler = SocketModeHandler(app, app_token, web_client=client)

    def start(self) -> None:
        self.handler.connect()  # type: ignore[no-untyped-call]  # slack_bolt leaves it unannotated

    def stop(self) -> None:
        self.handler.close()  # type: ignore[no-untyped-call]  # slack_bolt leaves it unannotated


def reload_on_hangup(service: Service) -> None:
    """`kill -HUP`: read the config again, in a thread (a handler must return at once)."""

    def hangup(_signum: int, _frame: object) -> None:
        threading.Thread(target=service.reload, name="reload", daemon=True).start()

    signal.signal(signal.SIGHUP, hangup)
