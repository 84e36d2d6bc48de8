"""Settings from the environment or a `.env` file (SPEC §10).

Only startup reads these; everything below receives them. Secrets are
`SecretStr`, whose repr is `'**********'`, so they never reach a log.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from pydantic import Field, SecretStr, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from bot.cron import cron_problem, cron_trigger

if TYPE_CHECKING:
    from apscheduler.triggers.cron import CronTrigger

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


class Settings(BaseSettings):
    """Everything icpbot reads from its environment."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", populate_by_name=True)

    database_url: str = Field("sqlite:///icpbot.db", alias="ICPBOT_DATABASE_URL")
    config_dir: Path = Field(Path("config"), alias="ICPBOT_CONFIG_DIR")
    port: int = Field(3000, alias="ICPBOT_PORT", ge=0, le=65535)  # 0: any free port
    host: str = Field("127.0.0.1", alias="ICPBOT_HOST")  # 0.0.0.0 in a container
    public_url: str | None = Field(None, alias="ICPBOT_PUBLIC_URL")  # as HubSpot calls it
    # Proxies (addresses or networks, comma-separated, or *) whose X-Forwarded-Proto and
    # X-Forwarded-For are believed: a TLS-terminating proxy's https is what HubSpot signed.
    trusted_proxies: str = Field("127.0.0.1", alias="ICPBOT_TRUSTED_PROXIES")
    log_level: str = Field("INFO", alias="ICPBOT_LOG_LEVEL")
    admins: Annotated[list[str], NoDecode] = Field(default_factory=list, alias="ICPBOT_ADMINS")

    slack_bot_token: SecretStr | None = Field(None, alias="SLACK_BOT_TOKEN")
    slack_signing_secret: SecretStr | None = Field(None, alias="SLACK_SIGNING_SECRET")
    slack_app_token: SecretStr | None = Field(None, alias="SLACK_APP_TOKEN")
    slack_api_url: str = Field("https://slack.com/api/", alias="SLACK_API_URL")

    hubspot_access_token: SecretStr | None = Field(None, alias="HUBSPOT_ACCESS_TOKEN")
    hubspot_client_secret: SecretStr | None = Field(None, alias="HUBSPOT_CLIENT_SECRET")
    hubspot_api_url: str = Field("https://api.hubapi.com", alias="HUBSPOT_API_URL")
    hubspot_portal_id: str | None = Field(None, alias="HUBSPOT_PORTAL_ID")  # for record links
    # Requests per rolling 10 s: 190 on Professional and Enterprise, 100 on Free and Starter.
    hubspot_rate_limit: int = Field(190, alias="ICPBOT_HUBSPOT_RATE_LIMIT", ge=1)
    hubspot_sweep_seconds: float = Field(300.0, alias="ICPBOT_HUBSPOT_SWEEP_SECONDS", gt=0)

    salesforce_instance_url: str | None = Field(None, alias="SALESFORCE_INSTANCE_URL")
    salesforce_access_token: SecretStr | None = Field(None, alias="SALESFORCE_ACCESS_TOKEN")
    salesforce_username: str | None = Field(None, alias="SALESFORCE_USERNAME")
    salesforce_password: SecretStr | None = Field(None, alias="SALESFORCE_PASSWORD")
    salesforce_security_token: SecretStr | None = Field(None, alias="SALESFORCE_SECURITY_TOKEN")
    salesforce_api_version: str = Field("62.0", alias="SALESFORCE_API_VERSION")
    # Where username/password and JWT logins go: https://test.salesforce.com for a sandbox,
    # or the org's My Domain URL.
    salesforce_login_url: str = Field("https://login.salesforce.com", alias="SALESFORCE_LOGIN_URL")
    # OAuth JWT bearer flow: the Connected App's consumer key, and its certificate's private key.
    salesforce_client_id: str | None = Field(None, alias="SALESFORCE_CLIENT_ID")
    salesforce_private_key_file: Path | None = Field(None, alias="SALESFORCE_PRIVATE_KEY_FILE")
    salesforce_poll_seconds: float = Field(60.0, alias="ICPBOT_SALESFORCE_POLL_SECONDS", gt=0)
    # Change Data Capture through the Pub/Sub API: changes heard as they happen, and the poll
    # slowed to a safety net while they are. false: the poll alone. The safety net catches
    # only what is missed silently: a stream lost, a gap too big, a replay id too old wake
    # the poll at once, so 15 minutes costs a fifteenth of the poll's requests.
    salesforce_cdc: bool = Field(True, alias="ICPBOT_SALESFORCE_CDC")
    salesforce_safety_poll_seconds: float = Field(
        900.0, alias="ICPBOT_SALESFORCE_SAFETY_POLL_SECONDS", gt=0
    )
    salesforce_pubsub_target: str = Field(
        "api.pubsub.salesforce.com:7443", alias="SALESFORCE_PUBSUB_TARGET"
    )
    # The certificate authorities Salesforce's answers are checked against, when not the
    # system's (a TLS-inspecting proxy): requests reads it itself; the Pub/Sub API's gRPC
    # channel is given it from here.
    ca_bundle: Path | None = Field(None, alias="REQUESTS_CA_BUNDLE")
    # Polling pauses while the org has used more than this share of its daily API requests.
    salesforce_api_budget: float = Field(0.8, alias="ICPBOT_SALESFORCE_API_BUDGET", gt=0, le=1)
    # Requests per second icpbot allows itself (Salesforce limits requests per day, and
    # long-running ones at 25 at a time; this keeps a backfill from starving other apps).
    salesforce_rate_limit: int = Field(50, alias="ICPBOT_SALESFORCE_RATE_LIMIT", ge=1)

    # How long work claimed by a replica that died (kill -9, a lost machine) waits before
    # another takes it over; a live replica renews its claims every third of it.
    lease_seconds: float = Field(30.0, alias="ICPBOT_LEASE_SECONDS", ge=3)

    # When scores with time-based criteria are re-checked, in digest.yaml's timezone.
    ageing_cron: str = Field("0 5 * * *", alias="ICPBOT_RESCORE_CRON")

    @field_validator("log_level")
    @classmethod
    def _log_level(cls, value: str) -> str:
        """Checked here, or logging's own ValueError would be the first thing serve prints."""
        if value.upper() not in LOG_LEVELS:
            raise ValueError(f"{value!r} is not a log level: use one of {', '.join(LOG_LEVELS)}")
        return value.upper()

    @field_validator(
        "slack_api_url", "hubspot_api_url", "salesforce_login_url", "salesforce_instance_url"
    )
    @classmethod
    def _web_address(cls, value: str | None, info: ValidationInfo) -> str | None:
        """A whole address, scheme and host: `slack.com/api/` would fail only at the first
        call, in an SDK's words. Empty counts as not set, as for every setting."""
        if value is None or not value.strip():
            default: str | None = cls.model_fields[str(info.field_name)].default
            return default
        parts = urlsplit(value.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            bare = value.strip().split("://")[-1].lstrip("/")
            raise ValueError(f"{value!r} is not a web address: write it whole, https://{bare}")
        return value.strip()

    @field_validator("salesforce_pubsub_target")
    @classmethod
    def _grpc_target(cls, value: str) -> str:
        """host:port, as gRPC dials it: a URL here would fail only when the stream starts."""
        host, _, port = value.strip().removeprefix("https://").rstrip("/").rpartition(":")
        if not host or not port.isdigit():
            raise ValueError(f"{value!r} is not host:port (e.g. api.pubsub.salesforce.com:7443)")
        return f"{host}:{port}"

    @field_validator("ageing_cron")
    @classmethod
    def _cron_line(cls, value: str) -> str:
        """Judged as APScheduler reads it, so a bad line stops the start, not the job."""
        wrong = cron_problem(value, ZoneInfo("UTC"))  # valid or not in every timezone alike
        if wrong:
            raise ValueError(wrong)
        return value

    def ageing_trigger(self, timezone: ZoneInfo) -> CronTrigger:
        return cron_trigger(self.ageing_cron, timezone)

    @field_validator("admins", mode="before")
    @classmethod
    def _split_admins(cls, value: object) -> object:
        """`U1,U2` or `U1 U2` in the environment, a list in code."""
        if isinstance(value, str):
            return [v for v in value.replace(",", " ").split() if v]
        return value


def missing(settings: Settings, *names: str) -> list[str]:
    """The environment names of required settings that are not set, for a clear start-up error."""
    return [env_name(name) for name in names if not given(settings, name)]


def env_name(name: str) -> str:
    """What a setting is called in the environment: `hubspot_access_token` is
    HUBSPOT_ACCESS_TOKEN, `port` is ICPBOT_PORT; messages name settings this way."""
    return Settings.model_fields[name].alias or name.upper()


def given(settings: Settings, name: str) -> bool:
    """Set to something: an empty value (`HUBSPOT_ACCESS_TOKEN=`) counts as not set."""
    value = getattr(settings, name)
    if isinstance(value, SecretStr):
        value = value.get_secret_value()
    return value not in (None, "")
