"""HubSpot webhooks end to end: `icpbot serve` against the fake HubSpot.

    python benchmarks/webhook_burst.py [--singles 40] [--burst 5000] [--deliveries 50]

Targets (issue: HubSpot):
- a single new company is tagged in HubSpot p95 <= 2 s after its webhook
  is delivered;
- a burst of 5,000 `company.creation` events in 50 deliveries: every
  delivery answered p99 <= 100 ms (issue: lists at scale and the hot paths;
  200 ms before), and all 5,000 tagged within 15 s of the last delivery.

`icpbot serve` runs in its own process on SQLite, as shipped. Deliveries
are real signed v3 requests, sent 10 at a time (HubSpot's default
concurrency per app). "Tagged" is when the fake HubSpot received the
write of `icp_tier`, by its clock (same machine).
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import (  # noqa: E402
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

CONCURRENCY = 10
DEADLINE = 120.0  # no wait in this script lasts longer
ACK_P99 = 0.1  # seconds: a delivery answered this fast, p99, in the burst


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--singles", type=int, default=40)
    parser.add_argument("--burst", type=int, default=5_000)
    parser.add_argument("--deliveries", type=int, default=50)
    args = parser.parse_args()
    fake = FakeProcess("--companies", "0")
    try:
        with tempfile.TemporaryDirectory() as tmp:
            server = start_server(fake, Path(tmp) / "bench.db")
            try:
                steal = cpu_steal()
                ok = singles(fake, server.url, args.singles)
                ok = burst(fake, server.url, args.burst, args.deliveries) and ok
                print(f"CPU steal during the run: {steal_share(steal, cpu_steal()):.0%}")
            finally:
                server.stop()
    finally:
        fake.stop()
    return 0 if ok else 1


class Server:
    def __init__(self, proc: subprocess.Popen[str], url: str) -> None:
        self.proc = proc
        self.url = url

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def start_server(fake: FakeProcess, database: Path) -> Server:
    env = bot_env(fake.url, database, ICPBOT_LOG_LEVEL="WARNING")
    crm_setup(env)
    proc = subprocess.Popen(
        icpbot("serve"), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    assert proc.stderr is not None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if match := re.search(r"serving on (http://127\.0\.0\.1:\d+)", line):
            # keep draining stderr so the server never blocks on a full pipe
            subprocess.Popen(["cat"], stdin=proc.stderr, stdout=subprocess.DEVNULL)
            return Server(proc, match.group(1) + "/webhooks/hubspot")
        if not line and proc.poll() is not None:
            break
    proc.kill()
    raise RuntimeError("icpbot serve did not start")


def deliver(url: str, events: list[dict]) -> float:
    """Send one delivery; seconds until its answer (which must be 200)."""
    started = time.perf_counter()
    with urllib.request.urlopen(signed_delivery(url, events, secret=SECRET), timeout=30) as answer:
        answer.read()
        if answer.status != 200:
            raise RuntimeError(f"delivery answered {answer.status}")
    return time.perf_counter() - started


def singles(fake: FakeProcess, url: str, count: int) -> bool:
    """One new company at a time: delivery to tagged, p95."""
    latencies = []
    for n in range(count):
        (company,) = fake.post("/_fake/companies", {"count": 1})["ids"]
        sent = time.time()
        deliver(url, [creation_event(company, 10_000_000 + n)])
        tagged = wait_tagged(fake, [company], limit=10)
        if company in tagged:
            latencies.append(tagged[company] - sent)
        time.sleep(0.2)
    p95 = percentile(latencies, 0.95) if latencies else float("inf")
    print(f"single company, delivery → tagged in HubSpot ({len(latencies)} of {count} tagged):")
    print(
        f"  median {percentile(latencies, 0.5):.3f} s, p95 {p95:.3f} s "
        f"(ratio to 2 s: {p95 / 2:.2f})"
    )
    return len(latencies) == count and p95 <= 2.0


def burst(fake: FakeProcess, url: str, events: int, deliveries: int) -> bool:
    ids = fake.post("/_fake/companies", {"count": events})["ids"]
    size = events // deliveries
    batches = [ids[i : i + size] for i in range(0, len(ids), size)]
    payloads = [
        [creation_event(c, 20_000_000 + b * size + n) for n, c in enumerate(batch)]
        for b, batch in enumerate(batches)
    ]
    with ThreadPoolExecutor(CONCURRENCY) as pool:
        answers = list(pool.map(lambda p: deliver(url, p), payloads))
    last_delivered = time.time()
    tagged = wait_tagged(fake, ids, limit=DEADLINE)
    p99 = percentile(answers, 0.99)
    behind = max(tagged.values()) - last_delivered if len(tagged) == len(ids) else float("inf")
    print(f"burst of {events:,} company.creation events in {len(payloads)} deliveries:")
    print(
        f"  answers median {percentile(answers, 0.5) * 1000:.0f} ms, "
        f"p99 {p99 * 1000:.0f} ms, max {max(answers) * 1000:.0f} ms "
        f"(ratio to {ACK_P99 * 1000:.0f} ms: {p99 / ACK_P99:.2f})"
    )
    print(
        f"  tagged {len(tagged):,} of {len(ids):,}; last tagged {behind:.1f} s after the last "
        f"delivery (ratio to 15 s: {behind / 15:.2f})"
    )
    stats = fake.stats()
    print(f"  fake HubSpot: {stats['requests']:,} requests, {stats['rate_limited']} rate-limited")
    return p99 <= ACK_P99 and behind <= 15


if __name__ == "__main__":
    sys.exit(main())
