"""The lead pipeline for a listened-to CRM: ids in, records tagged and written back.

Given the ids of changed companies or contacts (from webhooks or the
sweep), it fetches them in batches, tags them (store, score, audit) in one
short transaction, and writes back only what the CRM does not hold yet.
`Outcome.tagged` says which records were scored for the first time: what a
routing post hangs off. Everything here is safe to run twice on the same ids.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from sqlalchemy import Engine as Database
from sqlmodel import Session

from bot.store import inbox, repo
from bot.store.db import read_session
from bot.store.db import session as open_session
from bot.store.inbox import read_again
from bot.sync.tagging import Tagged, Tagger
from integrations.base import LiveCrm, WriteReport
from integrations.records import RecordKind


class Announce(Protocol):
    """Told, inside the tagging transaction, what was just tagged, so what it queues (the
    Slack poster's routing posts, `bot.slack.poster.queue_posts`) commits with the scores:
    a crash between scoring and posting loses no post."""

    def __call__(self, session: Session, tagged: Sequence[Tagged], now: datetime) -> None: ...


@dataclass(slots=True)
class Outcome:
    """What processing a batch of ids did, per id."""

    done: set[str] = field(default_factory=set)  # tagged and told, or nothing to do
    failed: dict[str, str] = field(default_factory=dict)  # id → why the CRM refused it
    tagged: list[Tagged] = field(default_factory=list)
    written: int = 0


class Pipeline:
    """Fetch, tag and write back, for one CRM."""

    def __init__(
        self,
        *,
        crm: LiveCrm,
        database: Database,
        tagger: Tagger,
        announce: Announce | None = None,
    ) -> None:
        self.crm = crm
        self.database = database
        self.tagger = tagger
        self.announce = announce

    def process(self, kind: RecordKind, ids: Sequence[str], *, now: datetime) -> Outcome:
        """Tag these records; ids the CRM no longer has (or cannot key) count as done.

        Those the CRM says it deleted leave the store, in the transaction that
        tags the rest; a merged one's master is read and tagged first, so a
        master with the same key (email, domain) takes its row over and its
        history stays.
        """
        records = self.crm.fetch(kind, ids)
        found = {r.crm_id for r in records}
        absent = [i for i in ids if i not in found]
        removed = self.crm.removed(kind, absent) if absent else {}
        masters = sorted({m for m in removed.values() if m} - found - set(ids))
        if masters:
            records += self.crm.fetch(kind, masters)
        # Scored, compared with the store and its rows built before the write transaction
        # opens: on SQLite every webhook delivery waits for the one writer, and a chunk held
        # it 25 ms when it was scored inside. A record tagged by another worker in between
        # is compared with the score read before: at worst one more audit row, never a lost
        # one (as in a backfill).
        with read_session(self.database) as reading:
            prepared = self.tagger.prepare(session=reading, records=records, now=now)
        with open_session(self.database) as session:
            tagged = prepared.store(session)
            repo.remove_records(session=session, crm=self.crm.name, kind=kind, removed=removed)
            _follow_companies(session, self.crm.name, tagged, now)
            if self.announce is not None:
                self.announce(session, tagged, now)
        updates = [t.update for t in tagged if t.update is not None]
        report = self.crm.write_scores(updates) if updates else WriteReport()
        outcome = Outcome(tagged=tagged, written=report.written)
        outcome.failed = dict(report.failed)
        outcome.done = {i for i in ids if i not in outcome.failed}
        return outcome


def _follow_companies(session: Session, crm: str, tagged: list[Tagged], now: datetime) -> None:
    """The contacts and leads of accounts whose fit moved are read and tagged again.

    A person carries their company's fit (`icp_score`, `icp_tier`, ...), so a
    change to the company must reach them; a contact that arrived before its
    company gets the company's fit once the company is tagged. They go into
    the inbox, in this transaction, as events this worker claims next.
    """
    moved = {t.record.domain or "" for t in tagged if t.moved and not t.record.kind.is_person}
    moved.discard("")
    if not moved:
        return
    stamp = now.isoformat()
    events = [
        read_again(crm, RecordKind(kind), crm_id, reason="company", stamp=stamp)
        for kind, crm_id in repo.people_at(session=session, crm=crm, domains=moved)
    ]
    inbox.store_events(session=session, events=events, now=now)
