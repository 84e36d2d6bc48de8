"""Backfill: every record of a CRM, scored, stored and written back a page at a time.

Accounts go first so that people find their company's score; deals last.
Each page is one transaction and one CRM write, and after it a checkpoint
records the page cursor: an interrupted backfill (a crash, Ctrl-C, a CRM
outage that outlasted the retries) resumes after the last finished page,
and a page done twice is harmless because tagging is idempotent. The next
page is fetched while the current one is tagged and written, so a
rate-limited CRM is kept busy; a page is scored and its rows encoded
before its transaction opens (`Tagger.prepare`), so those threads' own
database work never waits behind the scoring. `dry_run` scores everything
inside a transaction that is rolled back and touches no checkpoint.
"""

from __future__ import annotations

import contextvars
import gc
import queue
import sys
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol, TypeVar

import orjson
from more_itertools import chunked
from sqlalchemy import Engine as Database
from sqlmodel import Session

from bot.store import checkpoints
from bot.store.db import read_session
from bot.store.db import session as open_session
from bot.sync.deals import store_deal
from bot.sync.tagging import Tagged, Tagger
from integrations.base import Crm, LiveCrm, Page, RowError, ScoreUpdate, WriteReport
from integrations.ratelimit import background
from integrations.records import RecordKind

BATCH_SIZE = 500
T = TypeVar("T")
STAGES = (("accounts", RecordKind.ACCOUNT), ("people", RecordKind.CONTACT))


class Progress(Protocol):
    """Where a backfill reports how far it got (a progress bar, or nothing)."""

    def begin(self, stage: str, *, total: int | None, done: int) -> None: ...

    def __call__(self, stage: str, n: int) -> None: ...


class NoProgress:
    def begin(self, stage: str, *, total: int | None, done: int) -> None:
        pass

    def __call__(self, stage: str, n: int) -> None:
        pass


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
    resumed: dict[str, int] = field(default_factory=dict)  # stage → records done before
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


@dataclass(frozen=True, slots=True)
class Position:
    """A stage's checkpoint: the cursor after the last finished page, and records done."""

    after: str | None
    done: int

    def dumps(self) -> str:
        return orjson.dumps({"after": self.after, "done": self.done}).decode()

    @classmethod
    def loads(cls, text: str | None) -> Position:
        if not text:
            return cls(None, 0)
        data = orjson.loads(text)
        return cls(data.get("after"), int(data.get("done") or 0))


SWITCH_INTERVAL = 0.001  # seconds a busy thread keeps the GIL from one that waits for it
YOUNG_COLLECTION = 10_000  # allocations between two collections of the youngest objects


@contextmanager
def _tuned_for_pages() -> Iterator[None]:
    """The interpreter set for a backfill's threads while it runs, and set back after.

    The main thread tags pages, pure CPU, while the prefetch and write-back
    threads wait on the CRM and the database; every time one of them returns
    from a socket or SQLite call it needs the GIL back, and at the default
    switch interval (5 ms) it waited up to that long at each return: on a
    busy machine a 50 ms sObject Collections call took about 250 ms, at 1 ms
    about 180 ms, and the run's CPU time did not measurably change.

    What exists before the first page (modules, the compiled ICP, the ORM's
    metadata) lives as long as the run: frozen, it is no longer scanned by
    every full collection the pages in flight set off; and the youngest
    generation is collected every 10,000 allocations, not every 700, as a
    page makes tens of thousands of objects that reference counting frees.
    Together they took the collector's share of a 50,000-Account backfill
    from about 3 s of CPU to under 1 s.
    """
    interval, thresholds = sys.getswitchinterval(), gc.get_threshold()
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG_COLLECTION, *thresholds[1:])
    sys.setswitchinterval(SWITCH_INTERVAL)
    try:
        yield
    finally:
        sys.setswitchinterval(interval)
        gc.set_threshold(*thresholds)
        gc.unfreeze()


def backfill_checkpoint(crm: str, stage: str) -> str:
    return f"{crm}.backfill.{stage}"


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
    batch_size: int | None = None,
    resume: bool = True,
) -> BackfillReport:
    """Tag every account, then every person, then load deals; resume where a run stopped.

    Pages are as large as the CRM serves best (`crm.page_size`) unless `batch_size` says.
    Its CRM calls are background calls: live traffic goes first.
    """
    with background(), _tuned_for_pages():
        size = batch_size or crm.page_size
        run = _Run(crm, database, tagger, now, progress or NoProgress(), keep_tagged, size)
        if dry_run:
            with open_session(database) as session:
                tagger.record_version(session=session, icp_text=icp_text, now=now)
                for stage, kind in STAGES:
                    run.dry(session, stage, kind)
                session.rollback()
            return run.finish()
        with open_session(database) as session:
            tagger.record_version(session=session, icp_text=icp_text, now=now)
        for stage, kind in STAGES:
            run.stage(stage, kind, resume=resume)
        with open_session(database) as session:
            run.report.deals = _load_deals(session, crm, run.progress)
            for stage, _ in STAGES:
                checkpoints.clear(session=session, name=backfill_checkpoint(crm.name, stage))
        return run.finish()


