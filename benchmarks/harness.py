"""What the HubSpot benchmarks share: the fake HubSpot in its own process, icpbot's
environment pointed at it, signed webhook deliveries, and small statistics.

Every server binds 127.0.0.1 on a free port; every wait is bounded.

`FakeProcess(..., journal=True)` runs the fake through this file
(`python benchmarks/harness.py fake-hubspot ARGS`), which adds two control routes
for a benchmark to read what crossed the wire from another process:
`GET /_fake/requests/N` (every API request from the Nth on: method, path,
status, wall-clock arrival and the ids a batch call named) and
`GET /_fake/values/TYPE/PROPERTY` (how many objects hold each value).
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
FAKE = "tests.fakes.hubspot"
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


def process_cpu(pid: int) -> float:
    """CPU seconds (user and system) process `pid` has used so far, from /proc; 0.0 elsewhere.

    What a server spends per request, which another process on the machine does not
    change the way it changes latencies.
    """
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def steal_share(before: tuple[int, int], after: tuple[int, int]) -> float:
    total = after[1] - before[1]
    return (after[0] - before[0]) / total if total else 0.0


def steal_said(share: float) -> str:
    """The line each benchmark ends with: what the hypervisor took while it measured."""
    return (
        f"CPU time taken by the hypervisor for other machines while measuring: {share:.0%} "
        "(figures above are distorted by that much or more)"
    )


class FakeProcess:
    """`python -m tests.fakes.hubspot` in a child process, stopped when stdin closes;
    with `journal`, with the control routes `requests` and `values` (module doc)."""

    def __init__(self, *args: str, journal: bool = False) -> None:
        launch = [str(Path(__file__).resolve()), "fake-hubspot"] if journal else ["-m", FAKE]
        self.proc = subprocess.Popen(
            [sys.executable, *launch, "--token", TOKEN, *args],
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

    def requests(self, start: int = 0) -> list[dict]:
        """(journal) The API requests answered, from the `start`th on, in order: each
        {method, path, status, at (wall clock, on arrival), ids (a batch call's inputs)}."""
        return self.get(f"/_fake/requests/{start}")["requests"]

    def values(self, object_type: str, name: str) -> dict[str, int]:
        """(journal) How many `object_type` objects hold each value of property `name`
        ("None": not set)."""
        return self.get(f"/_fake/values/{object_type}/{name}")

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


def _serve_fake_with_journal(argv: list[str]) -> None:
    """The fake HubSpot's `main`, its control endpoint answering two more routes."""
    from collections import Counter

    from tests.fakes import hubspot

    answer = hubspot._control_answer

    def control(fake: hubspot.FakeHubSpot, method: str, path: str, body: dict) -> object:
        parts = path.strip("/").split("/")[1:]
        if method == "GET" and len(parts) == 2 and parts[0] == "requests":
            offset = time.time() - time.monotonic()
            return {
                "requests": [
                    {
                        "method": r.method,
                        "path": r.path,
                        "status": r.status,
                        "at": r.at + offset,
                        "ids": _input_ids(r.body),
                    }
                    for r in fake.requests[int(parts[1]) :]
                ]
            }
        if method == "GET" and len(parts) == 3 and parts[0] == "values":
            with fake._lock:
                stored = list(fake._objects[parts[1]].values())
                return dict(Counter(str(s.properties.get(parts[2])) for s in stored))
        return answer(fake, method, path, body)

    hubspot._control_answer = control
    hubspot.main(argv)


def _input_ids(body: object) -> list[str]:
    inputs = body.get("inputs") if isinstance(body, dict) else None
    if not isinstance(inputs, list):
        return []
    return [str(i["id"]) for i in inputs if isinstance(i, dict) and "id" in i]


if __name__ == "__main__" and sys.argv[1:2] == ["fake-hubspot"]:
    _serve_fake_with_journal(sys.argv[2:])
