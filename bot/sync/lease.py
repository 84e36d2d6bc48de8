"""Keeping a claim alive: a short lease on claimed events, renewed while the work goes on.

A worker that dies (`kill -9`, a lost machine) stops renewing, so the events
it held become claimable again within one lease, seconds rather than minutes;
a live worker on a slow batch (a CRM answering slowly, retries with backoff)
keeps its events for as long as it works on them. Renewal runs in a thread of
its own, so a worker blocked in a CRM call still renews.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from types import TracebackType

from sqlalchemy import Engine as Database

from bot.store import inbox
from bot.store.db import session as open_session

log = logging.getLogger(__name__)

LEASE = timedelta(
    seconds=30
)  # what a dead worker's events wait, at most, before another takes them


class Renewal:
    """`with Renewal(...):` around the work on claimed events: renews every third of the lease.

    A renewal that fails (the database briefly away) is logged and tried again
    at the next tick; the lease left is two ticks long.
    """

    def __init__(
        self,
        *,
        database: Database,
        worker: str,
        ids: Sequence[int],
        lease: timedelta,
        clock: Callable[[], datetime],
    ) -> None:
        self.database = database
        self.worker = worker
        self.ids = list(ids)
        self.lease = lease
        self.clock = clock
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"lease:{worker}", daemon=True)

    def __enter__(self) -> Renewal:
        if self.ids:
            self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def _run(self) -> None:
        every = self.lease.total_seconds() / 3
        while not self._stop.wait(every):
            try:
                with open_session(self.database) as session:
                    inbox.renew(
                        session=session,
                        ids=self.ids,
                        worker=self.worker,
                        until=self.clock() + self.lease,
                    )
            except Exception:
                log.warning(
                    "%s: could not renew the lease on its events", self.worker, exc_info=True
                )
