"""The digest's storage: which week's digest went to which channel.

A claim is an INSERT that a unique (channel, week) lets only one process
win, so two `icpbot serve` replicas, or a catch-up run and the command
line, never post one week twice. Keyword-only, flush-only, like `repo`.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, update
from sqlmodel import Session, col, select

from bot.store.repo import dialect_insert, table_of
from bot.store.tables import DigestPost

POSTING, POSTED = "posting", "posted"


def claim(*, session: Session, channel: str, week: str, worker: str, now: datetime) -> bool:
    """Take this channel's week; False when someone already has (posting or posted).

    Whether the row went in is read from what the insert returns, not from
    `rowcount`: PostgreSQL's driver reports -1 for it once the statement has
    a RETURNING clause (which SQLAlchemy may add by itself), and -1 is true.
    """
    posts = table_of(DigestPost)
    statement = (
        dialect_insert(session, posts)
        .values(channel=channel, week=week, status=POSTING, claimed_by=worker, claimed_at=now)
        .on_conflict_do_nothing(index_elements=["channel", "week"])
        .returning(posts.c.id)
    )
    return session.execute(statement).first() is not None


def mark_posted(
    *, session: Session, channel: str, week: str, channel_id: str, ts: str, now: datetime
) -> None:
    session.execute(
        update(DigestPost)
        .where(col(DigestPost.channel) == channel, col(DigestPost.week) == week)
        .values(status=POSTED, channel_id=channel_id, message_ts=ts, posted_at=now)
    )


def release(*, session: Session, channel: str, week: str) -> None:
    """Give a claim back after Slack refused the post, so a later run may try again."""
    session.execute(
        delete(DigestPost).where(
            col(DigestPost.channel) == channel,
            col(DigestPost.week) == week,
            col(DigestPost.status) == POSTING,
        )
    )


def posts(*, session: Session, week: str | None = None) -> list[DigestPost]:
    query = select(DigestPost).order_by(col(DigestPost.week), col(DigestPost.channel))
    if week is not None:
        query = query.where(col(DigestPost.week) == week)
    return list(session.exec(query))
