"""Helpers shared by test modules, so that no test module imports another.

Plain functions, constants and small classes only: shared fixtures live in the
nearest conftest.py above their users, where pytest finds them. The scoring
tests' ICP builders are in tests/scoring/support.py, the store tests' rows in
tests/bot/store/factories.py.
"""

from __future__ import annotations

import functools
import hashlib
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import requests
import uvicorn
from sqlalchemy import Engine as Database
from sqlalchemy import func, select
from sqlmodel import Session, col
from starlette.applications import Starlette

from bot.config import load_config
from bot.digest.config import DigestConfig
from bot.digest.job import DigestJob
from bot.intake.web import server_config
from bot.schedule import Scheduler
from bot.slack.client import make_client
from bot.store import inbox
from bot.store.db import session as open_session
from bot.store.inbox import NewEvent
from bot.store.tables import InboxEvent, InboxStatus
from bot.sync.pipeline import Pipeline
from bot.sync.tagging import Tagger
from bot.sync.worker import Worker
from integrations.hubspot import HubSpotCrm
from integrations.hubspot import classify as hubspot_classify
from integrations.hubspot import make_client as hubspot_client
from integrations.ratelimit import RateLimiter
from integrations.records import CrmRecord, RecordKind
from integrations.retries import CrmCaller, RetryPolicy
from integrations.salesforce import SalesforceCrm, StreamSession, token_connection
from integrations.salesforce import classify as salesforce_classify
from integrations.salesforce_events import ChangeStream
from scoring.engine import Scorer
from scoring.model import Tier
from scoring.result import AccountScore, CriterionInfo, CriterionResult, ProfileResult, Status
from tests.fakes.hubspot import FakeHubSpot
from tests.fakes.salesforce import FakeSalesforce
from tests.fakes.salesforce_pubsub import TENANT, FakePubSub
from tests.fakes.slack import FakeSlack, SlackUser

# -- the repository and its shipped config ---------------------------------------------------------

ROOT = Path(__file__).resolve().parents[1]
CONFIG = load_config(ROOT / "config", today=datetime(2026, 11, 20).date())

# An account the shipped ICP puts in tier A, in canonical fields.
A_TIER = {
    "industry": "software",
    "employees": 300,
    "annual_revenue": 20_000_000,
    "country": "US",
    "technologies": ["hubspot"],
    "sales_motion": "sales-led",
    "has_revops": True,
    "last_funding_at": "2026-06-01",
}


# -- the command line, run as a user runs it: a real process ---------------------------------------


def icp_v8_text() -> str:
    """The shipped ICP as a v8 a RevOps engineer might propose: geography weighs 60 instead
    of 10 (US accounts climb, others fall), and a new top-level disqualifier takes out
    accounts on Pipedrive."""
    text = CONFIG.icp_text.replace("version: 7", "version: 8", 1)
    text = text.replace(
        "        in: [US, CA, GB]\n        weight: 10",
        "        in: [US, CA, GB]\n        weight: 60",
    )
    return text.replace(
        "disqualify:\n  - id: customer",
        "disqualify:\n  - id: on-pipedrive\n    field: technologies\n"
        "    contains_any: [pipedrive]\n    why: Too small a CRM for us.\n  - id: customer",
    )


def sample_store(directory: Path) -> dict[str, str]:
    """The sample CRM loaded into a SQLite store in `directory` by `icpbot backfill --crm
    csv`, as a user loads it (ICP v7, as of the sample's date); the environment naming it."""
    source = directory / "sample"
    shutil.copytree(ROOT / "config" / "sample", source)
    env = {"ICPBOT_DATABASE_URL": f"sqlite:///{directory / 'icpbot.db'}"}
    scores = str(directory / "scores.csv")
    args = ("--source", str(source), "--out", scores, "--as-of", "2026-11-20")
    done = icpbot("backfill", "--crm", "csv", *args, env=env)
    assert done.returncode == 0, done.stderr
    assert "tagged 500 accounts" in " ".join(done.stderr.split())
    return env


def tag_account(session: Session, domain: str, fields: Mapping[str, object], now: datetime) -> None:
    """Score one HubSpot account with the shipped ICP at `now`, as a sync would: stored, with
    its audit-trail row (the ICP version recorded first)."""
    tagger = Tagger(Scorer(CONFIG.icp))
    tagger.record_version(session=session, icp_text=CONFIG.icp_text, now=now)
    name = domain.split(".")[0].title()
    record = CrmRecord(
        RecordKind.ACCOUNT, "hubspot", domain, {"domain": domain, "name": name, **fields}
    )
    tagger.tag_many(session=session, records=[record], now=now)


