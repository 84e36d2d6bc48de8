"""Slack posts waiting to go out: queued in the inbox (source `slack`) like CRM events.

They are queued in the same transaction that scored the account, so a crash
between scoring and posting loses no post, and their content keys make a
duplicate queue nothing. The Slack poster (`bot.slack.poster`) claims and
sends them.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from enum import StrEnum

from sqlmodel import Session

from bot.store import inbox
from bot.store.inbox import NewEvent

SOURCE = "slack"


class PostKind(StrEnum):
    """What a queued Slack post is: a new lead's routing post, or a re-score's thread reply."""

    ROUTE = "route"
    REPLY = "rescore"  # the stored text of queued replies; kept as it was first written


def post_event(kind: PostKind, domain: str, *, crm: str, version: str = "") -> NewEvent:
    """A queued post; `version` tells re-scores of one account apart (its new verdict)."""
    key = f"{SOURCE}:{kind.value}:{domain}" + (f":{version}" if version else "")
    return NewEvent(SOURCE, key, "account", domain, kind.value, {"crm": crm})


def queue_posts(*, session: Session, events: Sequence[NewEvent], now: datetime) -> int:
    """Queue posts; one already queued (same account, same kind and verdict) is skipped."""
    return inbox.store_events(session=session, events=events, now=now)
