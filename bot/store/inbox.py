"""The inbox: CRM events stored durably, claimed by workers under a lease, settled once.

Repo functions in the style of `repo`: keyword-only, they execute and
flush, the caller's `session()` block commits. A delivery is one insert
that skips duplicates by content; a claim on PostgreSQL skips rows another
replica holds (`FOR UPDATE SKIP LOCKED`), so replicas share the work.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, or_, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session, col, select

from bot.store.tables import Checkpoint, InboxEvent, InboxStatus

MAX_ERROR = 2000
MAX_BACKOFF = timedelta(minutes=15)


@dataclass(frozen=True, slots=True)
class NewEvent:
    """An event as received, before it has a row."""

    source: str
    dedupe_key: str
    object_type: str
    object_id: str
    event_type: str
    payload: dict[str, Any]


def _insert(session: Session) -> Any:
    return pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert


def store_events(*, session: Session, events: Sequence[NewEvent], now: datetime) -> int:
    """Store a delivery in one statement; duplicates (also within it) are skipped. How many new."""
    rows = {
        e.dedupe_key: {
            "source": e.source,
            "dedupe_key": e.dedupe_key,
            "object_type": e.object_type,
            "object_id": e.object_id,
            "event_type": e.event_type,
            "payload": e.payload,
            "received_at": now,
            "status": InboxStatus.PENDING.value,
            "attempts": 0,
            "available_at": now,
        }  # fmt: skip
        for e in events
    }
    if not rows:
        return 0
    statement = (
        _insert(session)(InboxEvent)
        .values(list(rows.values()))
        .on_conflict_do_nothing(index_elements=["dedupe_key"])
        .returning(InboxEvent.id)  # type: ignore[arg-type]
    )
    return len(session.execute(statement).all())


def claim(
    *, session: Session, worker: str, limit: int, now: datetime, lease: timedelta
) -> list[InboxEvent]:
    """Up to `limit` due events nobody holds, oldest first, leased to `worker`."""
    due = (
        select(InboxEvent.id)
        .where(
            InboxEvent.status == InboxStatus.PENDING.value,
            col(InboxEvent.available_at) <= now,
            or_(col(InboxEvent.claimed_until).is_(None), col(InboxEvent.claimed_until) < now),
        )
        .order_by(col(InboxEvent.id))
        .limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        due = due.with_for_update(skip_locked=True)
    ids = list(session.exec(due))
    if not ids:
        return []
    session.execute(
        update(InboxEvent)
        .where(col(InboxEvent.id).in_(ids))
        .values(claimed_by=worker, claimed_until=now + lease)
    )
    session.flush()
    query = select(InboxEvent).where(col(InboxEvent.id).in_(ids)).order_by(col(InboxEvent.id))
    return list(session.exec(query.execution_options(populate_existing=True)))


def complete(*, session: Session, ids: Sequence[int], now: datetime) -> None:
    """These events are finished."""
    if ids:
        session.execute(
            update(InboxEvent)
            .where(col(InboxEvent.id).in_(list(ids)))
            .values(
                status=InboxStatus.DONE.value,
                processed_at=now,
                claimed_by=None,
                claimed_until=None,
            )  # fmt: skip
        )


def backoff(attempts: int) -> timedelta:
    """2, 4, 8 ... seconds after each failure, at most 15 minutes."""
    return min(timedelta(seconds=2 ** max(1, attempts)), MAX_BACKOFF)


def fail(
    *,
    session: Session,
    ids: Sequence[int],
    error: str,
    now: datetime,
    max_attempts: int = 8,
) -> int:
    """Count a failed attempt: back off, or park after `max_attempts`. How many got parked."""
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
    """Give claimed events back untouched (a worker shutting down)."""
    if ids:
        session.execute(
            update(InboxEvent)
            .where(col(InboxEvent.id).in_(list(ids)))
            .values(claimed_by=None, claimed_until=None)
        )


def counts(*, session: Session) -> dict[str, int]:
    """Events by status, every status present."""
    found = dict(
        session.exec(
            select(InboxEvent.status, func.count()).group_by(InboxEvent.status)  # type: ignore[call-overload]
        ).all()
    )
    return {status.value: int(found.get(status.value, 0)) for status in InboxStatus}


def oldest_pending(*, session: Session) -> datetime | None:
    """When the oldest event still waiting arrived: how far behind the worker is."""
    query = select(func.min(InboxEvent.received_at)).where(
        InboxEvent.status == InboxStatus.PENDING.value
    )
    return session.exec(query).one()  # type: ignore[no-any-return]


def parked(*, session: Session, limit: int = 50) -> list[InboxEvent]:
    query = (
        select(InboxEvent)
        .where(InboxEvent.status == InboxStatus.PARKED.value)
        .order_by(col(InboxEvent.id))
        .limit(limit)
    )
    return list(session.exec(query))


def requeue_parked(*, session: Session, now: datetime, ids: Sequence[int] | None = None) -> int:
    """Parked events back to pending with a fresh count of attempts."""
    statement = update(InboxEvent).where(InboxEvent.status == InboxStatus.PARKED.value)
    if ids is not None:
        statement = statement.where(col(InboxEvent.id).in_(list(ids)))
    result = session.execute(
        statement.values(status=InboxStatus.PENDING.value, attempts=0, available_at=now)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def prune_done(*, session: Session, before: datetime) -> int:
    """Forget finished events processed before `before`; the audit trail keeps the scores."""
    result = session.execute(
        delete(InboxEvent).where(
            InboxEvent.status == InboxStatus.DONE.value, col(InboxEvent.processed_at) < before
        )
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def get_checkpoint(*, session: Session, name: str) -> str | None:
    row = session.get(Checkpoint, name)
    return row.value if row is not None else None


def set_checkpoint(*, session: Session, name: str, value: str, now: datetime) -> None:
    statement = _insert(session)(Checkpoint).values(name=name, value=value, updated_at=now)
    session.execute(
        statement.on_conflict_do_update(
            index_elements=["name"], set_={"value": value, "updated_at": now}
        )
    )


def clear_checkpoint(*, session: Session, name: str) -> None:
    session.execute(delete(Checkpoint).where(col(Checkpoint.name) == name))
