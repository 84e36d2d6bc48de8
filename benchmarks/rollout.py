"""The rollout of a new ICP version to 50,000 stored companies, beside live webhooks.

    python benchmarks/rollout.py [--companies 50000] [--limit 190] [--deadline 900]

Target (issue: changing the ICP): against the fake HubSpot at 190 requests
per 10 s, 50,000 stored companies are rolled out at >= 90% of the write
capacity the limit leaves, while a concurrent trickle of new companies (1 a
second) is still tagged p95 <= 2 s after its webhook.

How it runs: the fake HubSpot in a process of its own, seeded with the
companies and limiting to 190 requests per 10 s; `icpbot crm setup hubspot`
and `icpbot backfill --crm hubspot` load them into a SQLite store with the
shipped config (ICP v7; not timed against a target, its time is printed).
Then `icpbot serve` starts with a copy of the config whose icp.yaml is v8
(geography's weight 10 -> 60, checked by `icpbot check`), the sweep off
(ICPBOT_HUBSPOT_SWEEP_SECONDS one day) and the shared limit as shipped. It
begins the rollout of v8 at its start. From the moment it serves, one new
company a second is added to the fake and announced by a signed
`company.creation` webhook; its latency is from the delivery to the fake's
receipt of its `icp_tier` write (the fake's clock; same machine). The
trickle stops when the `rollout` row says `done`.

"Write capacity the limit leaves" is taken to mean API calls: the limit
allows 19 calls a second, so over the rollout (its row's `started_at` to
`finished_at`, both stamped by serve) it allows 19 x duration calls; the
calls the rollout did not make in that time (the trickle's alone, and any
other call serve made) are subtracted, and the rest is what the limit left
to the rollout. The rollout's share is its calls over that. Each 100
records cost the rollout two calls, one batch read and one batch update,
so the records a second it could reach are 100 x (calls it was left) / 2:
950/s with the limit to itself. The worker's live thread takes webhook
events only; its other threads take 100 events at a time, live ones first,
so a trickle company rarely shares a chunk with rollout records: such a
"mixed" call is one live call carrying rollout work. Mixed calls count as the rollout's in the
main figure; the figure with them counted as the trickle's is printed too.
The fake's rolling window lets a burst of 190 calls through at the start,
so a share a little over 100% is possible in principle.

Checked (exit 1 otherwise): the rollout finishes within `--deadline`
seconds, no company appears in more than one batch update while serve runs
(nothing written twice), and every company in the fake ends with
`icp_version` 8. Calls are read from the fake's own record of its requests
(`harness.FakeProcess(journal=True)`), classified by the ids they carry.

The diagnosis that follows the figures: the calls a second against the 19
allowed and against the ceiling `BACKGROUND_SHARE` sets (background calls
stop at 97% of a window, live ones included, while live calls were made
within the last window); the gaps of more than 1 s between calls and how
full the window was before each; the rollout events waiting in the inbox
(the driver keeps up to `AHEAD` queued); the rollout's calls second by
second; and, for each trickle company, how long until the batch read that
carried it, how many calls the fake answered in between, and its place among
that read's inputs.
"""

from __future__ import annotations

import argparse
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import (  # noqa: E402
    ROOT,
    SECRET,
    FakeProcess,
    bot_env,
    cpu_steal,
    creation_event,
    crm_setup,
    icpbot,
    percentile,
    signed_delivery,
    steal_share,
    wait_tagged,
)
from sqlalchemy import Engine  # noqa: E402

from bot.change.rollout import Progress, current  # noqa: E402
from bot.store.db import make_engine  # noqa: E402
from bot.store.ratelimit import BACKGROUND_SHARE  # noqa: E402

