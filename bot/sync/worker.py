"""The inbox worker: claims stored events, runs the pipeline on them, settles each.

Events were stored before HubSpot got its 200, so the worker is where the
work happens and where it is retried. It claims a batch under a short lease
that it renews while it works (`bot.sync.lease`: a process killed mid-batch
stops renewing, and its events are claimed again within 30 seconds),
processes companies before contacts so contacts find their company, and
settles every event: done, or failed with the reason and a
backoff, or parked after too many failures, visible in `/metrics` and
`icpbot status`. Several events for one object cost one fetch.
"""

from __future__ import annotations

import logging
import threading
from collections import defaultdict
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from more_itertools import chunked
from sqlalchemy import Engine as Database

from bot.metrics import Metrics
from bot.store import inbox
from bot.store.db import session as open_session
from bot.store.tables import InboxEvent
from bot.sync.activity import Activity
from bot.sync.lease import LEASE, Renewal
from bot.sync.pipeline import Outcome, Pipeline
from integrations.ratelimit import background
from integrations.records import RecordKind

# What this worker claims from the inbox: CRM changes (Slack posts have their own worker).
CRM_SOURCES = ("hubspot", "hubspot-sweep")
SALESFORCE_SOURCES = ("salesforce-sweep",)

log = logging.getLogger(__name__)

KINDS = {"company": RecordKind.ACCOUNT, "contact": RecordKind.CONTACT, "lead": RecordKind.LEAD}
CHUNK = 100  # one batch read and at most one batch update per chunk
YIELD_TO_DELIVERIES = 1.0  # at most this long a chunk waits for webhook deliveries to finish
KEEP_DONE = timedelta(days=7)  # finished events are kept this long, for `status` and debugging
PRUNE_EVERY = timedelta(hours=1)


@dataclass(slots=True)
class Settled:
    """How a claimed batch of events ended."""

    done: list[InboxEvent] = field(default_factory=list)
    failed: dict[str, list[InboxEvent]] = field(default_factory=lambda: defaultdict(list))


