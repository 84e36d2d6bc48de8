"""Suggested criteria: values and ranges of mapped fields that separate good from bad
customers and that a profile does not test yet (SPEC §8).

This is the "patterns in your best customers" search RevOps otherwise does by hand in
a spreadsheet. Candidates come from the data: each category and each list member seen
often enough, the booleans, numeric bands cut at the deciles of the known values
(rounded to two significant figures, as a person would write them), and recency windows
for dates. Each field is read with the engine's own preparation (`scoring.operators`),
so a suggested criterion matches exactly the accounts it was measured on.

Honesty: candidates are searched on the training examples only, and a candidate is kept
when its win rate where matched is clearly apart from the training base rate (its 95%
interval excludes it) and the hold-out, which the search never saw, agrees on the
direction with enough accounts to count. The lift, information value and support
reported are the hold-out's.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime

import numpy as np
from numpy.typing import NDArray

from scoring.calibration import Evidence, Rate, evidence
from scoring.fields import ACCOUNT_FIELDS, FieldType
from scoring.fit import OUTCOME_FIELDS, Scale
from scoring.model import Profile
from scoring.operators import MISSING, PREPARE, as_text, day_of
from scoring.result import Status

IDENTITY_FIELDS = frozenset({"domain", "name", "email", "first_name", "last_name", "created_at"})
WINDOWS = (30, 90, 180, 365, 730)  # days, for recency windows on dates
MIN_SUPPORT = 10  # training accounts matching a candidate, at least
MIN_SHARE = 0.02  # ... and at least this share of those with the field known
MIN_HOLDOUT = 5  # hold-out accounts matching it, to confirm it
PER_PROFILE = 8  # suggestions at most, per profile
_FORM = {
    FieldType.STRING: "keys",
    FieldType.LIST: "items",
    FieldType.NUMBER: "number",
    FieldType.BOOLEAN: "bool",
    FieldType.DATE: "moment",
}


@dataclass(frozen=True, slots=True)
class Suggestion:
    """A ready criterion for `profile` (its YAML mapping, `why` included) and what it showed:
    `evidence` on the hold-out (what is reported), `found` on the training examples."""

    profile: str
    field: str
    criterion: dict[str, object]
    evidence: Evidence
    found: Evidence

    @property
    def negative(self) -> bool:
        return int(str(self.criterion["weight"])) < 0


@dataclass(frozen=True, slots=True)
class _Candidate:
    field: str
    operator: str
    operand: object
    label: str  # for the id: `fintech`, `120-1200`, `90d`
    mask: NDArray[np.bool_]  # matched, over every example
    known: NDArray[np.bool_]


def suggest(
    profile: Profile,
    records: Sequence[Mapping[str, object]],
    nows: Sequence[datetime],
    good: NDArray[np.bool_],
    train: NDArray[np.bool_],
    fields: Mapping[str, FieldType],
    scale: Scale | None,
) -> list[Suggestion]:
    """Criteria `profile` could add, best information value first, from these examples (the
    records as they were, and the moment each was seen, for recency windows)."""
    tested = _tested(profile)
    found: list[tuple[float, Suggestion]] = []
    for name, kind in fields.items():
        if name in OUTCOME_FIELDS or name in IDENTITY_FIELDS or kind not in _FORM:
            continue
        if kind in (FieldType.NUMBER, FieldType.DATE, FieldType.BOOLEAN) and name in tested:
            continue  # its band, window or value is the profile's already: its weight is fitted
        candidates = _candidates(name, kind, records, nows, train, tested.get(name, set()))
        best = _confirmed(candidates, good, train)
        if kind in (FieldType.NUMBER, FieldType.DATE):
            best = best[:1]  # one band or window per field, not ten overlapping ones
        for iv, candidate, held, fit in best:
            found.append((iv, _suggestion(profile, candidate, held, fit, kind, scale)))
    found.sort(key=lambda pair: -pair[0])
    chosen = [s for _, s in found[:PER_PROFILE]]
    return _unique_ids(chosen, {c.id for c in profile.criteria})


def _tested(profile: Profile) -> dict[str, set[str]]:
    """The values each field is tested on by the profile (lower case); any test counts."""
    tested: dict[str, set[str]] = {}
    conditions = [c.condition for c in profile.criteria]
    conditions += [d.condition for d in profile.disqualify]
    for condition in conditions:
        operand = condition.operand
        values = operand if isinstance(operand, list | tuple) else [operand]
        tested.setdefault(condition.field, set()).update(as_text(v) for v in values)
    return tested


def _column(name: str, kind: FieldType, records: Sequence[Mapping[str, object]]) -> list[object]:
    """The field prepared as the engine prepares it; MISSING when absent or unreadable."""
    prepare = PREPARE[_FORM[kind]]
    column: list[object] = []
    for record in records:
        value = record.get(name)
        try:
            column.append(MISSING if value is None else prepare(value))
        except ValueError:
            column.append(MISSING)
    return column


def _candidates(
    name: str,
    kind: FieldType,
    records: Sequence[Mapping[str, object]],
    nows: Sequence[datetime],
    train: NDArray[np.bool_],
    tested: set[str],
) -> list[_Candidate]:
    column = _column(name, kind, records)
    known = np.array([v is not MISSING for v in column], dtype=bool)
    if kind in (FieldType.STRING, FieldType.LIST):
        return _members(name, kind, column, known, train, tested)
    if kind is FieldType.BOOLEAN:
        return [
            _Candidate(name, "equals", flag, str(flag).lower(), _where(column, flag.__eq__), known)
            for flag in (True, False)
        ]
    if kind is FieldType.NUMBER:
        return _bands(name, column, known, train)
    return _windows(name, column, nows, known)


def _where(column: Sequence[object], test: Callable[[object], object]) -> NDArray[np.bool_]:
    return np.array([v is not MISSING and bool(test(v)) for v in column], dtype=bool)


def _members(
    name: str,
    kind: FieldType,
    column: Sequence[object],
    known: NDArray[np.bool_],
    train: NDArray[np.bool_],
    tested: set[str],
) -> list[_Candidate]:
    """One candidate per value (or list member) seen often enough in training."""
    counts: dict[str, int] = {}
    for value, fit in zip(column, train, strict=True):
        if fit and value is not MISSING:
            for item in value:  # type: ignore[attr-defined]  # a frozenset of text
                counts[item] = counts.get(item, 0) + 1
    floor = _floor(int((known & train).sum()))
    operator = "contains_any" if kind is FieldType.LIST else "in"
    chosen = [v for v, count in sorted(counts.items()) if count >= floor and v not in tested]
    return [
        _Candidate(name, operator, [value], value, _where(column, _has(value)), known)
        for value in chosen
    ]


def _has(item: str) -> Callable[[object], bool]:
    return lambda prepared: item in prepared  # type: ignore[operator]  # a frozenset of text


def _bands(
    name: str, column: Sequence[object], known: NDArray[np.bool_], train: NDArray[np.bool_]
) -> list[_Candidate]:
    """At least, at most and between the deciles of the known training values."""
    values = np.array([float(v) if v is not MISSING else np.nan for v in column])  # type: ignore[arg-type]
    seen = values[known & train]
    if seen.size < MIN_SUPPORT:
        return []
    edges = sorted({_round2(float(q)) for q in np.quantile(seen, np.linspace(0.1, 0.9, 9))})
    found = [_band(name, values, known, low, None) for low in edges]
    found += [_band(name, values, known, None, high) for high in edges]
    found += [
        _band(name, values, known, low, high)
        for i, low in enumerate(edges)
        for high in edges[i + 1 :]
    ]
    return found


def _band(
    name: str,
    values: NDArray[np.float64],
    known: NDArray[np.bool_],
    low: float | None,
    high: float | None,
) -> _Candidate:
    lo = -math.inf if low is None else low
    hi = math.inf if high is None else high
    with np.errstate(invalid="ignore"):
        mask = known & (values >= lo) & (values <= hi)
    if low is None:
        return _Candidate(name, "lte", _number(high), f"max-{_label(high)}", mask, known)
    if high is None:
        return _Candidate(name, "gte", _number(low), f"{_label(low)}-plus", mask, known)
    label = f"{_label(low)}-{_label(high)}"
    return _Candidate(name, "between", [_number(low), _number(high)], label, mask, known)


def _windows(
    name: str, column: Sequence[object], nows: Sequence[datetime], known: NDArray[np.bool_]
) -> list[_Candidate]:
    """Within the last N days of when each account was seen (future dates match, as in the
    engine)."""
    ages = np.array(
        [
            (day_of(now) - day_of(v)).days if isinstance(v, date) else np.nan
            for v, now in zip(column, nows, strict=True)
        ]
    )
    with np.errstate(invalid="ignore"):
        return [
            _Candidate(name, "within_days", days, f"{days}d", known & (ages <= days), known)
            for days in WINDOWS
        ]


def _confirmed(
    candidates: Sequence[_Candidate], good: NDArray[np.bool_], train: NDArray[np.bool_]
) -> list[tuple[float, _Candidate, Evidence, Evidence]]:
    """The candidates that separate good from bad in training and whose direction the
    hold-out confirms, best training IV first: (hold-out IV, candidate, hold-out, training)."""
    kept = []
    held = ~train
    for candidate in candidates:
        fit = _evidence(candidate, good, train)
        matched_in_train = fit.matched.total
        if fit.too_few or matched_in_train < max(
            MIN_SUPPORT, MIN_SHARE * (fit.known * train.sum())
        ):
            continue
        if not _apart(fit):
            continue
        check = _evidence(candidate, good, held)
        if check.matched.total < MIN_HOLDOUT or check.lift is None or fit.lift is None:
            continue
        if (check.lift > 1) != (fit.lift > 1) or check.lift == 1:
            continue
        kept.append((fit.iv or 0.0, candidate, check, fit))
    kept.sort(key=lambda item: -item[0])
    return [(check.iv or 0.0, candidate, check, fit) for _, candidate, check, fit in kept]


def _evidence(candidate: _Candidate, good: NDArray[np.bool_], rows: NDArray[np.bool_]) -> Evidence:
    statuses = [
        Status.MATCHED if m else Status.MISSED if k else Status.UNKNOWN
        for m, k in zip(candidate.mask[rows], candidate.known[rows], strict=True)
    ]
    return evidence(statuses, list(good[rows]), field=candidate.field)


def _apart(found: Evidence) -> bool:
    """The matched win rate's 95% interval excludes the known accounts' base rate."""
    interval = found.matched.interval
    known = Rate(found.matched.good + found.missed.good, found.matched.total + found.missed.total)
    base = known.value
    return interval is not None and base is not None and not interval[0] <= base <= interval[1]


def _suggestion(
    profile: Profile,
    candidate: _Candidate,
    held: Evidence,
    fit: Evidence,
    kind: FieldType,
    scale: Scale | None,
) -> Suggestion:
    negative = fit.lift is not None and fit.lift < 1
    weight = _weight(profile, fit.woe or 0.0, scale, negative=negative)
    rate, base = held.matched.value or 0.0, _base(held)
    criterion: dict[str, object] = {
        "id": _slug(f"{candidate.field}-{candidate.label}"),
        "layer": "negative" if negative else _layer(candidate.field, kind),
        "field": candidate.field,
        candidate.operator: candidate.operand,
        "weight": weight,
        "why": (
            f"Suggested by calibration: won {rate:.0%} where matched vs {base:.0%} of the "
            f"accounts with {candidate.field} known (hold-out). Replace with the business "
            "reason before merging."
        ),
    }
    return Suggestion(profile.id, candidate.field, criterion, held, fit)


def _base(found: Evidence) -> float:
    total = found.matched.total + found.missed.total
    return (found.matched.good + found.missed.good) / total if total else 0.0


def _layer(field: str, kind: FieldType) -> str:
    """The layer a new criterion on `field` most likely belongs to."""
    if field == "technologies":
        return "technographic"
    if kind is FieldType.DATE:
        return "behavioral"
    return "firmographic" if field in ACCOUNT_FIELDS else "operational"


def _weight(profile: Profile, woe: float, scale: Scale | None, *, negative: bool) -> int:
    """The new criterion's weight on the fitted scale, its WoE standing in for a coefficient,
    and never above the profile's largest weight: a one-field WoE overstates what the field
    adds beside the others (they share the same accounts). Without a scale, the profile's
    median weight."""
    weights = sorted(abs(c.weight) for c in profile.criteria if (c.weight < 0) == negative)
    largest = weights[-1] if weights else 20
    if scale is None:
        middle = weights[len(weights) // 2] if weights else 10
        return -middle if negative else middle
    weight = scale.weight(woe, negative=negative)
    return max(weight, -largest) if negative else min(weight, largest)


def _floor(known: int) -> int:
    return max(MIN_SUPPORT, math.ceil(MIN_SHARE * known))


def _round2(value: float) -> float:
    """Two significant figures: 1234 → 1200, a band edge a person would write."""
    if value == 0:
        return 0.0
    digits = 1 - int(math.floor(math.log10(abs(value))))
    return round(value, digits)


def _number(value: float | None) -> int | float:
    if value is None:
        raise ValueError("a band edge is missing")
    return int(value) if float(value).is_integer() else value


def _label(value: float | None) -> str:
    number = _number(value)
    for unit, size in (("b", 1e9), ("m", 1e6), ("k", 1e3)):
        if abs(number) >= size and number % size == 0:
            return f"{int(number // size)}{unit}"
    return str(number)


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9_.-]+", "-", text.lower()).strip("-") or "suggested"


def _unique_ids(found: list[Suggestion], taken: set[str]) -> list[Suggestion]:
    """Ids unique within the profile, as `icpbot check` requires."""
    unique = []
    for suggestion in found:
        base = str(suggestion.criterion["id"])
        name, n = base, 2
        while name in taken:
            name, n = f"{base}-{n}", n + 1
        taken.add(name)
        unique.append(
            Suggestion(
                suggestion.profile,
                suggestion.field,
                {**suggestion.criterion, "id": name},
                suggestion.evidence,
                suggestion.found,
            )
        )
    return unique