WINDOW = 10.0
PAGE = 100  # records per batch read and per batch update
VERSION = 8
SHARE_TARGET = 0.90
LATENCY_TARGET = 2.0
READ = "/crm/v3/objects/companies/batch/read"
UPDATE = "/crm/v3/objects/companies/batch/update"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--companies", type=int, default=50_000)
    parser.add_argument("--limit", type=int, default=190, help="requests per 10 s")
    parser.add_argument("--deadline", type=float, default=900.0, help="seconds, at most")
    args = parser.parse_args()
    fake = FakeProcess(
        "--companies",
        str(args.companies),
        "--rate-limit",
        str(args.limit),
        "--window",
        str(WINDOW),
        journal=True,
    )
    try:
        with tempfile.TemporaryDirectory() as tmp:
            return run(fake, Path(tmp), args.companies, args.limit, args.deadline)
    finally:
        fake.stop()


def run(fake: FakeProcess, tmp: Path, companies: int, limit: int, deadline: float) -> int:
    database = tmp / "bench.db"
    env = bot_env(fake.url, database, ICPBOT_HUBSPOT_RATE_LIMIT=str(limit))
    print(f"fake HubSpot: {companies:,} companies, limit {limit} requests / {WINDOW:.0f} s")
    if not backfill(fake, env, companies):
        return 1
    config = v8_config(tmp / "config", env)
    if config is None:
        return 1
    time.sleep(WINDOW)  # the backfill's calls leave the fake's window and the shared one
    serve_env = {
        **env,
        "ICPBOT_CONFIG_DIR": str(config),
        "ICPBOT_HUBSPOT_SWEEP_SECONDS": "86400",
        "ICPBOT_LOG_LEVEL": "INFO",
    }
    first_request = fake.stats()["requests"]
    steal = cpu_steal()
    log = tmp / "serve.log"
    spawned = time.time()
    server = Server.start(serve_env, log)
    try:
        trickle = Trickle(fake, server.url)
        trickle.start()
        try:
            watch = watch_rollout(make_engine(f"sqlite:///{database}"), spawned, deadline)
        finally:
            trickle.stop()
        tagged = wait_tagged(fake, trickle.ids, limit=30)
        metrics = server.rollout_metrics()
    finally:
        server.stop()
    share = steal_share(steal, cpu_steal())
    journal = fake.requests(first_request)
    versions = fake.values("companies", "icp_version")
    met, sound = report(watch, trickle, tagged, journal, versions, limit, spawned)
    print("  /metrics at the end: " + ("; ".join(metrics) or "(none)"))
    print(f"CPU steal during serve: {share:.0%}")
    if not sound:
        print("serve's log, the end:\n" + log.read_text()[-3000:])
    return 0 if met and sound else 1


# -- before the rollout ------------------------------------------------------------------------


