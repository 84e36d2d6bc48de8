"""What a new `icp.yaml` would change, before it is merged (SPEC §8a: `icpbot impact`).

Every stored account is scored twice at the same moment: with the deployed ICP (the
newest version the store recorded, by its exact text) and with the proposed one. Using
one clock for both isolates the ICP's change from the calendar's (ageing is a separate
matter). Stored people are scored for their persona the same way. Nothing is written:
the store is only read.

What a reviewer needs from it: how many accounts move between tiers (the transition
matrix), which ones enter or leave tier A or become disqualified and by which criteria,
whose book of accounts changes most, and what the rollout will cost in CRM writes and
time at the configured rate limits.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TypeVar

from sqlmodel import Session

from bot.store import repo
from bot.store.ratelimit import BACKGROUND_SHARE
from bot.store.tables import Account, Contact, IcpVersion
from scoring.engine import Scorer
from scoring.fields import FieldType
from scoring.model import Icp, Tier
from scoring.problems import ConfigError
from scoring.result import AccountScore, ProfileResult, Status
from scoring.validation import parse_icp

_Stored = TypeVar("_Stored", Account, Contact)
TIERS = tuple(t.value for t in Tier)
PAGE = 1000

# Records one CRM write call carries (HubSpot batch update; Salesforce sObject Collections).
WRITES_PER_CALL = {"hubspot": 100, "salesforce": 200}


class NothingDeployed(Exception):
    """The store holds no ICP version: nothing has been scored yet."""


@dataclass(frozen=True, slots=True)
class Move:
    """One account whose tier changes: who it is, whose it is, and why it moved."""

    domain: str
    name: str
    owner: str | None
    old_tier: str
    new_tier: str
    old_score: int
    new_score: int
    why: tuple[str, ...]  # the criteria and disqualifiers that moved it


@dataclass(frozen=True, slots=True)
class Book:
    """One owner's accounts: how many change tier, enter A, or leave A."""

    owner: str
    accounts: int
    changed: int
    entering_a: int
    leaving_a: int


@dataclass(frozen=True, slots=True)
class Cost:
    """The rollout's CRM writes for one CRM, and how long they take at its limit."""

    crm: str
    records: int
    calls: int
    seconds: float


@dataclass(slots=True)
class Impact:
    deployed: Icp
    proposed: Icp
    accounts: int = 0
    matrix: Counter[tuple[str, str]] = field(default_factory=Counter)
    entering_a: list[Move] = field(default_factory=list)
    leaving_a: list[Move] = field(default_factory=list)
    newly_disqualified: list[Move] = field(default_factory=list)
    books: list[Book] = field(default_factory=list)
    people: int = 0
    persona_matrix: Counter[tuple[str, str]] = field(default_factory=Counter)
    costs: list[Cost] = field(default_factory=list)

    @property
    def changed(self) -> int:
        return sum(n for (old, new), n in self.matrix.items() if old != new)


def deployed_icp(session: Session, *, types: Mapping[str, FieldType]) -> Icp:
    """The ICP the store was last scored with, parsed from the exact text it recorded."""
    row = repo.deployed_version(session=session)
    if row is None:
        raise NothingDeployed(
            "the store holds no scores yet, so no ICP is deployed: run a backfill "
            "(`icpbot backfill`) or `icpbot serve` first"
        )
    return _parse(row, types)


def _parse(row: IcpVersion, types: Mapping[str, FieldType]) -> Icp:
    try:
        icp, _ = parse_icp(row.content, source=f"icp.yaml v{row.version} (stored)", fields=types)
    except ConfigError as exc:  # a custom field the new fields.yaml dropped, say
        raise NothingDeployed(
            f"the deployed icp.yaml v{row.version} no longer loads with this fields.yaml:\n{exc}"
        ) from exc
    return icp


