"""The rollout of a new ICP version to every stored record (SPEC §8a).

When `serve` starts with an ICP version it has not rolled out, every stored account and
person is scored again under it in the background. The rollout does not write to any
CRM itself: it hands each HubSpot or Salesforce record to its CRM's worker through the
inbox (reason `rollout`, one event per record and version), exactly as the daily ageing
does. So the rollout inherits what the worker already guarantees:

- the record is read fresh, tagged, and written back only where the CRM does not hold
  the new fields yet, so a batch retried after a crash, a `kill -9` or a 429 storm is
  never written twice (the CRM already holds what the first attempt wrote);
- events are claimed under a lease by one replica at a time and retried with backoff;
  what keeps failing is parked and shown, never dropped;
- `rollout` events give way to live ones: the inbox hands out live events first, and
  their CRM calls are background calls (`integrations.ratelimit.background`), which wait
  while a live call waits and leave live traffic its share of the rate limit;
- a tier change on an account with a routing post replies in its thread (the worker's
  `Announce`); a record scored before is never "new", so no routing post is made.

This module only queues, a page at a time, and only while fewer than `AHEAD` rollout
events wait, so a pause takes effect at once and the inbox stays small. Its cursor lives
in the `rollout` row, queued in the same transaction as the events: a restart resumes
after the last page queued, never before and never after. A record live traffic has
already scored under this version is skipped. CSV records have no CRM to tell: they are
re-tagged in the store here.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine as Database
from sqlmodel import Session

from bot.store import inbox, repo, rollouts
from bot.store.db import read_session
from bot.store.db import session as open_session
from bot.store.inbox import ROLLOUT, InboxDrain, NewEvent, read_again
from bot.store.tables import Account, Contact, Rollout, RolloutState
from bot.sync.tagging import Tagger
from integrations.records import CrmRecord

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
LIVE_CRMS = frozenset({"hubspot", "salesforce"})
PAGE = 500  # stored rows looked at per step
AHEAD = 2000  # rollout events waiting in the inbox, at most, before the next page


@dataclass(frozen=True, slots=True)
class Progress:
    """Where a rollout is, for `icpbot status`, `icpbot rollout --status` and /metrics."""

    version: int
    state: str
    total: int
    done: int
    waiting: int  # queued, not yet processed
    parked: int  # failed repeatedly: `icpbot status --retry-parked` puts them back
    started_at: datetime
    finished_at: datetime | None
    rate: float  # records a second since it started
    eta: timedelta | None

    @property
    def remaining(self) -> int:
        return max(0, self.total - self.done)


def progress(session: Session, row: Rollout, now: datetime) -> Progress:
    counts = inbox.counts_for(session=session, reason=ROLLOUT)
    waiting, parked = counts["pending"], counts["parked"]
    done = min(row.total, row.queued + row.skipped - waiting - parked)
    end = row.finished_at or now
    elapsed = max((end - row.started_at).total_seconds(), 1e-9)
    rate = done / elapsed
    left = max(0, row.total - done)
    eta = timedelta(seconds=left / rate) if rate > 0 and left else None
    return Progress(
        row.version,
        row.state,
        row.total,
        done,
        waiting,
        parked,
        row.started_at,
        row.finished_at,
        rate,
        eta,
    )


def begin_rollout(database: Database, *, version: int, now: datetime) -> Rollout | None:
    """At start: the rollout of this version, created when the store holds records scored
    under another one. None when there is nothing to roll out (an empty store, or every
    record's newest score already has this version)."""
    with open_session(database) as session:
        found = session.get(Rollout, version)
        if found is not None:
            return found
        if not repo.has_scores_other_than(session=session, version=version):
            return None
        return rollouts.begin(session=session, version=version, now=now)


class RolloutDriver:
    """Queues the rollout of one version, a page at a time, in a thread of its own."""

    def __init__(
        self,
        *,
        database: Database,
        tagger: Tagger,
        drains: Mapping[str, InboxDrain],
        clock: Clock,
        interval: float = 1.0,
    ) -> None:
        self.database = database
        self.tagger = tagger
        self.drains = drains
        self.clock = clock
        self.interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def version(self) -> int:
        """The version being served, which a reload (`SIGHUP`) may have changed."""
        return self.tagger.version

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="rollout", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                queued = self.step()
            except Exception:
                log.exception("rollout of ICP v%d: a step failed; trying again", self.version)
                queued = 0
            if not queued:
                self._stop.wait(self.interval)

    def step(self) -> int:
        """Queue the next page if the inbox has room; finish when all is done. How many
        records were queued or re-tagged."""
        now = self.clock()
        with open_session(self.database) as session:
            row = rollouts.locked(session=session, version=self.version)
            if row is None or row.state != RolloutState.RUNNING.value:
                return 0
            counts = inbox.counts_for(session=session, reason=ROLLOUT)
            if counts["pending"] >= AHEAD:
                return 0
            events, retagged, skipped = self._next_page(session, row, now)
            inbox.store_events(session=session, events=events, now=now)
            row.queued += len(events) + retagged
            row.skipped += skipped
            row.updated_at = now
            exhausted = not (events or retagged or skipped)  # both cursors are past the end
            if exhausted and counts["pending"] == 0 and counts["parked"] == 0:
                row.state, row.finished_at = RolloutState.DONE.value, now
                log.info("rollout of ICP v%d finished: %d records", row.version, row.total)
            session.add(row)
        for crm in {e.source.removesuffix("-sweep") for e in events}:
            drain = self.drains.get(crm)
            if drain is not None:
                drain.wake()
        return len(events) + retagged + skipped

    def _next_page(
        self, session: Session, row: Rollout, now: datetime
    ) -> tuple[list[NewEvent], int, int]:
        """Accounts first, then people: (events to queue, CSV records re-tagged, records
        skipped because live traffic scored them under this version already); all empty
        once both cursors are past the last stored row."""
        accounts = repo.stored_page(
            session=session, model=Account, after=row.after_account, limit=PAGE
        )
        if accounts:
            row.after_account = accounts[-1].id or row.after_account
            keys = [a.domain for a in accounts]
            return self._page(session, accounts, keys, "account", now)
        people = repo.stored_page(
            session=session, model=Contact, after=row.after_person, limit=PAGE
        )
        if people:
            row.after_person = people[-1].id or row.after_person
            return self._page(session, people, [p.email for p in people], "contact", now)
        return [], 0, 0

    def _page(
        self,
        session: Session,
        rows: Sequence[Account | Contact],
        keys: Sequence[str],
        subject: str,
        now: datetime,
    ) -> tuple[list[NewEvent], int, int]:
        latest = repo.latest_for(session=session, subject=subject, keys=keys)
        version = self.version
        events: list[NewEvent] = []
        stored: list[CrmRecord] = []
        skipped = 0
        for stored_row, key in zip(rows, keys, strict=True):
            previous = latest.get(key)
            if previous is not None and previous.icp_version == version:
                skipped += 1
                continue
            record = repo.stored_record(stored_row)
            if record.crm in LIVE_CRMS and stored_row.crm_id:
                events.append(_event(record, version))
            else:
                stored.append(record)
        if stored:
            self.tagger.tag_many(session=session, records=stored, now=now)
        return events, len(stored), skipped


def _event(record: CrmRecord, version: int) -> NewEvent:
    return read_again(record.crm, record.kind, record.crm_id, reason=ROLLOUT, stamp=f"v{version}")


def pause(database: Database, *, version: int, now: datetime) -> bool:
    """Stop queueing and hold back what is queued; in-flight batches finish."""
    with open_session(database) as session:
        if not rollouts.set_state(
            session=session, version=version, state=RolloutState.PAUSED, now=now
        ):
            return False
        inbox.hold_back(session=session, reason=ROLLOUT)
    return True


def resume(database: Database, *, version: int, now: datetime) -> bool:
    with open_session(database) as session:
        if not rollouts.set_state(
            session=session, version=version, state=RolloutState.RUNNING, now=now
        ):
            return False
        inbox.release_held(session=session, reason=ROLLOUT, now=now)
    return True


def current(database: Database, *, now: datetime) -> Progress | None:
    """The newest rollout's progress, or None when there has been none."""
    with read_session(database) as session:
        row = rollouts.latest(session=session)
        return progress(session, row, now) if row is not None else None