def icpbot(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """`icpbot ARGS` run in the repository (or in `cwd`, as a user elsewhere runs it), with
    this environment minus ICPBOT_*, plus `env`."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("ICPBOT_")}
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        capture_output=True,
        text=True,
        cwd=cwd or ROOT,
        env={**environment, "PYTHONPATH": str(ROOT), **(env or {})},
        timeout=120,
        check=False,
    )


class ServeProcess:
    """`icpbot serve` in a process of its own, as a replica runs in production.

    Started with `env` over this environment minus every icpbot, CRM and Slack
    setting; it binds 127.0.0.1 on a free port (`url` once it serves). Its
    output goes to `log` (read it when a test fails). `kill()` is `kill -9`;
    `stop()` is SIGTERM, as a deploy stops it. Every wait is bounded.
    """

    OWN = ("ICPBOT_", "HUBSPOT_", "SLACK_", "SALESFORCE_")

    def __init__(self, env: Mapping[str, str], log: Path, *, timeout: float = 60.0) -> None:
        base = {k: v for k, v in os.environ.items() if not k.startswith(self.OWN)}
        settings = {"ICPBOT_HOST": "127.0.0.1", "ICPBOT_PORT": "0", "PYTHONPATH": str(ROOT)}
        self.log = log
        with log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "bot", "serve"],
                cwd=ROOT,
                env={**base, **settings, **env},
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        self.url = self._wait_serving(timeout)

    def _wait_serving(self, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.log.read_text(errors="replace")
            found = [line for line in text.splitlines() if "icpbot serving on http://" in line]
            if found:
                return found[-1].split("serving on ", 1)[1].strip()
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        self.kill()
        raise RuntimeError(f"icpbot serve did not start; its output:\n{self.log.read_text()}")

    def kill(self) -> None:
        """SIGKILL: no clean-up, no goodbye, as a lost machine or the OOM killer ends it."""
        self.proc.kill()
        self.proc.wait(timeout=15)

    def stop(self) -> None:
        if self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.kill()


def most_in_any_window(times: list[float], window: float) -> int:
    """The most of `times` inside any `window` seconds (ending at one of them): what a
    server counting a rolling window saw at its busiest."""
    ordered = sorted(times)
    counts, first = [], 0
    for last, at in enumerate(ordered):
        while ordered[first] <= at - window:
            first += 1
        counts.append(last - first + 1)
    return max(counts, default=0)


def held_by(database: Database, process: ServeProcess) -> int:
    """Inbox events the process has claimed and not settled (its worker names carry its pid)."""
    with open_session(database) as session:
        query = select(func.count()).where(
            col(InboxEvent.status) == InboxStatus.PENDING.value,
            col(InboxEvent.claimed_by).like(f"%:{process.proc.pid}:%"),
        )
        return int(session.execute(query).scalar_one())


# The keys of one `icpbot score --json` line.
SUMMARY_KEYS = {"domain", "score", "tier", "profile", "coverage", "disqualified_by", "criteria"}


# -- waiting for background work -------------------------------------------------------------------


def wait_for(check: Callable[[], Any], seconds: float = 15.0) -> Any:
    """The first truthy answer of `check`, asked every 20 ms; AssertionError after `seconds`."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.02)
    raise AssertionError("timed out")


# -- a clock the test moves, so backoff, leases and ageing are tested without waiting --------------

START = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


# -- a stand-in for a CRM's worker -----------------------------------------------------------------


class Woken:
    """Stands where an `InboxDrain` (a CRM's worker) goes and counts how often it was woken."""

    def __init__(self) -> None:
        self.times = 0

    def wake(self) -> None:
        self.times += 1


# -- HubSpot through the sync: the real SDK against the fake, events in the inbox ------------------


def hubspot(fake: FakeHubSpot, policy: RetryPolicy | None = None) -> HubSpotCrm:
    """The HubSpot adapter on the fake, with quick retries."""
    policy = policy or RetryPolicy(attempts=3, initial=0.01, max_backoff=0.02)
    caller = CrmCaller(
        crm="hubspot", limiter=RateLimiter(1000, 10.0), classify=hubspot_classify, policy=policy
    )
    client = hubspot_client(access_token=fake.token, host=fake.url)
    return HubSpotCrm(client=client, caller=caller, field_map=CONFIG.fields)


def worker(fake: FakeHubSpot, database: Database, clock: Clock, **options: object) -> Worker:
    """The inbox worker writing back to the fake HubSpot, with the shipped ICP recorded."""
    policy = options.pop("policy", None)
    tagger = Tagger(Scorer(CONFIG.icp))
    with open_session(database) as session:
        tagger.record_version(session=session, icp_text=CONFIG.icp_text, now=clock())
    pipeline = Pipeline(crm=hubspot(fake, policy), database=database, tagger=tagger)  # type: ignore[arg-type]
    return Worker(database=database, pipeline=pipeline, clock=clock, **options)  # type: ignore[arg-type]


def event(object_type: str, object_id: str, *, at: int = 1, kind: str = "creation") -> NewEvent:
    """A HubSpot webhook event as the inbox stores it."""
    key = hashlib.sha256(f"{object_type}.{kind}|{object_id}|{at}".encode()).hexdigest()
    return NewEvent(
        source="hubspot",
        dedupe_key=key,
        object_type=object_type,
        object_id=object_id,
        event_type=f"{object_type}.{kind}",
        payload={"objectId": int(object_id), "occurredAt": at},
    )


def store(database: Database, clock: Clock, *events: NewEvent) -> int:
    """The events put in the inbox; how many were new."""
    with open_session(database) as session:
        return inbox.store_events(session=session, events=list(events), now=clock())


def saas(fake: FakeHubSpot, domain: str) -> str:
    """A mid-market SaaS company on HubSpot, in the fake; its id."""
    return fake.add_company(
        {
            "domain": domain,
            "name": domain.split(".")[0].title(),
            "industry": "software",
            "numberofemployees": "400",
            "country": "United States",
            "lifecyclestage": "lead",
            "web_technologies": "hubspot;slack",
        }
    )


def writes(fake: FakeHubSpot) -> list:
    """The batch updates the fake HubSpot received."""
    return [r for r in fake.requests if r.path.endswith("/batch/update")]


# -- Salesforce: the real simple-salesforce against the TLS fake -----------------------------------

SALESFORCE_A_TIER = {
    "Industry": "Software",
    "NumberOfEmployees": 300,
    "AnnualRevenue": 20_000_000.0,
    "BillingCountry": "US",
    "Technologies__c": "hubspot;salesforce",
    "Sales_Motion__c": "sales-led",
    "Has_RevOps__c": True,
    "Last_Funding_Date__c": "2026-06-01",
}


def a_tier(fake: FakeSalesforce, domain: str, **values: Any) -> str:
    """An A-tier Account in the fake Salesforce; its id."""
    name = domain.split(".")[0].title()
    return fake.add(
        "Account", {"Name": name, "Website": f"https://www.{domain}", **SALESFORCE_A_TIER, **values}
    )


def salesforce(fake: FakeSalesforce) -> SalesforceCrm:
    """The Salesforce adapter on the fake, with quick retries."""
    policy = RetryPolicy(attempts=3, initial=0.01, max_backoff=0.02)
    caller = CrmCaller(
        crm="salesforce",
        limiter=RateLimiter(1000, 1.0),
        classify=salesforce_classify,
        policy=policy,
    )
    return SalesforceCrm(
        connect=lambda: token_connection(
            instance_url=fake.url, access_token="test-token", version="62.0"
        ),
        caller=caller,
        field_map=CONFIG.fields,
    )


# -- Slack: the workspace the fake Slack Web API plays ---------------------------------------------

SLACK_SECRET = "slack-signing-secret"
CHANNELS = {"icp-a-tier": "C0A", "icp-b-tier": "C0B", "icp-enterprise": "C0E"}
USERS = [
    SlackUser("U0DANA", "dana", "dana.reyes@example.com"),
    SlackUser("U0LEE", "lee", "lee.okafor@example.com"),
    SlackUser("U0SAM", "sam", "sam.patel@example.com"),
    SlackUser("U0ADMIN", "ada", "ada@example.com"),
]


# -- the digest on a real scheduler ----------------------------------------------------------------

NEW_YORK = ZoneInfo("America/New_York")
MONDAY_9 = DigestConfig(NEW_YORK, "0 9 * * mon", ("#sales-leadership",))


def scheduler(database: Database, slack: FakeSlack, config: DigestConfig) -> Scheduler:
    """A scheduler running only the weekly digest, posting to the fake Slack."""
    job = DigestJob(
        database=database,
        client=make_client(token=slack.token, base_url=slack.api_url),
        icp=lambda: CONFIG.icp,
        config=config,
        worker="test",
        clock=lambda: datetime(2026, 11, 23, 14, tzinfo=UTC),
    )
    return Scheduler(database, [job.scheduled()], timezone=config.timezone, retry_leader=0.05)


def running(part: Scheduler) -> Scheduler:
    """The scheduler, started and leading."""
    part.start()
    wait_for(lambda: part.scheduler is not None)
    return part


# -- scores as the views show them: from the shipped ICP, or built by hand -------------------------

VIEWS_NOW = datetime(2026, 10, 15, 12, 0, tzinfo=UTC)

GOOD_FIT: dict[str, object] = {
    "industry": "software",
    "employees": 350,
    "annual_revenue": 20_000_000,
    "country": "US",
    "technologies": ["hubspot", "slack"],
    "sales_motion": "sales-led",
    "has_revops": True,
    "last_funding_at": date(2026, 3, 1),
}


@functools.cache
def shipped_scorer() -> Scorer:
    return Scorer(load_config(ROOT / "config").icp)


def score_of(record: Mapping[str, object], *, ago: timedelta = timedelta(hours=3)) -> AccountScore:
    """The record scored by the shipped ICP, `ago` before VIEWS_NOW."""
    return shipped_scorer().score_account(dict(record), VIEWS_NOW - ago)


def built_score(
    count: int,
    *,
    why: str = "Because.",
    value: object = "x",
    criterion_id: str = "c{index}",
    tier: Tier = Tier.C,
    profile_name: str = "Profile",
) -> AccountScore:
    """An AccountScore with `count` criteria cycling matched, missed, unknown."""
    statuses = (Status.MATCHED, Status.MISSED, Status.UNKNOWN)
    results = []
    for index in range(count):
        status = statuses[index % 3]
        info = CriterionInfo(
            criterion_id.format(index=index),
            f"field_{index}",
            "firmographic",
            10,
            round(100 / max(count, 1), 1),
            f"field_{index} is one of {value}",
            why,
        )
        points = info.max_points if status is Status.MATCHED else 0.0
        results.append(CriterionResult(info, status, points, None if index % 3 == 2 else value))
    criteria = tuple(results)
    profile = ProfileResult("p", profile_name, 42, 0.66, criteria)
    other = ProfileResult("q", f"Other {profile_name}", 12, 0.5, criteria)
    return AccountScore(
        score=42,
        tier=tier,
        profile_id="p",
        profile_name=profile_name,
        coverage=0.66,
        criteria=criteria,
        disqualified_by=(),
        profiles=(profile, other),
        icp_version=3,
        scored_at=VIEWS_NOW - timedelta(minutes=5),
        reasons=tuple(f"+{index} c{index}: {value}" for index in range(5)),
    )


# -- the web app served in a thread ---------------------------------------------------------


class ServerThread:
    """The web app on 127.0.0.1 and a free port, in a thread, as `icpbot serve` runs it.

    The socket is bound before the thread starts, so the port is known and
    nothing else can take it; `with ServerThread(app) as base_url:` returns
    once the server answers, and shuts it down when the block ends.
    """

    def __init__(
        self, app: Starlette, *, timeout: float = 10.0, trusted_proxies: str = "127.0.0.1"
    ) -> None:
        self.timeout = timeout
        self.sock = socket.create_server(("127.0.0.1", 0))
        port: int = self.sock.getsockname()[1]
        self.base_url = f"http://127.0.0.1:{port}"
        config = server_config(app, host="127.0.0.1", port=port, trusted_proxies=trusted_proxies)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self._run, name=f"uvicorn:{port}", daemon=True)

    def _run(self) -> None:
        self.server.run(sockets=[self.sock])

    def __enter__(self) -> str:
        self.thread.start()
        deadline = time.monotonic() + self.timeout
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                self.__exit__()
                raise RuntimeError(f"uvicorn did not start on {self.base_url}")
            time.sleep(0.005)
        return self.base_url

    def __exit__(self, *exc_info: object) -> None:
        self.server.should_exit = True
        if self.thread.is_alive():
            self.thread.join(self.timeout)
        self.sock.close()


