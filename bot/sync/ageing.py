"""The daily ageing of scores that move without any CRM change (SPEC §12).

A `within_days` criterion ("funded in the last 12 months") stops matching
on a day no CRM event announces. Once a day the stored copies of the
accounts and people with a value in such a field are scored again, and
those whose result now differs from their latest score are handed on: a
HubSpot or Salesforce record goes into the inbox like a sweep hit, so its
CRM's worker reads it fresh, stores the new score, writes back only what
the CRM does not hold yet and replies in the routing post's thread, with
the inbox's retries and parking; a CSV record has no CRM to tell and is
re-tagged in the store. People follow their company: when an account's
fit moves, its contacts' and leads' company fit moves with it.

Scores under an older ICP version are left alone: a different result there
is the ICP's change, not the calendar's, and re-scoring every account for
a new ICP is the backfill's job.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TypeVar

from apscheduler.triggers.base import BaseTrigger
from sqlalchemy import Engine as Database

from bot.schedule import Scheduled
from bot.store import inbox, repo
from bot.store.db import read_session
from bot.store.db import session as open_session
from bot.store.inbox import AGEING, InboxDrain, read_again
from bot.store.tables import Account, Contact
from bot.sync.tagging import Due, Tagger
from integrations.records import CrmRecord

log = logging.getLogger(__name__)

# The stored job's id: text in the job store, so it stays what it was first called.
JOB_ID = "daily-rescore"
GRACE = timedelta(hours=20)  # a run missed while the bot was down still happens the same day


DEFAULT_CRON = "0 5 * * *"  # daily, before the working day (and before Monday's digest)
LIVE_CRMS = frozenset({"hubspot", "salesforce"})  # records whose CRM is read again and told
PAGE = 1000  # stored rows looked at per query
_Row = TypeVar("_Row", Account, Contact)


@dataclass(slots=True)
class Requeued:
    """What a run handed on."""

    queued: Counter[str] = field(default_factory=Counter)  # by CRM: into its worker's inbox
    retagged: int = 0  # re-scored in the store only (CSV)

    def summary(self) -> str:
        parts = [f"{n} queued for {crm}" for crm, n in sorted(self.queued.items())]
        if self.retagged:
            parts.append(f"{self.retagged} re-scored in the store")
        return ", ".join(parts) or "nothing to re-score"


def find_due(*, database: Database, tagger: Tagger, now: datetime, page: int = PAGE) -> list[Due]:
    """Every stored account and person whose result today differs from its latest score."""
    icp = tagger.scorer.icp
    account_fields = icp.dated_fields()
    person_fields = account_fields | icp.dated_persona_fields()
    if not person_fields:
        return []
    due: list[Due] = []
    if account_fields:
        for records in _stored(database, Account, page, lambda r: _dated(r, account_fields)):
            due.extend(_due(database, tagger, records, now))
    moved = {d.record.domain for d in due}

    def person(record: CrmRecord) -> bool:
        return record.domain in moved or _dated(record, person_fields)

    for records in _stored(database, Contact, page, person):
        due.extend(_due(database, tagger, records, now))
    return due


def requeue(*, database: Database, tagger: Tagger, due: Sequence[Due], now: datetime) -> Requeued:
    """Hand the due records on: CRM records to their worker's inbox, CSV ones re-tagged here."""
    live = [d.record for d in due if d.record.crm in LIVE_CRMS]
    local = [d.record for d in due if d.record.crm not in LIVE_CRMS]
    stamp = now.date().isoformat()  # asked once a day per record, however often this runs
    events = [read_again(r.crm, r.kind, r.crm_id, reason=AGEING, stamp=stamp) for r in live]
    with open_session(database) as session:
        inbox.store_events(session=session, events=events, now=now)
        if local:
            tagger.tag_many(session=session, records=local, now=now)
    return Requeued(Counter(r.crm for r in live), len(local))


class AgeingJob:
    """What the daily scheduled job runs: find what aged, hand it on, wake the CRMs' workers."""

    def __init__(
        self,
        *,
        database: Database,
        tagger: Tagger,
        drains: Sequence[InboxDrain] = (),
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.database = database
        self.tagger = tagger
        self.drains = tuple(drains)
        self.clock = clock

    def __call__(self) -> Requeued:
        now = self.clock()
        due = find_due(database=self.database, tagger=self.tagger, now=now)
        done = requeue(database=self.database, tagger=self.tagger, due=due, now=now)
        if done.queued:
            for drain in self.drains:
                drain.wake()
        log.info("daily ageing of time-based scores: %s", done.summary())
        return done

    def scheduled(self, trigger: BaseTrigger) -> Scheduled:
        return Scheduled(JOB_ID, "daily ageing of time-based scores", trigger, self, GRACE)


def _stored(
    database: Database,
    model: type[_Row],
    page: int,
    wanted: Callable[[CrmRecord], bool],
) -> Iterator[list[CrmRecord]]:
    """The stored records `wanted` picks, a page of rows at a time."""
    after = 0
    while True:
        with read_session(database) as session:
            rows = repo.stored_page(session=session, model=model, after=after, limit=page)
            records = [repo.stored_record(row) for row in rows]
        if not rows:
            return
        after = rows[-1].id or after
        picked = [r for r in records if wanted(r)]
        if picked:
            yield picked


def _due(database: Database, tagger: Tagger, records: list[CrmRecord], now: datetime) -> list[Due]:
    with read_session(database) as session:
        return tagger.due(session=session, records=records, now=now)


def _dated(record: CrmRecord, names: Collection[str]) -> bool:
    """The record has a value in one of the fields whose result moves with the calendar."""
    return any(record.fields.get(name) not in (None, "", []) for name in names)
