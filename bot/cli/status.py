"""`icpbot status`: the inbox and the checkpoints; parked work named with why.

Each checkpoint says when it last moved: Salesforce's change stream stores its
replay id with every event and keepalive, so `salesforce.cdc` moved minutes
ago while the listener is up, and a poll's moves at least at its safety pace.

Returns the process exit code; data goes to stdout, diagnostics to the `err` console.
"""

from __future__ import annotations

import sys
from datetime import datetime, timedelta

from rich.console import Console

from bot.change.rollout import current
from bot.cli.store import open_database
from bot.store import checkpoints, inbox
from bot.store.db import session as open_session
from bot.views.common import counted
from bot.views.rollout import progress_line


def describe_age(age: timedelta) -> str:
    """How long ago, in the unit a reader takes in at a glance."""
    seconds = max(0, int(age.total_seconds()))
    if seconds < 120:
        return f"{seconds} s ago"
    if seconds < 7200:
        return f"{seconds // 60} min ago"
    if seconds < 172800:
        return f"{seconds // 3600} h ago"
    return f"{seconds // 86400} days ago"


def show_status(*, retry_parked: bool, now: datetime, err: Console) -> int:
    """The inbox and the checkpoints; parked events with why, so nothing fails unseen."""
    database = open_database()
    with open_session(database) as session:
        if retry_parked:
            requeued = inbox.requeue_parked(session=session, now=now)
            err.print(f"{counted(requeued, 'parked event')} queued again")
        counts = inbox.counts(session=session)
        oldest = inbox.oldest_pending(session=session)
        parked = inbox.parked(session=session, limit=20)
        saved = checkpoints.every(session=session)
    rolling = current(database, now=now)
    line = ", ".join(f"{status} {n:,}" for status, n in counts.items())
    sys.stdout.write(f"inbox: {line}\n")
    if oldest is not None:
        sys.stdout.write(f"oldest pending: {(now - oldest).total_seconds():,.0f} s old\n")
    for event in parked:
        sys.stdout.write(
            f"parked #{event.id} {event.event_type} {event.object_type} {event.object_id} "
            f"after {event.attempts} attempts: {event.last_error}\n"
        )
    if counts.get("parked", 0) > len(parked):
        sys.stdout.write(f"... and {counts['parked'] - len(parked):,} more parked\n")
    if rolling is not None:
        sys.stdout.write(progress_line(rolling) + "\n")
    for checkpoint in saved:
        ago = describe_age(now - checkpoint.updated_at)
        sys.stdout.write(f"checkpoint {checkpoint.name}: {checkpoint.value} (moved {ago})\n")
    return 1 if counts.get("parked", 0) else 0