# -- Salesforce's Change Data Capture --------------------------------------------------------------


def create_lead(fake: FakeSalesforce, name: str, *, client: str = "webform") -> str:
    """A lead created through the fake's REST API by a caller naming `client`."""
    answer = requests.post(
        f"{fake.url}/services/data/v62.0/sobjects/Lead",
        json={"LastName": name, "Company": "Acme", "Email": f"{name}@acme.com"},
        headers={"Authorization": "Bearer test-token", "Sforce-Call-Options": f"client={client}"},
        timeout=10,
    )
    assert answer.status_code == 201, answer.text
    return str(answer.json()["id"])


def lead_tagged(fake: FakeSalesforce, lead: str) -> bool:
    """Whether icpbot has written the lead's score back to the fake."""
    return fake.row("Lead", lead).get("ICP_Score__c") is not None


def delete(fake: FakeSalesforce, obj: str, id: str) -> None:
    """A record deleted through the fake's REST API: into its recycle bin."""
    answer = requests.delete(
        f"{fake.url}/services/data/v62.0/sobjects/{obj}/{id}",
        headers={"Authorization": "Bearer test-token"},
        timeout=10,
    )
    assert answer.status_code == 204, answer.text


def change_stream(fake: FakeSalesforce, bus: FakePubSub) -> ChangeStream:
    """icpbot's change stream on the fake org's Pub/Sub API, trusting the fake's CA."""
    return ChangeStream(
        session=lambda: StreamSession("test-token", fake.url, TENANT),
        target=bus.target,
        root_certificates=Path(fake.ca_file).read_bytes(),
    )
