"""Backfill: every record of a CRM, scored, stored and written back in batches.

Accounts go first so that contacts find their company's score; deals last.
Each batch is one transaction and one CRM write, so an interruption loses
at most the batch in flight and a re-run skips what is already tagged.
`dry_run` scores everything inside a transaction that is rolled back.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from itertools import islice
from typing import TypeVar

from sqlalchemy import Engine as Database
from sqlmodel import Session

from bot.store import repo
from bot.store.db import session as open_session
from bot.tagging import Tagged, Tagger
from integrations.base import Crm, Deal, RowError, ScoreUpdate, WriteReport

BATCH_SIZE = 500
T = TypeVar("T")
Progress = Callable[[str, int], None]


@dataclass(slots=True)
class BackfillReport:
    """What a backfill did, for the summary line and for tests."""

    scored: Counter[str] = field(default_factory=Counter)  # by record kind
    new: int = 0
    changed: int = 0
    unchanged: int = 0
    tiers: Counter[str] = field(default_factory=Counter)  # accounts by tier
    deals: int = 0
    written: int = 0
    write_failures: dict[str, str] = field(default_factory=dict)
    skipped_rows: list[RowError] = field(default_factory=list)
    tagged: list[Tagged] = field(default_factory=list)  # kept only when asked (the demo)

    def count(self, tagged: Tagged) -> None:
        self.scored[tagged.record.kind.value] += 1
        if tagged.is_new:
            self.new += 1
        elif tagged.update is not None:
            self.changed += 1
        else:
            self.unchanged += 1
        if not tagged.record.kind.is_person and tagged.score is not None:
            self.tiers[tagged.score.tier.value] += 1


def batches(items: Iterable[T], size: int) -> Iterator[list[T]]:
    iterator = iter(items)
    while batch := list(islice(iterator, size)):
        yield batch


def backfill(
    crm: Crm,
    *,
    database: Database,
    tagger: Tagger,
    now: datetime,
    icp_text: str,
    dry_run: bool = False,
    progress: Progress | None = None,
    keep_tagged: bool = False,
    batch_size: int = BATCH_SIZE,
) -> BackfillReport:
    """Tag every account, then every person, then load deals."""
    report = BackfillReport()
    step = progress or (lambda kind, n: None)
    with open_session(database) as session:
        tagger.record_version(session=session, icp_text=icp_text, now=now)
        if dry_run:
            _tag_all(crm, session, tagger, now, report, step, keep_tagged, batch_size, None)
            session.rollback()
            return _finish(crm, report)
    with open_session(database) as session:
        _tag_all(crm, session, tagger, now, report, step, keep_tagged, batch_size, crm)
        report.deals = _load_deals(session, crm.deals(), step)
    return _finish(crm, report)


def _tag_all(
    crm: Crm,
    session: Session,
    tagger: Tagger,
    now: datetime,
    report: BackfillReport,
    step: Progress,
    keep_tagged: bool,
    batch_size: int,
    write_to: Crm | None,
) -> None:
    for kind, records in (("accounts", crm.accounts()), ("people", crm.people())):
        for batch in batches(records, batch_size):
            tagged = tagger.tag_many(session=session, records=batch, now=now)
            for item in tagged:
                report.count(item)
            if keep_tagged:
                report.tagged.extend(tagged)
            if write_to is not None:
                session.commit()
                _write(write_to, [t.update for t in tagged if t.update], report)
            else:
                session.flush()
            step(kind, len(batch))


def _write(crm: Crm, updates: list[ScoreUpdate], report: BackfillReport) -> None:
    if not updates:
        return
    result: WriteReport = crm.write_scores(updates)
    report.written += result.written
    report.write_failures.update(result.failed)


def _load_deals(session: Session, deals: Iterable[Deal], step: Progress) -> int:
    loaded = 0
    for batch in batches(deals, BATCH_SIZE):
        for deal in batch:
            if deal.domain is None or deal.created_at is None:
                continue
            repo.upsert_deal(
                session=session, crm="csv", crm_id=deal.crm_id, account_domain=deal.domain,
                name=deal.name, stage=deal.stage, amount=deal.amount,
                created_at=deal.created_at, closed_at=deal.closed_at,
            )  # fmt: skip
            loaded += 1
        session.commit()
        step("deals", len(batch))
    return loaded


def _finish(crm: Crm, report: BackfillReport) -> BackfillReport:
    report.skipped_rows = crm.errors()
    return report
