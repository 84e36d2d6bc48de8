"""A CRM's rate limit shared by every process that calls it, through the shared database.

HubSpot counts 190 requests per 10 seconds per portal, not per process: two
`serve` replicas pacing themselves apart would send twice that and be
answered 429. So each request is counted in `api_call`, and a process takes
a slot only while holding the lock of its API's `api_limit` row (a row lock
on PostgreSQL, the write lock on SQLite): at most `limit` requests are in
flight or were answered within any `window` seconds, whoever sent them.

Live traffic first: a call made inside `integrations.ratelimit.background()`
(re-scoring, sweeps, backfills) waits while a live call (a webhook's new
record, `/icp`) waits for a slot anywhere, and while live calls were made
within the last window it fills only `background_share` of the window,
spread evenly across it, so live calls find a slot when they need one.
Alone (a backfill at night) it may use the whole limit.

A slot is timed from the answer, as the server counts it. A process killed
mid-request leaves its call counted as in flight; it stops counting after
`STALE` seconds, longer than any request may take. Times are the replicas'
wall clocks (kept in step by NTP in any deployment: a skew of a few
milliseconds is nothing against a 10-second window).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy import Engine as Database
from sqlalchemy import and_, case, delete, or_, select, update
from sqlmodel import Session, col

from bot.store.db import session as open_session
from bot.store.repo import dialect_insert, table_of
from bot.store.tables import ApiCall, ApiLimit
from integrations.ratelimit import in_background

STALE = 120.0  # an unanswered call counts this long at most (its process may have died)
LIVE_WAIT = 0.5  # a waiting live call holds background calls back this long, renewed as it waits
LIVE_POLL = 0.1  # how often a waiting live call looks again (and renews its claim to go first)
BACKGROUND_POLL = 0.5
IN_FLIGHT_POLL = 0.05  # every slot is in flight: one frees when its answer arrives
PRUNE_EVERY = 200  # slots taken by this process between two clean-ups of old calls


@dataclass(frozen=True, slots=True)
class _Turn:
    """The outcome of one look at the window: a slot taken (its call's id), or a wait."""

    call: int | None
    wait: float = 0.0


# Of a window, at most, for background calls while live ones are made: live calls carry up
# to 100 records each, so the few slots left over are all a burst of webhooks needs.
BACKGROUND_SHARE = 0.97
SPREAD = 10  # ... spread out: at most BURST/SPREAD of that in any 1/SPREAD of the window
BURST = 2.0  # (twice an even share, so a second the workers left idle can be caught up)


class SharedRateLimiter:
    """At most `limit` requests to `api` in any `window` seconds, across every process."""

    def __init__(
        self,
        database: Database,
        api: str,
        limit: int,
        window: float,
        *,
        background_share: float = BACKGROUND_SHARE,
        stale: float = STALE,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if limit < 1 or window <= 0:
            raise ValueError("a rate limit needs at least one request per positive window")
        self.database = database
        self.api = api
        self.limit = limit
        self.window = window
        self.background_limit = max(1, int(limit * background_share))
        self.stale = stale
        self._clock = clock
        self._sleep = sleep
        self._taken = 0
        self._count_lock = threading.Lock()

    @contextmanager
    def slot(self) -> Iterator[float]:
        """Hold one request's slot while it runs; yields how long it waited."""
        started = self._clock()
        call = self.acquire()
        try:
            yield self._clock() - started
        finally:
            self.release(call)

    def acquire(self) -> int:
        """Block until a request may be sent; returns the id its answer is recorded under."""
        live = not in_background()
        while True:
            with open_session(self.database) as session:
                turn = self._turn(session, live=live)
            if turn.call is not None:
                return turn.call
            self._sleep(turn.wait)

    def release(self, call: int) -> None:
        """The request's answer arrived: its slot counts from now."""
        with open_session(self.database) as session:
            session.execute(
                update(ApiCall).where(col(ApiCall.id) == call).values(at=self._clock(), done=True)
            )

    def pause(self, seconds: float) -> None:
        """The API asked for a pause (429 `Retry-After`): no process sends until it ends."""
        until = self._clock() + seconds
        paused = col(ApiLimit.paused_until)
        with open_session(self.database) as session:
            self._lock(session)
            session.execute(
                update(ApiLimit)
                .where(col(ApiLimit.api) == self.api)
                .values(paused_until=case((paused < until, until), else_=paused))
            )

    def _turn(self, session: Session, *, live: bool) -> _Turn:
        """Take a slot if the window has one for this call; else how long to wait."""
        paused_until, live_waiting_until, live_seen_until = self._lock(session)
        now = self._clock()
        poll = LIVE_POLL if live else BACKGROUND_POLL
        if now < paused_until:
            return _Turn(None, min(paused_until - now, poll))
        if not live and now < live_waiting_until:
            return _Turn(None, min(live_waiting_until - now, poll))
        room = self.limit if live or now >= live_seen_until else self.background_limit
        counted = session.execute(
            select(col(ApiCall.at), col(ApiCall.done)).where(
                col(ApiCall.api) == self.api,
                or_(
                    col(ApiCall.at) > now - self.window,
                    and_(col(ApiCall.done).is_(False), col(ApiCall.at) > now - self.stale),
                ),
            )
        ).all()
        if not live and room < self.limit:
            wait = self._spread([c[0] for c in counted], room, now)
            if wait:
                return _Turn(None, min(wait, poll))
        if len(counted) < room:
            if live:
                self._mark(session, live_seen_until=now + self.window)
            return _Turn(self._take(session, now))
        if live:
            self._mark(session, live_waiting_until=now + LIVE_WAIT)
        answered = [at for at, done in counted if done]
        frees = min(answered) + self.window - now if answered else IN_FLIGHT_POLL
        return _Turn(None, max(0.001, min(frees, poll)))

    def _spread(self, starts: Sequence[float], room: int, now: float) -> float:
        """How long a background call waits so that, while live calls are about, background
        calls go spread out (at most BURST/SPREAD of `room` in any 1/SPREAD of the window), not in a
        burst up to the cap followed by seconds of nothing: a live call then never waits
        behind a background one that waits for the window to clear. 0: it may go now."""
        part = self.window / SPREAD
        recent = sorted(at for at in starts if at > now - part)
        allowed = max(1, math.ceil(room * BURST / SPREAD))
        if len(recent) < allowed:
            return 0.0
        return max(0.001, recent[len(recent) - allowed] + part - now)

    def _mark(self, session: Session, **until: float) -> None:
        """Note on the locked row until when live calls wait, or were made."""
        session.execute(update(ApiLimit).where(col(ApiLimit.api) == self.api).values(**until))

    def _lock(self, session: Session) -> tuple[float, float, float]:
        """Lock this API's row (creating it once); until when it is paused, a live call
        waits, and live calls were made.

        An UPDATE first, not a SELECT: it takes PostgreSQL's row lock and SQLite's
        write lock at once, so the look at the window and the slot taken are one step.
        """
        row = table_of(ApiLimit)
        locked = update(ApiLimit).where(col(ApiLimit.api) == self.api)
        returning = locked.values(paused_until=row.c.paused_until).returning(
            row.c.paused_until, row.c.live_waiting_until, row.c.live_seen_until
        )
        found = session.execute(returning).first()
        if found is None:
            session.execute(
                dialect_insert(session, row)
                .values(api=self.api, paused_until=0.0, live_waiting_until=0.0, live_seen_until=0.0)
                .on_conflict_do_nothing(index_elements=["api"])
            )
            found = session.execute(returning).one()
        return float(found[0]), float(found[1]), float(found[2])

    def _take(self, session: Session, now: float) -> int:
        """Count a new call as in flight from now; old calls are forgotten now and then."""
        with self._count_lock:
            self._taken += 1
            prune = self._taken % PRUNE_EVERY == 0
        if prune:
            session.execute(
                delete(ApiCall).where(
                    col(ApiCall.api) == self.api, col(ApiCall.at) < now - self.stale - self.window
                )
            )
        calls = table_of(ApiCall)
        inserted = session.execute(
            dialect_insert(session, calls)
            .values(api=self.api, at=now, done=False)
            .returning(calls.c.id)
        )
        return int(inserted.scalar_one())