class _Run:
    """One backfill's state, so each step is a short method."""

    def __init__(
        self,
        crm: Crm,
        database: Database,
        tagger: Tagger,
        now: datetime,
        progress: Progress,
        keep_tagged: bool,
        batch_size: int,
    ) -> None:
        self.crm = crm
        self.database = database
        self.tagger = tagger
        self.now = now
        self.progress = progress
        self.keep_tagged = keep_tagged
        self.batch_size = batch_size
        self.report = BackfillReport()

    def stage(self, stage: str, kind: RecordKind, *, resume: bool) -> None:
        name = backfill_checkpoint(self.crm.name, stage)
        with open_session(self.database) as session:
            saved = checkpoints.get(session=session, name=name) if resume else None
        position = Position.loads(saved)
        if position.done:
            self.report.resumed[stage] = position.done
        self.progress.begin(stage, total=self._total(kind), done=position.done)
        done = position.done
        pages = self.crm.pages(kind, after=position.after, size=self.batch_size)
        writer = _Writer(self, stage, name)
        try:
            for page in prefetch(pages):
                tagged = self._store(page)
                done += len(page.records)
                writer.put([t.update for t in tagged if t.update], Position(page.after, done), page)
        finally:
            writer.close()

    def write_page(
        self, stage: str, name: str, updates: list[ScoreUpdate], at: Position, n: int
    ) -> None:
        """Write a page back, then move its checkpoint past it: in this order, or it is redone."""
        self._write(updates)
        with open_session(self.database) as session:
            checkpoints.save(session=session, name=name, value=at.dumps(), now=self.now)
        self.progress(stage, n)

    def dry(self, session: Session, stage: str, kind: RecordKind) -> None:
        self.progress.begin(stage, total=self._total(kind), done=0)
        for page in prefetch(self.crm.pages(kind, size=self.batch_size)):
            self._tag(session, page)
            session.flush()
            self.progress(stage, len(page.records))

    def finish(self) -> BackfillReport:
        self.report.skipped_rows = self.crm.errors()
        return self.report

    def _store(self, page: Page) -> list[Tagged]:
        """Tag a page: prepared (read, scored, its rows encoded) outside any write transaction,
        then stored in a short one, so the other threads' database work (the CRM's
        rate-limit slots, the checkpoint of the page being written back) waits only for
        the statements. A record tagged by `serve` in between is compared with the score
        read before: at worst one more audit row, never a lost one."""
        with read_session(self.database) as session:
            prepared = self.tagger.prepare(session=session, records=page.records, now=self.now)
        with open_session(self.database) as session:
            return self._counted(prepared.store(session))

    def _tag(self, session: Session, page: Page) -> list[Tagged]:
        return self._counted(
            self.tagger.tag_many(session=session, records=page.records, now=self.now)
        )

    def _counted(self, tagged: list[Tagged]) -> list[Tagged]:
        for item in tagged:
            self.report.count(item)
        if self.keep_tagged:
            self.report.tagged.extend(tagged)
        return tagged

    def _write(self, updates: list[ScoreUpdate]) -> None:
        if not updates:
            return
        result: WriteReport = self.crm.write_scores(updates)
        self.report.written += result.written
        self.report.write_failures.update(result.failed)

    def _total(self, kind: RecordKind) -> int | None:
        return self.crm.count(kind) if isinstance(self.crm, LiveCrm) else None


class _Writer:
    """Writes pages back and checkpoints them in order, in a thread, while the next is tagged.

    The CRM write of one page overlaps the database work of the next, so a
    rate-limited CRM is never left waiting on us. The first error stops the
    writing and is raised in the caller at its next page or at `close`; the
    checkpoint never passes a page that was not written.
    """

    def __init__(self, run: _Run, stage: str, name: str) -> None:
        self.run = run
        self.stage = stage
        self.name = name
        self.error: BaseException | None = None
        self.queue: queue.Queue[tuple[list[ScoreUpdate], Position, int] | None] = queue.Queue(2)
        # In the caller's context: a backfill's CRM calls stay background calls.
        context = contextvars.copy_context()
        self.thread = threading.Thread(
            target=context.run, args=(self._drain,), name="write-back", daemon=True
        )
        self.thread.start()

    def put(self, updates: list[ScoreUpdate], at: Position, page: Page) -> None:
        self._raise()
        self.queue.put((updates, at, len(page.records)))

    def close(self) -> None:
        self.queue.put(None)
        self.thread.join()
        self._raise()

    def _raise(self) -> None:
        if self.error is not None:
            raise self.error

    def _drain(self) -> None:
        while (item := self.queue.get()) is not None:
            if self.error is None:
                try:
                    self.run.write_page(self.stage, self.name, *item)
                except BaseException as exc:
                    self.error = exc


def prefetch(pages: Iterator[Page], depth: int = 2) -> Iterator[Page]:
    """The same pages, the next ones fetched in a thread while the caller works on this one.

    An error in the fetching thread is raised here, in order, after the
    pages that came before it; a caller that stops early stops the thread.
    """
    slots: queue.Queue[tuple[Page | None, BaseException | None]] = queue.Queue(depth)
    stop = threading.Event()

    def fetch() -> None:
        try:
            for page in pages:
                while not stop.is_set():
                    try:
                        slots.put((page, None), timeout=0.2)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            slots.put((None, None))
        except BaseException as exc:
            slots.put((None, exc))

    context = contextvars.copy_context()  # the caller's: background calls stay background
    thread = threading.Thread(target=context.run, args=(fetch,), name="prefetch", daemon=True)
    thread.start()
    try:
        while True:
            page, error = slots.get()
            if error is not None:
                raise error
            if page is None:
                return
            yield page
    finally:
        stop.set()
        thread.join(timeout=5)


def _load_deals(session: Session, crm: Crm, progress: Progress) -> int:
    """Every deal the CRM has, upserted 500 a transaction; how many were stored."""
    loaded = 0
    progress.begin("deals", total=None, done=0)
    for batch in chunked(crm.deals(), BATCH_SIZE):
        loaded += sum(store_deal(session=session, crm=crm.name, deal=deal) for deal in batch)
        session.commit()
        progress("deals", len(batch))
    return loaded
