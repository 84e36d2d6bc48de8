"""The Slack Web API client every part of the bot shares.

`SLACK_API_URL` points it at Slack or at a local fake. Slack's own retry
handlers do the retrying: a 429 waits its `Retry-After` (Slack allows about
one message a second per channel and answers bursts with 429), a 5xx or a
dropped connection backs off and tries again.
"""

from __future__ import annotations

from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)

TIMEOUT = 10  # seconds; Slack answers in well under one


def api_base(url: str) -> str:
    """`SLACK_API_URL` as the SDK joins method names to it: without the trailing `/`,
    `https://slack.com/api` + `auth.test` would be `https://slack.com/auth.test`."""
    return url if url.endswith("/") else url + "/"


def make_client(*, token: str, base_url: str, retries: int = 5) -> WebClient:
    """A WebClient on `base_url` that retries rate limits, server errors and lost connections."""
    return WebClient(
        token=token,
        base_url=api_base(base_url),
        timeout=TIMEOUT,
        retry_handlers=[
            RateLimitErrorRetryHandler(max_retry_count=retries),
            ServerErrorRetryHandler(max_retry_count=retries),
            ConnectionErrorRetryHandler(max_retry_count=retries),
        ],
    )
