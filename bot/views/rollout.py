"""What a rollout's progress says, in one line: `icpbot rollout`, `icpbot status`."""

from __future__ import annotations

from bot.change.rollout import Progress
from bot.views.common import duration_text


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
            line += f", about {duration_text(found.eta.total_seconds())} left"
    if found.waiting:
        line += f"; {found.waiting:,} queued for the CRM workers"
    if found.parked:
        line += f"; {found.parked:,} parked (`icpbot status --retry-parked` queues them again)"
    return line
