"""Salesforce Change Data Capture end to end: `serve` against the fake org and its Pub/Sub API.

    python benchmarks/salesforce_latency.py [--leads 200] [--every 1.0] [--burst 5000]
        [--idle 60] [--scale 100] [--latency 0.05] [--runs 2]

Targets (the issue's):
- speed to tag: a lead created through the REST API (a web form) carries
  its ICP score in Salesforce p95 <= 2 s after the create call returned;
- a burst of 5,000 new leads: all tagged within 60 s of the last creation;
- with nothing changing, Change Data Capture (the poll kept as a safety net,
  every ICPBOT_SALESFORCE_SAFETY_POLL_SECONDS as shipped) costs at least 10x
  fewer REST API requests an hour than the poll alone (every 60 s).

How it runs: the fake Salesforce (TLS REST, answering every call after
`--latency` seconds, the 50 ms salesforce_backfill.py also uses for a REST
round trip) and its Pub/Sub API (gRPC) in this process, and `serve` built
in-process as tests/bot/test_serve_cdc.py builds it (`build_service` and
`start`, no web port: nothing here comes in over HTTP) on a SQLite file in
a temporary directory, with the shipped config and retry policy. A fresh
org and service for every measurement and run; the service has subscribed
before anything is created, as a running one has. "Tagged" is the moment
the fake commits icpbot's write of `ICP_Score__c` on the lead (its
`listen` hook, timestamped on the spot), measured from the return of the
create call (speed) or the last creation (burst). All three share the one
interpreter, the fakes included, so the figures carry the fakes' own work.

The idle measurement scales time down by `--scale`: the poll's 60 s and
the safety poll's, and the fake's latency, are divided by it; each
mode runs `--idle` seconds of wall time (60 s at 100x: 100 minutes). Every
REST request the fake received in that window is shown, by path. The hour
quoted is the requests of a poll round interval (first round's start to
the last's, whatever was asked in between) times the rounds an hour at the
real pace: a round's own work is not scaled down, so at 100x the poll-only
rounds come 5-10% later than asked (0.6 s), and a window's edges add or
drop a whole safety round (a tenth of the CDC count); the window's count
extrapolated plainly is printed beside it. Pub/Sub API calls are counted
apart: they are not REST requests (see PUBSUB below).

Each measurement runs `--runs` times (default 2, about 12 minutes in all)
and the slower run is quoted (the upper median, as benchmarks/engines.py
does). Exits non-zero when a target is missed or a lead was never tagged.
"""

from __future__ import annotations

import argparse
import logging
import os
import random
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import ROOT, cpu_steal, percentile, steal_said, steal_share  # noqa: E402

from bot.config import Config, load_config  # noqa: E402
from bot.service import NO_SLACK, Service, build_service  # noqa: E402
from bot.settings import Settings  # noqa: E402
from bot.sync.cdc import ChangeListener  # noqa: E402
from bot.sync.sweep import Sweeper  # noqa: E402
from integrations.salesforce import CLIENT_NAME  # noqa: E402
from tests.fakes.salesforce import SHIPPED_CUSTOM, Change, FakeSalesforce  # noqa: E402
from tests.fakes.salesforce_pubsub import FakePubSub  # noqa: E402

# Seconds: the poll, and the shipped safety poll under Change Data Capture.
POLL = 60.0
SAFETY = float(Settings.model_fields["salesforce_safety_poll_seconds"].default)
SPEED_P95, BURST_WITHIN, FEWER = 2.0, 60.0, 10.0  # the targets
SETTLE = 60.0  # longest wait for the service to subscribe, or for a lead to be tagged
TOKEN = "bench-token"
SELECTED = ("Lead", "Account", "Opportunity")  # as `icpbot crm setup salesforce` leaves the org
ROUND = "queryAll Account"  # the first request of every poll round: what changed since
LEAD_URL = "/services/data/v62.0/sobjects/Lead"
# PUBSUB: Pub/Sub API (gRPC) calls are not REST API requests. Salesforce states the Pub/Sub API's
# allocations in events, not in calls: at most 100 events requested at a time per Subscribe,
# and change events delivered per 24 hours under the Change Data Capture event delivery
# allocation (developer.salesforce.com/docs/platform/pub-sub-api/guide/allocations.html;
# .../salesforce-app-limits-cheatsheet/guide/platform-event-allocations.html). The org's
# DailyApiRequests (REST and SOAP calls) is what the poll spends, so the two are counted apart.

