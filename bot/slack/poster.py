"""Routing posts and re-score replies, sent from the queue at Slack's pace (SPEC §5, §6).

Tagging queues a post in the transaction that scored the account; this
worker sends it. Slack allows about one message a second per channel, so
posts to one channel are spaced a second apart, and when more than `burst`
wait for one channel at once they become one summary post instead of a
flood. A 429 waits its `Retry-After` (the client's retry handler); a post
that keeps failing backs off and is parked after `max_attempts`, like a CRM
event, and `icpbot status` shows it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlalchemy import Engine as Database
from sqlmodel import Session

from bot.metrics import Metrics
from bot.routing.router import Lead, Router
from bot.routing.rules import Decision
from bot.store import inbox, leads, posts, repo
from bot.store.db import session as open_session
from bot.store.inbox import NewEvent
from bot.store.posts import PostKind
from bot.store.tables import Account, InboxEvent, RoutingDecision, Subject
from bot.sync.lease import LEASE, Renewal
from bot.sync.tagging import Tagged
from bot.views.models import AccountView
from bot.views.routing_post import (
    rescore_reply_blocks,
    rescore_reply_text,
    rescore_summary_blocks,
    rescore_summary_text,
    routing_post_blocks,
    routing_post_text,
    summary_post_blocks,
    summary_post_text,
)
from scoring.result import AccountScore

log = logging.getLogger(__name__)

BURST = 3  # more posts than this waiting for one channel become one summary post
PACE = 1.0  # seconds between two posts to one channel


def due_posts(tagged: Sequence[Tagged]) -> list[NewEvent]:
    """The posts a batch of tagging calls for: new accounts, and accounts whose verdict moved.

    People are not posted: a lead's post is its company's. Re-scores that
    change nothing a rep sees (same score and tier) are not posted either.
    """
    events = []
    for t in tagged:
        domain = t.record.domain
        if t.record.kind.is_person or t.score is None or not domain:
            continue
        if t.is_new:
            events.append(posts.post_event(PostKind.ROUTE, domain, crm=t.record.crm))
            continue
        before = t.previous
        if t.stored and before and (before.score, before.tier) != (t.score.score, t.score.tier):
            version = f"{t.score.score}-{t.score.tier.value}-{t.score.scored_at.isoformat()}"
            event = posts.post_event(PostKind.REPLY, domain, crm=t.record.crm, version=version)
            events.append(event)
    return events


def queue_posts(session: Session, tagged: Sequence[Tagged], now: datetime) -> None:
    """The pipeline's hook: queue what `due_posts` says, in the tagging transaction."""
    events = due_posts(tagged)
    if events:
        posts.queue_posts(session=session, events=events, now=now)


