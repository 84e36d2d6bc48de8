"""Posting the weekly digest: one message per channel and week, never twice.

Each channel is claimed in the store before Slack is called (the claim is
what a second process or a repeated run meets); a post Slack refuses gives
its claim back, so the next run tries again instead of skipping the week.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from slack_sdk import WebClient
from sqlalchemy import Engine as Database

from bot.digest import Week, build_digest
from bot.store import digests
from bot.store.db import read_session
from bot.store.db import session as open_session
from bot.views.digest import digest_blocks, digest_text
from scoring.model import Icp

log = logging.getLogger(__name__)

POSTED, ALREADY, FAILED = "posted", "already posted", "failed"


@dataclass(frozen=True, slots=True)
class Outcome:
    channel: str
    result: str  # posted | already posted | failed
    detail: str = ""


def post_digest(
    *,
    database: Database,
    client: WebClient,
    icp: Icp,
    week: Week,
    channels: tuple[str, ...] | list[str],
    now: datetime,
    worker: str,
) -> list[Outcome]:
    """The week's digest to each channel that has not had it; what happened in each."""
    with read_session(database) as session:
        digest = build_digest(session=session, icp=icp, week=week)
    message: dict[str, Any] = {"text": digest_text(digest), "blocks": digest_blocks(digest)}
    return [
        _post_one(database, client, week, channel, message, now, worker) for channel in channels
    ]


def _post_one(
    database: Database, client: WebClient, week: Week, channel: str, message: dict[str, Any],
    now: datetime, worker: str,
) -> Outcome:  # fmt: skip
    with open_session(database) as session:
        mine = digests.claim(
            session=session, channel=channel, week=week.label, worker=worker, now=now
        )
    if not mine:
        return Outcome(channel, ALREADY)
    try:
        answer = client.chat_postMessage(channel=channel, unfurl_links=False, **message)
    except Exception as exc:
        log.warning("digest %s to %s failed: %s", week.label, channel, exc)
        with open_session(database) as session:
            digests.release(session=session, channel=channel, week=week.label)
        return Outcome(channel, FAILED, str(exc)[:300])
    with open_session(database) as session:
        digests.mark_posted(
            session=session, channel=channel, week=week.label,
            channel_id=str(answer["channel"]), ts=str(answer["ts"]), now=now,
        )  # fmt: skip
    return Outcome(channel, POSTED)