COMPANIES = (
    ("Northwind Analytics", "northwind.io", "Software", 320, "United States"),
    ("Brightpath Learning", "brightpath.edu", "Education", 1200, "United States"),
    ("Kestrel Payments", "kestrelpay.com", "Financial Services", 450, "United Kingdom"),
    ("Lumen Health", "lumenhealth.com", "Healthcare", 2600, "United States"),
    ("Orbital Retail", "orbitalretail.de", "Retail", 90, "Germany"),
    ("Quarry Labs", "quarrylabs.ai", "Internet", 240, "Canada"),
    ("Maple & Co Marketing", "maplemarketing.ca", "Marketing Agency", 35, "Canada"),
    ("Helios Grid", "heliosgrid.com", "Energy", 5400, "France"),
    ("Tidewater County", "tidewatercounty.gov", "Government", 800, "United States"),
    ("Fathom Cloud", "fathomcloud.com", "SaaS", 610, "United States"),
    ("Piccolo Studio", "piccolo.studio", "Consulting", 12, "Australia"),
    ("Vantage Robotics", "vantagerobotics.in", "Computer Software", 150, "India"),
)
TITLES = (
    "VP Sales",
    "Head of Revenue Operations",
    "Sales Operations Manager",
    "Account Executive",
    "Marketing Intern",
    "Chief Revenue Officer",
    "Director of Growth",
    "Software Engineer",
    "Executive Assistant",
    "Founder",
)
FIRST = ("Ana", "Ben", "Chen", "Dara", "Eli", "Fatima", "Goran", "Hana", "Ivo", "Jun", "Kemi")
LAST = ("Ng", "Okafor", "Silva", "Meyer", "Kowalski", "Tanaka", "Haddad", "Lindqvist", "Rossi")


def lead(rng: random.Random, n: int) -> dict[str, Any]:
    """A plausible lead: a person at one of a dozen kinds of company, sizes varied."""
    company, domain, industry, employees, country = rng.choice(COMPANIES)
    first, last = rng.choice(FIRST), rng.choice(LAST)
    size = max(1, round(employees * rng.uniform(0.7, 1.3)))
    return {
        "FirstName": first,
        "LastName": f"{last}-{n}",
        "Company": company,
        "Email": f"{first.lower()}.{last.lower()}{n}@{domain}",
        "Website": f"https://www.{domain}",
        "Title": rng.choice(TITLES),
        "Industry": industry,
        "NumberOfEmployees": size,
        "AnnualRevenue": float(size * rng.choice((60_000, 120_000, 200_000))),
        "Country": country,
        "LeadSource": rng.choice(("Web", "Webinar", "Partner Referral", "Trade Show")),
    }


class Tags:
    """When icpbot's write of the score reached each lead, by the fake's commit (monotonic).
    Called under the fake's lock: it only records."""

    def __init__(self) -> None:
        self.at: dict[str, float] = {}

    def __call__(self, change: Change) -> None:
        if (
            change.obj == "Lead"
            and change.kind == "UPDATE"
            and change.client == CLIENT_NAME
            and "ICP_Score__c" in change.fields
        ):
            self.at.setdefault(change.id, time.monotonic())


def wait_until(check: Callable[[], bool], limit: float) -> bool:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.01)
    return check()


@dataclass(frozen=True, slots=True)
class Running:
    org: FakeSalesforce
    pubsub: FakePubSub
    service: Service
    poll: Sweeper
    tags: Tags


