"""Calibration maths: outcomes turned into examples, a time-based hold-out, and the evidence
each criterion carries (SPEC §8). Pure: deals and statuses in, numbers out.

The rules are the literature's and the spec's: one example per account with
a closed deal; good (1) when it was won and never churned, bad (0) when
every closed deal was lost or any churned (churn is anti-ICP); accounts with
open deals only are left out. The hold-out is the most recent share of
examples, never fitted on, so what is proposed is measured on data the fit
did not see. Every rate comes with its 95% Wilson interval, and a criterion
whose field is known for too few good or bad accounts says so in words
instead of giving a number that means nothing.

Weight of evidence and information value are the credit-scoring measures of
how well a yes/no split separates good from bad (WoE = ln of the share of
good over the share of bad in a group; IV sums the difference of the shares
times the WoE); counts are smoothed by half an account so that a group with
no bad account does not give an infinite WoE.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np
from numpy.typing import NDArray
from scipy.stats import binomtest, rankdata
from sklearn.metrics import roc_curve

from scoring.model import DealStage, Tier
from scoring.result import Status

MIN_KNOWN = 10  # good and bad accounts each, with the field known, to say anything
SMOOTHING = 0.5  # accounts added to each count in WoE and IV


@dataclass(frozen=True, slots=True)
class DealOutcome:
    """One deal, as calibration needs it."""

    domain: str
    stage: DealStage
    created_at: datetime
    closed_at: datetime | None


@dataclass(frozen=True, slots=True)
class Example:
    """An account with a known outcome: `good` or not, `closed_at` its first closed deal's close
    (what the hold-out sorts by), `as_of` its first deal's creation (features as they were)."""

    domain: str
    good: bool
    closed_at: datetime
    as_of: datetime


def examples(deals: Sequence[DealOutcome]) -> list[Example]:
    """One example per account with a closed deal, in domain order."""
    by_domain: dict[str, list[DealOutcome]] = {}
    for deal in deals:
        by_domain.setdefault(deal.domain, []).append(deal)
    found = []
    for domain in sorted(by_domain):
        own = by_domain[domain]
        closed = [d for d in own if d.stage is not DealStage.OPEN and d.closed_at is not None]
        if not closed:
            continue
        stages = {d.stage for d in closed}
        good = DealStage.CLOSED_WON in stages and DealStage.CHURNED not in stages
        first_close = min(d.closed_at for d in closed if d.closed_at is not None)
        found.append(Example(domain, good, first_close, min(d.created_at for d in own)))
    return found


def holdout_split(found: Sequence[Example], share: float) -> tuple[list[Example], list[Example]]:
    """(train, hold-out): the most recent `share` of examples by close date (ties by domain)
    are held out; at least one on each side when there are two or more."""
    if not 0 < share < 1:
        raise ValueError("the hold-out share must be between 0 and 1")
    ordered = sorted(found, key=lambda e: (e.closed_at, e.domain))
    held = round(len(ordered) * share)
    if len(ordered) >= 2:
        held = min(max(held, 1), len(ordered) - 1)
    cut = len(ordered) - held
    return ordered[:cut], ordered[cut:]


@dataclass(frozen=True, slots=True)
class Rate:
    """`good` of `total`, with its 95% Wilson interval; None when there is nothing to count."""

    good: int
    total: int

    @property
    def value(self) -> float | None:
        return self.good / self.total if self.total else None

    @property
    def interval(self) -> tuple[float, float] | None:
        if not self.total:
            return None
        ci = binomtest(self.good, self.total).proportion_ci(0.95, method="wilson")
        return float(ci.low), float(ci.high)


@dataclass(frozen=True, slots=True)
class Evidence:
    """What one criterion's statuses say about the outcomes."""

    examples: int
    known: float  # share of examples whose field was known
    matched: Rate  # win rate where it matched
    missed: Rate  # win rate where it was known and did not match
    lift: float | None  # matched win rate over the known win rate
    woe: float | None  # of the matched group
    iv: float | None
    too_few: str | None  # why no number means anything yet, in words; None when they do

    @property
    def signal(self) -> str:
        """The usual reading of IV: none, weak, medium or strong (or too few to say)."""
        if self.too_few or self.iv is None:
            return "too few"
        if self.iv < 0.02:
            return "none"
        if self.iv < 0.1:
            return "weak"
        return "medium" if self.iv < 0.3 else "strong"


def evidence(statuses: Sequence[Status], good: Sequence[bool], *, field: str) -> Evidence:
    """How well `matched` separates good from bad accounts, among those with `field` known."""
    if len(statuses) != len(good):
        raise ValueError("one status per example")
    pairs = [(s, g) for s, g in zip(statuses, good, strict=True) if s is not Status.UNKNOWN]
    matched = Rate(*_count(g for s, g in pairs if s is Status.MATCHED))
    missed = Rate(*_count(g for s, g in pairs if s is Status.MISSED))
    known_good = matched.good + missed.good
    known_bad = len(pairs) - known_good
    known = len(pairs) / len(statuses) if statuses else 0.0
    too_few = None
    if min(known_good, known_bad) < MIN_KNOWN:
        too_few = (
            f"{known_good} good and {known_bad} bad accounts have `{field}` known: "
            f"too few (at least {MIN_KNOWN} of each)"
        )
    base = known_good / len(pairs) if pairs else None
    lift = matched.value / base if matched.value is not None and base else None
    woe, iv = _woe_iv(matched, missed, known_good, known_bad)
    return Evidence(len(statuses), known, matched, missed, lift, woe, iv, too_few)


