"""`icpbot rollout`: the rollout of a new ICP version, seen and steered by RevOps.

`serve` starts a rollout by itself when it runs an ICP version the store has not rolled
out; this command shows where it is, pauses it (queued records are held back, batches in
flight finish) and resumes it. Returns the process exit code.
"""

from __future__ import annotations

from datetime import datetime

import typer
from rich.console import Console

from bot.change.rollout import current, pause, resume
from bot.cli.store import open_database
from bot.views.rollout import progress_line


def steer_rollout(*, action: str | None, now: datetime, err: Console) -> int:
    """Show the newest rollout, after pausing or resuming it when asked.

    No rollout yet is an answer, not a failure (exit 0), unless there was one to steer.
    """
    database = open_database()
    found = current(database, now=now)
    if found is None:
        err.print(
            "no rollout yet: `icpbot serve` starts one when it runs an ICP version the store "
            "has not rolled out (bump `version` in icp.yaml)"
            + (f"; nothing to {action}" if action else ""),
            soft_wrap=True,
        )
        return 1 if action else 0
    if action == "pause" and found.state == "running":
        pause(database, version=found.version, now=now)
    elif action == "resume" and found.state == "paused":
        resume(database, version=found.version, now=now)
    elif action is not None:
        err.print(f"ICP v{found.version} rollout is {found.state}: nothing to {action}")
    found = current(database, now=now) or found
    typer.echo(progress_line(found))
    return 0