class Worker:
    """Drains the inbox in a background thread; `wake()` when new events are stored."""

    def __init__(
        self,
        *,
        database: Database,
        pipeline: Pipeline,
        metrics: Metrics | None = None,
        name: str = "worker",
        batch: int = 500,
        lease: timedelta = LEASE,
        idle: float = 1.0,
        max_attempts: int = 8,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        activity: Activity | None = None,
        sources: tuple[str, ...] = CRM_SOURCES,
        threads: int = 1,
    ) -> None:
        self.database = database
        self.threads = threads
        self.sources = sources
        self.pipeline = pipeline
        self.metrics = metrics
        self.name = name
        self.batch = batch
        self.lease = lease
        self.idle = idle
        self.max_attempts = max_attempts
        self.clock = clock
        self.activity = activity
        self._pruned_at: datetime | None = None
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def wake(self) -> None:
        """New events are waiting: stop idling now (the webhook calls this)."""
        self._wake.set()

    def start(self) -> None:
        """`threads` loops claiming in turn: while one waits on the CRM with its chunk, another
        claims the next. With more than one, the first takes live events only, so a webhook's
        record never waits behind background work (a rollout, the ageing) in any thread."""
        self._threads = [
            threading.Thread(
                target=self._run,
                args=(n == 0 and self.threads > 1,),
                name=f"{self.name}-{n}",
                daemon=True,
            )
            for n in range(self.threads)
        ]
        for thread in self._threads:
            thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Finish the batches in hand and stop; unclaimed events wait for the next start."""
        self._stop.set()
        self._wake.set()
        for thread in self._threads:
            thread.join(timeout)

    def _run(self, live_only: bool = False) -> None:
        while not self._stop.is_set():
            try:
                handled = self.run_once(live_only=live_only)
            except Exception:
                log.exception("inbox worker: claiming or settling failed; retrying shortly")
                handled = 0
            if handled == 0:
                self._prune()
                self._wake.wait(self.idle)
                self._wake.clear()

    def _prune(self) -> None:
        """Forget finished events older than a week, once an hour, when idle."""
        now = self.clock()
        if self._pruned_at is not None and now - self._pruned_at < PRUNE_EVERY:
            return
        self._pruned_at = now
        with open_session(self.database) as session:
            inbox.prune_done(session=session, before=now - KEEP_DONE)

    def run_once(self, *, live_only: bool = False) -> int:
        """Claim one batch (live events only, with `live_only`), process it, settle it; how many
        events it held."""
        self._yield()
        with open_session(self.database) as session:
            events = inbox.claim(
                session=session,
                worker=self.name,
                limit=self.batch if live_only or self.threads == 1 else CHUNK,
                now=self.clock(),
                lease=self.lease,
                sources=self.sources,
                live_only=live_only,
            )
        events = self._one_chunk_of_background(events)
        if events:
            ids = [e.id for e in events if e.id is not None]
            renewal = Renewal(
                database=self.database,
                worker=self.name,
                ids=ids,
                lease=self.lease,
                clock=self.clock,
            )
            with renewal:
                settled = self._process(events)
            self._settle(settled)
        return len(events)

    def _one_chunk_of_background(self, events: list[InboxEvent]) -> list[InboxEvent]:
        """Live events first; and of background work (a rollout, the ageing) one chunk a
        claim, the rest given back at once: a webhook arriving meanwhile then waits behind
        one chunk's calls at most, not a whole batch's."""
        events = sorted(events, key=lambda e: (inbox.gives_way(e), e.id or 0))
        if len(events) <= CHUNK or not all(inbox.gives_way(e) for e in events):
            return events
        kept, rest = events[:CHUNK], events[CHUNK:]
        with open_session(self.database) as session:
            inbox.release(session=session, ids=[e.id for e in rest if e.id is not None])
        return kept

    def _process(self, events: list[InboxEvent]) -> Settled:
        settled = Settled()
        by_kind: dict[RecordKind, dict[str, list[InboxEvent]]] = defaultdict(dict)
        for event in events:
            kind = KINDS.get(event.object_type)
            if kind is None:
                settled.done.append(event)  # stored by an older version; nothing to do
                continue
            by_kind[kind].setdefault(event.object_id, []).append(event)
        for kind in (RecordKind.ACCOUNT, RecordKind.CONTACT, RecordKind.LEAD):
            objects = by_kind.get(kind, {})
            for chunk in chunked(objects, CHUNK):
                self._chunk(kind, chunk, objects, settled)
        return settled

    def _chunk(
        self,
        kind: RecordKind,
        ids: list[str],
        objects: dict[str, list[InboxEvent]],
        settled: Settled,
    ) -> None:
        self._yield()
        quiet = all(inbox.gives_way(e) for i in ids for e in objects[i])
        try:
            with background() if quiet else nullcontext():  # re-scoring lets live calls go first
                outcome = self.pipeline.process(kind, ids, now=self.clock())
        except Exception as exc:
            log.warning("processing %d %s records failed: %s", len(ids), kind.value, exc)
            reason = f"{type(exc).__name__}: {exc}"[:2000]
            for object_id in ids:
                settled.failed[reason].extend(objects[object_id])
            return
        self._count(kind, outcome)
        for object_id in ids:
            if object_id in outcome.failed:
                settled.failed[outcome.failed[object_id]].extend(objects[object_id])
            else:
                settled.done.extend(objects[object_id])

    def _yield(self) -> None:
        """Let deliveries being stored go first (bounded): they have a client waiting."""
        if self.activity is not None:
            self.activity.wait_quiet(timeout=YIELD_TO_DELIVERIES)

    def _settle(self, settled: Settled) -> None:
        self._yield()
        now = self.clock()
        with open_session(self.database) as session:
            inbox.complete(session=session, ids=[e.id for e in settled.done if e.id], now=now)
            for reason, events in settled.failed.items():
                ids = [e.id for e in events if e.id]
                parked = inbox.fail(
                    session=session,
                    ids=ids,
                    error=reason,
                    now=now,
                    max_attempts=self.max_attempts,
                )
                if parked:
                    log.error("parked %d events after repeated failures: %s", parked, reason)
        if self.metrics is not None:
            for event in settled.done:
                self.metrics.event_latency.observe((now - event.received_at).total_seconds())

    def _count(self, kind: RecordKind, outcome: Outcome) -> None:
        if self.metrics is None:
            return
        crm = self.pipeline.crm.name
        self.metrics.records_tagged.labels(crm=crm, kind=kind.value).inc(len(outcome.tagged))
        self.metrics.crm_writes.labels(crm=crm).inc(outcome.written)
