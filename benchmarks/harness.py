"""What the HubSpot benchmarks share: the fake HubSpot in its own process, icpbot's
environment pointed at it, signed webhook deliveries, and small statistics.

Every server binds 127.0.0.1 on a free port; every wait is bounded.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.fakes.webhooks import creation_event, signed_delivery  # noqa: E402

__all__ = ["creation_event", "signed_delivery"]
TOKEN = "bench-token"
SECRET = "bench-client-secret"


def cpu_steal() -> tuple[int, int]:
    """(steal, total) jiffies of the machine so far, from /proc/stat; (0, 0) elsewhere."""
    try:
        fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    except OSError:
        return 0, 0
    numbers = [int(f) for f in fields]
    return (numbers[7] if len(numbers) > 7 else 0), sum(numbers)


def steal_share(before: tuple[int, int], after: tuple[int, int]) -> float:
    total = after[1] - before[1]
    return (after[0] - before[0]) / total if total else 0.0


class FakeProcess:
    """`python -m tests.fakes.hubspot` in a child process, stopped when stdin closes."""

    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.fakes.hubspot", "--token", TOKEN, *args],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        self.url = self.proc.stdout.readline().strip()
        if not self.url.startswith("http://127.0.0.1:"):
            self.stop()
            raise RuntimeError(f"the fake HubSpot did not start: {self.url!r}")

    def get(self, path: str) -> dict:
        with urllib.request.urlopen(self.url + path, timeout=30) as answer:
            return json.load(answer)

    def post(self, path: str, body: dict) -> dict:
        request = urllib.request.Request(
            self.url + path,
            data=json.dumps(body).encode(),
            method="POST",
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as answer:
            return json.load(answer)

    def stats(self) -> dict:
        return self.get("/_fake/stats")

    def stop(self) -> None:
        if self.proc.stdin:
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def wait_tagged(fake: FakeProcess, ids: list[str], *, limit: float) -> dict[str, float]:
    """When each company was first tagged (the fake's wall clock), waiting at most `limit`
    seconds for all of them; those not tagged by then are left out."""
    wanted = set(ids)
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        tagged = fake.stats()["first_tagged_at"]
        if wanted <= tagged.keys():
            return {i: tagged[i] for i in ids}
        time.sleep(0.05)
    tagged = fake.stats()["first_tagged_at"]
    return {i: tagged[i] for i in ids if i in tagged}


def bot_env(fake_url: str, database: Path, **extra: str) -> dict[str, str]:
    """icpbot's environment: the fake HubSpot, a fresh SQLite file, the shipped config."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HUBSPOT_", "ICPBOT_"))}
    env.update(
        HUBSPOT_ACCESS_TOKEN=TOKEN,
        HUBSPOT_CLIENT_SECRET=SECRET,
        HUBSPOT_API_URL=fake_url,
        ICPBOT_DATABASE_URL=f"sqlite:///{database}",
        ICPBOT_CONFIG_DIR=str(ROOT / "config"),
        ICPBOT_HOST="127.0.0.1",
        ICPBOT_PORT="0",
        PYTHONPATH=str(ROOT),
        **extra,
    )
    return env


def icpbot(*args: str) -> list[str]:
    return [sys.executable, "-m", "bot", *args]


def crm_setup(env: dict[str, str]) -> None:
    """`icpbot crm setup hubspot`, as a user runs it before anything else."""
    done = subprocess.run(
        icpbot("crm", "setup", "hubspot"),
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"crm setup failed: {done.stderr}")


def percentile(values: Sequence[float], share: float) -> float:
    """Nearest-rank percentile: the value at or below which `share` of them lie."""
    ordered = sorted(values)
    rank = max(1, round(share * len(ordered) + 0.4999))
    return ordered[min(rank, len(ordered)) - 1]
