"""Building the CRM adapters from settings: the one place that knows their knobs.

Adapters take ready-made clients and callers; this module turns settings
into them (token, host, rate limit) and connects their call outcomes to
the metrics, so `integrations/` stays free of settings and Prometheus.

Given the database, an adapter's rate limits are shared with every other
process using that database (`bot.store.ratelimit`): the limit is the CRM
account's, and replicas, or a backfill beside `serve`, spend it together.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from sqlalchemy import Engine as Database

from bot.config import Config
from bot.metrics import Metrics
from bot.settings import Settings, env_name, given, missing
from bot.store.ratelimit import SharedRateLimiter
from integrations.hubspot import SEARCH_RATE, HubSpotCrm, classify, make_client
from integrations.ratelimit import Limiter, RateLimiter
from integrations.retries import CrmCaller, Failure, Observer, RetryPolicy
from integrations.salesforce import (
    Connect,
    SalesforceCrm,
    jwt_connection,
    password_connection,
    token_connection,
)
from integrations.salesforce import classify as salesforce_classify

log = logging.getLogger(__name__)

HUBSPOT_WINDOW = 10.0  # HubSpot's limits are per rolling 10 seconds
SALESFORCE_WINDOW = 1.0  # icpbot's own pacing of Salesforce calls is per second


class MissingSettings(Exception):
    """Required settings are not set; the message names them, and where they are explained."""

    def __init__(self, what: str, names: list[str], *, see: str | None = None) -> None:
        where = f"; README: {see}" if see else ""
        super().__init__(f"{what} needs {', '.join(names)}. Set in the environment or .env{where}.")
        self.names = names


HUBSPOT_README = "Connecting HubSpot"
SALESFORCE_README = "Connecting Salesforce"
# Every way into Salesforce, in the README's order: (what it is, its settings)
SALESFORCE_LOGINS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("access token", ("salesforce_access_token", "salesforce_instance_url")),
    (
        "password login",
        ("salesforce_username", "salesforce_password", "salesforce_security_token"),
    ),
    (
        "OAuth JWT bearer flow of a Connected App",
        ("salesforce_client_id", "salesforce_private_key_file", "salesforce_username"),
    ),
)


class MetricsObserver(Observer):
    """CRM call outcomes and retries as Prometheus counters."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics

    def outcome(self, crm: str, outcome: str) -> None:
        self.metrics.crm_requests.labels(crm=crm, outcome=outcome).inc()

    def retry(self, crm: str, failure: Failure, delay: float) -> None:
        self.metrics.crm_retries.labels(crm=crm).inc()


def _caller(
    crm: str,
    limiter: Limiter,
    classifier: Callable[[BaseException], Failure | None],
    policy: RetryPolicy | None,
    metrics: Metrics | None,
) -> CrmCaller:
    """How every call to one CRM is paced, retried and counted."""
    observer = MetricsObserver(metrics) if metrics else None
    return CrmCaller(
        crm=crm, limiter=limiter, classify=classifier, policy=policy, observer=observer
    )


def _limiter(database: Database | None, api: str, limit: int, window: float) -> Limiter:
    """Shared through the database when there is one; else this process's own."""
    if database is None:
        return RateLimiter(limit, window)
    return SharedRateLimiter(database, api, limit, window)


def hubspot_configured(settings: Settings) -> bool:
    return given(settings, "hubspot_access_token")


def hubspot_way() -> str:
    """The settings that connect HubSpot to `serve`, by name."""
    return f"{env_name('hubspot_access_token')} and {env_name('hubspot_client_secret')}"


def salesforce_ways() -> str:
    """Every way into Salesforce, by setting name, as the README lists them."""
    ways = []
    for what, fields in SALESFORCE_LOGINS:
        names = [env_name(f) for f in fields]
        ways.append(f"{', '.join(names[:-1])} and {names[-1]} ({what})")
    return "; or ".join(ways)


def hubspot_crm(
    settings: Settings,
    config: Config,
    *,
    metrics: Metrics | None = None,
    policy: RetryPolicy | None = None,
    database: Database | None = None,
) -> HubSpotCrm:
    """The HubSpot adapter for these settings; MissingSettings names what is not set."""
    absent = missing(settings, "hubspot_access_token")
    if absent or settings.hubspot_access_token is None:
        raise MissingSettings("HubSpot", absent, see=HUBSPOT_README)
    limiter = _limiter(database, "hubspot", settings.hubspot_rate_limit, HUBSPOT_WINDOW)
    caller = _caller("hubspot", limiter, classify, policy, metrics)
    client = make_client(
        access_token=settings.hubspot_access_token.get_secret_value(),
        host=settings.hubspot_api_url,
    )
    return HubSpotCrm(
        client=client,
        caller=caller,
        field_map=config.fields,
        portal_id=settings.hubspot_portal_id,
        search_limiter=_limiter(database, "hubspot-search", *SEARCH_RATE),
    )


def salesforce_configured(settings: Settings) -> bool:
    """Any setting of a way in is set: Salesforce is meant to be connected, and a way left
    half set up is named at start rather than served without Salesforce in silence."""
    return bool(salesforce_given(settings))


