"""The weekly digest's numbers, computed from the store (SPEC §7).

A digest is about one ISO week in the team's timezone, Monday 00:00 to the
next Monday 00:00, and is posted after it ends. Everything here reads the
store and returns plain values; what a post says is `bot.views.digest`.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import Session

from bot.calibration.outcomes import tiers_as_they_were
from bot.store import leads, repo
from bot.store.tables import Account, Score
from scoring.engine import Scorer
from scoring.fit import learnable
from scoring.model import Icp, Tier
from scoring.result import Status

TIERS = tuple(t.value for t in Tier)
TOP_A = 5
MISSING_FIELDS = 5
WIN_RATE_DAYS = 90
REVIEW_DAYS = 90


@dataclass(frozen=True, slots=True)
class Week:
    """An ISO week in a timezone: its label and its bounds as aware datetimes."""

    year: int
    number: int
    zone: ZoneInfo

    @classmethod
    def parse(cls, text: str, zone: ZoneInfo) -> Week:
        """`2026-W47`; ValueError says what is expected."""
        year, sep, number = text.strip().upper().partition("-W")
        if not sep or not year.isdigit() or not number.isdigit():
            raise ValueError(f"{text!r} is not an ISO week such as 2026-W47")
        date.fromisocalendar(int(year), int(number), 1)  # raises for week 54 and the like
        return cls(int(year), int(number), zone)

    @classmethod
    def containing(cls, moment: datetime, zone: ZoneInfo) -> Week:
        year, number, _ = moment.astimezone(zone).isocalendar()
        return cls(year, number, zone)

    @classmethod
    def last_complete(cls, now: datetime, zone: ZoneInfo) -> Week:
        """The week before the one `now` falls in: what a Monday digest reports on."""
        return cls.containing(now, zone).previous

    @property
    def label(self) -> str:
        return f"{self.year}-W{self.number:02d}"

    @property
    def monday(self) -> date:
        return date.fromisocalendar(self.year, self.number, 1)

    @property
    def start(self) -> datetime:
        return datetime.combine(self.monday, time(), self.zone)

    @property
    def end(self) -> datetime:
        """Next Monday at midnight, local time (23, 24 or 25 hours after Sunday 01:00)."""
        return datetime.combine(self.monday + timedelta(days=7), time(), self.zone)

    @property
    def previous(self) -> Week:
        return Week.containing(self.start - timedelta(days=1), self.zone)


@dataclass(frozen=True, slots=True)
class NewAccount:
    domain: str
    name: str
    tier: str
    score: int
    coverage: float
    url: str | None
    owner: str | None  # the claimer's Slack id, else the routed owner (email or CRM id)
    owner_crm: str | None = None  # the CRM whose owner id `owner` is, when it is one


@dataclass(frozen=True, slots=True)
class WinRate:
    tier: str
    won: int
    lost: int

    @property
    def rate(self) -> float:
        return self.won / (self.won + self.lost) if self.won + self.lost else 0.0


@dataclass(frozen=True, slots=True)
class Missing:
    """A field unknown on `count` of the week's new accounts."""

    field: str
    count: int
    share: float


@dataclass(frozen=True, slots=True)
class NotAFit:
    domain: str
    reason: str
    note: str | None
    slack_user: str


@dataclass(slots=True)
class Digest:
    """Everything one week's digest says."""

    week: Week
    icp_version: int
    tiers: dict[str, int]
    tiers_before: dict[str, int]
    top_a: list[NewAccount] = field(default_factory=list)
    not_a_fit: list[NotAFit] = field(default_factory=list)
    win_rates: list[WinRate] = field(default_factory=list)
    missing: list[Missing] = field(default_factory=list)
    review_warning: str | None = None
    history: list[tuple[str, dict[str, int]]] = field(default_factory=list)  # for the chart

    @property
    def new_total(self) -> int:
        return sum(self.tiers.values())

    @property
    def reasons(self) -> list[tuple[str, int]]:
        return Counter(f.reason for f in self.not_a_fit).most_common()