def measure(
    session: Session,
    deployed: Icp,
    proposed: Icp,
    *,
    now: datetime,
    rates: Mapping[str, float],
    top: int = 10,
) -> Impact:
    """Score every stored account and person with both ICPs (see the module's text);
    `rates` is each CRM's configured limit in calls a second, for the rollout's cost."""
    found = Impact(deployed, proposed)
    before, after = Scorer(deployed), Scorer(proposed)
    books: dict[str, Counter[str]] = {}
    moves: list[Move] = []
    writes: Counter[str] = Counter()
    for page in _pages(session, Account):
        latest = repo.latest_for(session=session, subject="account", keys=[a.domain for a in page])
        for account in page:
            old = before.score_account(account.fields, now)
            new = after.score_account(account.fields, now)
            found.accounts += 1
            found.matrix[(old.tier.value, new.tier.value)] += 1
            _book(books, account.owner_id, old, new)
            if old.tier is not new.tier:
                moves.append(_move(account, old, new))
            if _written_again(latest.get(account.domain), proposed.version, account.crm_id):
                writes[account.crm] += 1
    for people in _pages(session, Contact):
        latest = repo.latest_for(session=session, subject="contact", keys=[p.email for p in people])
        for person in people:
            old_fit = before.score_persona(person.fields, now)
            new_fit = after.score_persona(person.fields, now)
            found.people += 1
            if old_fit is not None and new_fit is not None:
                found.persona_matrix[(old_fit.tier.value, new_fit.tier.value)] += 1
            if _written_again(latest.get(person.email), proposed.version, person.crm_id):
                writes[person.crm] += 1
    moves.sort(key=lambda m: (-abs(m.new_score - m.old_score), m.domain))
    found.entering_a = [m for m in moves if m.new_tier == "A"][:top]
    found.leaving_a = [m for m in moves if m.old_tier == "A"][:top]
    found.newly_disqualified = [m for m in moves if m.new_tier == "DQ"][:top]
    found.books = _books(books)[:top]
    found.costs = [
        _cost(crm, n, rates[crm]) for crm, n in sorted(writes.items()) if crm in WRITES_PER_CALL
    ]
    return found


def _pages(session: Session, model: type[_Stored]) -> Iterator[list[_Stored]]:
    after = 0
    while page := repo.stored_page(session=session, model=model, after=after, limit=PAGE):
        yield page
        after = page[-1].id or after


def _written_again(latest: repo.LatestScore | None, version: int, crm_id: str | None) -> bool:
    """A record the rollout writes: its CRM holds another version's fields (the version is
    one of the fields icpbot writes), or it was never scored."""
    return crm_id is not None and (latest is None or latest.icp_version != version)


def _book(
    books: dict[str, Counter[str]], owner: str | None, old: AccountScore, new: AccountScore
) -> None:
    counts = books.setdefault(owner or "", Counter())
    counts["accounts"] += 1
    counts["changed"] += old.tier is not new.tier
    counts["entering_a"] += old.tier is not Tier.A and new.tier is Tier.A
    counts["leaving_a"] += old.tier is Tier.A and new.tier is not Tier.A


def _books(books: dict[str, Counter[str]]) -> list[Book]:
    found = [
        Book(owner, c["accounts"], c["changed"], c["entering_a"], c["leaving_a"])
        for owner, c in books.items()
        if c["changed"]
    ]
    return sorted(found, key=lambda b: (-b.changed, -b.entering_a - b.leaving_a, b.owner))


def _move(account: Account, old: AccountScore, new: AccountScore) -> Move:
    return Move(
        account.domain,
        account.name,
        account.owner_id,
        old.tier.value,
        new.tier.value,
        old.score,
        new.score,
        _why(old, new),
    )


def _why(old: AccountScore, new: AccountScore) -> tuple[str, ...]:
    """What moved an account: disqualifiers that appeared or went, a change of winning
    profile, and each criterion of the new winner whose points differ from what the same
    profile gave it before."""
    lines = [f"now disqualified by {d.id}" for d in new.disqualified_by if d.id not in _ids(old)]
    lines += [
        f"no longer disqualified by {d.id}" for d in old.disqualified_by if d.id not in _ids(new)
    ]
    if old.profile_id != new.profile_id:
        lines.append(f"best profile {old.profile_id} → {new.profile_id}")
    winner = _winner(new)
    before = _points(_profile(old, winner.profile_id) if winner else None)
    for criterion in winner.criteria if winner else ():
        was = before.get(criterion.id)
        now = criterion.points if criterion.status is Status.MATCHED else 0.0
        if was is None:
            if now:
                lines.append(f"{criterion.id} {now:+.0f} (new criterion)")
        elif round(was) != round(now):
            lines.append(f"{criterion.id} {was:+.0f} → {now:+.0f}")
    return tuple(lines)


def _ids(score: AccountScore) -> set[str]:
    return {d.id for d in score.disqualified_by}


def _winner(score: AccountScore) -> ProfileResult | None:
    return _profile(score, score.profile_id)


def _profile(score: AccountScore, profile_id: str | None) -> ProfileResult | None:
    return next((p for p in score.profiles if p.profile_id == profile_id), None)


def _points(result: ProfileResult | None) -> dict[str, float]:
    if result is None:
        return {}
    return {c.id: c.points if c.status is Status.MATCHED else 0.0 for c in result.criteria}


def _cost(crm: str, records: int, rate: float) -> Cost:
    """Write calls, and their time when the rollout gets the share of the limit that
    background work gets while live traffic flows (`bot/store/ratelimit.py`)."""
    calls = math.ceil(records / WRITES_PER_CALL[crm])
    return Cost(crm, records, calls, calls / (rate * BACKGROUND_SHARE))
