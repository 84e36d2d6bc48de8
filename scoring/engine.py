"""The scoring engine: SPEC §2, exactly.

Per profile: score = round(100 × matched positive weight ÷ all positive
weight) + matched negative weight, clamped to 0..100. A criterion whose field
is missing is unknown: it earns nothing and lowers coverage, never the score
of a company we know little about below one we know to be a poor fit.

`Scorer` compiles an `Icp` once; scoring a record is then a loop over
precompiled predicates, cheap enough to score every record of a CRM on one
core in seconds.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from datetime import date, datetime
from typing import Any

from scoring.explain import top_reasons
from scoring.model import Criterion, Disqualifier, Icp, Profile, Tier
from scoring.operators import INVALID, MISSING, PREPARE, Predicate, compile_condition, describe
from scoring.result import (
    AccountScore,
    CriterionInfo,
    CriterionResult,
    Disqualification,
    PersonaResult,
    ProfileResult,
    Status,
)

Record = Mapping[str, object]


def round_half_up(value: float) -> int:
    """62.5 → 63: the rounding a person expects, not Python's banker's rounding."""
    return math.floor(value + 0.5)


_UNSET: Any = object()  # a slot not prepared yet for this record
MEMO_SIZE = 1024  # results remembered per criterion, by raw value


class _Slots:
    """Each (field, form) an ICP reads, numbered, so a record is prepared at most once.

    Preparing converts a raw value ("1,200", "hubspot;slack", "2026-03-01")
    into the form predicates compare against, on first use, however many
    criteria and profiles read that field.
    """

    def __init__(self) -> None:
        self._index: dict[tuple[str, str], int] = {}
        self.plan: list[tuple[str, Callable[[Any], Any]]] = []

    def slot(self, field: str, form: str) -> int:
        key = (field, form)
        if key not in self._index:
            self._index[key] = len(self.plan)
            self.plan.append((field, PREPARE[form]))
        return self._index[key]

    def fresh(self) -> list[object]:
        """Per-record storage for prepared values, filled on demand."""
        return [_UNSET] * len(self.plan)


def prepare_slot(slots: _Slots, prepared: list[object], slot: int, raw: object) -> object:
    """The slot's prepared value, converting `raw` on first use."""
    value = prepared[slot]
    if value is _UNSET:
        if raw is None:
            value = MISSING
        else:
            try:
                value = slots.plan[slot][1](raw)
            except (ValueError, TypeError, OverflowError):
                value = INVALID
        prepared[slot] = value
    return value


@dataclass(slots=True)
class _Compiled:
    """A condition bound to its slot, with its shared info and its prebuilt unknown result.

    `memo` remembers the result for each raw value seen: CRM data is mostly
    categorical (industries, countries, stages), so most criteria are
    answered by one dictionary lookup. Results are read-only, so sharing
    them between records is safe. Time-dependent criteria forget their memo
    whenever `now` changes.
    """

    info: CriterionInfo
    field: str
    slot: int
    predicate: Predicate
    is_exists: bool
    weight: int
    unknown: CriterionResult
    timed: bool
    memo_size: int
    memo: dict[object, CriterionResult] = dataclass_field(default_factory=dict)
    memo_now: datetime | None = None


def _compile(
    slots: _Slots, item: Criterion | Disqualifier, max_points: float, memo_size: int
) -> _Compiled:
    condition = item.condition
    form, predicate = compile_condition(condition)
    weight = item.weight if isinstance(item, Criterion) else 0
    info = CriterionInfo(
        item.id,
        condition.field,
        item.layer if isinstance(item, Criterion) else None,
        weight,
        max_points,
        describe(condition),
        item.why,
    )
    return _Compiled(
        info,
        condition.field,
        slots.slot(condition.field, form),
        predicate,
        condition.operator == "exists",
        weight,
        CriterionResult(info, Status.UNKNOWN, 0.0, None),
        condition.operator == "within_days",
        memo_size,
    )


