"""Slack at start: an address that cannot be reached is said with its URL and why, in
seconds, and told apart from a token Slack refuses; each names the setting to look at."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from bot.slack.reach import slack_problem
from tests.fakes.salesforce import FakeSalesforce
from tests.fakes.slack import FakeSlack
from tests.fakes.unreachable import Silent, closed_port


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    with FakeSlack() as server:
        yield server


def test_a_token_slack_takes_is_no_problem(slack: FakeSlack) -> None:
    assert slack_problem(token=slack.token, api_url=slack.api_url) is None


def test_a_closed_port_is_said_with_the_url_tried_and_not_blamed_on_the_token() -> None:
    api_url = f"http://127.0.0.1:{closed_port()}/api/"
    started = time.monotonic()
    problem = slack_problem(token="xoxb-1", api_url=api_url)
    assert time.monotonic() - started < 1.5
    assert problem is not None
    assert f"Slack could not be reached at {api_url}auth.test: connection refused" in problem
    assert "not about SLACK_BOT_TOKEN" in problem
    assert f"check SLACK_API_URL (now {api_url}; left unset it is Slack's own" in problem


def test_a_server_that_never_answers_is_asked_once_and_given_up_on_at_the_timeout() -> None:
    with Silent() as server:
        started = time.monotonic()
        problem = slack_problem(token="xoxb-1", api_url=server.url + "/api", timeout=1)
        took = time.monotonic() - started
        assert server.accepted == 1  # one attempt: none of the runtime client's retries
    assert took < 2.5
    assert problem is not None
    assert f"Slack could not be reached at {server.url}/api/auth.test: connected to " in problem
    assert "but no answer came within 1 s (timed out)" in problem


def test_a_slack_that_answers_too_slowly_is_said_to_be_slow() -> None:
    with FakeSlack(latency=3.0) as slow:
        problem = slack_problem(token=slow.token, api_url=slow.api_url, timeout=1)
    assert problem is not None
    assert f"at {slow.api_url}auth.test: connected to 127.0.0.1:" in problem
    assert "no answer came within 1 s (timed out)" in problem


def test_a_token_slack_refuses_is_named_as_the_problem(slack: FakeSlack) -> None:
    problem = slack_problem(token="xoxb-wrong", api_url=slack.api_url)
    assert problem is not None
    assert problem.startswith(
        f"SLACK_BOT_TOKEN: Slack refused it (invalid_auth) at {slack.api_url}auth.test."
    )
    assert "Bot User OAuth Token (xoxb-...)" in problem
    assert "SLACK_API_URL" not in problem


def test_an_address_that_is_not_slacks_api_names_slack_api_url(slack: FakeSlack) -> None:
    problem = slack_problem(token=slack.token, api_url=slack.url)  # /api/ left out
    assert problem is not None
    assert f"Slack's Web API is not at {slack.url}/auth.test: what is there answered HTTP 404" in (
        problem
    )
    assert "This is about SLACK_API_URL, not about SLACK_BOT_TOKEN." in problem


def test_slack_in_trouble_is_said_as_such(slack: FakeSlack) -> None:
    slack.fail_next("auth.test", status=503)
    problem = slack_problem(token=slack.token, api_url=slack.api_url)
    assert problem is not None
    assert f"Slack answered HTTP 503 at {slack.api_url}auth.test" in problem
    assert len(slack.calls_to("auth.test")) == 1


def test_a_certificate_not_trusted_is_a_tls_problem() -> None:
    with FakeSalesforce() as tls:  # HTTPS with a certificate authority nobody trusts
        problem = slack_problem(token="xoxb-1", api_url=tls.url + "/api/")
    assert problem is not None
    assert f"Slack could not be reached at {tls.url}/api/auth.test: its TLS certificate" in problem
    assert "SSL_CERT_FILE" in problem


def test_an_app_level_token_slack_refuses_is_named_before_socket_mode_starts() -> None:
    with FakeSlack(socket_url="ws://127.0.0.1:9/") as slack:
        assert (
            slack_problem(token=slack.token, api_url=slack.api_url, app_token=slack.app_token)
            is None
        )
        problem = slack_problem(token=slack.token, api_url=slack.api_url, app_token="xapp-wrong")
    assert problem is not None
    assert problem.startswith(
        f"SLACK_APP_TOKEN: Slack refused it (invalid_auth) at {slack.api_url}apps.connections.open."
    )
    assert "or unset SLACK_APP_TOKEN and set SLACK_SIGNING_SECRET" in problem
