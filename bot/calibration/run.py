"""One calibration: the observed examples and the ICP in, the report's numbers out (SPEC §8).

The steps, in the order a reviewer would check them:

1. The ICP without what records the outcome (`scoring.fit.learnable`): criteria and
   disqualifiers on `lifecycle_stage` or `owner_id` would learn the answer.
2. A time-based hold-out: the most recent share of examples is never fitted on.
3. Every example scored by that ICP from its fields as they were, at the moment they were
   seen; each profile judged on the examples it is in the running for.
4. Per criterion, on every example: how often it is known, the win rate matched and not,
   lift, WoE, IV (descriptive: nothing is proposed from them alone).
5. Per profile, on the training examples: the regularised fit (`scoring.fit`) → proposed
   weights; the proposed ICP's held-out ROC AUC beside the current one's, both with
   intervals.
6. Per profile: suggested new criteria searched on the training examples and confirmed
   on the hold-out (`scoring.discovery`).

Fewer than `MIN_EXAMPLES` of either outcome: steps 5 and 6 are skipped and the report says
why, so nobody merges weights fitted on noise.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from bot.calibration.outcomes import Observations, Observed
from scoring.calibration import (
    Auc,
    Evidence,
    TierRate,
    compare,
    evidence,
    holdout_split,
    roc_points,
    tier_win_rates,
)
from scoring.discovery import Suggestion, suggest
from scoring.engine import Scorer
from scoring.fields import PERSON_FIELDS, FieldType
from scoring.fit import Fitted, fit_profile, learnable, with_weights
from scoring.model import Icp, Tier
from scoring.result import AccountScore, Status

MIN_EXAMPLES = 30  # of each outcome, to fit or suggest anything
DEFAULT_HOLDOUT = 0.25


@dataclass(frozen=True, slots=True)
class CriterionReport:
    """One criterion of one profile: what it carries, its weight now and the proposed one."""

    profile: str
    id: str
    field: str
    layer: str | None
    weight: int
    evidence: Evidence
    proposed_weight: int | None
    no_signal: bool


@dataclass(frozen=True, slots=True)
class Curve:
    """A held-out ROC curve and its AUC."""

    auc: Auc
    points: list[tuple[float, float]]


@dataclass(slots=True)
class Calibration:
    """Everything the report says; `proposed` is None when nothing is proposed (and
    `too_few` says why)."""

    icp: Icp
    good: int
    bad: int
    train: int
    holdout: int
    deals: int
    skipped: list[str]
    left_out: tuple[str, ...]
    criteria: list[CriterionReport]
    tiers: list[TierRate]
    too_few: str | None = None
    current: Curve | None = None
    proposed_curve: Curve | None = None
    proposed: Icp | None = None
    gain: Auc | None = None  # proposed less current held-out AUC, paired interval
    weights: dict[str, dict[str, int]] = field(default_factory=dict)
    suggestions: list[Suggestion] = field(default_factory=list)

    @property
    def improved(self) -> bool:
        """The proposed weights rank the hold-out better than the current ones."""
        return (
            self.current is not None
            and self.proposed_curve is not None
            and self.proposed_curve.auc.value > self.current.auc.value
        )


def calibrate(
    observations: Observations,
    icp: Icp,
    *,
    types: Mapping[str, FieldType],
    holdout: float = DEFAULT_HOLDOUT,
) -> Calibration:
    """The whole calibration of `icp` against these outcomes (see the module's text)."""
    fair, left_out = learnable(icp)
    scorer = Scorer(fair)
    observed = observations.observed
    train_part, _ = holdout_split([o.example for o in observed], holdout)
    in_train = {e.domain for e in train_part}
    train = np.array([o.example.domain in in_train for o in observed], dtype=bool)
    good = np.array([o.example.good for o in observed], dtype=bool)
    results = [scorer.score_account(o.record, o.seen_at) for o in observed]
    running = [_won_by(results, p.id) for p in fair.profiles]
    fits = [_fit(fair, k, results, running[k] & train, good) for k in range(len(fair.profiles))]
    found = Calibration(
        icp=icp,
        good=int(good.sum()),
        bad=int((~good).sum()),
        train=int(train.sum()),
        holdout=int((~train).sum()),
        deals=observations.deals,
        skipped=list(observations.skipped),
        left_out=left_out,
        criteria=[],
        tiers=tier_win_rates([o.tier(scorer) for o in observed], list(good)),
    )
    fewest = min(found.good, found.bad)
    if fewest < MIN_EXAMPLES:
        found.too_few = (
            f"{found.good} good and {found.bad} bad accounts: too few to fit weights or suggest "
            f"criteria (at least {MIN_EXAMPLES} of each). Load more closed deals (a backfill "
            "of your CRM, or --source with a longer history) and run it again."
        )
    for k, profile in enumerate(fair.profiles):
        fitted = fits[k] if found.too_few is None else None
        found.criteria += _criteria(profile.id, fair, k, results, running[k], good, fitted)
    if found.too_few is not None:
        return found
    found.weights = {p.id: fits[k].weights for k, p in enumerate(fair.profiles)}
    proposed_fair = with_weights(fair, found.weights)
    held = ~train
    outcomes = list(good[held])
    before = _ranking(scorer, observed, held)
    after = _ranking(Scorer(proposed_fair), observed, held)
    compared = compare(before, after, outcomes)
    if compared is not None:
        found.current = Curve(compared.current, roc_points(before, outcomes))
        found.proposed_curve = Curve(compared.proposed, roc_points(after, outcomes))
        found.gain = compared.gain
    found.proposed = with_weights(icp, found.weights)
    fields = {n: t for n, t in types.items() if n not in PERSON_FIELDS}
    records = [o.record for o in observed]
    nows = [o.seen_at for o in observed]
    for k, profile in enumerate(fair.profiles):
        rows = running[k]
        found.suggestions += suggest(
            profile,
            [r for r, keep in zip(records, rows, strict=True) if keep],
            [n for n, keep in zip(nows, rows, strict=True) if keep],
            good[rows],
            train[rows],
            fields,
            fits[k].scale,
        )
    return found


def _won_by(results: Sequence[AccountScore], profile_id: str) -> NDArray[np.bool_]:
    """The examples profile `profile_id` scored: not disqualified, and it was their best
    profile. A profile's weights matter only where it wins: a large company on Salesforce,
    won through the enterprise profile, says nothing about the mid-market one's criteria."""
    return np.array([r.tier is not Tier.DQ and r.profile_id == profile_id for r in results])


def _matched(results: Sequence[AccountScore], k: int, rows: NDArray[np.bool_]) -> NDArray[np.bool_]:
    chosen = [r for r, keep in zip(results, rows, strict=True) if keep]
    return np.array(
        [[c.status is Status.MATCHED for c in r.profiles[k].criteria] for r in chosen],
        dtype=bool,
    ).reshape(len(chosen), -1)


def _fit(
    icp: Icp,
    k: int,
    results: Sequence[AccountScore],
    rows: NDArray[np.bool_],
    good: NDArray[np.bool_],
) -> Fitted:
    return fit_profile(icp.profiles[k], _matched(results, k, rows), good[rows])


def _criteria(
    profile_id: str,
    icp: Icp,
    k: int,
    results: Sequence[AccountScore],
    rows: NDArray[np.bool_],
    good: NDArray[np.bool_],
    fitted: Fitted | None,
) -> list[CriterionReport]:
    chosen = [r for r, keep in zip(results, rows, strict=True) if keep]
    outcomes = list(good[rows])
    found = []
    for j, criterion in enumerate(icp.profiles[k].criteria):
        statuses = [r.profiles[k].criteria[j].status for r in chosen]
        found.append(
            CriterionReport(
                profile_id,
                criterion.id,
                criterion.field,
                criterion.layer,
                criterion.weight,
                evidence(statuses, outcomes, field=criterion.field),
                fitted.weights[criterion.id] if fitted else None,
                bool(fitted and criterion.id in fitted.no_signal),
            )
        )
    return found


def _ranking(scorer: Scorer, observed: Sequence[Observed], rows: NDArray[np.bool_]) -> list[float]:
    """An ICP's ranking of these examples: its score, a disqualified account below any other."""
    results = (
        scorer.score_account(o.record, o.seen_at)
        for o, keep in zip(observed, rows, strict=True)
        if keep
    )
    return [-1.0 if r.tier is Tier.DQ else float(r.score) for r in results]
