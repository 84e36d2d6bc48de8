"""`icpbot rollout`: the rollout of a new ICP version, seen and steered by RevOps.

`serve` starts a rollout by itself when it runs an ICP version the store has not rolled
out; this command shows where it is, pauses it (queued records are held back, batches in
flight finish) and resumes it. Returns the process exit code.
"""

from __future__ import annotations

from datetime import datetime

import typer
from rich.console import Console

from bot.change.rollout import Progress, current, pause, resume
from bot.cli.store import open_database


def progress_line(found: Progress) -> str:
    """`ICP v8 rollout: running, 12,000 of 50,000 records (24%), 900/s, about 42 s left`."""
    share = found.done / found.total if found.total else 1.0
    line = (
        f"ICP v{found.version} rollout: {found.state}, {found.done:,} of {found.total:,} "
        f"records ({share:.0%})"
    )
    if found.state == "done" and found.finished_at is not None:
        line += f", finished {found.finished_at:%Y-%m-%d %H:%M} UTC"
    else:
        line += f", {found.rate:,.1f} records/s"
        if found.eta is not None:
            line += f", about {_duration(found.eta.total_seconds())} left"
    if found.waiting:
        line += f"; {found.waiting:,} queued for the CRM workers"
    if found.parked:
        line += f"; {found.parked:,} parked (`icpbot status --retry-parked` queues them again)"
    return line


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def steer_rollout(*, action: str | None, now: datetime, err: Console) -> int:
    """Show the newest rollout, after pausing or resuming it when asked."""
    database = open_database()
    found = current(database, now=now)
    if found is None:
        err.print(
            "no rollout yet: `icpbot serve` starts one when it runs an ICP version the store "
            "has not rolled out (bump `version` in icp.yaml)"
        )
        return 1
    if action == "pause" and found.state == "running":
        pause(database, version=found.version, now=now)
    elif action == "resume" and found.state == "paused":
        resume(database, version=found.version, now=now)
    elif action is not None:
        err.print(f"ICP v{found.version} rollout is {found.state}: nothing to {action}")
    found = current(database, now=now) or found
    typer.echo(progress_line(found))
    return 0
