"""Webhook deliveries in progress, so background work can step aside for them.

A delivery must be answered fast (HubSpot's budget is seconds, ours 200
ms) while the worker's tagging is CPU and database work that can wait a
moment: on SQLite both need the one write lock, and in one process both
need the interpreter. The worker waits, boundedly, until no delivery is
being stored before it tags its next chunk.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager


class Activity:
    """A count of deliveries being handled, with a wait for it to reach zero."""

    def __init__(self) -> None:
        self._busy = 0
        self._changed = threading.Condition()

    @contextmanager
    def busy(self) -> Iterator[None]:
        """Around the handling of one delivery.

        Waiters are woken only when the last delivery ends: in a burst every
        other end would wake each worker thread to find deliveries still in
        progress, taking the interpreter from the event loop that answers them.
        """
        with self._changed:
            self._busy += 1
        try:
            yield
        finally:
            with self._changed:
                self._busy -= 1
                if self._busy == 0:
                    self._changed.notify_all()

    def wait_quiet(self, timeout: float) -> bool:
        """Wait until no delivery is in progress, at most `timeout` seconds; whether it is quiet."""
        with self._changed:
            return self._changed.wait_for(lambda: self._busy == 0, timeout)