def build_digest(*, session: Session, icp: Icp, week: Week, history_weeks: int = 8) -> Digest:
    """One week's digest from the store: new accounts, feedback, win rates, gaps, review age."""
    new = repo.new_accounts(session=session, start=week.start, end=week.end)
    before = _tiers(session, week.previous)
    digest = Digest(week, icp.version, _tier_counts(new), before)
    digest.top_a = _top_a(session, new)
    digest.not_a_fit = _not_a_fit(session, week)
    digest.win_rates = _win_rates(session, icp, week.end)
    digest.missing = _missing(session, new)
    digest.review_warning = review_warning(icp, week.end.date())
    digest.history = _history(session, week, history_weeks, digest.tiers, digest.tiers_before)
    return digest


def review_warning(icp: Icp, today: date) -> str | None:
    """Why the ICP needs a review, when `reviewed_on` is older than 90 days."""
    if icp.reviewed_on is None:
        return "icp.yaml has no reviewed_on date: when was the ICP last checked against wins?"
    age = (today - icp.reviewed_on).days
    if age <= REVIEW_DAYS:
        return None
    return (
        f"icp.yaml was last reviewed {age} days ago ({icp.reviewed_on.isoformat()}): "
        "time to recalibrate against recent wins and losses: `/icp calibration` here, or "
        "`icpbot calibrate --out proposed.yaml` for a proposal to review."
    )


def _tiers(session: Session, week: Week) -> dict[str, int]:
    return repo.new_account_tiers(session=session, start=week.start, end=week.end)


def _tier_counts(rows: list[tuple[Account, Score]]) -> dict[str, int]:
    counts = Counter(score.tier for _, score in rows)
    return {tier: counts.get(tier, 0) for tier in TIERS}


def _top_a(session: Session, new: list[tuple[Account, Score]]) -> list[NewAccount]:
    best = [(a, s) for a, s in new if s.tier == Tier.A.value][:TOP_A]
    domains = [a.domain for a, _ in best]
    decisions = leads.decisions_for(session=session, domains=domains)
    top = []
    for account, score in best:
        decision = decisions.get(account.domain)
        owner = (decision.claimed_by or decision.owner) if decision else account.owner_id
        by_id = decision is None or (not decision.claimed_by and decision.owner_source == "crm")
        top.append(
            NewAccount(
                account.domain,
                account.name,
                score.tier,
                score.score,
                score.coverage,
                account.url,
                owner,
                account.crm if by_id and owner else None,
            )
        )
    return top


def _not_a_fit(session: Session, week: Week) -> list[NotAFit]:
    rows = leads.feedback_between(session=session, start=week.start, end=week.end)
    return [NotAFit(f.account_domain, f.reason, f.note, f.slack_user) for f in rows]


def _win_rates(session: Session, icp: Icp, end: datetime) -> list[WinRate]:
    """Won (churned ones included: they were won) and lost deals closed in the last 90 days,
    by the tier each account had when its deal was created, not its tier now: a won account
    is a customer now, and so DQ (`bot.calibration.outcomes`)."""
    deals = repo.closed_deals(session=session, start=end - timedelta(days=WIN_RATE_DAYS), end=end)
    fair, _ = learnable(icp)
    tiers = tiers_as_they_were(session, deals, Scorer(fair), now=end)
    won: Counter[str] = Counter()
    lost: Counter[str] = Counter()
    for deal, tier in zip(deals, tiers, strict=True):
        (lost if deal.stage == "closed_lost" else won)[tier] += 1
    return [WinRate(t, won[t], lost[t]) for t in TIERS if won[t] + lost[t]]


def _missing(session: Session, new: list[tuple[Account, Score]]) -> list[Missing]:
    """Fields the winning profile could not read, counted over the week's new accounts."""
    unknown: Counter[str] = Counter()
    for _, row in new:
        score = repo.account_score_of(row, session=session)
        if score is None:
            continue
        winner = next((p for p in score.profiles if p.profile_id == score.profile_id), None)
        fields = {
            c.criterion.field
            for c in (winner.criteria if winner else ())
            if c.status is Status.UNKNOWN
        }
        unknown.update(fields)
    total = len(new)
    return [Missing(name, n, n / total) for name, n in unknown.most_common(MISSING_FIELDS)]


def _history(
    session: Session, week: Week, weeks: int, now: dict[str, int], before: dict[str, int]
) -> list[tuple[str, dict[str, int]]]:
    """New accounts by tier for the last `weeks` weeks, oldest first (the chart's data)."""
    history = [(week.label, now), (week.previous.label, before)]
    current = week.previous
    while len(history) < weeks:
        current = current.previous
        history.append((current.label, _tiers(session, current)))
    return list(reversed(history))