@contextmanager
def running(
    config: Config, *, latency: float, poll: float, safety: float, cdc: bool
) -> Iterator[Running]:
    """A fresh fake org, its Pub/Sub API and `serve` on a new SQLite file, for the block."""
    with (
        tempfile.TemporaryDirectory(prefix="icpbot-bench-") as tmp,
        FakeSalesforce(
            token=TOKEN, latency=latency, custom_fields=SHIPPED_CUSTOM, cdc_selected=SELECTED
        ) as org,
        FakePubSub(org) as pubsub,
    ):
        os.environ["REQUESTS_CA_BUNDLE"] = org.ca_file  # simple-salesforce's requests read it
        tags = Tags()
        org.listen(tags)
        values: dict[str, object] = {
            "ICPBOT_DATABASE_URL": f"sqlite:///{Path(tmp) / 'icpbot.db'}",
            "SALESFORCE_INSTANCE_URL": org.url,
            "SALESFORCE_ACCESS_TOKEN": TOKEN,
            "SALESFORCE_PUBSUB_TARGET": pubsub.target,
            "REQUESTS_CA_BUNDLE": org.ca_file,
            "ICPBOT_SALESFORCE_POLL_SECONDS": poll,
            "ICPBOT_SALESFORCE_SAFETY_POLL_SECONDS": safety,
            "ICPBOT_SALESFORCE_CDC": cdc,
        }
        settings = Settings(_env_file=None, **values)  # type: ignore[arg-type]
        service = build_service(settings, config)
        sweeper = next(p for p in service.background if isinstance(p, Sweeper))
        service.start()
        try:
            yield Running(org, pubsub, service, sweeper, tags)
        finally:
            service.stop()
            service.database.dispose()


def covered(run: Running, safety: float) -> None:
    """Wait until the service listens and its poll has slowed to the safety pace."""
    if not wait_until(lambda: run.pubsub.subscriptions >= 1 and run.poll.pace() == safety, SETTLE):
        raise RuntimeError(f"serve did not subscribe to the change stream within {SETTLE:.0f} s")


# -- 1. speed to tag ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Speed:
    latencies: list[float]
    created: int

    @property
    def p95(self) -> float:
        missing = self.created - len(self.latencies)
        return float("inf") if missing else percentile(self.latencies, 0.95)

    def said(self) -> str:
        if not self.latencies:
            return f"none of {self.created} tagged"
        return (
            f"p50 {percentile(self.latencies, 0.5):.3f} s, p95 {self.p95:.3f} s, "
            f"max {max(self.latencies):.3f} s; tagged {len(self.latencies)} of {self.created}"
        )


def speed_to_tag(config: Config, *, leads: int, every: float, latency: float) -> Speed:
    rng = random.Random(1)
    with running(config, latency=latency, poll=POLL, safety=SAFETY, cdc=True) as run:
        covered(run, SAFETY)
        returned: dict[str, float] = {}
        form = requests.Session()
        form.verify = run.org.ca_file
        form.headers.update(
            {"Authorization": f"Bearer {TOKEN}", "Sforce-Call-Options": "client=webform"}
        )
        started = time.monotonic()
        for n in range(leads):
            time.sleep(max(0.0, started + n * every - time.monotonic()))
            answer = form.post(run.org.url + LEAD_URL, json=lead(rng, n), timeout=30)
            done = time.monotonic()
            if answer.status_code != 201:
                raise RuntimeError(f"creating a lead answered {answer.status_code}: {answer.text}")
            returned[str(answer.json()["id"])] = done
        form.close()
        wait_until(lambda: returned.keys() <= run.tags.at.keys(), SETTLE)
        tagged = dict(run.tags.at)
    return Speed([tagged[i] - t for i, t in returned.items() if i in tagged], leads)


# -- 2. a burst ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Burst:
    created: int
    creating: float  # seconds the creations took
    tagged: int  # distinct leads of the burst icpbot wrote the score on
    behind: float  # the last tag, seconds after the last creation

    def said(self) -> str:
        return (
            f"created in {self.creating:.2f} s; {self.tagged:,} of {self.created:,} distinct "
            f"leads tagged; the last {self.behind:.1f} s after the last creation"
        )


def burst(config: Config, *, count: int, latency: float) -> Burst:
    rng = random.Random(2)
    values = [lead(rng, n) for n in range(count)]
    with running(config, latency=latency, poll=POLL, safety=SAFETY, cdc=True) as run:
        covered(run, SAFETY)
        started = time.monotonic()
        ids = [run.org.add("Lead", v) for v in values]
        last = time.monotonic()
        wanted = set(ids)
        wait_until(lambda: wanted <= run.tags.at.keys(), SETTLE * 2)
        tagged = {i: t for i, t in run.tags.at.items() if i in wanted}
    behind = max(tagged.values()) - last if len(tagged) == count else float("inf")
    return Burst(count, last - started, len(tagged), behind)