class Poster:
    """Sends queued posts in a daemon thread; `wake` after queueing for an early start."""

    def __init__(
        self,
        *,
        database: Database,
        client: WebClient,
        router: Router,
        name: str = "poster",
        burst: int = BURST,
        pace: float = PACE,
        idle: float = 1.0,
        max_attempts: int = 8,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        metrics: Metrics | None = None,
        lease: timedelta = LEASE,
    ) -> None:
        self.metrics = metrics
        self.lease = lease
        self.database = database
        self.client = client
        self.router = router
        self.name = name
        self.burst = burst
        self.pace = pace
        self.idle = idle
        self.max_attempts = max_attempts
        self.clock = clock
        self._last_post: dict[str, float] = {}
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name=self.name, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def wake(self) -> None:
        self._wake.set()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                sent = self.run_once()
            except Exception:
                log.exception("slack poster: a round failed; retrying shortly")
                sent = 0
            if sent == 0:
                self._wake.wait(self.idle)
                self._wake.clear()

    def run_once(self) -> int:
        """Claim the due posts, send them, settle them; how many were claimed."""
        with open_session(self.database) as session:
            events = inbox.claim(
                session=session,
                worker=self.name,
                limit=200,
                now=self.clock(),
                lease=self.lease,
                sources=[posts.SOURCE],
            )
        if not events:
            return 0
        done: list[int] = []
        failed: dict[int, str] = {}
        renewal = Renewal(
            database=self.database,
            worker=self.name,
            ids=[_id(e) for e in events],
            lease=self.lease,
            clock=self.clock,
        )
        with renewal:  # posts are paced at Slack's rate: a batch may outlast one lease
            self._routing_posts([e for e in events if e.event_type == PostKind.ROUTE], done, failed)
            self._replies([e for e in events if e.event_type == PostKind.REPLY], done, failed)
            for event in events:
                if event.event_type not in (PostKind.ROUTE, PostKind.REPLY):
                    done.append(_id(event))  # a kind this version does not know
        self._settle(done, failed)
        return len(events)

    # -- routing posts -----------------------------------------------------------------------

    def _routing_posts(
        self, events: list[InboxEvent], done: list[int], failed: dict[int, str]
    ) -> None:
        waiting: dict[str, list[tuple[InboxEvent, Lead]]] = defaultdict(list)
        for event in events:
            try:
                lead = self.router.decide(event.object_id, now=self.clock())
            except Exception as exc:
                log.warning("routing %s failed: %s", event.object_id, exc)
                failed[_id(event)] = f"routing failed: {exc}"
                continue
            if lead is None or lead.decision.message_ts or not lead.decision.channel:
                done.append(_id(event))  # gone, posted already, or tag only
                continue
            waiting[lead.decision.channel].append((event, lead))
        for channel, group in waiting.items():
            if len(group) > self.burst:
                self._settle_group(group, done, failed, partial(self._summary, channel, group))
            else:
                for event, lead in group:
                    self._settle_one(event, done, failed, partial(_ignore_event, self._post, lead))

    def _post(self, lead: Lead) -> None:
        decision = lead.decision
        channel = decision.channel or ""
        view = self._view(lead.account, decision)
        blocks = routing_post_blocks(account=view, score=lead.score, decision=_plain(lead))
        text = routing_post_text(account=view, score=lead.score, decision=_plain(lead))
        answer = self._send(channel, text=text, blocks=blocks, kind="route")
        with open_session(self.database) as session:
            leads.mark_posted(
                session=session,
                ids=[_id(decision)],
                channel_id=answer["channel"],
                ts=answer["ts"],
                now=self.clock(),
            )

    def _summary(self, channel: str, group: list[tuple[InboxEvent, Lead]]) -> None:
        entries = [
            (self._view(lead.account, lead.decision), lead.score, _plain(lead)) for _, lead in group
        ]
        blocks = summary_post_blocks(entries, total=len(group))
        text = summary_post_text(len(group), [lead.score.tier.value for _, lead in group])
        answer = self._send(channel, text=text, blocks=blocks, kind="summary")
        with open_session(self.database) as session:
            leads.mark_posted(
                session=session,
                ids=[_id(lead.decision) for _, lead in group],
                channel_id=answer["channel"],
                ts=answer["ts"],
                now=self.clock(),
                summarized=True,
            )

    # -- re-score replies --------------------------------------------------------------------

    def _replies(self, events: list[InboxEvent], done: list[int], failed: dict[int, str]) -> None:
        """Each moved account's reply in its post's thread; when more than `burst` wait for
        one channel (an ICP rollout, a day's ageing), one summary post in the channel says
        how many moved and where instead, so a rollout never floods a channel."""
        waiting: dict[str, list[tuple[InboxEvent, Moved]]] = defaultdict(list)
        for event in events:
            try:
                moved = self._moved(event.object_id)
            except Exception as exc:
                log.warning("re-score reply for %s failed: %s", event.object_id, exc)
                failed[_id(event)] = f"re-score reply failed: {exc}"
                continue
            if moved is None:
                done.append(_id(event))  # never posted (tag only, or gone): nothing to thread
                continue
            waiting[moved.channel].append((event, moved))
        for channel, group in waiting.items():
            if len(group) > self.burst:
                send = partial(self._moved_summary, channel, [m for _, m in group])
                self._settle_group([(e, None) for e, _ in group], done, failed, send)
            else:
                for event, moved in group:
                    self._settle_one(
                        event, done, failed, partial(_ignore_moved, self._reply, moved)
                    )

    def _moved(self, domain: str) -> Moved | None:
        """What a re-score reply shows: the account, its post, its score before and now."""
        with open_session(self.database) as session:
            decision = leads.get_decision(session=session, domain=domain)
            account = repo.get_account(session=session, domain=domain)
            if decision is None or account is None or not decision.message_ts:
                return None
            row = repo.latest_score(session=session, subject=Subject.ACCOUNT, key=domain)
            before = repo.previous_different_score(
                session=session, subject=Subject.ACCOUNT, key=domain
            )
            score = repo.account_score_of(row, session=session) if row else None
            previous = repo.account_score_of(before, session=session) if before else None
        if score is None:
            return None
        channel = decision.channel_id or decision.channel or ""
        return Moved(self._view(account, decision), decision, score, previous, channel)

    def _reply(self, moved: Moved) -> None:
        blocks = rescore_reply_blocks(
            account=moved.view, score=moved.score, previous=moved.previous
        )
        text = rescore_reply_text(account=moved.view, score=moved.score, previous=moved.previous)
        self._send(
            moved.channel,
            text=text,
            blocks=blocks,
            thread_ts=moved.decision.message_ts,
            kind="rescore",
        )

    def _moved_summary(self, channel: str, group: list[Moved]) -> None:
        entries = [(m.view, m.score, m.previous) for m in group]
        self._send(
            channel,
            text=rescore_summary_text(entries),
            blocks=rescore_summary_blocks(entries),
            kind="rescore-summary",
        )

    def _view(self, account: Account, decision: RoutingDecision) -> AccountView:
        """The account as its post shows it, the owner as a Slack mention where one is known."""
        owner = self.router.owner_mention(decision)
        return AccountView(account.domain, account.name, account.crm, account.url, owner)

    # -- sending and settling ----------------------------------------------------------------

    def _send(
        self,
        channel: str,
        *,
        text: str,
        blocks: list[dict[str, Any]],
        thread_ts: str | None = None,
        kind: str,
    ) -> dict[str, str]:
        """One `chat.postMessage`, no sooner than `pace` after the last one to this channel."""
        wait = self._last_post.get(channel, -self.pace) + self.pace - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        try:
            answer = self.client.chat_postMessage(
                channel=channel,
                text=text,
                blocks=blocks,
                thread_ts=thread_ts,
                unfurl_links=False,
                unfurl_media=False,
            )
        except Exception:
            self._count(kind, "failed")
            raise
        finally:
            self._last_post[channel] = time.monotonic()
        self._count(kind, "sent")
        self._last_post[str(answer["channel"])] = self._last_post[channel]
        return {"channel": str(answer["channel"]), "ts": str(answer["ts"])}

    def _count(self, kind: str, outcome: str) -> None:
        if self.metrics is not None:
            self.metrics.slack_posts.labels(kind=kind, outcome=outcome).inc()

    def _settle_one(
        self,
        event: InboxEvent,
        done: list[int],
        failed: dict[int, str],
        send: Callable[[InboxEvent], None],
    ) -> None:
        try:
            send(event)
        except SlackApiError as exc:
            error = str(exc.response.get("error") or exc)
            log.warning("slack: %s %s failed: %s", event.event_type, event.object_id, error)
            failed[_id(event)] = f"slack: {error}"
            return
        except Exception as exc:
            log.warning("slack: %s %s failed", event.event_type, event.object_id, exc_info=True)
            failed[_id(event)] = f"{type(exc).__name__}: {exc}"
            return
        done.append(_id(event))

    def _settle_group(
        self,
        group: Sequence[tuple[InboxEvent, object]],
        done: list[int],
        failed: dict[int, str],
        send: Callable[[], None],
    ) -> None:
        first = group[0][0]
        before = len(failed)
        self._settle_one(first, done, failed, lambda _e: send())
        error = failed.get(_id(first)) if len(failed) > before else None
        for event, _ in group[1:]:
            if error is None:
                done.append(_id(event))
            else:
                failed[_id(event)] = error

    def _settle(self, done: list[int], failed: dict[int, str]) -> None:
        now = self.clock()
        with open_session(self.database) as session:
            inbox.complete(session=session, ids=done, now=now)
            for event_id, error in failed.items():
                inbox.fail(
                    session=session,
                    ids=[event_id],
                    error=error,
                    now=now,
                    max_attempts=self.max_attempts,
                )


def _ignore_event(send: Callable[[Lead], None], lead: Lead, _event: InboxEvent) -> None:
    send(lead)


def _ignore_moved(send: Callable[[Moved], None], moved: Moved, _event: InboxEvent) -> None:
    send(moved)


@dataclass(frozen=True, slots=True)
class Moved:
    """An account whose verdict moved, with the post its reply threads under."""

    view: AccountView
    decision: RoutingDecision
    score: AccountScore
    previous: AccountScore | None
    channel: str


def _id(row: object) -> int:
    value = getattr(row, "id", None)
    assert isinstance(value, int)
    return value


def _plain(lead: Lead) -> Decision:
    """The stored decision in the shape the views take."""
    d = lead.decision
    return Decision(d.rule_id, d.channel, d.owner, d.owner_source, d.reason)
