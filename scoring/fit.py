"""Proposed weights: a regularised logistic fit of the outcomes, mapped back to the ICP file.

Why a logistic regression on "matched or not": a profile's score is a
weighted sum of its matched criteria (unknown adds nothing, as a miss adds
nothing), so the log-odds of a win as a weighted sum of the same indicators
is the model with the score's own shape; its coefficients become weights
with nothing lost in translation. L2 regularisation, its strength chosen by
cross-validated ROC AUC on the training examples alone, keeps a criterion
that matched a handful of accounts from getting a wild weight.

The sign of a weight is the layer's promise (a positive layer adds, a
negative one takes away; `icpbot check` refuses anything else), so a
criterion whose fitted effect has the wrong sign is taken out and the rest
refitted: it carries no signal the ICP can use, and is named so. The ICP
file keeps it at the smallest weight its layer allows (±1): removing a
criterion is a decision for its author, not for a fit.

Scale: positive weights are shares of the profile's positive total (the
score is 100 × matched / total), so they are mapped to the file's own total;
negative weights are points taken off, mapped with the same points per unit
of log-odds.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np
from numpy.typing import NDArray
from sklearn.linear_model import LogisticRegression, LogisticRegressionCV
from sklearn.model_selection import StratifiedKFold

from scoring.model import Criterion, Icp, Profile

OUTCOME_FIELDS = frozenset({"lifecycle_stage", "owner_id"})  # they record the outcome itself
STRENGTHS = np.logspace(-2, 2, 9)  # inverse regularisation strengths tried by cross-validation
MIN_FOLD_CLASS = 10  # of each outcome, to choose the strength by 5-fold cross-validation
NEGLIGIBLE = 1e-3  # a coefficient this close to zero is no effect


def learnable(icp: Icp) -> tuple[Icp, tuple[str, ...]]:
    """The ICP without the criteria and disqualifiers that read an outcome field, and their
    names (`customer (lifecycle_stage)`): a won account becomes a customer, so learning from
    that field would learn the answer."""
    left_out: list[str] = []

    def keep(rule_id: str, field: str) -> bool:
        if field in OUTCOME_FIELDS:
            left_out.append(f"{rule_id} ({field})")
            return False
        return True

    profiles = tuple(
        replace(
            p,
            criteria=tuple(c for c in p.criteria if keep(f"{p.id}.{c.id}", c.field)),
            disqualify=tuple(d for d in p.disqualify if keep(f"{p.id}.{d.id}", d.field)),
        )
        for p in icp.profiles
    )
    disqualify = tuple(d for d in icp.disqualify if keep(d.id, d.field))
    return replace(icp, profiles=profiles, disqualify=disqualify), tuple(left_out)


@dataclass(frozen=True, slots=True)
class Scale:
    """Points per unit of log-odds: for positive criteria (of the file's positive total) and
    for negative ones (points off the score)."""

    positive: float
    negative: float

    def weight(self, coefficient: float, *, negative: bool) -> int:
        """A coefficient as a weight the layer allows: at least 1 (or at most -1, at least
        -100)."""
        if negative:
            return max(-100, min(-1, round(coefficient * self.negative)))
        return max(1, round(coefficient * self.positive))


@dataclass(frozen=True, slots=True)
class Fitted:
    """One profile's fit: a weight per criterion id, the coefficients behind them, the
    criteria that carried no usable signal, and the scale to turn a new coefficient into a
    weight (None when no positive criterion carried any)."""

    weights: dict[str, int]
    coefficients: dict[str, float]
    no_signal: tuple[str, ...]
    scale: Scale | None


def fit_profile(profile: Profile, matched: NDArray[np.bool_], good: NDArray[np.bool_]) -> Fitted:
    """Weights for `profile` from training examples: `matched[i, j]` is whether example i
    matched criterion j (in the profile's order), `good[i]` its outcome."""
    criteria = profile.criteria
    if matched.shape != (len(good), len(criteria)):
        raise ValueError("one row per example and one column per criterion")
    active = [j for j in range(len(criteria)) if 0 < matched[:, j].sum() < len(good)]
    coefficients = np.zeros(len(criteria))
    while active and good.any() and not good.all():
        fitted = _regularised(matched[:, active].astype(float), good)
        wrong = [
            j
            for j, c in zip(active, fitted, strict=True)
            if (c > 0) == (criteria[j].weight < 0) and abs(c) > NEGLIGIBLE
        ]
        if not wrong:
            coefficients[active] = fitted
            break
        active = [j for j in active if j not in wrong]
    return _to_weights(criteria, coefficients)


def _regularised(x: NDArray[np.float64], y: NDArray[np.bool_]) -> NDArray[np.float64]:
    """L2 logistic coefficients; the strength cross-validated on ROC AUC when there are
    enough of each outcome for five folds, else the library's default strength."""
    if min(int(y.sum()), int((~y).sum())) >= MIN_FOLD_CLASS:
        folds = StratifiedKFold(5, shuffle=True, random_state=0)
        model: LogisticRegression | LogisticRegressionCV = LogisticRegressionCV(
            Cs=STRENGTHS,
            l1_ratios=(0.0,),  # pure L2
            cv=folds,
            scoring="roc_auc",
            max_iter=1000,
            use_legacy_attributes=False,
        )
    else:
        model = LogisticRegression(max_iter=1000)
    model.fit(x, y)
    return np.asarray(model.coef_[0], dtype=float)


def _to_weights(criteria: Sequence[Criterion], coefficients: NDArray[np.float64]) -> Fitted:
    """Coefficients mapped to integer weights on the file's scale (see the module's text)."""
    positive_total = sum(c.weight for c in criteria if c.weight > 0)
    fitted_total = float(
        sum(c for c, k in zip(coefficients, criteria, strict=True) if k.weight > 0)
    )
    scale = None
    if fitted_total > NEGLIGIBLE:
        scale = Scale(positive_total / fitted_total, 100 / fitted_total)
    weights: dict[str, int] = {}
    no_signal: list[str] = []
    for criterion, coefficient in zip(criteria, coefficients, strict=True):
        negative = criterion.weight < 0
        if scale is None or abs(coefficient) <= NEGLIGIBLE:
            no_signal.append(criterion.id)
            weights[criterion.id] = -1 if negative else 1
        else:
            weights[criterion.id] = scale.weight(float(coefficient), negative=negative)
    if scale is None:  # nothing to propose: every weight stays as it is
        weights = {c.id: c.weight for c in criteria}
    coefficients_by_id = {c.id: float(v) for c, v in zip(criteria, coefficients, strict=True)}
    return Fitted(weights, coefficients_by_id, tuple(no_signal), scale)


def with_weights(icp: Icp, weights: Mapping[str, Mapping[str, int]]) -> Icp:
    """The ICP with new weights (by profile id, then criterion id) and the next version."""
    profiles = tuple(
        replace(
            p,
            criteria=tuple(
                replace(c, weight=weights.get(p.id, {}).get(c.id, c.weight)) for c in p.criteria
            ),
        )
        for p in icp.profiles
    )
    return replace(icp, version=icp.version + 1, profiles=profiles)
