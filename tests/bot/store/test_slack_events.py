"""Events API deliveries handled once, on SQLite and on PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import Session

from bot.store import slack_events

pytestmark = pytest.mark.db

NOW = datetime(2026, 12, 3, 9, tzinfo=UTC)


def first(session: Session, event_id: str, now: datetime = NOW) -> bool:
    return slack_events.first_delivery(session=session, event_id=event_id, now=now)


def test_an_event_is_first_delivered_once(db_session: Session) -> None:
    assert first(db_session, "Ev1") is True
    assert first(db_session, "Ev1", NOW + timedelta(seconds=5)) is False  # Slack's retry
    assert first(db_session, "Ev2") is True


def test_events_older_than_a_day_are_forgotten(db_session: Session) -> None:
    assert first(db_session, "Ev1")
    assert first(db_session, "Ev1", NOW + timedelta(days=1, seconds=1)) is True
