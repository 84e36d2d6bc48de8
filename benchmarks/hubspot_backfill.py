"""HubSpot backfill speed against the fake HubSpot's rate limit.

    python benchmarks/hubspot_backfill.py [--companies 50000] [--limit 190]

Target (issue: HubSpot): `icpbot backfill --crm hubspot` of 50,000
companies with the fake limiting to 190 requests per 10 s reaches at
least 90% of that ceiling's record rate, loses nothing, and peaks under
300 MB.

The ceiling: each 100 companies need one list call and one batch update,
so 190 requests per 10 s carry at most 19 / 2 × 100 = 950 companies/s.
The backfill runs as a user runs it, in its own process; its peak memory
is that process's own maximum resident set (os.wait4). The fake counts
every request, the 429s it had to send, and the most requests it ever saw
in one window.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import FakeProcess, bot_env, cpu_steal, crm_setup, icpbot, steal_share  # noqa: E402

WINDOW = 10.0
PAGE = 100


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--companies", type=int, default=50_000)
    parser.add_argument("--limit", type=int, default=190, help="requests per 10 s")
    args = parser.parse_args()
    fake = FakeProcess(
        "--companies", str(args.companies), "--rate-limit", str(args.limit), "--window", str(WINDOW)
    )
    try:
        return run(fake, args.companies, args.limit)
    finally:
        fake.stop()


def run(fake: FakeProcess, companies: int, limit: int) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        env = bot_env(fake.url, Path(tmp) / "bench.db", ICPBOT_HUBSPOT_RATE_LIMIT=str(limit))
        crm_setup(env)
        time.sleep(WINDOW)  # setup's calls leave the fake's window before the clock starts
        steal = cpu_steal()
        started = time.perf_counter()
        proc = subprocess.Popen(
            icpbot("backfill", "--crm", "hubspot"),
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        _, status, usage = os.wait4(proc.pid, 0)
        elapsed = time.perf_counter() - started
        stderr = proc.stderr.read() if proc.stderr else ""
        proc.returncode = os.waitstatus_to_exitcode(status)
    stats = fake.stats()
    ceiling = limit / WINDOW / 2 * PAGE
    rate = companies / elapsed
    peak_mb = usage.ru_maxrss / 1024
    print(f"backfill of {companies:,} companies, fake limit {limit} requests / {WINDOW:.0f} s")
    share = steal_share(steal, cpu_steal())
    cpu = usage.ru_utime + usage.ru_stime
    print(
        f"  exit code {proc.returncode}; wall {elapsed:.1f} s, icpbot CPU {cpu:.1f} s; "
        f"CPU steal {share:.0%}"
    )
    print(
        f"  requests {stats['requests']:,}, rate-limited (429) {stats['rate_limited']}, "
        f"most in one window {stats['max_in_window']}"
    )
    print(f"  tagged in HubSpot: {stats['tagged_companies']:,} of {companies:,}")
    print(
        f"  record rate {rate:,.0f}/s; ceiling {ceiling:,.0f}/s; "
        f"share {rate / ceiling:.1%} (ratio to the 90% target: {rate / (0.9 * ceiling):.2f})"
    )
    print(f"  peak memory {peak_mb:,.0f} MB (ratio to 300 MB: {peak_mb / 300:.2f})")
    if proc.returncode != 0 or stats["tagged_companies"] != companies:
        print(stderr[-3000:])
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
