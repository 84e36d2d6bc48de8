"""Salesforce heard in real time: Change Data Capture into the inbox, by one replica.

A record created or changed in Salesforce is on the org's change channel
within a second; the poll (`bot.sync.sweep`) would find it at its next
round. The listener stores each change as an inbox event, as a webhook is
stored, so the worker, the write-back, retries and parking are the ones that
exist, and in the same transaction the replay id to resume after: a restart
resumes there (Salesforce keeps 72 hours), so nothing that happened while
icpbot was down is lost, and an event stored twice has the same key and is
stored once.

- icpbot's own write-backs name it as their client (`client=icpbot`): their
  change events are skipped without a read, so nothing loops.
- A gap (`GAP_UPDATE`...: Salesforce could not say what changed) is its
  records read again; `GAP_OVERFLOW` (too many changes in one transaction to
  list) and a replay id no longer kept wake the poll, which keeps running at
  a slow interval as the safety net and catches up from its own checkpoint.
- Any other failure (the database refusing a write, say) is logged and the
  stream opened again after the stored id; the poll, told changes are not
  heard, runs at once and catches what came before any id was stored (a
  first subscription starts at the tip).
- The poll is told whether changes are heard (`SafetyNet.covered`): while a
  subscription is up (the service has answered: events or a keepalive, which
  Salesforce sends within minutes) and the org has selected Account and Lead for Change
  Data Capture, or another replica listens, it polls at its safety pace;
  otherwise (the org selected neither, the stream is lost) at its full pace.
- An opportunity's change wakes the poll too: deals are stored by its deal
  sweep, which calibration reads. A deleted one leaves the store at once.
- A deleted or merged Account or Lead is read again like any change: the
  pipeline finds it gone and removes it from the store (`Pipeline.process`).
- One subscriber per database: the replica holding the listener's leader
  lock listens; the others stand by and take over when it goes.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from contextlib import closing
from datetime import UTC, datetime
from typing import Protocol

from sqlalchemy import Engine as Database

from bot.metrics import Metrics
from bot.schedule import LeaderLock
from bot.store import checkpoints, inbox, repo
from bot.store.db import read_session
from bot.store.db import session as open_session
from bot.store.inbox import InboxDrain, NewEvent, read_again
from integrations.records import RecordKind
from integrations.salesforce import CLIENT_NAME
from integrations.salesforce_events import (
    ALL_CHANGES,
    ChangeEvent,
    ChangeStream,
    Heard,
    ReplayExpired,
    StreamLost,
)

log = logging.getLogger(__name__)

CHECKPOINT = "salesforce.cdc"  # the replay id to resume after, hex
LOCK_KEY = 0x1C9B0C  # pg_advisory_lock key (with the schema's): "only one change listener"
# Seconds between a standby's tries to take the listener's lock: short, as while no one
# listens new leads wait for the poll (what came meanwhile is replayed on taking over).
RETRY_LEADER = 5.0
RECONNECT = (1.0, 60.0)  # first and longest wait before listening again after a failure
# The entities read and tagged through the Salesforce adapter; others' events are ignored.
KINDS = {"Account": RecordKind.ACCOUNT, "Lead": RecordKind.LEAD}
SETUP = "icpbot crm setup salesforce"


class SafetyNet(Protocol):
    """The poll that catches what Change Data Capture misses (`bot.sync.sweep.Sweeper`)."""

    def wake(self) -> None:
        """Poll now: changes were missed (an overflow, a replay id no longer kept)."""

    def covered(self, by_changes: bool) -> None:
        """Whether changes are heard as they happen, so the poll can slow down."""


class ChangeListener:
    """Listens to an org's change channel in a background thread while it holds the lock.

    `entities` says which entities the org has selected for Change Data Capture
    (`SalesforceCrm.cdc_entities`), asked once a connection; without it all are
    taken as selected.
    """

    def __init__(
        self,
        *,
        stream: ChangeStream,
        database: Database,
        drain: InboxDrain,
        poll: SafetyNet,
        entities: Callable[[], frozenset[str]] | None = None,
        metrics: Metrics | None = None,
        crm: str = "salesforce",
        topic: str = ALL_CHANGES,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        retry_leader: float = RETRY_LEADER,
        reconnect: tuple[float, float] = RECONNECT,
    ) -> None:
        self.stream = stream
        self.database = database
        self.drain = drain
        self.poll = poll
        self.entities = entities
        self.metrics = metrics
        self.crm = crm
        self.topic = topic
        self.clock = clock
        self.retry_leader = retry_leader
        self.reconnect = reconnect
        self.lock = LeaderLock(database, key=LOCK_KEY, name="cdc", per_schema=True)
        self.listening = threading.Event()  # set while this replica holds the lock
        self._lost: str | None = None  # why the stream was last lost, until it is heard again
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="cdc", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        self.listening.clear()
        self.lock.release()

    def _run(self) -> None:
        while not self._stop.is_set():
            if self.lock.acquire():
                self.listening.set()
                log.info(
                    "salesforce: this replica subscribes to %s (Change Data Capture)", self.topic
                )
                self._listen()
                return
            self.poll.covered(True)  # another replica listens (and polls while it cannot)
            self._stop.wait(self.retry_leader)

    def _listen(self) -> None:
        """Listen until stopped: after a failure, again from the stored replay id."""
        wait = self.reconnect[0]
        while not self._stop.is_set():
            try:
                selected, up = self._selected(), False
                # Closed as soon as it is left, even by an exception: a traceback kept (in a
                # log record) would otherwise keep the old subscription open beside the next.
                with closing(
                    self.stream.listen(self.topic, after=self._after(), stop=self._stop)
                ) as stream:
                    for heard in stream:
                        self._keep(heard)
                        if not up:  # heard from: the stream is up (a failed one never says so)
                            up, wait = True, self.reconnect[0]
                            self._covered(selected)
                            self._back()
            except ReplayExpired:
                log.warning(
                    "salesforce: the stored replay id is older than Salesforce keeps; "
                    "listening from now, and polling to catch up on what came between"
                )
                self._forget()
                self._covered(False)
                self.poll.wake()
            except StreamLost as lost:
                self._said_lost(lost, wait)
                wait = self._pause(wait)
            except Exception:  # the database, say: the listener must outlive it, the poll cover
                log.exception("salesforce: listening to changes failed; again in %.0fs", wait)
                wait = self._pause(wait)

    def _pause(self, wait: float) -> float:
        """Not heard: the poll at its full pace, and `wait` before listening again; the
        next wait, twice as long up to the longest."""
        self._covered(False)
        self._stop.wait(wait)
        return min(wait * 2, self.reconnect[1])

    def _back(self) -> None:
        if self._lost is not None:
            log.info("salesforce: listening to changes again")
            self._lost = None

    def _said_lost(self, lost: StreamLost, wait: float) -> None:
        """A lost stream, said as a warning once per reason (with what to do); its repeats
        while reconnecting at growing intervals only at INFO."""
        reason = str(lost)
        hint = f": {lost.hint}" if lost.hint else ""
        level = logging.INFO if reason == self._lost else logging.WARNING
        log.log(
            level,
            "salesforce: change stream lost (%s)%s; polling at the full pace meanwhile, "
            "listening again in %.0fs",
            reason,
            hint,
            wait,
        )
        self._lost = reason

    def _covered(self, yes: bool) -> None:
        """Tell the poll (and /metrics) whether this replica hears Account's and Lead's
        changes as they happen."""
        if self.metrics is not None:
            self.metrics.change_stream_up.set(1 if yes else 0)
        self.poll.covered(yes)

    def _selected(self) -> bool:
        """Whether the org sends Account's and Lead's changes; if not, why is logged."""
        if self.entities is None:
            return True
        try:
            selected = self.entities()
        except Exception as exc:  # no Tooling API access, say: listen, and keep polling
            log.warning(
                "salesforce: could not read which entities send change events (%s); "
                "polling at the full pace as well",
                exc,
            )
            return False
        absent = sorted(set(KINDS) - selected)
        if absent:
            log.warning(
                "salesforce: Change Data Capture is not on for %s in this org: run `%s`, or "
                "select it in Setup > Change Data Capture; polling at the full pace meanwhile",
                " and ".join(absent),
                SETUP,
            )
        return not absent

    def _after(self) -> bytes | None:
        with read_session(self.database) as session:
            saved = checkpoints.get(session=session, name=CHECKPOINT)
        return bytes.fromhex(saved) if saved else None

    def _forget(self) -> None:
        with open_session(self.database) as session:
            checkpoints.save(session=session, name=CHECKPOINT, value="", now=self.clock())

    def _keep(self, heard: Heard) -> None:
        """Store what was heard and the id to resume after, together; wake who is needed."""
        events: list[NewEvent] = []
        deals_gone: list[str] = []
        poll = False
        for change in heard.events:
            action = what_to_do(change)
            if self.metrics is not None:
                self.metrics.changes_heard.labels(action=action).inc()
            if action == "read":
                events += self._reads(change)
            elif action == "removed":
                deals_gone += change.record_ids  # nothing to read: the deal is gone
            poll = poll or action == "poll"
        if not heard.latest_replay_id and not events and not deals_gone:
            return
        now = self.clock()
        with open_session(self.database) as session:
            stored = inbox.store_events(session=session, events=events, now=now) if events else 0
            repo.remove_deals(session=session, crm=self.crm, crm_ids=deals_gone)
            if heard.latest_replay_id:
                checkpoints.save(
                    session=session, name=CHECKPOINT, value=heard.latest_replay_id.hex(), now=now
                )
        if stored:
            self.drain.wake()
        if poll:
            self.poll.wake()

    def _reads(self, change: ChangeEvent) -> list[NewEvent]:
        """Inbox events to read, tag and write back the changed records: a deleted (or
        merged-away) one too, which the pipeline finds gone and removes from the store."""
        kind, stamp = KINDS[change.entity], change.replay_id.hex()
        return [
            read_again(self.crm, kind, record_id, reason="cdc", stamp=stamp)
            for record_id in change.record_ids
        ]


def what_to_do(change: ChangeEvent) -> str:
    """What a change asks of icpbot (also the label it is counted under)."""
    if change.entity == "Opportunity":  # deals are stored by the poll's deal sweep
        return "removed" if change.change_type == "DELETE" else "poll"
    if change.change_type == "GAP_OVERFLOW":  # too many to list: the poll finds them
        return "poll"
    if change.entity not in KINDS:
        return "ignored"
    if change.change_type == "UPDATE" and change.client == CLIENT_NAME:
        return "own"  # icpbot's own write-back: nothing to read
    return "read"
