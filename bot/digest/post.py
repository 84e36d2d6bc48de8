"""Posting the weekly digest: one message per channel and week, never twice, its chart
in the thread.

Each channel is claimed in the store before Slack is called (the claim is
what a second process or a repeated run meets); a post Slack refuses gives
its claim back, so the next run tries again instead of skipping the week.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from slack_sdk import WebClient
from sqlalchemy import Engine as Database

from bot.digest.numbers import Digest, NewAccount, Week, build_digest
from bot.routing.owners import Owners
from bot.slack.people import Directory
from bot.store import digests
from bot.store.db import read_session
from bot.store.db import session as open_session
from bot.views.digest import digest_blocks, digest_text
from bot.views.digest_chart import chart_alt_text, tier_chart_png
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
    owners: Owners | None = None,
) -> list[Outcome]:
    """The week's digest to each channel that has not had it; what happened in each."""
    with read_session(database) as session:
        digest = build_digest(session=session, icp=icp, week=week)
    directory = Directory(client)
    digest.top_a = [replace(a, owner=_mention(directory, owners, a)) for a in digest.top_a]
    message: dict[str, Any] = {"text": digest_text(digest), "blocks": digest_blocks(digest)}
    chart = _chart(digest)
    return [_post_one(database, client, week, c, message, chart, now, worker) for c in channels]


def _mention(directory: Directory, owners: Owners | None, account: NewAccount) -> str | None:
    """The owner as a Slack mention when Slack knows them, else by name: a routed rep's
    email, or a CRM owner id looked up in its CRM."""
    owner = account.owner
    if not owner or account.owner_crm is None or owners is None:
        return directory.mention(owner) if owner and "@" in owner else owner
    return owners.named(account.owner_crm, owner, directory)


def _chart(digest: Digest) -> dict[str, Any] | None:
    """The chart upload's arguments, or None when it cannot be drawn (the text has it all)."""
    try:
        png = tier_chart_png(digest.history, title="New accounts by tier, last 8 weeks")
    except Exception:
        log.warning("the digest chart could not be drawn; posting text only", exc_info=True)
        return None
    return {
        "content": png,
        "filename": f"icp-{digest.week.label}.png",
        "title": "New accounts by tier, last 8 weeks",
        "alt_txt": chart_alt_text(digest.history),
    }


def _share_chart(client: WebClient, chart: dict[str, Any], channel_id: str, ts: str) -> None:
    """Upload the chart (files upload v2) into the digest's thread; a failure leaves the text."""
    try:
        client.files_upload_v2(channel=channel_id, thread_ts=ts, **chart)
    except Exception:
        log.warning("the digest chart could not be uploaded to %s", channel_id, exc_info=True)


def _post_one(
    database: Database,
    client: WebClient,
    week: Week,
    channel: str,
    message: dict[str, Any],
    chart: dict[str, Any] | None,
    now: datetime,
    worker: str,
) -> Outcome:
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
            session=session,
            channel=channel,
            week=week.label,
            channel_id=str(answer["channel"]),
            ts=str(answer["ts"]),
            now=now,
        )
    if chart is not None:
        _share_chart(client, chart, str(answer["channel"]), str(answer["ts"]))
    return Outcome(channel, POSTED)
