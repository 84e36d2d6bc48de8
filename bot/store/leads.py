"""Routing's storage: decisions and their posts, claims, round-robin places, feedback.

Repo functions in the style of `repo`: keyword-only, they execute and flush,
the caller's `session()` block commits.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import or_, update
from sqlmodel import Session, col, select

from bot.store.repo import dialect_insert
from bot.store.tables import Feedback, RoundRobin, RoutingDecision


def decisions_for(*, session: Session, domains: Iterable[str]) -> dict[str, RoutingDecision]:
    """The stored decisions of these accounts, by domain."""
    wanted = sorted(set(domains))
    if not wanted:
        return {}
    query = select(RoutingDecision).where(col(RoutingDecision.account_domain).in_(wanted))
    return {d.account_domain: d for d in session.exec(query)}


def get_decision(*, session: Session, domain: str) -> RoutingDecision | None:
    return decisions_for(session=session, domains=[domain]).get(domain)


def save_decision(*, session: Session, values: Mapping[str, Any]) -> RoutingDecision:
    """Store a decision unless the account has one; the stored one either way.

    The unique domain settles a race between replicas: the first decision
    stands, the second finds it and posts nothing.
    """
    insert = dialect_insert(session, RoutingDecision).values(**values)
    session.execute(insert.on_conflict_do_nothing(index_elements=["account_domain"]))
    query = select(RoutingDecision).where(
        col(RoutingDecision.account_domain) == values["account_domain"]
    )
    return session.exec(query.execution_options(populate_existing=True)).one()


def mark_posted(
    *,
    session: Session,
    ids: Sequence[int],
    channel_id: str,
    ts: str,
    now: datetime,
    summarized: bool = False,
) -> None:
    """These decisions' post is the message `ts`: their re-scores reply in its thread."""
    if ids:
        session.execute(
            update(RoutingDecision)
            .where(col(RoutingDecision.id).in_(list(ids)))
            .values(channel_id=channel_id, message_ts=ts, posted_at=now, summarized=summarized)
        )


def claim_lead(
    *, session: Session, domain: str, user: str, now: datetime
) -> RoutingDecision | None:
    """Record who claimed the account; None when it was never routed."""
    decision = get_decision(session=session, domain=domain)
    if decision is None:
        return None
    decision.claimed_by = user
    decision.claimed_at = now
    session.add(decision)
    session.flush()
    return decision


def load_cursors(*, session: Session, teams: Iterable[str]) -> dict[str, int]:
    """Round-robin positions of these teams, locked on PostgreSQL until the commit.

    The lock makes two replicas routing at once take turns, so one rep is
    not handed two leads in a row.
    """
    wanted = sorted(set(teams))
    if not wanted:
        return {}
    query = select(RoundRobin).where(col(RoundRobin.team).in_(wanted))
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update()
    return {row.team: row.position for row in session.exec(query)}


def save_cursors(
    *, session: Session, cursors: Mapping[str, int], reps: Mapping[str, str], now: datetime
) -> None:
    """Store positions (and the rep each last served) in one upsert per team."""
    for team, position in cursors.items():
        values = {"team": team, "position": position, "last_rep": reps.get(team), "updated_at": now}
        insert = dialect_insert(session, RoundRobin).values(**values)
        session.execute(
            insert.on_conflict_do_update(
                index_elements=["team"],
                set_={k: insert.excluded[k] for k in ("position", "last_rep", "updated_at")},
            )
        )


def add_feedback(*, session: Session, values: Mapping[str, Any]) -> Feedback:
    """Store a "not a fit" (or other) verdict from a rep."""
    row = Feedback(**values)
    session.add(row)
    session.flush()
    return row


def feedback_between(*, session: Session, start: datetime, end: datetime) -> list[Feedback]:
    """ "Not a fit" feedback given from `start` up to `end`, oldest first (the digest's week)."""
    query = (
        select(Feedback)
        .where(col(Feedback.created_at) >= start, col(Feedback.created_at) < end)
        .order_by(col(Feedback.created_at))
    )
    return list(session.exec(query))


def routed_to(
    *, session: Session, owners: Sequence[str], user: str | None, limit: int = 20
) -> list[RoutingDecision]:
    """Accounts routed to these owners (emails, CRM owner ids) or claimed by `user`."""
    conditions: list[Any] = []
    if owners:
        conditions.append(col(RoutingDecision.owner).in_(list(owners)))
    if user:
        conditions.append(col(RoutingDecision.claimed_by) == user)
    if not conditions:
        return []
    query = (
        select(RoutingDecision)
        .where(or_(*conditions))
        .order_by(col(RoutingDecision.decided_at).desc(), col(RoutingDecision.id).desc())
        .limit(limit)
    )
    return list(session.exec(query))
