"""The digest's once-per-(channel, week) claim, on SQLite and on PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine
from sqlmodel import Session

from bot.store import digests

pytestmark = pytest.mark.db

NOW = datetime(2026, 11, 23, 14, tzinfo=UTC)


def claim(session: Session, channel: str, worker: str, week: str = "2026-W47") -> bool:
    return digests.claim(session=session, channel=channel, week=week, worker=worker, now=NOW)


def test_a_week_is_claimed_once_per_channel(db_session: Session) -> None:
    assert claim(db_session, "#sales", "a") is True
    assert claim(db_session, "#sales", "b") is False  # the same week again: someone has it
    assert claim(db_session, "#leaders", "b") is True  # another channel
    assert claim(db_session, "#sales", "b", week="2026-W48") is True  # another week
    assert [(p.channel, p.week, p.claimed_by) for p in digests.posts(session=db_session)] == [
        ("#leaders", "2026-W47", "b"),
        ("#sales", "2026-W47", "a"),
        ("#sales", "2026-W48", "b"),
    ]


def test_a_released_claim_can_be_taken_again_and_a_posted_one_cannot(
    db_session: Session,
) -> None:
    assert claim(db_session, "#sales", "a")
    digests.release(session=db_session, channel="#sales", week="2026-W47")
    assert claim(db_session, "#sales", "b")
    digests.mark_posted(
        session=db_session, channel="#sales", week="2026-W47", channel_id="C1", ts="1.2", now=NOW
    )
    digests.release(session=db_session, channel="#sales", week="2026-W47")
    assert not claim(db_session, "#sales", "c")


def test_two_processes_claiming_the_same_week_one_wins(db_engine: Engine) -> None:
    """Each claim in its own committed transaction, as two replicas would make them."""
    week = f"race-{db_engine.dialect.name}"
    won = []
    for worker in ("first", "second"):
        with Session(db_engine) as session:
            won.append(claim(session, "#race", worker, week=week))
            session.commit()
    assert won == [True, False]
    with Session(db_engine) as session:
        digests.release(session=session, channel="#race", week=week)
        session.commit()
