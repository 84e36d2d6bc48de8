"""Slack at start: can it be reached at `SLACK_API_URL`, and does it take `SLACK_BOT_TOKEN`?

One `auth.test`, a short timeout, no retries and no SDK log lines. The
runtime client (`bot.slack.client`) retries lost connections with backoff,
which is right for a Slack that answered a moment ago; at start the same
retries spent ~20 s and a dozen log lines before anything was said, and then
blamed the token. Here an address that cannot be reached is told apart from
a token Slack refuses, each with the setting to look at.
"""

from __future__ import annotations

import logging
import ssl
from http.client import HTTPException
from urllib.parse import urljoin, urlsplit

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.web import SlackResponse

from bot.settings import Settings
from bot.slack.client import api_base
from integrations.unreachable import causes, why_unreachable

CHECK_TIMEOUT = 3  # seconds; Slack answers auth.test in well under one
DEFAULT_API_URL: str = Settings.model_fields["slack_api_url"].default
# auth.test's answers that mean the token is wrong, not the address
TOKEN_ERRORS = frozenset(
    {
        "invalid_auth",
        "not_authed",
        "account_inactive",
        "token_revoked",
        "token_expired",
        "not_allowed_token_type",
    }
)
NOT_JSON = "Received a response in a non-JSON format"  # the SDK's words for an HTML page


def slack_problem(
    *, token: str, api_url: str, app_token: str | None = None, timeout: int = CHECK_TIMEOUT
) -> str | None:
    """Why the bot cannot use Slack, as lines for the terminal; None when Slack takes its
    tokens: the bot token (`auth.test`), and in Socket Mode the app-level token
    (`apps.connections.open`, which Socket Mode would otherwise fail on with a traceback)."""
    client = WebClient(
        token=token,
        base_url=api_base(api_url),
        timeout=timeout,
        retry_handlers=[],  # not the SDK's default one-retry handler either
        logger=_silent(),
    )
    url, setting = urljoin(client.base_url, "auth.test"), "SLACK_BOT_TOKEN"
    try:
        client.auth_test()
        if app_token:
            url, setting = urljoin(client.base_url, "apps.connections.open"), "SLACK_APP_TOKEN"
            client.apps_connections_open(app_token=app_token)
    except SlackApiError as exc:
        return _answered(url, exc.response, api_url, setting)
    except (OSError, HTTPException) as exc:
        why = why_unreachable(exc, url=url, timeout=timeout)
        return "\n  ".join(
            [
                f"Slack could not be reached at {url}: {why}.",
                f"This is about reaching Slack, not about {setting}: Slack never saw it.",
                *_proxy_note(client.proxy),
                *_tls_note(exc),
                f"Next: {_where_to_look(api_url)}",
            ]
        )
    return None


TOKEN_FIXES = {
    "SLACK_BOT_TOKEN": "copy the Bot User OAuth Token (xoxb-...) from the Slack app's "
    "OAuth & Permissions page into SLACK_BOT_TOKEN, in the environment or .env",
    "SLACK_APP_TOKEN": "enable Socket Mode in the Slack app and copy an app-level token "
    "(xapp-..., scope connections:write; Basic Information, App-Level Tokens) into "
    "SLACK_APP_TOKEN; or unset SLACK_APP_TOKEN and set SLACK_SIGNING_SECRET to take "
    "Slack's requests over HTTP",
}


def _answered(url: str, response: SlackResponse, api_url: str, setting: str) -> str:
    """Something answered at `url`: Slack refusing a token, or not Slack's API at all."""
    data = response.data if isinstance(response.data, dict) else {}
    error = str(data.get("error") or "")
    status = response.status_code
    if status == 200 and error in TOKEN_ERRORS:
        return "\n  ".join(
            [
                f"{setting}: Slack refused it ({error}) at {url}.",
                f"Next: {TOKEN_FIXES[setting]} (README: Connecting Slack).",
            ]
        )
    if status >= 500 or status == 429:
        return "\n  ".join(
            [
                f"Slack answered HTTP {status} at {url}: it is reached, but not taking calls now.",
                "Next: start again in a few minutes; https://slack-status.com says whether "
                "Slack is having trouble.",
            ]
        )
    if status == 200 and error and not error.startswith(NOT_JSON):
        return f"Slack answered {url} with the error {error}."
    answer = f"HTTP {status}" if status != 200 else "a page that is not Slack's JSON"
    return "\n  ".join(
        [
            f"Slack's Web API is not at {url}: what is there answered {answer}.",
            f"This is about SLACK_API_URL, not about {setting}.",
            f"Next: {_where_to_look(api_url)}",
        ]
    )


def _where_to_look(api_url: str) -> str:
    """The setting behind the address, or the network when the address is Slack's own."""
    if api_base(api_url) == DEFAULT_API_URL:
        return (
            f"SLACK_API_URL is not set, so this was Slack's own {DEFAULT_API_URL}: check this "
            "machine's network, DNS and proxy (HTTPS_PROXY)."
        )
    return (
        f"check SLACK_API_URL (now {api_url}; left unset it is Slack's own "
        f"{DEFAULT_API_URL}), then this machine's network and proxy (HTTPS_PROXY)."
    )


def _proxy_note(proxy: str | None) -> list[str]:
    """The SDK goes through HTTPS_PROXY (or HTTP_PROXY) when set, even for 127.0.0.1."""
    if not proxy:
        return []
    address = urlsplit(proxy).netloc.rpartition("@")[2] or proxy  # never its password
    return [f"The request went through the proxy {address} (HTTPS_PROXY or HTTP_PROXY)."]


def _tls_note(exc: BaseException) -> list[str]:
    """A certificate refused is most often a proxy that inspects TLS with a CA of its own."""
    if not any(isinstance(e, ssl.SSLCertVerificationError) for e in causes(exc)):
        return []
    return ["A proxy that inspects TLS needs its certificate authority in SSL_CERT_FILE."]


def _silent() -> logging.Logger:
    """A logger outside logging's tree that says nothing: the SDK's "Failed to send a request"
    line would only repeat, less clearly, what the check says."""
    logger = logging.Logger("icpbot.slack-check", logging.CRITICAL)
    logger.disabled = True
    return logger
