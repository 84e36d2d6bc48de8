"""The examples calibration learns from, each with its account as it was (SPEC §8).

"As it was": an account's fields are taken from the audit trail's last snapshot from
before its first deal was created, when there is one (icpbot keeps every scoring with
the fields it was given), else from the account as it is now. The snapshot is also when
the fields were seen, which is the moment `within_days` criteria are judged from: a
funding round a year before the deal counts as recent *then*.

The tier as it was is the tier icpbot recorded in that snapshot; without one, the
current ICP's tier of the account as it is, leaving out what records the outcome (a
won account is a customer now, so its current tier is DQ, not what it was when the
deal was opened). The digest's win rates by tier use the same reading.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlmodel import Session

from bot.store import repo
from bot.store.tables import Deal as StoredDeal
from bot.views.common import counted
from integrations.base import Deal as CrmDeal
from integrations.csv import CsvCrm
from scoring.calibration import DealOutcome, Example, examples
from scoring.engine import Record, Scorer
from scoring.fields import FieldType
from scoring.model import DealStage


@dataclass(frozen=True, slots=True)
class Observed:
    """An example with its account's fields as they were, when they were seen, and the tier
    icpbot recorded then (None when no snapshot predates the deal)."""

    example: Example
    record: Record
    seen_at: datetime
    recorded_tier: str | None

    def tier(self, learnable: Scorer) -> str:
        """The tier as it was: recorded, or the outcome-free ICP's tier of these fields."""
        return _tier_then(self.record, self.seen_at, self.recorded_tier, learnable)


@dataclass(frozen=True, slots=True)
class Observations:
    """What calibration reads, with what it had to leave aside and why, in words."""

    observed: list[Observed]
    deals: int
    skipped: list[str]


def from_store(session: Session, *, now: datetime) -> Observations:
    """Every account with a closed deal in the store (whatever CRM or backfill loaded it)."""
    stored = repo.deals(session=session)
    outcomes, skipped = _outcomes(stored)
    found = examples(outcomes)
    domains = [e.domain for e in found]
    accounts = repo.accounts_by_domain(session=session, domains=domains)
    history = repo.account_history(session=session, domains=domains)
    observed: list[Observed] = []
    missing = 0
    for example in found:
        account = accounts.get(example.domain)
        if account is None:
            missing += 1
            continue
        seen = _as_it_was(example.as_of, account.fields, history.get(example.domain, ()), now)
        observed.append(Observed(example, *seen))
    if missing:
        skipped.append(
            f"{counted(missing, 'account')} with closed deals not in the store (run a backfill of "
            "their CRM): left out"
        )
    return Observations(observed, len(stored), skipped)


def from_directory(
    directory: Path, *, types: Mapping[str, FieldType], now: datetime
) -> Observations:
    """`companies.csv` and `deals.csv` in the CSV CRM's layout; no audit trail, so every
    account is taken as it is now. A bad row is named in `skipped` and the rest are used."""
    crm = CsvCrm(directory, types=types)
    records = {r.domain: r for r in crm.accounts() if r.domain}
    deals = list(crm.deals())
    outcomes, skipped = _outcomes(deals)
    skipped[:0] = [str(error) for error in crm.errors()]
    observed: list[Observed] = []
    missing = 0
    for example in examples(outcomes):
        record = records.get(example.domain)
        if record is None:
            missing += 1
            continue
        observed.append(Observed(example, dict(record.fields), now, None))
    if missing:
        skipped.append(
            f"{counted(missing, 'account')} in deals.csv without a row in companies.csv: left out"
        )
    return Observations(observed, len(deals), skipped)


def _outcomes(deals: Iterable[StoredDeal | CrmDeal]) -> tuple[list[DealOutcome], list[str]]:
    """Deals as outcomes; those without an account, a creation date or a known stage are
    counted, and said."""
    outcomes: list[DealOutcome] = []
    unusable: dict[str, int] = {}
    for deal in deals:
        domain = deal.account_domain if isinstance(deal, StoredDeal) else deal.domain
        reason = _unusable(domain, deal)
        if reason is not None or not domain or deal.created_at is None:
            unusable[reason or ""] = unusable.get(reason or "", 0) + 1
            continue
        outcomes.append(DealOutcome(domain, DealStage(deal.stage), deal.created_at, deal.closed_at))
    said = [f"{counted(n, 'deal')} with {why}: left out" for why, n in sorted(unusable.items())]
    return outcomes, said


def _unusable(domain: str | None, deal: StoredDeal | CrmDeal) -> str | None:
    """Why a deal cannot be an outcome, or None."""
    if deal.stage not in {s.value for s in DealStage}:
        return f"a stage other than {', '.join(s.value for s in DealStage)} ({deal.stage!r})"
    if not domain:
        return "no account domain"
    return "no created_at" if deal.created_at is None else None


def _as_it_was(
    as_of: datetime, current: Record, history: Sequence[repo.Seen], now: datetime
) -> tuple[Record, datetime, str | None]:
    """(fields, when seen, tier recorded then) from the last snapshot before `as_of`, else
    the account now, seen now, with no recorded tier."""
    before = [seen for seen in history if seen.scored_at < as_of]
    if before:
        last = before[-1]
        return last.snapshot, last.scored_at, last.tier
    return current, now, None


def _tier_then(record: Record, seen_at: datetime, recorded: str | None, learnable: Scorer) -> str:
    return recorded if recorded is not None else learnable.score_account(record, seen_at).tier.value


def tiers_as_they_were(
    session: Session, deals: Sequence[StoredDeal], learnable: Scorer, *, now: datetime
) -> list[str]:
    """Each deal's account tier when the deal was created (see the module's text); "unknown"
    for a deal whose account is not stored."""
    domains = {d.account_domain for d in deals}
    accounts = repo.accounts_by_domain(session=session, domains=domains)
    history = repo.account_history(session=session, domains=domains)
    tiers = []
    for deal in deals:
        account = accounts.get(deal.account_domain)
        if account is None:
            tiers.append("unknown")
            continue
        seen = _as_it_was(
            deal.created_at, account.fields, history.get(deal.account_domain, ()), now
        )
        tiers.append(_tier_then(*seen, learnable))
    return tiers
