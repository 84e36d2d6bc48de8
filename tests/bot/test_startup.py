"""`icpbot serve` at start, run as a user runs it: each problem is said once, by setting name,
with what to do next, within seconds, and never as a traceback or a page of library logs."""

from __future__ import annotations

import socket
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.settings import env_name
from bot.slack.reach import CHECK_TIMEOUT
from bot.store.db import open_database, session
from bot.sync.connect import SALESFORCE_LOGINS
from bot.sync.tagging import Tagger
from scoring.engine import Scorer
from tests.fakes.unreachable import Silent, closed_port
from tests.support import CONFIG, ROOT, ServeProcess, icpbot


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
    # One short try, not the SDK's default of 30 s: bounded loosely, as a loaded machine
    # takes seconds more to print and exit after the timeout.
    assert waited < 3 * CHECK_TIMEOUT
    assert done.returncode == 1
    assert f"Slack could not be reached at {server.url}/api/auth.test: connected to" in done.stderr
    assert f"no answer came within {CHECK_TIMEOUT} s (timed out)" in done.stderr
    assert "slack_sdk" not in done.stderr and "Traceback" not in done.stderr


# -- settings not set ------------------------------------------------------------------------------

SALESFORCE_WAYS = (
    "SALESFORCE_ACCESS_TOKEN and SALESFORCE_INSTANCE_URL (access token); "
    "or SALESFORCE_USERNAME, SALESFORCE_PASSWORD and SALESFORCE_SECURITY_TOKEN (password login); "
    "or SALESFORCE_CLIENT_ID, SALESFORCE_PRIVATE_KEY_FILE and SALESFORCE_USERNAME "
    "(OAuth JWT bearer flow of a Connected App)"
)


def test_serving_with_no_crm_names_every_way_to_connect_one(tmp_path: Path) -> None:
    serving = ServeProcess(store(tmp_path), tmp_path / "serve.log")
    serving.stop()
    said = (tmp_path / "serve.log").read_text()
    assert "no CRM is connected" in said
    hubspot = "HUBSPOT_ACCESS_TOKEN and HUBSPOT_CLIENT_SECRET"
    assert f"for HubSpot (README: Connecting HubSpot): {hubspot}" in said
    assert f"for Salesforce (README: Connecting Salesforce): {SALESFORCE_WAYS}" in said
    assert "SLACK_BOT_TOKEN is not set: serving without Slack" in said
    assert "SLACK_SIGNING_SECRET (or SLACK_APP_TOKEN for Socket Mode)" in said
    assert "alembic" not in said and "apscheduler" not in said  # migrations, "Scheduler started"


def test_every_documented_way_into_salesforce_is_in_the_readme_as_named() -> None:
    readme = " ".join((ROOT / "README.md").read_text(encoding="utf-8").split())
    section = readme.split("## Connecting Salesforce")[1].split("## ")[0]
    for _, fields in SALESFORCE_LOGINS:
        assert all(f"`{env_name(f)}`" in section for f in fields), fields


@pytest.mark.parametrize(
    ("given", "said"),
    [
        ({}, f"error Salesforce needs one way in: {SALESFORCE_WAYS}. Set in the environment"),
        (
            {"SALESFORCE_USERNAME": "ops@acme.com"},
            "error Salesforce (set so far: SALESFORCE_USERNAME) needs one way in: "
            + SALESFORCE_WAYS,
        ),
        (
            {"SALESFORCE_CLIENT_ID": "3MVG9"},
            "error Salesforce's JWT bearer login needs SALESFORCE_PRIVATE_KEY_FILE, "
            "SALESFORCE_USERNAME. Set in the environment or .env; README: Connecting Salesforce.",
        ),
        (
            {"SALESFORCE_ACCESS_TOKEN": "00D!x"},
            "error Salesforce with an access token needs SALESFORCE_INSTANCE_URL.",
        ),
    ],
)
def test_salesforce_half_set_up_is_named_not_served_without(
    tmp_path: Path, given: dict[str, str], said: str
) -> None:
    command = ("serve",) if given else ("backfill", "--crm", "salesforce")
    done = icpbot(*command, env={**store(tmp_path), **given})
    assert done.returncode == 1
    assert said in done.stderr
    assert "Traceback" not in done.stderr