_MATCHED, _MISSED, _UNKNOWN = Status.MATCHED, Status.MISSED, Status.UNKNOWN
# Hashable values whose result depends on nothing else; no bool, as True == 1 would collide.
_MEMO_TYPES = frozenset({str, int, float, date, datetime, tuple})
# A bool is remembered under (_BOOL, value), which no int, list or other value can equal.
_BOOL = object()


def _result(
    item: _Compiled, slots: _Slots, prepared: list[object], raw: object, now: datetime
) -> CriterionResult:
    """One criterion's result for one record, remembered by raw value where it can be."""
    memo = item.memo
    if isinstance(raw, list):
        key: object = tuple(raw)
    else:
        key = (_BOOL, raw) if raw.__class__ is bool else raw
    remember = key.__class__ in _MEMO_TYPES
    if remember:
        if item.timed and item.memo_now != now:
            memo.clear()
            item.memo_now = now
        try:
            hit = memo.get(key)
        except TypeError:  # a list holding unhashable items
            hit, remember = None, False
        if hit is not None:
            return hit
    # Written out rather than called: this runs for every value the memo has not seen (most
    # numbers and dates), several times a record. Missing or unreadable is unknown.
    value = prepared[item.slot]
    if value is _UNSET:
        value = prepare_slot(slots, prepared, item.slot, raw)
    if value is INVALID or (value is MISSING and not item.is_exists):
        outcome: bool | None = None
    else:
        try:
            outcome = bool(item.predicate(value, now))
        except (ValueError, TypeError, OverflowError):
            outcome = None
    info = item.info
    if outcome is None:
        result = item.unknown if value is MISSING else CriterionResult(info, _UNKNOWN, 0.0, raw)
    elif outcome:
        result = CriterionResult(info, _MATCHED, info.max_points, raw)
    else:
        result = CriterionResult(info, _MISSED, 0.0, raw)
    if remember and len(memo) < item.memo_size:
        memo[key] = result
    return result


class _CriteriaSet:
    """Weighted criteria scored together: one profile, or the persona."""

    def __init__(self, slots: _Slots, criteria: Sequence[Criterion], memo_size: int) -> None:
        self.slots = slots
        self.positive_weight = sum(c.weight for c in criteria if c.weight > 0)
        self.compiled = tuple(
            _compile(slots, c, self._points(c.weight), memo_size) for c in criteria
        )

    def _points(self, weight: int) -> float:
        if weight > 0:
            return round(100 * weight / self.positive_weight, 1)
        return float(weight)

    def evaluate(
        self, record: Record, prepared: list[object], now: datetime
    ) -> tuple[int, float, tuple[CriterionResult, ...]]:
        """Score, coverage and per-criterion results for one record.

        The hot loop of the whole product: kept flat on purpose.
        """
        results: list[CriterionResult] = []
        append = results.append
        get = record.get
        slots = self.slots
        matched = unknown = negative = 0
        for item in self.compiled:
            raw = get(item.field)
            if raw is None and not item.is_exists:
                result = item.unknown
            else:
                hit = (
                    item.memo.get(raw)
                    if raw.__class__ in _MEMO_TYPES and (not item.timed or item.memo_now == now)
                    else None
                )
                result = hit or _result(item, slots, prepared, raw, now)
            append(result)
            status = result.status
            weight = item.weight
            if status is _MATCHED:
                if weight > 0:
                    matched += weight
                else:
                    negative += weight
            elif status is _UNKNOWN and weight > 0:
                unknown += weight
        total = self.positive_weight
        if not total:
            return max(0, negative), 1.0, tuple(results)
        base = round_half_up(100 * matched / total)
        return max(0, min(100, base + negative)), (total - unknown) / total, tuple(results)


