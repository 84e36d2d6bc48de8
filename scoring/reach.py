"""The best score a profile can ever reach.

Two criteria on one field can exclude each other (`employees between
[200, 800]` and `employees gte 1000`); a profile built that way can never
reach tier A however good the company. We find the heaviest set of positive
criteria per field that one value could satisfy together. Conditions we
cannot reason about (regexes, dates, lists) are assumed compatible.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from itertools import combinations

from scoring.model import Condition, Criterion

_MAX_GROUP = 12  # subsets of at most 2^12 per field; real ICPs have 1-3 per field


def _round_half_up(value: float) -> int:
    return math.floor(value + 0.5)


def _as_key(value: object) -> str:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip().casefold()


def _compatible(conditions: Sequence[Condition]) -> bool:
    """Whether one value could satisfy every condition at once."""
    low, high = -math.inf, math.inf
    allowed: set[str] | None = None
    excluded: set[str] = set()
    for cond in conditions:
        op, operand = cond.operator, cond.operand
        if op == "between":
            low, high = max(low, float(operand[0])), min(high, float(operand[1]))
        elif op == "gte":
            low = max(low, float(operand))
        elif op == "lte":
            high = min(high, float(operand))
        elif op in ("equals", "in"):
            values = {_as_key(v) for v in (operand if op == "in" else [operand])}
            allowed = values if allowed is None else allowed & values
        elif op == "not_in":
            excluded |= {_as_key(v) for v in operand}
    if low > high:
        return False
    if allowed is None:
        return True
    return any(_fits(v, low, high) for v in allowed - excluded)


def _fits(value: str, low: float, high: float) -> bool:
    if math.isinf(low) and math.isinf(high):
        return True
    try:
        return low <= float(value) <= high
    except ValueError:
        return False


def _best_group(criteria: Sequence[Criterion]) -> int:
    """Heaviest total weight of criteria on one field that can all match together."""
    if len(criteria) == 1 or len(criteria) > _MAX_GROUP:
        return sum(c.weight for c in criteria)
    return max(
        (
            sum(c.weight for c in group)
            for size in range(1, len(criteria) + 1)
            for group in combinations(criteria, size)
            if _compatible([c.condition for c in group])
        ),
        default=0,
    )


def _positive_by_field(criteria: Sequence[Criterion]) -> dict[str, list[Criterion]]:
    groups: dict[str, list[Criterion]] = defaultdict(list)
    for c in criteria:
        if c.weight > 0:
            groups[c.condition.field].append(c)
    return groups


def max_score(criteria: Sequence[Criterion]) -> int:
    """The highest score any record could earn on these criteria."""
    groups = _positive_by_field(criteria)
    total = sum(c.weight for group in groups.values() for c in group)
    if not total:
        return 0
    reachable = sum(_best_group(group) for group in groups.values())
    return min(100, _round_half_up(100 * reachable / total))


def unreachable_reason(criteria: Sequence[Criterion]) -> str:
    """Names the criteria that exclude each other, for the error message."""
    clashes = [
        [c.id for c in group]
        for group in _positive_by_field(criteria).values()
        if len(group) > 1 and _best_group(group) < sum(c.weight for c in group)
    ]
    if not clashes:
        return ""
    return ": " + "; ".join(f"{' and '.join(ids)} can never all match" for ids in clashes)
