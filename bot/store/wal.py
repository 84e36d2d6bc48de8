"""SQLite's write-ahead log copied into the database file by a thread of its own.

In WAL mode every commit appends its pages to the log, and by default the commit that
finds the log past 1,000 pages then copies it into the database file and syncs both (a
checkpoint): tens of milliseconds on an ordinary disk, paid by whichever transaction
came along, with the process's write lock held. In a burst of webhook deliveries that
was about one delivery in ten (each stores some hundred pages: the inbox's unique key is
a hash, so every event lands on another index page), and every delivery queued behind it
waited as long. `icpbot serve` opens its database with those checkpoints off
(`open_database(..., checkpoint_on_commit=False)`) and runs them here instead, every
second, PASSIVE: without waiting for readers or writers, and without making them wait.

Other commands keep SQLite's own checkpoints; on PostgreSQL there is nothing to do.
"""

from __future__ import annotations

import logging
import threading

from sqlalchemy import Engine

log = logging.getLogger(__name__)

INTERVAL = 1.0  # seconds between checkpoints: about what a burst appends meanwhile, a few MB


class WalCheckpoints:
    """Checkpoints a SQLite file's log every `interval` seconds, in a background thread."""

    def __init__(self, database: Engine, *, interval: float = INTERVAL) -> None:
        self.database = database
        self.interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def applies(self) -> bool:
        """A SQLite file: in memory there is no log, and other databases keep their own."""
        url = self.database.url
        return url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:")

    def start(self) -> None:
        if not self.applies:
            return
        self._thread = threading.Thread(target=self._run, name="wal-checkpoints", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop after the checkpoint in hand; closing the last connection copies the rest."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def checkpoint(self) -> tuple[int, int, int]:
        """One PASSIVE checkpoint, as SQLite reports it: (1 when it could not run at all,
        pages in the log, pages now copied into the database)."""
        with self.database.connect() as connection:
            busy, logged, copied = connection.exec_driver_sql(
                "PRAGMA wal_checkpoint(PASSIVE)"
            ).one()
        return int(busy), int(logged), int(copied)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.checkpoint()
            except Exception:
                log.warning("could not checkpoint the SQLite log; trying again", exc_info=True)
