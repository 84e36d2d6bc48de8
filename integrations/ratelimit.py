"""A client-side rate limiter: at most N requests in any window of T seconds.

CRMs publish rolling-window limits (HubSpot: 190 requests per 10 s on
Professional and Enterprise); going over them costs a 429 and a pause, so
icpbot paces itself instead. A request's slot is timed from when its answer
arrives, not when it was sent, so "N in any window" holds as the server
counts it whatever the network does. One limiter is shared by every thread
that talks to the same CRM account.

The limit is the CRM account's, not a process's: where several processes
share it (replicas of `serve`, a backfill beside them), the limiter they
share lives in the database (`bot.store.ratelimit`), behind the same
`Limiter` protocol. Calls made inside `background()` (re-scoring, sweeps,
backfills) give way there to live ones (a webhook's new record, `/icp`).
"""

from __future__ import annotations

import heapq
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from contextvars import ContextVar
from typing import Protocol

_BACKGROUND: ContextVar[bool] = ContextVar("icpbot_background_calls", default=False)


@contextmanager
def background() -> Iterator[None]:
    """CRM calls made inside (in this thread or task) wait while live ones need the slots.

    A thread started inside does not inherit it: start it with
    `contextvars.copy_context().run` to carry it over.
    """
    token = _BACKGROUND.set(True)
    try:
        yield
    finally:
        _BACKGROUND.reset(token)


def in_background() -> bool:
    """Whether the calls made here are background work (see `background`)."""
    return _BACKGROUND.get()


class Limiter(Protocol):
    """What a CRM caller needs of a rate limiter, in one process or shared by many."""

    def slot(self) -> AbstractContextManager[float]:
        """Hold one request's slot while it runs; yields how long it waited."""
        ...

    def pause(self, seconds: float) -> None:
        """The server asked for a pause (429 `Retry-After`): nobody sends until it ends."""
        ...


class RateLimiter:
    """A sliding-window limiter with a pause for a server's `Retry-After`, in one process.

    Live and background calls are alike here: it serves a process that has the
    CRM account to itself (a test, a one-off command without a database).
    """

    def __init__(
        self,
        limit: int,
        window: float,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if limit < 1 or window <= 0:
            raise ValueError("a rate limit needs at least one request per positive window")
        self.limit = limit
        self.window = window
        self._clock = clock
        self._done: list[float] = []  # answer times still inside the window (a min-heap)
        self._in_flight = 0
        self._paused_until = 0.0
        self._changed = threading.Condition()

    @contextmanager
    def slot(self) -> Iterator[float]:
        """Hold one request's slot while it runs; yields how long it waited."""
        waited = self.acquire()
        try:
            yield waited
        finally:
            self.release()

    def acquire(self) -> float:
        """Block until a request may be sent; returns the seconds spent waiting."""
        start = self._clock()
        with self._changed:
            while (delay := self._delay()) > 0 or delay < 0:
                self._changed.wait(None if delay < 0 else delay)
            self._in_flight += 1
        return self._clock() - start

    def release(self) -> None:
        """The request's answer arrived: its slot counts from now."""
        with self._changed:
            self._in_flight -= 1
            heapq.heappush(self._done, self._clock())
            self._changed.notify_all()

    def pause(self, seconds: float) -> None:
        """The server asked for a pause (429 `Retry-After`): nobody sends until it ends."""
        with self._changed:
            self._paused_until = max(self._paused_until, self._clock() + seconds)

    def _delay(self) -> float:
        """Seconds to wait before a slot frees; -1 when only an answer in flight can free one."""
        now = self._clock()
        if now < self._paused_until:
            return self._paused_until - now
        while self._done and self._done[0] <= now - self.window:
            heapq.heappop(self._done)
        if len(self._done) + self._in_flight < self.limit:
            return 0.0
        if not self._done:
            return -1.0
        return self._done[0] + self.window - now