def _disqualifications(
    compiled: Sequence[_Compiled],
    slots: _Slots,
    scope: str,
    record: Record,
    prepared: list[object],
    now: datetime,
) -> tuple[Disqualification, ...]:
    found: tuple[Disqualification, ...] = ()
    for item in compiled:
        info = item.info
        raw = record.get(info.field)
        if raw is None and not item.is_exists:
            continue
        hit = (
            item.memo.get(raw)
            if raw.__class__ in _MEMO_TYPES and (not item.timed or item.memo_now == now)
            else None
        )
        if (hit or _result(item, slots, prepared, raw, now)).status is _MATCHED:
            found += (Disqualification(info.id, scope, info.field, info.rule, info.why, raw),)
    return found


class _ProfileScorer:
    def __init__(self, slots: _Slots, profile: Profile, memo_size: int) -> None:
        self.profile = profile
        self.criteria = _CriteriaSet(slots, profile.criteria, memo_size)
        self.disqualify = tuple(_compile(slots, d, 0.0, memo_size) for d in profile.disqualify)

    def score(self, record: Record, prepared: list[object], now: datetime) -> ProfileResult:
        score, coverage, results = self.criteria.evaluate(record, prepared, now)
        disqualified_by = _disqualifications(
            self.disqualify, self.criteria.slots, self.profile.id, record, prepared, now
        )
        return ProfileResult(
            self.profile.id, self.profile.name, score, coverage, results, disqualified_by
        )


class Scorer:
    """Scores accounts and persons against one compiled ICP.

    `memo_size`: results remembered per criterion, by raw value; 0 remembers
    none, which changes no result, only the time (what the memo is worth is
    measured that way).
    """

    def __init__(self, icp: Icp, *, memo_size: int = MEMO_SIZE) -> None:
        self.icp = icp
        self._slots = _Slots()
        self._profiles = tuple(_ProfileScorer(self._slots, p, memo_size) for p in icp.profiles)
        self._disqualify = tuple(_compile(self._slots, d, 0.0, memo_size) for d in icp.disqualify)
        self._persona_slots = _Slots()
        self._persona = (
            _CriteriaSet(self._persona_slots, icp.persona, memo_size) if icp.persona else None
        )

    def catalogue(self) -> dict[str, dict[str, CriterionInfo]]:
        """What each criterion is, by profile (and `@persona`): stored once per ICP version."""
        scopes = {p.profile.id: p.criteria.compiled for p in self._profiles}
        if self._persona is not None:
            scopes["@persona"] = self._persona.compiled
        return {scope: {c.info.id: c.info for c in items} for scope, items in scopes.items()}

    def score_account(self, record: Record, now: datetime) -> AccountScore:
        """The best profile still in the running wins; ties go to the first listed."""
        prepared = self._slots.fresh()
        profiles = tuple([p.score(record, prepared, now) for p in self._profiles])
        top_level = _disqualifications(self._disqualify, self._slots, "icp", record, prepared, now)
        running = [p for p in profiles if not p.disqualified_by]
        winner = _best(running or profiles)
        disqualified_by = top_level
        if not running:  # every profile is out: name what took out each one
            disqualified_by += tuple(dq for p in profiles for dq in p.disqualified_by)
        tier = Tier.DQ if disqualified_by else self.icp.tiers.of(winner.score)
        return AccountScore(
            winner.score,
            tier,
            winner.profile_id,
            winner.profile_name,
            winner.coverage,
            winner.criteria,
            disqualified_by,
            profiles,
            self.icp.version,
            now,
            top_reasons(winner.criteria, disqualified_by),
        )

    def score_persona(self, record: Record, now: datetime) -> PersonaResult | None:
        """Persona fit of a contact or lead, or None when the ICP defines no persona."""
        if self._persona is None:
            return None
        prepared = self._persona_slots.fresh()
        score, coverage, results = self._persona.evaluate(record, prepared, now)
        return PersonaResult(score, self.icp.tiers.of(score), coverage, results)


def _best(results: Sequence[ProfileResult]) -> ProfileResult:
    """Highest score; ties go to the profile listed first."""
    best = results[0]
    for result in results[1:]:
        if result.score > best.score:
            best = result
    return best
