"""`icpbot demo`: the whole flow offline, on the bundled sample CRM."""

from __future__ import annotations

from tests.support import icpbot


def test_demo_runs_the_whole_flow() -> None:
    done = icpbot("demo")
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "Companies by tier" in out and "[Claim]" in out and "/icp " in out
