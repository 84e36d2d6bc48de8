"""`icpbot serve` at start, run as a user runs it: each problem is said once, by setting name,
with what to do next, within seconds, and never as a traceback or a page of library logs."""

from __future__ import annotations

import time
from pathlib import Path

from bot.slack.reach import CHECK_TIMEOUT
from tests.fakes.unreachable import Silent, closed_port
from tests.support import icpbot


def store(tmp_path: Path) -> dict[str, str]:
    return {"ICPBOT_DATABASE_URL": f"sqlite:///{tmp_path / 'icpbot.db'}", "ICPBOT_PORT": "0"}


def slack(api_url: str) -> dict[str, str]:
    return {"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_SIGNING_SECRET": "s", "SLACK_API_URL": api_url}


def test_slack_at_a_closed_port_is_said_with_the_url_and_why(tmp_path: Path) -> None:
    api_url = f"http://127.0.0.1:{closed_port()}/api/"
    done = icpbot("serve", env={**store(tmp_path), **slack(api_url)})
    assert done.returncode == 1
    assert (
        f"error Slack could not be reached at {api_url}auth.test: connection refused: "
        f"nothing is listening at 127.0.0.1:" in done.stderr
    )
    assert "not about SLACK_BOT_TOKEN" in done.stderr
    assert f"check SLACK_API_URL (now {api_url}; left unset it is Slack's own" in done.stderr
    assert "slack_sdk" not in done.stderr  # none of the SDK's retry lines
    assert "Traceback" not in done.stderr


def test_slack_that_never_answers_is_given_up_on_after_one_short_try(tmp_path: Path) -> None:
    with Silent() as server:
        done = icpbot("serve", env={**store(tmp_path), **slack(server.url + "/api/")})
        ended = time.monotonic()
        assert server.accepted == 1
        waited = ended - server.accepted_at[0]
    assert waited < CHECK_TIMEOUT + 2
    assert done.returncode == 1
    assert f"Slack could not be reached at {server.url}/api/auth.test: connected to" in done.stderr
    assert f"no answer came within {CHECK_TIMEOUT} s (timed out)" in done.stderr
    assert "slack_sdk" not in done.stderr and "Traceback" not in done.stderr
