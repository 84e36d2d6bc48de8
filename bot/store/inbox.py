"""The inbox: CRM events stored durably, claimed by workers under a lease, settled once.

Repo functions in the style of `repo`: keyword-only, they execute and flush,
the caller's `session()` block commits. Keep each block short (claim in one,
process outside any transaction, settle in another): on SQLite a block that
writes holds the database's single write lock until it commits.

A delivery is one INSERT that skips duplicates by content, so HubSpot's
retries for hours are stored once. A claim leases the due rows nobody holds;
on PostgreSQL it first locks them `FOR UPDATE SKIP LOCKED`, so two replicas
claiming at once get disjoint rows instead of waiting on each other. A lease
that runs out (its worker was killed) makes the event claimable again:
nothing claimed is ever lost. Live events (a webhook's, a sweep's) are
claimed before background ones (the daily re-score), which may be
thousands at once.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import ColumnElement, Dialect, and_, case, delete, func, or_, update
from sqlmodel import Session, col, select

from bot.store.repo import dialect_insert
from bot.store.tables import InboxEvent, InboxStatus
from integrations.records import RecordKind

MAX_ERROR = 2000
OBJECT_TYPES = {
    RecordKind.ACCOUNT: "company",
    RecordKind.CONTACT: "contact",
    RecordKind.LEAD: "lead",
}
MAX_BACKOFF = timedelta(minutes=15)
AGEING = "aging"  # `read_again`'s reason when a time-based score is due to change
ROLLOUT = "rollout"  # `read_again`'s reason when a new ICP version is rolled out
BACKGROUND = frozenset({AGEING, ROLLOUT})  # reasons whose work gives way to live traffic
HELD = datetime(9000, 1, 1, tzinfo=UTC)  # `available_at` of events held back (a paused rollout)
# The claimed rows are read back afresh (`populate_existing`); no in-session syncing needed.
_NO_SYNC = {"synchronize_session": False}


class InboxDrain(Protocol):
    """Whatever drains the inbox (a CRM's worker): told when new events were stored, so it
    starts now instead of at its next idle check."""

    def wake(self) -> None: ...


@dataclass(frozen=True, slots=True)
class NewEvent:
    """An event as received, before it has a row."""

    source: str
    dedupe_key: str
    object_type: str
    object_id: str
    event_type: str
    payload: dict[str, Any]


def _row(event: NewEvent, now: datetime) -> dict[str, Any]:
    return {
        "source": event.source,
        "dedupe_key": event.dedupe_key,
        "object_type": event.object_type,
        "object_id": event.object_id,
        "event_type": event.event_type,
        "payload": event.payload,
        "received_at": now,
        "status": InboxStatus.PENDING.value,
        "attempts": 0,
        "available_at": now,
    }


def store_events(*, session: Session, events: Sequence[NewEvent], now: datetime) -> int:
    """Store a delivery in one statement, skipping events already stored; how many were new.

    Duplicates inside the delivery count once (the first is kept): HubSpot
    may batch the same change twice, and PostgreSQL refuses a statement that
    would touch one key twice.
    """
    rows: dict[str, dict[str, Any]] = {}
    for event in events:
        rows.setdefault(event.dedupe_key, _row(event, now))
    if not rows:
        return 0
    if session.get_bind().dialect.name == "sqlite":
        return _store_sqlite(session, list(rows.values()))
    # One statement with its rows as parameters, not as a VALUES literal: SQLAlchemy
    # caches it compiled and sends the rows as one multi-row INSERT ("insertmanyvalues");
    # compiling 100 literal rows took longer than storing them.
    statement = (
        dialect_insert(session, InboxEvent)
        .on_conflict_do_nothing(index_elements=["dedupe_key"])
        .returning(col(InboxEvent.id))
    )
    return len(session.execute(statement, list(rows.values())).all())


def _store_sqlite(session: Session, rows: list[dict[str, Any]]) -> int:
    """The same insert through the driver's `executemany`: a fifth of the time per row.

    A delivery is stored while HubSpot waits, and on SQLite every other
    writer waits too. Values go through the columns' own bind processors,
    so they are stored exactly as the ORM stores them; a value every row
    shares (the delivery's time, twice a row) is converted once.
    """
    table = InboxEvent.__table__  # type: ignore[attr-defined]
    dialect = session.get_bind().dialect
    names = list(rows[0])
    columns = [_bound(table.c[name], dialect, [row[name] for row in rows]) for name in names]
    values = list(zip(*columns, strict=True))
    marks = ", ".join("?" for _ in names)
    sql = (
        f"INSERT INTO inbox_event ({', '.join(names)}) VALUES ({marks}) "
        "ON CONFLICT (dedupe_key) DO NOTHING"
    )
    result = session.connection().exec_driver_sql(sql, values)
    return int(result.rowcount)


def _bound(column: Any, dialect: Dialect, values: list[Any]) -> list[Any]:
    """`values` as `column`'s bind processor sends them; one object shared by every row is
    converted once."""
    process = column.type.dialect_impl(dialect).bind_processor(dialect)
    if process is None:
        return values
    if all(value is values[0] for value in values):
        return [process(values[0])] * len(values)
    return [process(value) for value in values]


def _claimable(
    now: datetime, sources: Sequence[str] | None = None, *, live_only: bool = False
) -> ColumnElement[bool]:
    """Pending, due, not leased to a live worker, (when given) from one of `sources`, and
    (`live_only`) not background work."""
    condition = and_(
        col(InboxEvent.status) == InboxStatus.PENDING.value,
        col(InboxEvent.available_at) <= now,
        or_(col(InboxEvent.claimed_until).is_(None), col(InboxEvent.claimed_until) < now),
    )
    if sources is not None:
        condition = and_(condition, col(InboxEvent.source).in_(list(sources)))
    if live_only:
        condition = and_(condition, col(InboxEvent.event_type).not_in(BACKGROUND))
    return condition


def claim(
    *,
    session: Session,
    worker: str,
    limit: int,
    now: datetime,
    lease: timedelta,
    sources: Sequence[str] | None = None,
    live_only: bool = False,
) -> list[InboxEvent]:
    """Lease up to `limit` claimable events to `worker`, live ones first, then oldest first;
    only `sources` if given, and only live events with `live_only`.

    CRM events and Slack posts share this table; each kind of worker claims its own.

    Commit soon after: on PostgreSQL the claimed rows stay locked until then
    (other replicas skip them), on SQLite the write lock is held until then.
    """
    if limit <= 0:
        return []
    claimable = _claimable(now, sources, live_only=live_only)
    later = case((col(InboxEvent.event_type).in_(BACKGROUND), 1), else_=0)  # live first
    due = select(InboxEvent.id).where(claimable).order_by(later, col(InboxEvent.id)).limit(limit)
    if session.get_bind().dialect.name == "postgresql":
        # Lock first, then update: inside `UPDATE ... WHERE id IN (subquery)` PostgreSQL
        # may run a LIMIT ... SKIP LOCKED subquery more than once and claim past the limit.
        locked = list(session.exec(due.with_for_update(skip_locked=True)))
        chosen: Any = col(InboxEvent.id).in_(locked)
    else:
        # One statement: a read then a write would fail on SQLite (WAL) whenever another
        # connection wrote in between, instead of waiting for the lock.
        chosen = col(InboxEvent.id).in_(due.scalar_subquery())
    statement = (
        update(InboxEvent)
        .where(chosen, claimable)
        .values(claimed_by=worker, claimed_until=now + lease)
        .returning(col(InboxEvent.id))
    )
    ids = list(session.execute(statement, execution_options=_NO_SYNC).scalars())
    if not ids:
        return []
    query = select(InboxEvent).where(col(InboxEvent.id).in_(ids)).order_by(col(InboxEvent.id))
    return list(session.exec(query.execution_options(populate_existing=True)))


def gives_way(event: InboxEvent) -> bool:
    """Whether this event's CRM calls give way to live ones (see `BACKGROUND`)."""
    return event.event_type in BACKGROUND


def renew(*, session: Session, ids: Sequence[int], worker: str, until: datetime) -> int:
    """Extend `worker`'s lease on these events (a live worker renews while it works); how
    many it still held. Events it no longer holds (settled, or leased to another after
    its lease ran out) are left alone."""
    if not ids:
        return 0
    result = session.execute(
        update(InboxEvent)
        .where(
            col(InboxEvent.id).in_(list(ids)),
            col(InboxEvent.claimed_by) == worker,
            col(InboxEvent.status) == InboxStatus.PENDING.value,
        )
        .values(claimed_until=until),
        execution_options=_NO_SYNC,
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def complete(*, session: Session, ids: Sequence[int], now: datetime) -> None:
    """These events are finished: never claimed again, pruned later."""
    if not ids:
        return
    session.execute(
        update(InboxEvent)
        .where(col(InboxEvent.id).in_(list(ids)))
        .values(
            status=InboxStatus.DONE.value, processed_at=now, claimed_by=None, claimed_until=None
        )
    )


def backoff(attempts: int) -> timedelta:
    """How long to wait after the `attempts`-th failure: 2, 4, 8 ... seconds, at most 15 minutes.

    Exponential, so a CRM outage is not hammered; capped, so work resumes
    soon after it ends.
    """
    seconds = MAX_BACKOFF.total_seconds()
    if attempts < 10:  # 2**10 s is past the cap already; no huge powers
        seconds = min(seconds, 2 ** max(1, attempts))
    return timedelta(seconds=seconds)


def fail(
    *,
    session: Session,
    ids: Sequence[int],
    error: str,
    now: datetime,
    max_attempts: int = 8,
) -> int:
    """Count a failed attempt: back off, or park after `max_attempts`; how many got parked.

    Parked events wait for a person (`requeue_parked`), and show in
    /metrics and `icpbot status`: work that keeps failing is never dropped.
    """
    if not ids:
        return 0
    rows = session.exec(select(InboxEvent).where(col(InboxEvent.id).in_(list(ids)))).all()
    parked = 0
    for row in rows:
        row.attempts += 1
        row.last_error = error[:MAX_ERROR]
        row.claimed_by = None
        row.claimed_until = None
        row.available_at = now + backoff(row.attempts)
        if row.attempts >= max_attempts:
            row.status = InboxStatus.PARKED.value
            parked += 1
        session.add(row)
    session.flush()
    return parked


def release(*, session: Session, ids: Sequence[int]) -> None:
    """Give claimed events back untouched (a worker shutting down), claimable at once."""
    if ids:
        session.execute(
            update(InboxEvent)
            .where(col(InboxEvent.id).in_(list(ids)))
            .values(claimed_by=None, claimed_until=None)
        )


def counts(*, session: Session) -> dict[str, int]:
    """Events by status, every status present (zero included) so gauges never vanish."""
    query = select(InboxEvent.status, func.count()).group_by(col(InboxEvent.status))
    found = {status: int(n) for status, n in session.execute(query).all()}
    return {status.value: found.get(status.value, 0) for status in InboxStatus}


def oldest_pending(*, session: Session) -> datetime | None:
    """When the oldest event still waiting arrived: how far behind the workers are (events
    held back on purpose, a paused rollout's, are not behind)."""
    query = select(func.min(InboxEvent.received_at)).where(
        col(InboxEvent.status) == InboxStatus.PENDING.value, col(InboxEvent.available_at) < HELD
    )
    oldest: datetime | None = session.execute(query).scalar_one()
    return oldest


def hold_back(*, session: Session, reason: str) -> int:
    """Pending events for `reason` wait until `release_held` (a paused rollout); claimed ones
    finish under their lease. How many were held."""
    statement = (
        update(InboxEvent)
        .where(
            col(InboxEvent.event_type) == reason,
            col(InboxEvent.status) == InboxStatus.PENDING.value,
        )
        .values(available_at=HELD)
    )
    result = session.execute(statement, execution_options=_NO_SYNC)
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def release_held(*, session: Session, reason: str, now: datetime) -> int:
    """Held events for `reason` claimable again from `now`; how many."""
    statement = (
        update(InboxEvent)
        .where(col(InboxEvent.event_type) == reason, col(InboxEvent.available_at) >= HELD)
        .values(available_at=now)
    )
    result = session.execute(statement, execution_options=_NO_SYNC)
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def counts_for(*, session: Session, reason: str) -> dict[str, int]:
    """Events for one reason by status (every status present)."""
    query = (
        select(InboxEvent.status, func.count())
        .where(col(InboxEvent.event_type) == reason)
        .group_by(col(InboxEvent.status))
    )
    found = {status: int(n) for status, n in session.execute(query).all()}
    return {status.value: found.get(status.value, 0) for status in InboxStatus}


def parked(*, session: Session, limit: int = 50) -> list[InboxEvent]:
    """Parked events, oldest first, with their last error: what a person should look at."""
    query = (
        select(InboxEvent)
        .where(col(InboxEvent.status) == InboxStatus.PARKED.value)
        .order_by(col(InboxEvent.id))
        .limit(limit)
    )
    return list(session.exec(query))


def requeue_parked(*, session: Session, now: datetime, ids: Sequence[int] | None = None) -> int:
    """Parked events (all, or these) back to pending with a fresh count of attempts."""
    statement = update(InboxEvent).where(col(InboxEvent.status) == InboxStatus.PARKED.value)
    if ids is not None:
        statement = statement.where(col(InboxEvent.id).in_(list(ids)))
    result = session.execute(
        statement.values(
            status=InboxStatus.PENDING.value,
            attempts=0,
            available_at=now,
            claimed_by=None,
            claimed_until=None,
        )
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def prune_done(*, session: Session, before: datetime) -> int:
    """Forget finished events processed before `before`; the score history keeps the results."""
    result = session.execute(
        delete(InboxEvent).where(
            col(InboxEvent.status) == InboxStatus.DONE.value,
            col(InboxEvent.processed_at) < before,
        )
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def read_again(
    crm: str,
    kind: RecordKind,
    object_id: str,
    *,
    reason: str,
    stamp: str,
    payload: dict[str, object] | None = None,
) -> NewEvent:
    """An inbox event asking the CRM's worker to read, tag and write back one record.

    Its key is the reason, the object and `stamp`: the same record for the
    same reason and stamp is stored once, however often it is asked for.
    """
    object_type = OBJECT_TYPES[kind]
    key = f"{reason}|{crm}|{object_type}|{object_id}|{stamp}"
    return NewEvent(
        source=f"{crm}-sweep",
        dedupe_key=hashlib.sha256(key.encode()).hexdigest(),
        object_type=object_type,
        object_id=object_id,
        event_type=reason,
        payload={"objectId": object_id, **(payload or {})},
    )
