"""Prometheus metrics: what `/metrics` shows about webhooks, the inbox and CRM calls.

A registry per instance, never the process-global default, so a test (or a
benchmark) can build as many apps as it likes. The inbox gauges are read
from the database at scrape time rather than counted in memory: parked work
is visible whichever replica parked it, and survives restarts.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import generate_latest
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from bot.store import inbox
from bot.store.db import session as open_session

log = logging.getLogger(__name__)

# Webhook received -> record written back: seconds normally, a minute when backing off.
LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
# /icp answers: Slack gives 3 s; the store path aims at a tenth of that.
COMMAND_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 3.0, 10.0)


class Metrics:
    """Every counter icpbot keeps, and their rendering for `/metrics`."""

    def __init__(self, *, database: Engine | None = None) -> None:
        self.registry = CollectorRegistry()
        registry = self.registry
        self.webhook_requests = Counter(
            "icpbot_webhook_requests",
            "Webhook deliveries, by outcome: accepted, unauthorized, bad_request, error.",
            ["outcome"],
            registry=registry,
        )
        self.webhook_events = Counter(
            "icpbot_webhook_events",
            "Events in accepted deliveries, by result: stored, duplicate, ignored.",
            ["result"],
            registry=registry,
        )
        self.records_tagged = Counter(
            "icpbot_records_tagged",
            "Records scored and tagged, by CRM and kind.",
            ["crm", "kind"],
            registry=registry,
        )
        self.crm_requests = Counter(
            "icpbot_crm_requests",
            "CRM API calls, by outcome: ok, rate_limited, server_error, timeout, client_error.",
            ["crm", "outcome"],
            registry=registry,
        )
        self.crm_retries = Counter(
            "icpbot_crm_retries", "CRM API calls retried.", ["crm"], registry=registry
        )
        self.crm_writes = Counter(
            "icpbot_crm_records_written",
            "Records written back to the CRM.",
            ["crm"],
            registry=registry,
        )
        self.event_latency = Histogram(
            "icpbot_event_latency_seconds",
            "From a webhook received to its record written back.",
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.slack_posts = Counter(
            "icpbot_slack_posts",
            "Slack posts, by kind (route, summary, rescore) and outcome (sent, failed).",
            ["kind", "outcome"],
            registry=registry,
        )
        self.slack_commands = Histogram(
            "icpbot_slack_command_seconds",
            "/icp from request to answer, by path: store (in the acknowledgement) or crm.",
            ["path"],
            buckets=COMMAND_BUCKETS,
            registry=registry,
        )
        self.crm_api_usage = Gauge(
            "icpbot_crm_api_usage_ratio",
            "Share of the CRM org's daily API requests used, as the CRM last reported it.",
            ["crm"],
            registry=registry,
        )
        self.changes_heard = Counter(
            "icpbot_salesforce_changes",
            "Salesforce change events heard, by what became of them: read (into the inbox), "
            "own (icpbot's write-back: skipped), removed (a deleted deal), poll (an overflow "
            "or a deal change: the poll woken), ignored (an entity icpbot does not tag).",
            ["action"],
            registry=registry,
        )
        self.change_stream_up = Gauge(
            "icpbot_salesforce_change_stream_up",
            "1 while this replica listens to Change Data Capture for Account and Lead; 0 "
            "while it cannot (the poll then runs at its full pace). Standbys do not set it.",
            registry=registry,
        )
        self.poll_seconds = Gauge(
            "icpbot_crm_poll_interval_seconds",
            "Seconds between the CRM's polls or sweeps now: the safety-net pace while its "
            "changes are heard as they happen.",
            ["crm"],
            registry=registry,
        )
        if database is not None:
            registry.register(InboxCollector(database))
            registry.register(RolloutCollector(database))

    def render(self) -> tuple[bytes, str]:
        """The exposition text and its content type."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


class StoreCollector:
    """Gauges read from the store at each scrape (a custom collector: no thread keeps them).

    When the database cannot be read the gauges are left out (and the
    failure logged): the rest of /metrics still answers, and the missing
    series is itself what an alert can fire on.
    """

    def __init__(
        self, database: Engine, *, clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    ) -> None:
        self.database = database
        self.clock = clock

    def describe(self) -> Iterator[Metric]:
        """The names, without touching the database when registered."""
        yield from self._families()

    @staticmethod
    def _families() -> tuple[GaugeMetricFamily, ...]:
        raise NotImplementedError


class InboxCollector(StoreCollector):
    """Inbox events by status and the age of the oldest pending one."""

    def collect(self) -> Iterator[Metric]:
        try:
            with open_session(self.database) as session:
                counts = inbox.counts(session=session)
                oldest = inbox.oldest_pending(session=session)
        except SQLAlchemyError:
            log.warning("metrics: could not read the inbox", exc_info=True)
            return
        events, age = self._families()
        for status, count in counts.items():
            events.add_metric([status], count)
        age.add_metric([], (self.clock() - oldest).total_seconds() if oldest else 0.0)
        yield events
        yield age

    @staticmethod
    def _families() -> tuple[GaugeMetricFamily, GaugeMetricFamily]:
        events = GaugeMetricFamily(
            "icpbot_inbox_events", "Inbox events by status.", labels=["status"]
        )
        age = GaugeMetricFamily(
            "icpbot_inbox_oldest_pending_seconds",
            "Age of the oldest pending inbox event (0 when none is pending).",
        )
        return events, age


class RolloutCollector(StoreCollector):
    """The newest ICP rollout's progress: records done and remaining, its rate, its ETA, and
    whether it is running (1), paused (0.5) or done (0)."""

    STATES = {"running": 1.0, "paused": 0.5, "done": 0.0}

    def collect(self) -> Iterator[Metric]:
        from bot.change.rollout import current  # the rollout reads the store; metrics only ask

        try:
            found = current(self.database, now=self.clock())
        except SQLAlchemyError:
            log.warning("metrics: could not read the rollout", exc_info=True)
            return
        if found is None:
            return
        records, rate, eta, state = self._families()
        version = str(found.version)
        records.add_metric([version, "done"], found.done)
        records.add_metric([version, "remaining"], found.remaining)
        records.add_metric([version, "parked"], found.parked)
        rate.add_metric([version], found.rate)
        eta.add_metric([version], found.eta.total_seconds() if found.eta else 0.0)
        state.add_metric([version], self.STATES.get(found.state, 0.0))
        yield from (records, rate, eta, state)

    @staticmethod
    def _families() -> tuple[GaugeMetricFamily, ...]:
        return (
            GaugeMetricFamily(
                "icpbot_rollout_records",
                "Records of the newest ICP rollout by state (done, remaining, parked).",
                labels=["version", "state"],
            ),
            GaugeMetricFamily(
                "icpbot_rollout_records_per_second",
                "The rollout's pace since it started.",
                labels=["version"],
            ),
            GaugeMetricFamily(
                "icpbot_rollout_eta_seconds",
                "Time left at that pace (0 when done or not yet measurable).",
                labels=["version"],
            ),
            GaugeMetricFamily(
                "icpbot_rollout_running",
                "1 while the rollout runs, 0.5 paused, 0 done.",
                labels=["version"],
            ),
        )