def backfill(fake: FakeProcess, env: dict[str, str], companies: int) -> bool:
    """`icpbot crm setup hubspot` and `icpbot backfill --crm hubspot` with ICP v7."""
    crm_setup(env)
    started = time.perf_counter()
    done = subprocess.run(
        icpbot("backfill", "--crm", "hubspot"),
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    elapsed = time.perf_counter() - started
    tagged = fake.stats()["tagged_companies"]
    print(
        f"backfill under ICP v7 (not timed against a target): {elapsed:.1f} s, "
        f"exit code {done.returncode}, {tagged:,} of {companies:,} tagged"
    )
    if done.returncode != 0 or tagged != companies:
        print(done.stderr[-3000:])
        return False
    return True


def v8_config(target: Path, env: dict[str, str]) -> Path | None:
    """The shipped config, its icp.yaml made v8 with geography weighing 60 instead of 10."""
    shutil.copytree(ROOT / "config", target)
    icp = target / "icp.yaml"
    text = icp.read_text()
    text, versions = re.subn(r"(?m)^version: 7$", f"version: {VERSION}", text)
    text, weights = re.subn(
        r"(- id: geography\n(?:\s+(?!- id:)[^\n]*\n)*?\s+weight: )10\b", r"\g<1>60", text
    )
    if (versions, weights) != (1, 1):
        print(f"icp.yaml is not as expected: {versions} version line(s), {weights} weight(s)")
        return None
    icp.write_text(text)
    check = subprocess.run(
        icpbot("check", "--config-dir", str(target)),
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    verdict = "valid" if check.returncode == 0 else f"INVALID: {check.stdout}{check.stderr}"
    print(f"config: ICP v{VERSION} = v7 with geography's weight 10 -> 60 (icpbot check: {verdict})")
    return target if check.returncode == 0 else None


# -- during the rollout -----------------------------------------------------------------------


class Server:
    """`icpbot serve` in a child process, its log in a file."""

    def __init__(self, proc: subprocess.Popen[bytes], url: str) -> None:
        self.proc = proc
        self.url = url

    @classmethod
    def start(cls, env: dict[str, str], log: Path) -> Server:
        with log.open("wb") as out:
            proc = subprocess.Popen(icpbot("serve"), env=env, stdout=out, stderr=out)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if match := re.search(r"serving on (http://127\.0\.0\.1:\d+)", log.read_text()):
                return cls(proc, match.group(1))
            if proc.poll() is not None:
                break
            time.sleep(0.05)
        proc.kill()
        proc.wait()
        raise RuntimeError("icpbot serve did not start:\n" + log.read_text()[-3000:])

    def rollout_metrics(self) -> list[str]:
        try:
            with urllib.request.urlopen(self.url + "/metrics", timeout=10) as answer:
                text = answer.read().decode()
        except OSError as exc:
            return [f"/metrics unreadable: {exc}"]
        return [line for line in text.splitlines() if line.startswith("icpbot_rollout_records{")]

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


@dataclass
class Trickle:
    """One new company a second, each announced by its own signed webhook delivery."""

    fake: FakeProcess
    url: str
    sent: dict[str, float] = field(default_factory=dict)  # company id → delivered at
    answers: list[float] = field(default_factory=list)  # seconds each delivery took
    failures: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="trickle", daemon=True)

    @property
    def ids(self) -> list[str]:
        return list(self.sent)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(60)

    def _run(self) -> None:
        began = time.monotonic()
        n = 0
        while not self._stop.wait(max(0.0, began + n - time.monotonic())):
            try:
                (company,) = self.fake.post("/_fake/companies", {"count": 1})["ids"]
                event = creation_event(company, 30_000_000 + n)
                request = signed_delivery(self.url + "/webhooks/hubspot", [event], secret=SECRET)
                sent = time.time()
                with urllib.request.urlopen(request, timeout=30) as answer:
                    answer.read()
                self.answers.append(time.time() - sent)
                self.sent[company] = sent
            except OSError as exc:
                self.failures.append(repr(exc))
            n += 1


@dataclass
class Watch:
    """The rollout as `icpbot rollout --status` sees it, looked at once a second."""

    final: Progress | None = None
    seen_done: float | None = None  # wall clock when the row was first seen done
    waiting: list[tuple[float, int]] = field(default_factory=list)  # (at, events waiting)


def watch_rollout(database: Engine, spawned: float, deadline: float) -> Watch:
    watch = Watch()
    while time.time() < spawned + deadline:
        found = current(database, now=datetime.now(UTC))
        if found is not None and found.version == VERSION:
            watch.final = found
            if found.state == "done":
                watch.seen_done = time.time()
                break
            watch.waiting.append((time.time(), found.waiting))
        time.sleep(1.0)
    return watch


# -- the report --------------------------------------------------------------------------------


@dataclass
class Calls:
    """The API calls the fake answered in an interval, by what they carried."""

    rollout_reads: int = 0  # batch reads of stored companies only
    rollout_updates: int = 0
    mixed_reads: int = 0  # a trickle company and stored ones in one call
    mixed_updates: int = 0
    trickle_reads: int = 0  # trickle companies only
    trickle_updates: int = 0
    other: Counter[str] = field(default_factory=Counter)  # any other call, by path
    limited: int = 0  # answered 429
    written: set[str] = field(default_factory=set)  # stored companies in a batch update
    rollout_at: list[float] = field(default_factory=list)  # arrivals of calls with rollout work
    every_at: list[float] = field(default_factory=list)  # arrivals of every admitted call

    @property
    def rollout(self) -> int:
        return self.rollout_reads + self.rollout_updates + self.mixed_reads + self.mixed_updates

    @property
    def mixed(self) -> int:
        return self.mixed_reads + self.mixed_updates

    @property
    def trickle(self) -> int:
        return self.trickle_reads + self.trickle_updates

    @property
    def others(self) -> int:
        return sum(self.other.values())


def classify(journal: list[dict], trickle: set[str], start: float, end: float) -> Calls:
    calls = Calls()
    for request in journal:
        if not start <= request["at"] <= end:
            continue
        if request["status"] == 429:
            calls.limited += 1
            continue
        calls.every_at.append(request["at"])
        kind = {READ: "reads", UPDATE: "updates"}.get(request["path"])
        if request["method"] != "POST" or kind is None:
            calls.other[f"{request['method']} {request['path']}"] += 1
            continue
        ids = set(request["ids"])
        new, stored = ids & trickle, ids - trickle
        group = "mixed" if new and stored else "trickle" if new else "rollout"
        name = f"{group}_{kind}"
        setattr(calls, name, getattr(calls, name) + 1)
        if stored:
            calls.rollout_at.append(request["at"])
            if kind == "updates":
                calls.written |= stored
    return calls


def report(
    watch: Watch,
    trickle: Trickle,
    tagged: dict[str, float],
    journal: list[dict],
    versions: dict[str, int],
    limit: int,
    spawned: float,
) -> tuple[bool, bool]:
    """Print the figures; (both targets met, the rollout finished and the checks hold)."""
    final = watch.final
    if final is None or final.state != "done" or final.finished_at is None:
        print(f"the rollout of ICP v{VERSION} did not finish in time: {final}")
        return False, False
    start, end = final.started_at.timestamp(), final.finished_at.timestamp()
    duration = end - start
    rate = limit / WINDOW
    calls = classify(journal, set(trickle.sent), start, end)
    print(f"rollout of ICP v{VERSION} beside a trickle of one new company a second:")
    print(
        f"  {final.total:,} records, done {final.done:,}, parked {final.parked}; "
        f"started -> done {duration:.1f} s by its row (serve spawned -> done seen "
        f"{(watch.seen_done or end) - spawned:.1f} s; serve began it "
        f"{start - spawned:.1f} s after it was spawned)"
    )
    print(
        f"  calls the fake answered in those {duration:.1f} s: rollout batch reads "
        f"{calls.rollout_reads}, updates {calls.rollout_updates}; mixed (a trickle company "
        f"among rollout records) reads {calls.mixed_reads}, updates {calls.mixed_updates}; "
        f"trickle only reads {calls.trickle_reads}, updates {calls.trickle_updates}; "
        f"other {calls.others} {dict(calls.other)}; rate-limited (429) {calls.limited}"
    )
    allowed = rate * duration
    left = allowed - calls.trickle - calls.others
    share = calls.rollout / left if left > 0 else 0.0
    print(
        f"  capacity the limit left to the rollout: {rate:.0f} calls/s x {duration:.1f} s "
        f"= {allowed:,.0f} calls, less {calls.trickle} trickle-only and {calls.others} other "
        f"calls = {left:,.0f} calls"
    )
    print(
        f"  the rollout used {calls.rollout:,} calls (mixed ones included): share "
        f"{share:.1%} (ratio to the 90% target: {share / SHARE_TARGET:.2f})"
    )
    left_live = left - calls.mixed
    alt = (calls.rollout - calls.mixed) / left_live if left_live > 0 else 0.0
    print(
        f"  with mixed calls counted as the trickle's (live calls to the limiter): "
        f"{calls.rollout - calls.mixed:,} of {left_live:,.0f} = {alt:.1%} "
        f"(ratio to 90%: {alt / SHARE_TARGET:.2f})"
    )
    per_second = len(calls.written) / duration
    ceiling = rate / 2 * PAGE
    beside = left / duration / 2 * PAGE
    print(
        f"  written records {len(calls.written):,} in {duration:.1f} s = {per_second:,.0f}/s; "
        f"in theory {ceiling:,.0f}/s with the limit to itself (ratio {per_second / ceiling:.2f}), "
        f"{beside:,.0f}/s in the capacity left (ratio {per_second / beside:.2f})"
    )
    capped = int(limit * BACKGROUND_SHARE) / WINDOW
    print(
        f"  the ceiling BACKGROUND_SHARE sets while live calls were made within the last "
        f"{WINDOW:.0f} s ({int(limit * BACKGROUND_SHARE)} calls a window, live ones included): "
        f"{capped:.1f} calls/s = {capped / 2 * PAGE:,.0f} records/s; the rollout reached "
        f"{calls.rollout / duration:.1f} calls/s (ratio {calls.rollout / duration / capped:.2f})"
    )
    latency_ok = trickle_report(trickle, tagged)
    checks_ok = checks(journal, versions, final.total, len(trickle.sent))
    diagnose(calls, watch, limit, start, end)
    trickle_diagnosis(journal, trickle, tagged)
    return share >= SHARE_TARGET and latency_ok, checks_ok


def trickle_report(trickle: Trickle, tagged: dict[str, float]) -> bool:
    latencies = [tagged[c] - sent for c, sent in trickle.sent.items() if c in tagged]
    count = len(trickle.sent)
    print(
        f"  trickle: {count} new companies delivered ({len(trickle.failures)} deliveries "
        f"failed), {len(latencies)} tagged in HubSpot; deliveries answered median "
        f"{percentile(trickle.answers, 0.5) * 1000:.0f} ms"
        if trickle.answers
        else f"  trickle: nothing delivered; failures {trickle.failures[:3]}"
    )
    if not latencies:
        return False
    p95 = percentile(latencies, 0.95)
    print(
        f"  trickle delivery -> tagged: median {percentile(latencies, 0.5):.3f} s, "
        f"p95 {p95:.3f} s, max {max(latencies):.3f} s (ratio to 2 s: {p95 / LATENCY_TARGET:.2f})"
    )
    return len(latencies) == count and not trickle.failures and p95 <= LATENCY_TARGET


def checks(journal: list[dict], versions: dict[str, int], total: int, new: int) -> bool:
    """Nothing written twice while serve ran; every company holds icp_version 8."""
    updates = Counter(
        i
        for r in journal
        if r["path"] == UPDATE and r["method"] == "POST" and r["status"] in (200, 207)
        for i in r["ids"]
    )
    twice = {i: n for i, n in updates.items() if n > 1}
    companies = sum(versions.values())
    at_version = versions.get(str(VERSION), 0)
    print(
        f"  companies in a batch update while serve ran: {len(updates):,} "
        f"(stored {total:,} + new {new}); written more than once: {len(twice)}"
        + (f" e.g. {dict(list(twice.items())[:5])}" if twice else "")
    )
    print(
        f"  companies in the fake with icp_version {VERSION}: {at_version:,} of {companies:,}"
        + ("" if at_version == companies else f"; values: {versions}")
    )
    return not twice and at_version == companies


def diagnose(calls: Calls, watch: Watch, limit: int, start: float, end: float) -> None:
    """Where the rollout's time went: its pace, the gaps between its calls, its queue."""
    duration = end - start
    background = int(limit * BACKGROUND_SHARE)
    busiest = _most_in_window(calls.every_at)
    busiest_rollout = _most_in_window(calls.rollout_at)
    print("diagnosis:")
    print(
        f"  calls a second: all {len(calls.every_at) / duration:.1f}, the rollout's "
        f"{calls.rollout / duration:.1f}, of {limit / WINDOW:.0f} allowed; most in any "
        f"rolling {WINDOW:.0f} s: all {busiest}, the rollout's {busiest_rollout} (background "
        f"calls stop at {background} in a window, live ones included, while live calls were "
        f"made within the window)"
    )
    gaps = sorted(
        (b - a, a - start) for a, b in zip(calls.every_at, calls.every_at[1:], strict=False)
    )
    long = [g for g in gaps if g[0] > 1.0]
    first = calls.every_at[0] - start if calls.every_at else duration
    last = end - calls.every_at[-1] if calls.every_at else duration
    print(
        f"  gaps between consecutive calls: median {statistics.median(g for g, _ in gaps):.3f} s;"
        f" {len(long)} over 1 s totalling {sum(g for g, _ in long):.1f} s"
        + (f" (longest {long[-1][0]:.1f} s at +{long[-1][1]:.1f} s)" if long else "")
        + f"; first call +{first:.1f} s after the start, last {last:.1f} s before done"
    )
    if watch.waiting:
        counts = [n for _, n in watch.waiting]
        empty = sum(1 for n in counts if n == 0)
        print(
            f"  rollout events waiting in the inbox (looked at once a second, "
            f"{len(counts)} looks): min {min(counts)}, median {statistics.median(counts):.0f}, "
            f"max {max(counts)}; none waiting at {empty} looks"
        )
    for size, at in long:
        gap_start = start + at
        full = sum(1 for t in calls.every_at if gap_start - WINDOW < t <= gap_start)
        print(
            f"    gap of {size:.1f} s at +{at:.1f} s: {full} calls in the {WINDOW:.0f} s before it"
        )
    seconds = Counter(int(at - start) for at in calls.rollout_at)
    pace = [seconds.get(s, 0) for s in range(int(duration) + 1)]
    print("  the rollout's calls per second, by second: " + " ".join(map(str, pace)))


def trickle_diagnosis(journal: list[dict], trickle: Trickle, tagged: dict[str, float]) -> None:
    """For each trickle company: how long until the batch read carrying it, how many calls
    were made in between, where it stood among the read's inputs, and read -> tagged."""
    admitted = [r for r in journal if r["status"] != 429]
    rows = []
    for company, sent in trickle.sent.items():
        read = next(
            (r for r in admitted if r["path"] == READ and company in r["ids"]),
            None,
        )
        if read is None or company not in tagged:
            continue
        arrivals = [sent, *(r["at"] for r in admitted if sent < r["at"] < read["at"]), read["at"]]
        silence = max(b - a for a, b in zip(arrivals, arrivals[1:], strict=False))
        position = read["ids"].index(company) + 1
        rows.append(
            (
                tagged[company] - sent,
                read["at"] - sent,
                len(arrivals) - 2,
                position,
                len(read["ids"]),
                silence,
            )
        )
    if not rows:
        return
    rows.sort()
    waits = [r[1] for r in rows]
    print(
        f"  trickle, delivery -> the batch read carrying it: median "
        f"{percentile(waits, 0.5):.3f} s, p95 {percentile(waits, 0.95):.3f} s; calls to "
        f"the fake in between: median {percentile([r[2] for r in rows], 0.5)}, max "
        f"{max(r[2] for r in rows)}; its place among the read's inputs: "
        + ", ".join(f"{n}" for n, _ in Counter(f"{r[3]}/{r[4]}" for r in rows).most_common(4))
    )
    slow = [r for r in rows if r[0] > LATENCY_TARGET]
    print(
        f"  trickle companies over {LATENCY_TARGET:.0f} s: {len(slow)} of {len(rows)}"
        + "".join(
            f"; {latency:.2f} s (read after {wait:.2f} s, {between} calls before it, "
            f"the fake silent for {silence:.1f} s of that)"
            for latency, wait, between, _, _, silence in slow
        )
    )


def _most_in_window(times: list[float]) -> int:
    most, first = 0, 0
    for last, at in enumerate(times):
        while times[first] <= at - WINDOW:
            first += 1
        most = max(most, last - first + 1)
    return most


if __name__ == "__main__":
    sys.exit(main())
