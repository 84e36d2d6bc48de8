"""`icpbot status`: the inbox and the checkpoints; parked work named with why.

Returns the process exit code; data goes to stdout, diagnostics to the `err` console.
"""

from __future__ import annotations

import sys
from datetime import datetime

from rich.console import Console

from bot.change.rollout import current
from bot.cli.store import open_database
from bot.store import checkpoints, inbox
from bot.store.db import session as open_session
from bot.views.common import counted
from bot.views.rollout import progress_line


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
        sys.stdout.write(f"checkpoint {checkpoint.name}: {checkpoint.value}\n")
    return 1 if counts.get("parked", 0) else 0