# -- 3. API requests with nothing changing -------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Idle:
    """REST requests of an idle `serve` in a window of wall time, and its poll's rounds."""

    cdc: bool
    window: float  # wall seconds counted
    scale: float
    pace: float  # the poll's seconds between rounds at real time: 60, or SAFETY under CDC
    startup: Counter[str]  # REST requests before the window, by path
    counted: Counter[str]  # REST requests in the window, by path (queries by object)
    rounds: list[float]  # when each poll round in the window began (its Account query)
    between: int  # REST requests from the first round's start to the last's
    subscriptions: int  # Pub/Sub Subscribe calls opened, in all
    listener: bool  # whether serve built a change listener at all

    @property
    def plainly(self) -> float:
        """An hour extrapolated from the window's count and its scaled length."""
        return sum(self.counted.values()) * 3600 / (self.window * self.scale)

    @property
    def per_round(self) -> float:
        """REST requests a round interval, all of them (the poll's and any other)."""
        return self.between / (len(self.rounds) - 1) if len(self.rounds) > 1 else float("nan")

    @property
    def per_hour(self) -> float:
        """An hour at the real pace: a round interval's requests, 3,600 / pace times."""
        return self.per_round * 3600 / self.pace

    def said(self) -> str:
        paths = ", ".join(f"{p} {n}" for p, n in sorted(self.counted.items()))
        every = (self.rounds[-1] - self.rounds[0]) / max(1, len(self.rounds) - 1)
        return (
            f"{sum(self.counted.values())} REST requests in {self.window:.0f} s "
            f"({self.window * self.scale / 60:.0f} scaled minutes) [{paths or 'none'}]; "
            f"before the window {sum(self.startup.values())}; "
            f"Pub/Sub (gRPC) Subscribe calls {self.subscriptions}\n"
            f"    {len(self.rounds)} poll rounds, one every {every:.3f} s "
            f"({self.pace / self.scale:g} s asked), {self.per_round:.2f} requests a round "
            f"-> {self.per_hour:,.0f} an hour at the real {self.pace:.0f} s pace "
            f"(the window's count extrapolated plainly: {self.plainly:,.0f} an hour)"
        )


def idle(config: Config, *, cdc: bool, window: float, scale: float, latency: float) -> Idle:
    pace = SAFETY if cdc else POLL
    with running(
        config, latency=latency / scale, poll=POLL / scale, safety=SAFETY / scale, cdc=cdc
    ) as run:
        listener = any(isinstance(p, ChangeListener) for p in run.service.background)
        if cdc:
            covered(run, SAFETY / scale)
        start = time.monotonic()
        time.sleep(window)
        end = time.monotonic()
        calls = run.org.requests()
        subscriptions = run.pubsub.subscriptions
    if not cdc and (listener or subscriptions):
        raise RuntimeError("ICPBOT_SALESFORCE_CDC=false, yet serve listened to the change stream")
    inside = [r for r in calls if start <= r.at < end]
    rounds = [r.at for r in inside if _where(r) == ROUND]
    between = sum(1 for r in inside if rounds and rounds[0] <= r.at < rounds[-1])
    return Idle(
        cdc=cdc,
        window=end - start,
        scale=scale,
        pace=pace,
        startup=Counter(_where(r) for r in calls if r.at < start),
        counted=Counter(_where(r) for r in inside),
        rounds=rounds,
        between=between,
        subscriptions=subscriptions,
        listener=listener,
    )


def _where(request: Any) -> str:
    """A request's path without the API prefix; a query with the object it reads."""
    path = str(request.path).removeprefix("/services/data/v62.0/").rstrip("/")
    text = request.soql or ""
    if path in ("query", "queryAll") and " FROM " in text.upper():
        return f"{path} {text.upper().split(' FROM ', 1)[1].split()[0].title()}"
    return f"{request.method} {path}"


# -- the report ----------------------------------------------------------------------------------