def salesforce_given(settings: Settings) -> list[str]:
    """The settings of any way into Salesforce that are set, by name, each once."""
    fields = dict.fromkeys(f for _, way in SALESFORCE_LOGINS for f in way)
    return [env_name(f) for f in fields if given(settings, f)]


def salesforce_crm(
    settings: Settings,
    config: Config,
    *,
    metrics: Metrics | None = None,
    policy: RetryPolicy | None = None,
    database: Database | None = None,
) -> SalesforceCrm:
    """The Salesforce adapter for these settings; MissingSettings names what is not set."""
    connect, renew = _salesforce_connect(settings)
    limit = settings.salesforce_rate_limit
    limiter = _limiter(database, "salesforce", limit, SALESFORCE_WINDOW)
    caller = _caller("salesforce", limiter, salesforce_classify, policy, metrics)
    return SalesforceCrm(connect=connect, caller=caller, field_map=config.fields, renew=renew)


def _salesforce_connect(settings: Settings) -> tuple[Connect, bool]:
    """How to log in, and whether a login can be renewed (a bare token cannot)."""
    version = settings.salesforce_api_version
    if given(settings, "salesforce_access_token") and settings.salesforce_access_token:
        absent = missing(settings, "salesforce_instance_url")
        if absent or settings.salesforce_instance_url is None:
            raise MissingSettings("Salesforce with an access token", absent, see=SALESFORCE_README)
        url, token = settings.salesforce_instance_url, settings.salesforce_access_token
        return lambda: token_connection(
            instance_url=url, access_token=token.get_secret_value(), version=version
        ), False
    if given(settings, "salesforce_private_key_file") or given(settings, "salesforce_client_id"):
        return _jwt_connect(settings), True
    if not given(settings, "salesforce_password"):
        found = salesforce_given(settings)
        what = f"Salesforce (set so far: {', '.join(found)})" if found else "Salesforce"
        raise MissingSettings(what, [f"one way in: {salesforce_ways()}"], see=SALESFORCE_README)
    absent = missing(settings, "salesforce_username")
    if absent or not settings.salesforce_username or not settings.salesforce_password:
        raise MissingSettings("Salesforce with a password", absent, see=SALESFORCE_README)
    user, password = settings.salesforce_username, settings.salesforce_password.get_secret_value()
    security = settings.salesforce_security_token
    security_token = security.get_secret_value() if security else None
    login_url = settings.salesforce_login_url
    return lambda: password_connection(
        login_url=login_url,
        username=user,
        password=password,
        security_token=security_token,
        version=version,
    ), True


def _jwt_connect(settings: Settings) -> Connect:
    """The OAuth JWT bearer login: the Connected App's consumer key, its key file, the user."""
    what = "Salesforce's JWT bearer login"
    absent = missing(
        settings, "salesforce_client_id", "salesforce_private_key_file", "salesforce_username"
    )
    path = settings.salesforce_private_key_file
    client_id, username = settings.salesforce_client_id, settings.salesforce_username
    if absent or not client_id or not username or path is None:
        raise MissingSettings(what, absent, see=SALESFORCE_README)
    try:
        key = path.read_text()
    except OSError as exc:
        names = [f"SALESFORCE_PRIVATE_KEY_FILE (cannot read {path}: {exc.strerror})"]
        raise MissingSettings(what, names, see=SALESFORCE_README) from exc
    login_url, version = settings.salesforce_login_url, settings.salesforce_api_version
    return lambda: jwt_connection(
        login_url=login_url,
        client_id=client_id,
        username=username,
        private_key=key,
        version=version,
    )


class ApiBudget:
    """Whether Salesforce polling should hold off: the org's daily API requests nearly spent.

    Salesforce reports the usage in `Sforce-Limit-Info` on every answer; while
    polling holds, nothing else may call, so a spent budget is re-read from
    the limits resource every `recheck` seconds to notice the day roll over.
    """

    def __init__(
        self,
        crm: SalesforceCrm,
        share: float,
        metrics: Metrics | None = None,
        *,
        recheck: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.crm = crm
        self.share = share
        self.metrics = metrics
        self.recheck = recheck
        self.clock = clock
        self._checked_at: float | None = None

    def exceeded(self) -> str | None:
        """Why to hold off this round, or None to poll."""
        usage = self.crm.api_usage()
        spent = self.crm.limit_refused() or (usage is not None and self._over(usage))
        if spent and self._due():
            self._checked_at = self.clock()
            try:
                usage = self.crm.check()
            except Exception:
                log.warning("could not re-read Salesforce's API limits", exc_info=True)
        if self.crm.limit_refused():
            return (
                "Salesforce refuses calls: the org's daily API requests are spent "
                "(REQUEST_LIMIT_EXCEEDED); trying its limits again every "
                f"{self.recheck:.0f} s"
            )
        if usage is None:
            return None
        used, limit = usage
        if self.metrics is not None and limit:
            self.metrics.crm_api_usage.labels(crm="salesforce").set(used / limit)
        if not self._over(usage):
            return None
        return f"{used:,} of {limit:,} daily API requests used (budget {self.share:.0%})"

    def _over(self, usage: tuple[int, int]) -> bool:
        used, limit = usage
        return limit > 0 and used / limit >= self.share

    def _due(self) -> bool:
        return self._checked_at is None or self.clock() - self._checked_at >= self.recheck
