"""Salesforce backfill speed against the fake Salesforce with a fixed latency per call.

    python benchmarks/salesforce_backfill.py [--accounts 50000] [--latency 0.05]

Target (issue: Salesforce): `icpbot backfill --crm salesforce` of 50,000
Accounts with the fake answering every call after 50 ms reaches at least
90% of the ideal rate for that latency, loses nothing (every Account
carries its ICP tier afterwards) and peaks under 300 MB.

The ideal: 2,000 Accounts need one query call and ten sObject Collections
updates of 200, so with calls made one after another at 50 ms each, 50,000
Accounts cost 25 + 250 calls: 13.75 s, 3,636 Accounts/s. icpbot overlaps
reading, scoring and writing, so the figure is bounded by the writes.
The backfill runs as a user runs it, in its own process, over TLS; its
peak memory is that process's own maximum resident set (os.wait4).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import ROOT, cpu_steal, icpbot, steal_said, steal_share  # noqa: E402

TOKEN = "bench-token"
PAGE, WRITE = 2000, 200


class FakeSalesforceProcess:
    """`python -m tests.fakes.salesforce` in a child process; its stats when stopped."""

    def __init__(self, accounts: int, latency: float) -> None:
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.fakes.salesforce",
                "--accounts",
                str(accounts),
                "--latency",
                str(latency),
                "--token",
                TOKEN,
            ],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().split()
        if len(line) != 2 or not line[0].startswith("https://127.0.0.1:"):
            self.stop()
            raise RuntimeError(f"the fake Salesforce did not start: {line!r}")
        self.url, self.ca_file = line

    def stop(self) -> dict:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.close()
        try:
            stats = self.proc.stdout.readline()
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            return {}
        return json.loads(stats) if stats.strip() else {}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--accounts", type=int, default=50_000)
    parser.add_argument("--latency", type=float, default=0.05)
    args = parser.parse_args()
    fake = FakeSalesforceProcess(args.accounts, args.latency)
    with tempfile.TemporaryDirectory() as tmp:
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("HUBSPOT_", "ICPBOT_", "SALESFORCE_"))
        }
        env.update(
            SALESFORCE_INSTANCE_URL=fake.url,
            SALESFORCE_ACCESS_TOKEN=TOKEN,
            REQUESTS_CA_BUNDLE=fake.ca_file,
            ICPBOT_DATABASE_URL=f"sqlite:///{tmp}/bench.db",
            ICPBOT_CONFIG_DIR=str(ROOT / "config"),
            PYTHONPATH=str(ROOT),
        )
        steal = cpu_steal()
        started = time.perf_counter()
        proc = subprocess.Popen(
            icpbot("backfill", "--crm", "salesforce"),
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        _, status, usage = os.wait4(proc.pid, 0)
        elapsed = time.perf_counter() - started
        stolen = steal_share(steal, cpu_steal())
        errors = proc.stderr.read() if proc.stderr else ""
    stats = fake.stop()
    if status != 0:
        print(f"backfill failed ({status}):\n{errors[-2000:]}")
        return 1
    calls = -(-args.accounts // PAGE) + -(-args.accounts // WRITE)
    ideal = args.accounts / (calls * args.latency)
    rate = args.accounts / elapsed
    peak_mb = usage.ru_maxrss / 1024
    tagged = stats.get("tagged_accounts", 0)
    print(f"accounts: {args.accounts:,}, latency {args.latency * 1000:.0f} ms a call")
    ratio = rate / ideal
    print(
        f"elapsed: {elapsed:.2f} s, {rate:,.0f} accounts/s; ideal {ideal:,.0f}/s "
        f"({calls} calls one after another); ratio {ratio:.2f} (target >= 0.90)"
    )
    print(
        f"tagged in Salesforce: {tagged:,} of {args.accounts:,} "
        f"({'nothing lost' if tagged == args.accounts else 'LOST SOME'}); "
        f"API calls {stats.get('requests', 0):,}"
    )
    cpu = usage.ru_utime + usage.ru_stime
    print(f"CPU of the backfill process: {cpu:.1f} s ({cpu / elapsed:.0%} of one core)")
    print(
        f"peak memory of the backfill: {peak_mb:.0f} MB (target < 300 MB; "
        f"ratio {peak_mb / 300:.2f})"
    )
    print(steal_said(stolen))
    return 0 if tagged == args.accounts else 1


if __name__ == "__main__":
    sys.exit(main())
