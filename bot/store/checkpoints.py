"""Checkpoints: how far a sync got (a sweep's last modification time, a backfill's page).

Repo functions in the style of `repo`: keyword-only; the caller's `session()`
block commits, so a checkpoint moves in the same transaction as the work it
records.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete
from sqlmodel import Session, col, select

from bot.store.repo import dialect_insert
from bot.store.tables import Checkpoint


def get(*, session: Session, name: str) -> str | None:
    """Where the sync called `name` got to, or None when it never ran (or was cleared).

    Read with a query, not `session.get`: an upsert in the same session
    would otherwise leave a stale object behind in its identity map.
    """
    query = select(Checkpoint.value).where(col(Checkpoint.name) == name)
    value: str | None = session.execute(query).scalar_one_or_none()
    return value


def save(*, session: Session, name: str, value: str, now: datetime) -> None:
    """Record progress in one upsert, so two replicas saving at once cannot collide."""
    insert = dialect_insert(session, Checkpoint).values(name=name, value=value, updated_at=now)
    session.execute(
        insert.on_conflict_do_update(
            index_elements=["name"],
            set_={"value": insert.excluded.value, "updated_at": insert.excluded.updated_at},
        )
    )


def every(*, session: Session) -> list[Checkpoint]:
    """Every checkpoint by name: what `icpbot status` shows."""
    return list(session.exec(select(Checkpoint).order_by(col(Checkpoint.name))))


def clear(*, session: Session, name: str) -> None:
    """Forget progress: the next run starts from the beginning."""
    session.execute(delete(Checkpoint).where(col(Checkpoint.name) == name))
