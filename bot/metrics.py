"""Prometheus metrics: what `/metrics` shows about webhooks, the inbox and CRM calls.

A registry per instance, never the process-global default, so a test can
build as many apps as it likes. Inbox gauges are read from the database at
scrape time: parked work is visible whichever replica parked it.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import generate_latest
from prometheus_client.registry import Collector
from sqlalchemy import Engine as Database

from bot.store import inbox
from bot.store.db import session as open_session

LATENCY_BUCKETS = (0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60)


class Metrics:
    """Every counter icpbot keeps, and the rendering of them."""

    def __init__(self, *, database: Database | None = None) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.webhook_requests = Counter(
            "icpbot_webhook_requests", "Webhook deliveries by outcome.", ["outcome"], registry=r
        )
        self.webhook_events = Counter(
            "icpbot_webhook_events", "Webhook events: stored, duplicate, ignored.", ["result"],
            registry=r,
        )  # fmt: skip
        self.records_tagged = Counter(
            "icpbot_records_tagged", "Records scored by the pipeline.", ["crm", "kind"], registry=r
        )
        self.crm_requests = Counter(
            "icpbot_crm_requests", "CRM API calls by outcome.", ["crm", "outcome"], registry=r
        )
        self.crm_retries = Counter(
            "icpbot_crm_retries", "CRM API calls retried.", ["crm"], registry=r
        )
        self.crm_writes = Counter(
            "icpbot_crm_records_written", "Records written back to the CRM.", ["crm"], registry=r
        )
        self.event_latency = Histogram(
            "icpbot_event_latency_seconds", "From a stored event to its record written back.",
            buckets=LATENCY_BUCKETS, registry=r,
        )  # fmt: skip
        if database is not None:
            r.register(InboxCollector(database))

    def render(self) -> tuple[bytes, str]:
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


class InboxCollector(Collector):
    """Inbox events by status and the age of the oldest pending one, read at scrape time."""

    def __init__(self, database: Database) -> None:
        self.database = database

    def collect(self) -> Iterator[Metric]:
        with open_session(self.database) as session:
            counts = inbox.counts(session=session)
            oldest = inbox.oldest_pending(session=session)
        events = GaugeMetricFamily(
            "icpbot_inbox_events", "Inbox events by status.", labels=["status"]
        )
        for status, count in counts.items():
            events.add_metric([status], count)
        yield events
        age = (datetime.now(UTC) - oldest).total_seconds() if oldest else 0.0
        yield GaugeMetricFamily(
            "icpbot_inbox_oldest_pending_seconds", "Age of the oldest pending event.", value=age
        )
