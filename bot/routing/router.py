"""Routing a newly scored account: the decision, stored, and what its post shows (SPEC §6).

The decision is made once per account and stored with the sentence that
explains it. The round robin's place is read and written in the same
transaction (locked on PostgreSQL), so replicas take turns and a restart
continues where it was. Slack is asked about reps before that transaction
opens: nothing waits on Slack while holding a lock.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from sqlalchemy import Engine as Database
from sqlmodel import Session

from bot.routing.owners import Owners
from bot.routing.rules import Routing, route
from bot.store import leads, repo
from bot.store.db import session as open_session
from bot.store.tables import Account, RoutingDecision, Subject
from integrations.base import LiveCrm
from scoring.model import Tier
from scoring.result import AccountScore

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Lead:
    """Everything a routing post shows about one account."""

    decision: RoutingDecision
    account: Account
    score: AccountScore


class Reps(Protocol):
    """Who the reps are in the chat tool (Slack's `bot.slack.people.Directory`).

    Asked before a decision's transaction opens (`warm`) and from its cache
    inside it (`cached_active`), so nothing waits on Slack while holding a lock.
    """

    def warm(self, emails: Iterable[str]) -> None: ...
    def cached_active(self, email: str) -> bool: ...
    def mention(self, email: str | None) -> str | None: ...


class Router:
    """Decides where new accounts go and who gets them; says who owns them in Slack terms."""

    def __init__(
        self,
        *,
        database: Database,
        routing: Routing,
        directory: Reps,
        crms: Mapping[str, LiveCrm] | None = None,
        owners: Owners | None = None,
    ) -> None:
        self.database = database
        self.routing = routing
        self.directory = directory
        self.crms = dict(crms or {})
        self.owners = owners or Owners(self.crms)  # shared with the digest: one cache

    def decide(self, domain: str, *, now: datetime) -> Lead | None:
        """The account's stored decision, made now if it has none; None if it is not stored."""
        self.directory.warm(m for team in self.routing.teams.values() for m in team.members)
        with open_session(self.database) as session:
            account = repo.get_account(session=session, domain=domain)
            row = repo.latest_score(session=session, subject=Subject.ACCOUNT, key=domain)
            score = repo.account_score_of(row, session=session) if row else None
            if account is None or score is None:
                return None
            decision = leads.get_decision(session=session, domain=domain)
            if decision is None:
                decision = self._new_decision(session, account, score, now)
        return Lead(decision, account, score)

    def _new_decision(
        self, session: Session, account: Account, score: AccountScore, now: datetime
    ) -> RoutingDecision:
        cursors = leads.load_cursors(session=session, teams=self.routing.teams)
        before = dict(cursors)
        decision = route(
            self.routing,
            tier=score.tier,
            profile=score.profile_id,
            fields=account.fields,
            now=now,
            cursors=cursors,
            available=self.directory.cached_active,
            persona_tier=_persona_tier(session, account.domain),
        )
        moved = {team: pos for team, pos in cursors.items() if before.get(team) != pos}
        reps = {team: decision.owner for team in moved if decision.owner}
        leads.save_cursors(session=session, cursors=moved, reps=reps, now=now)
        return leads.save_decision(
            session=session,
            values={
                "account_domain": account.domain,
                "crm": account.crm,
                "crm_id": account.crm_id,
                "rule_id": decision.rule_id,
                "channel": decision.channel,
                "owner": decision.owner,
                "owner_source": decision.owner_source,
                "reason": decision.reason,
                "tier": score.tier.value,
                "score": score.score,
                "decided_at": now,
                "summarized": False,
            },
        )

    def owner_mention(self, decision: RoutingDecision) -> str | None:
        """`<@U123>` for the owner when Slack knows them, else their name, email or id."""
        if decision.claimed_by:
            return f"<@{decision.claimed_by}>"
        if decision.owner is None:
            return None
        if decision.owner_source != "crm":
            return self.directory.mention(decision.owner)
        return self.owners.named(decision.crm, decision.owner, self.directory)


def _persona_tier(session: Session, domain: str) -> Tier | None:
    """The persona tier of the account's best-fitting known contact: what `persona_tier` tests."""
    best = repo.best_persona(session=session, domain=domain)
    tier = best[1].persona_tier if best else None
    return Tier(tier) if tier is not None and tier in Tier.__members__ else None
