"""Building the CRM adapters from settings: the one place that knows their knobs.

Adapters take ready-made clients and callers; this module turns settings
into them (token, host, rate limit) and connects their call outcomes to
the metrics, so `integrations/` stays free of settings and Prometheus.
"""

from __future__ import annotations

from bot.config import Config
from bot.metrics import Metrics
from bot.settings import Settings, given, missing
from integrations.hubspot import HubSpotCrm, classify, make_client
from integrations.ratelimit import RateLimiter
from integrations.retries import CrmCaller, Failure, Observer, RetryPolicy

HUBSPOT_WINDOW = 10.0  # HubSpot's limits are per rolling 10 seconds


class MissingSettings(Exception):
    """Required settings are not set; the message names them."""

    def __init__(self, what: str, names: list[str]) -> None:
        super().__init__(f"{what} needs {', '.join(names)} (environment or .env)")
        self.names = names


class MetricsObserver(Observer):
    """CRM call outcomes and retries as Prometheus counters."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics

    def outcome(self, crm: str, outcome: str) -> None:
        self.metrics.crm_requests.labels(crm=crm, outcome=outcome).inc()

    def retry(self, crm: str, failure: Failure, delay: float) -> None:
        self.metrics.crm_retries.labels(crm=crm).inc()


def hubspot_configured(settings: Settings) -> bool:
    return given(settings, "hubspot_access_token")


def hubspot_crm(
    settings: Settings,
    config: Config,
    *,
    metrics: Metrics | None = None,
    policy: RetryPolicy | None = None,
) -> HubSpotCrm:
    """The HubSpot adapter for these settings; MissingSettings names what is not set."""
    absent = missing(settings, "hubspot_access_token")
    if absent or settings.hubspot_access_token is None:
        raise MissingSettings("HubSpot", absent)
    caller = CrmCaller(
        crm="hubspot",
        limiter=RateLimiter(settings.hubspot_rate_limit, HUBSPOT_WINDOW),
        classify=classify,
        policy=policy,
        observer=MetricsObserver(metrics) if metrics else None,
    )
    client = make_client(
        access_token=settings.hubspot_access_token.get_secret_value(),
        host=settings.hubspot_api_url,
    )
    return HubSpotCrm(
        client=client, caller=caller, field_map=config.fields, portal_id=settings.hubspot_portal_id
    )