# -- what else a first start gets wrong ------------------------------------------------------------


def test_a_port_in_use_is_said_by_setting_name(tmp_path: Path) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        done = icpbot("serve", env={**store(tmp_path), "ICPBOT_PORT": str(port)})
    assert done.returncode == 1
    assert f"error ICPBOT_PORT: port {port} on 127.0.0.1 is already in use" in done.stderr
    assert "set ICPBOT_PORT to a free port (0 takes any)" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize(
    ("name", "value", "said"),
    [
        ("ICPBOT_PORT", "abc", "Input should be a valid integer"),
        ("ICPBOT_PORT", "99999", "Input should be less than or equal to 65535"),
        ("ICPBOT_LOG_LEVEL", "loud", "'loud' is not a log level: use one of DEBUG, INFO"),
        ("SLACK_API_URL", "slack.com/api/", "not a web address: write it whole, https://slack"),
        ("SALESFORCE_INSTANCE_URL", "acme.my.salesforce.com", "https://acme.my.salesforce.com"),
    ],
)
def test_a_value_a_setting_cannot_take_is_named(
    tmp_path: Path, name: str, value: str, said: str
) -> None:
    done = icpbot("serve", env={**store(tmp_path), name: value})
    assert done.returncode == 1
    assert f"error {name}: " in done.stderr and said in done.stderr
    assert "Fix it in the environment or .env; README: Settings." in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize(
    ("url", "said"),
    [
        ("postgres//icp:s3cret@db/icp", "error ICPBOT_DATABASE_URL is not a database URL."),
        ("mysql://icp:s3cret@127.0.0.1/icp", "names a database icpbot has no driver for (mysql)"),
        (
            "postgresql://icp:s3cret@127.0.0.1:{closed}/icp",  # a port chosen when it runs
            "error ICPBOT_DATABASE_URL: the database at postgresql://icp:***@127.0.0.1:",
        ),
        ("sqlite:////nonexistent/icpbot/icpbot.db", "the directory /nonexistent/icpbot does not"),
    ],
    ids=["not-a-url", "no-driver", "refused", "no-directory"],
)
def test_a_database_that_cannot_be_opened_is_said_without_its_password(
    tmp_path: Path, url: str, said: str
) -> None:
    url = url.replace("{closed}", str(closed_port()))
    done = icpbot("serve", env={**store(tmp_path), "ICPBOT_DATABASE_URL": url})
    assert done.returncode == 1
    assert said in done.stderr and "Next: " in done.stderr
    assert "s3cret" not in done.stderr and "Traceback" not in done.stderr


def test_an_icp_changed_without_a_new_version_stops_the_start_with_its_reason(
    tmp_path: Path,
) -> None:
    database = open_database(store(tmp_path)["ICPBOT_DATABASE_URL"])
    with session(database) as db:
        earlier = CONFIG.icp_text + "\n# an earlier edit under the same version\n"
        Tagger(Scorer(CONFIG.icp)).record_version(
            session=db, icp_text=earlier, now=datetime(2026, 11, 20, tzinfo=UTC)
        )
    database.dispose()
    done = icpbot("serve", env=store(tmp_path))
    assert done.returncode == 1
    assert f"error icp.yaml version {CONFIG.icp.version} was already recorded" in done.stderr
    assert "bump `version` in icp.yaml" in done.stderr and "Traceback" not in done.stderr


def test_salesforce_at_a_closed_port_is_said_with_the_url_and_the_setting(tmp_path: Path) -> None:
    instance = f"https://127.0.0.1:{closed_port()}"
    env = {"SALESFORCE_INSTANCE_URL": instance, "SALESFORCE_ACCESS_TOKEN": "00D!token"}
    done = icpbot("serve", env={**store(tmp_path), **env})
    assert done.returncode == 1
    assert (
        f"error Salesforce could not be reached at {instance}/services/data/v62.0/limits/: "
        "connection refused" in done.stderr
    )
    assert "Next: check SALESFORCE_INSTANCE_URL" in done.stderr
    assert "HTTPSConnectionPool" not in done.stderr and "Traceback" not in done.stderr
