"""The rollouts of ICP versions (SPEC §8a): one row each, its cursor, its counters, its state.

The row is the rollout's lock: the replica that queues the next page holds it for that
short transaction (PostgreSQL: `FOR UPDATE SKIP LOCKED`, so another replica skips this
step instead of waiting; SQLite: its one writer at a time), so no page is queued twice.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session, col, func, select

from bot.store.repo import dialect_insert
from bot.store.tables import Account, Contact, Rollout, RolloutState


def begin(*, session: Session, version: int, now: datetime) -> Rollout:
    """The rollout of `version`, created (over every stored record) if it does not exist.

    Replicas starting together with the same new version both get here: the insert skips
    a row another one made first, so there is one rollout, not an error."""
    total = _count(session, Account) + _count(session, Contact)
    values = {
        "version": version,
        "state": RolloutState.RUNNING.value,
        "total": total,
        "queued": 0,
        "skipped": 0,
        "after_account": 0,
        "after_person": 0,
        "started_at": now,
        "updated_at": now,
    }
    session.execute(dialect_insert(session, Rollout).values(values).on_conflict_do_nothing())
    found = session.get(Rollout, version, populate_existing=True)
    assert found is not None
    return found


def _count(session: Session, model: type[Account] | type[Contact]) -> int:
    return int(session.exec(select(func.count()).select_from(model)).one())


def locked(*, session: Session, version: int) -> Rollout | None:
    """The rollout of `version`, locked for this transaction; None when another replica holds
    it (PostgreSQL) or there is none."""
    query = select(Rollout).where(col(Rollout.version) == version)
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    return session.exec(query.execution_options(populate_existing=True)).first()


def latest(*, session: Session) -> Rollout | None:
    """The rollout of the highest version."""
    return session.exec(select(Rollout).order_by(col(Rollout.version).desc()).limit(1)).first()


def set_state(*, session: Session, version: int, state: RolloutState, now: datetime) -> bool:
    """Pause, resume or finish; False when there is no such rollout."""
    row = session.get(Rollout, version)
    if row is None:
        return False
    row.state = state.value
    row.updated_at = now
    if state is RolloutState.DONE:
        row.finished_at = now
    session.add(row)
    return True