def _count(outcomes: Iterable[bool]) -> tuple[int, int]:
    """(good, total) of these outcomes."""
    values = list(outcomes)
    return sum(values), len(values)


def _woe_iv(
    matched: Rate, missed: Rate, known_good: int, known_bad: int
) -> tuple[float | None, float | None]:
    """WoE of the matched group and IV over both groups; None without any known account."""
    if not known_good + known_bad:
        return None, None
    woe_matched, gap_matched = _woe(matched, known_good, known_bad)
    woe_missed, gap_missed = _woe(missed, known_good, known_bad)
    return woe_matched, gap_matched * woe_matched + gap_missed * woe_missed


def _woe(group: Rate, known_good: int, known_bad: int) -> tuple[float, float]:
    """A group's WoE, and its share of the good accounts less its share of the bad ones."""
    good_share = (group.good + SMOOTHING) / (known_good + 2 * SMOOTHING)
    bad_share = (group.total - group.good + SMOOTHING) / (known_bad + 2 * SMOOTHING)
    return math.log(good_share / bad_share), good_share - bad_share


@dataclass(frozen=True, slots=True)
class TierRate:
    tier: str
    rate: Rate


def tier_win_rates(tiers: Sequence[str], good: Sequence[bool]) -> list[TierRate]:
    """Win rate per tier (the tier each account had when its deal was created), A to DQ."""
    order = [t.value for t in Tier]
    found = sorted(set(tiers), key=lambda t: (order.index(t) if t in order else len(order), t))
    return [
        TierRate(t, Rate(*_count(g for tier, g in zip(tiers, good, strict=True) if tier == t)))
        for t in found
    ]


@dataclass(frozen=True, slots=True)
class Auc:
    """A ROC AUC and its 95% bootstrap interval (percentiles of resampled AUCs)."""

    value: float
    low: float
    high: float


def auc(scores: Sequence[float], good: Sequence[bool], *, resamples: int = 1000) -> Auc | None:
    """How well `scores` rank good accounts above bad ones, on these (held-out) examples;
    None unless both outcomes are present. Resampling is seeded: a report is reproducible."""
    found = _bootstrap([scores], good, resamples)
    if found is None:
        return None
    (value,), samples = found
    low, high = _percentiles(samples[:, 0])
    return Auc(value, low, high)


@dataclass(frozen=True, slots=True)
class Comparison:
    """Two rankings of the same held-out examples: each one's AUC, and the gain of the second
    over the first with a paired interval (both ranked on each resample), which says whether
    a gain is more than the luck of the hold-out."""

    current: Auc
    proposed: Auc
    gain: Auc


def compare(
    current: Sequence[float],
    proposed: Sequence[float],
    good: Sequence[bool],
    *,
    resamples: int = 1000,
) -> Comparison | None:
    """Current and proposed scores on the same examples, compared (None without both outcomes)."""
    found = _bootstrap([current, proposed], good, resamples)
    if found is None:
        return None
    (before, after), samples = found
    return Comparison(
        Auc(before, *_percentiles(samples[:, 0])),
        Auc(after, *_percentiles(samples[:, 1])),
        Auc(after - before, *_percentiles(samples[:, 1] - samples[:, 0])),
    )


def _bootstrap(
    scorings: Sequence[Sequence[float]], good: Sequence[bool], resamples: int
) -> tuple[list[float], NDArray[np.float64]] | None:
    """Each scoring's AUC, and their AUCs on the same seeded resamples (one row a resample;
    resamples with a single outcome have no AUC and are skipped)."""
    y = np.asarray(good, dtype=bool)
    xs = [np.asarray(x, dtype=float) for x in scorings]
    if any(len(x) != len(y) for x in xs):
        raise ValueError("one score per example")
    if y.all() or not y.any():
        return None
    rng = np.random.default_rng(0)
    rows = []
    for _ in range(resamples):
        pick = rng.integers(0, len(y), len(y))
        if y[pick].all() or not y[pick].any():
            continue
        rows.append([_auc(y[pick], x[pick]) for x in xs])
    samples = np.asarray(rows, dtype=float).reshape(-1, len(xs))
    return [_auc(y, x) for x in xs], samples


def _auc(y: NDArray[np.bool_], x: NDArray[np.float64]) -> float:
    """ROC AUC as the Mann-Whitney statistic (ties count half), the same value as
    scikit-learn's `roc_auc_score` at a fraction of its cost, which matters a thousand
    resamples over."""
    ranks = rankdata(x)
    good = int(y.sum())
    bad = len(y) - good
    return float((ranks[y].sum() - good * (good + 1) / 2) / (good * bad))


def _percentiles(values: NDArray[np.float64]) -> tuple[float, float]:
    if not values.size:
        return math.nan, math.nan
    low, high = np.percentile(values, [2.5, 97.5])
    return float(low), float(high)


def roc_points(scores: Sequence[float], good: Sequence[bool]) -> list[tuple[float, float]]:
    """The ROC curve as (false positive rate, true positive rate) points, for a chart."""
    y = np.asarray(good, dtype=bool)
    if y.all() or not y.any():
        return []
    fpr, tpr, _ = roc_curve(y, np.asarray(scores, dtype=float))
    return [(float(f), float(t)) for f, t in zip(fpr, tpr, strict=True)]
