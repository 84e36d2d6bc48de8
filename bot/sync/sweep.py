"""Asking a CRM what changed since a stored checkpoint, every few minutes or seconds.

For HubSpot it is the safety net for missed webhooks: HubSpot gives up on
a delivery after retrying for hours, and a subscription can be paused or
misconfigured. For Salesforce (SOQL on `SystemModstamp`) it is how changes
are heard where Change Data Capture is not (`bot.sync.cdc`), and its safety
net, at a slower pace, where it is. Either way what changed goes into the inbox like any
event. Its keys are the object and its modification time, so a
sweep that overlaps the webhooks or the previous sweep stores nothing new.
icpbot's own write-backs show up here too; they cost a read and compare
equal, so nothing loops. Each round also stores the deals changed since
the deal checkpoint (`bot.sync.deals`): HubSpot sends no webhook for them,
and calibration wants the outcomes of deals closed since the backfill.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Protocol

from more_itertools import chunked
from sqlalchemy import Engine as Database

from bot.metrics import Metrics
from bot.store import checkpoints, inbox
from bot.store.db import session as open_session
from bot.store.inbox import OBJECT_TYPES, InboxDrain, NewEvent, read_again
from bot.sync.deals import sweep_deals
from integrations.base import LiveCrm
from integrations.ratelimit import background
from integrations.records import RecordKind

log = logging.getLogger(__name__)

BATCH = 500


def sweep_checkpoint(crm: str, kind: RecordKind) -> str:
    return f"{crm}.sweep.{OBJECT_TYPES[kind]}"


def sweep(
    *,
    crm: LiveCrm,
    database: Database,
    now: datetime,
    first_lookback: timedelta = timedelta(hours=1),
) -> int:
    """Put every record changed since the checkpoint in the inbox; how many were new.

    With no checkpoint yet it looks back `first_lookback`: history is the
    backfill's job, not the sweep's.
    """
    stored = 0
    for kind in (RecordKind.ACCOUNT, crm.person_kind):
        stored += _sweep_kind(crm, database, kind, now, first_lookback)
    return stored


def _sweep_kind(
    crm: LiveCrm, database: Database, kind: RecordKind, now: datetime, lookback: timedelta
) -> int:
    name = sweep_checkpoint(crm.name, kind)
    with open_session(database) as session:
        saved = checkpoints.get(session=session, name=name)
    since = datetime.fromisoformat(saved) if saved else now - lookback
    stored = 0
    changes = crm.modified_since(kind, since)
    for batch in chunked(changes, BATCH):
        latest = max(modified for _, modified in batch)
        with open_session(database) as session:
            events = [_event(crm.name, kind, object_id, at) for object_id, at in batch]
            stored += inbox.store_events(session=session, events=events, now=now)
            checkpoints.save(session=session, name=name, value=latest.isoformat(), now=now)
    if saved is None:
        with open_session(database) as session:
            if checkpoints.get(session=session, name=name) is None:
                checkpoints.save(session=session, name=name, value=since.isoformat(), now=now)
    return stored


def _event(crm: str, kind: RecordKind, object_id: str, modified: datetime) -> NewEvent:
    stamp = modified.isoformat()
    return read_again(
        crm, kind, object_id, reason="sweep", stamp=stamp, payload={"modifiedAt": stamp}
    )


class Hold(Protocol):
    """Why to skip this round (e.g. Salesforce's daily API budget nearly spent), or None."""

    def __call__(self) -> str | None: ...


class Sweeper:
    """Runs `sweep` every `interval` seconds in a background thread; what it stores is
    drained by the CRM's worker, woken at once. Then `sweep_deals`: a failure of either
    (a token without the deals scope, say) leaves the other to run.

    While Change Data Capture covers the CRM's changes (`covered`), it is only the safety
    net and runs every `safety_interval` seconds instead: every round costs API requests
    from the org's daily allowance, changed or not.
    """

    def __init__(
        self,
        *,
        crm: LiveCrm,
        database: Database,
        interval: float,
        drain: InboxDrain,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        hold: Hold | None = None,
        safety_interval: float | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self.crm = crm
        self.database = database
        self.interval = interval
        self.safety_interval = safety_interval or interval
        self._covered = False  # Change Data Capture is heard: poll at the safety interval
        self.metrics = metrics
        self.drain = drain
        self.clock = clock
        self.hold = hold or (lambda: None)
        self._held: str | None = None  # why the last round held off, said once
        self._deals_failed: str | None = None  # why the last deal sweep failed, said once
        self._stop = threading.Event()
        self._woken = threading.Event()
        self._thread: threading.Thread | None = None

    def wake(self) -> None:
        """Run a round now rather than at the next interval (Change Data Capture lost track:
        a gap too big to describe, a replay id no longer kept)."""
        self._woken.set()

    def covered(self, by_changes: bool) -> None:
        """Whether Change Data Capture hears the CRM's changes now. When it stops, a round
        runs at once (what came while it was failing) and then every `interval` again."""
        was, self._covered = self._covered, by_changes
        if was == by_changes:
            return
        self._show_pace()
        if by_changes:
            log.info(
                "%s: changes are heard as they happen; polling every %.0fs as a safety net",
                self.crm.name,
                self.safety_interval,
            )
        else:
            log.info("%s: polling every %.0fs", self.crm.name, self.interval)
            self._woken.set()

    def pace(self) -> float:
        """Seconds until the next round, unless woken."""
        return self.safety_interval if self._covered else self.interval

    def _show_pace(self) -> None:
        if self.metrics is not None:
            self.metrics.poll_seconds.labels(crm=self.crm.name).set(self.pace())

    def start(self) -> None:
        self._show_pace()
        self._thread = threading.Thread(target=self._run, name="sweep", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._woken.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        while True:
            self._woken.wait(self.pace())
            self._woken.clear()
            if self._stop.is_set():
                return
            if self._holding():
                continue
            with background():  # a safety net: webhooks' and lookups' calls go first
                self._records()
                self._deals()

    def _holding(self) -> bool:
        """Whether to skip this round; a change of reason is said once."""
        try:
            reason = self.hold()
        except Exception:  # a hold that cannot tell must not stop the poll for good
            log.exception("%s: could not tell whether to hold off", self.crm.name)
            reason = None
        if reason != self._held:
            if reason:
                log.warning("%s: not asking for changes for now: %s", self.crm.name, reason)
            else:
                log.info("%s: asking for changes again", self.crm.name)
            self._held = reason
        return bool(reason)

    def _records(self) -> None:
        try:
            stored = sweep(crm=self.crm, database=self.database, now=self.clock())
        except Exception:
            log.exception("%s sweep failed; next try in %.0fs", self.crm.name, self.pace())
            return
        if stored:
            log.info("%s: %d changed records found by asking what changed", self.crm.name, stored)
            self.drain.wake()

    def _deals(self) -> None:
        """Load the changed deals; a failure that repeats itself is logged once."""
        try:
            done = sweep_deals(crm=self.crm, database=self.database, now=self.clock())
        except Exception as exc:
            said = _gist(exc)
            if said != self._deals_failed:
                log.exception(
                    "%s deal sweep failed; trying every %.0fs", self.crm.name, self.pace()
                )
            self._deals_failed = said
            return
        if self._deals_failed:
            log.info("%s deal sweep works again", self.crm.name)
        self._deals_failed = None
        if done.stored or done.skipped or done.removed:
            log.info(
                "%s: %d changed deals stored, %d without an account skipped, %d deleted removed",
                self.crm.name,
                done.stored,
                done.skipped,
                done.removed,
            )


def _gist(exc: BaseException) -> str:
    """What kind of failure it is, without what changes from one try to the next (an
    error body's correlation id): a repeat of the same failure is not logged again."""
    first = str(exc).strip().splitlines()[:1]
    return f"{type(exc).__name__}: {first[0] if first else ''}"
