"""Slack's Events API deliveries already handled: a retry of one is acknowledged, not redone.

Slack retries an event it thinks was missed (no answer within 3 seconds, an
error), with `X-Slack-Retry-Num`; behind a load balancer the retry may reach
another replica, so the record is in the database they share. Rows are kept
a day: Slack gives up retrying within the hour.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete
from sqlmodel import Session, col

from bot.store.repo import dialect_insert, table_of
from bot.store.tables import SlackEvent

KEEP = timedelta(days=1)


def first_delivery(*, session: Session, event_id: str, now: datetime) -> bool:
    """Record the event as handled; False when it already was (a retry, or a duplicate)."""
    events = table_of(SlackEvent)
    session.execute(delete(SlackEvent).where(col(SlackEvent.received_at) < now - KEEP))
    statement = (
        dialect_insert(session, events)
        .values(event_id=event_id, received_at=now)
        .on_conflict_do_nothing(index_elements=["event_id"])
        .returning(events.c.event_id)
    )
    return session.execute(statement).first() is not None