def slower(values: list[Any], key: Callable[[Any], float]) -> Any:
    """The run quoted: the upper median (of two, the slower)."""
    return sorted(values, key=key)[len(values) // 2]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--leads", type=int, default=200)
    parser.add_argument("--every", type=float, default=1.0, help="seconds between leads")
    parser.add_argument("--burst", type=int, default=5_000)
    parser.add_argument("--idle", type=float, default=60.0, help="wall seconds per idle mode")
    parser.add_argument("--scale", type=float, default=100.0, help="idle time scaled down by")
    parser.add_argument("--latency", type=float, default=0.05, help="fake's seconds per call")
    parser.add_argument("--runs", type=int, default=2)
    args = parser.parse_args()
    for name in list(os.environ):  # this process's settings are the ones given below alone
        if name.startswith(("HUBSPOT_", "SLACK_", "SALESFORCE_", "ICPBOT_")):
            del os.environ[name]
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger().handlers[0].addFilter(lambda record: record.getMessage() != NO_SLACK)
    config = load_config(ROOT / "config", today=date.today())
    runs = range(1, max(1, args.runs) + 1)
    steal = cpu_steal()
    print(f"load average at the start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")

    print(
        f"speed to tag: {args.leads} leads created through the REST API (client=webform), "
        f"one every {args.every:g} s; the fake answers every call after "
        f"{args.latency * 1000:.0f} ms; poll {POLL:.0f} s, safety poll {SAFETY:.0f} s"
    )
    speeds = []
    for n in runs:
        speeds.append(
            speed_to_tag(config, leads=args.leads, every=args.every, latency=args.latency)
        )
        print(f"  run {n}: {speeds[-1].said()}")
    speed = slower(speeds, lambda s: s.p95)
    print(f"  quoted, the slower: {speed.said()} (p95 ratio to {SPEED_P95:.0f} s: ", end="")
    print(f"{speed.p95 / SPEED_P95:.2f})")

    print(
        f"burst: {args.burst:,} leads created in one go in-process (FakeSalesforce.add: a "
        "CREATE change event each, as a UI import makes; no REST call)"
    )
    bursts = []
    for n in runs:
        bursts.append(burst(config, count=args.burst, latency=args.latency))
        print(f"  run {n}: {bursts[-1].said()}")
    worst = slower(bursts, lambda b: b.behind)
    print(
        f"  quoted, the slower: all tagged {worst.behind:.1f} s after the last creation "
        f"(ratio to {BURST_WITHIN:.0f} s: {worst.behind / BURST_WITHIN:.2f}); "
        f"{worst.tagged:,} of {worst.created:,} tagged"
    )

    print(
        f"idle, nothing changing: time scaled down {args.scale:g}x (poll {POLL:.0f} s -> "
        f"{POLL / args.scale:g} s, safety poll {SAFETY:.0f} s -> {SAFETY / args.scale:g} s, "
        f"fake latency {args.latency / args.scale * 1000:g} ms), {args.idle:g} s of wall time "
        "per mode; REST requests extrapolated to an hour of real time"
    )
    ratios = []
    for n in runs:
        alone = idle(config, cdc=False, window=args.idle, scale=args.scale, latency=args.latency)
        heard = idle(config, cdc=True, window=args.idle, scale=args.scale, latency=args.latency)
        print(f"  run {n}, poll only (ICPBOT_SALESFORCE_CDC=false, no listener): {alone.said()}")
        print(f"  run {n}, CDC with the safety poll: {heard.said()}")
        ratio = alone.per_hour / heard.per_hour if heard.per_hour else float("inf")
        ratios.append(ratio)
        print(
            f"  run {n}: CDC makes {ratio:.1f}x fewer REST requests an hour "
            f"(from the windows' counts plainly: {alone.plainly / heard.plainly:.1f}x)"
        )
    fewer = slower(ratios, lambda r: -r)
    print(
        f"  quoted, the worse: {fewer:.1f}x fewer (target at least {FEWER:.0f}x; "
        f"ratio to target {fewer / FEWER:.2f}, at 1.00 or more it is met)"
    )
    print(f"load average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(steal_said(steal_share(steal, cpu_steal())))
    met = speed.p95 <= SPEED_P95 and worst.behind <= BURST_WITHIN and fewer >= FEWER
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
