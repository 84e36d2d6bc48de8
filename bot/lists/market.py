"""The market a list holds (`icpbot score FILE --summary`): how many companies fit the ICP,
by tier, and where they are: by profile, country, industry and what disqualified them.

One aggregate over the scored rows (`GROUPING SETS`), so a file of ten
million companies is summed where DuckDB streams it, never held.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import duckdb

TIERS = ("A", "B", "C", "D", "DQ")
# The groupings the summary shows, each an expression over the scored rows.
DIMENSIONS = {
    "profile": "icp_profile",
    "country": "country",
    "industry": "LOWER(industry)",
    "disqualified_by": "icp_disqualified_by",
}


@dataclass(slots=True)
class Slice:
    """Companies of one group (a profile, a country, ...) by tier, and their coverage."""

    name: str | None
    tiers: Counter[str] = field(default_factory=Counter)
    coverage_sum: float = 0.0

    @property
    def companies(self) -> int:
        return sum(self.tiers.values())

    @property
    def fit(self) -> int:
        """Companies in tiers A and B: the part of the market worth working."""
        return self.tiers["A"] + self.tiers["B"]

    @property
    def coverage(self) -> float:
        """Mean coverage: how much of the ICP the data could check for this group."""
        return self.coverage_sum / self.companies if self.companies else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "companies": self.companies,
            "tiers": {t: self.tiers[t] for t in TIERS},
            "coverage": round(self.coverage, 3),
        }


@dataclass(slots=True)
class Market:
    """The summary of one scored list."""

    total: Slice = field(default_factory=lambda: Slice("all"))
    refused: int = 0
    by: dict[str, list[Slice]] = field(default_factory=dict)
    coverage_sums: dict[str, float] = field(default_factory=dict)  # by tier

    def coverage_of(self, tiers: Sequence[str]) -> float:
        """Mean coverage of the companies in these tiers."""
        count = sum(self.tiers[t] for t in tiers)
        return sum(self.coverage_sums.get(t, 0.0) for t in tiers) / count if count else 0.0

    @property
    def scored(self) -> int:
        return self.total.companies

    @property
    def tiers(self) -> Counter[str]:
        return self.total.tiers

    def top(self, dimension: str, count: int) -> list[Slice]:
        """The groups with the most A and B companies, then the most companies."""
        found = self.by.get(dimension, [])
        return sorted(found, key=lambda s: (-s.fit, -s.companies, s.name or ""))[:count]

    def as_dict(self) -> dict[str, Any]:
        return {
            "scored": self.scored,
            "skipped": self.refused,
            "all": {
                **self.total.as_dict(),
                "coverage_by_tier": {t: round(self.coverage_of((t,)), 3) for t in TIERS},
            },
            **{name: [s.as_dict() for s in self.top(name, 10**9)] for name in DIMENSIONS},
        }


def market_of(db: duckdb.DuckDBPyConnection, scored: str) -> Market:
    """The market of the rows of view `scored` (rows with `icp_problem` are counted apart)."""
    keys = list(DIMENSIONS.values())
    sets = ", ".join(["(icp_tier)", *(f"(icp_tier, {k})" for k in keys)])
    groupings = ", ".join(f"GROUPING({k})" for k in keys)
    ok = "icp_problem IS NULL"
    rows = db.execute(
        f"SELECT {groupings}, icp_tier, {', '.join(keys)}, count(*) FILTER (WHERE {ok}), "
        f"sum(icp_coverage) FILTER (WHERE {ok}), count(*) FILTER (WHERE NOT ({ok})) "
        f"FROM {scored} GROUP BY GROUPING SETS ({sets})"
    ).fetchall()
    return _market(rows, list(DIMENSIONS))


def _market(rows: Sequence[tuple[Any, ...]], names: list[str]) -> Market:
    market = Market()
    slices: dict[str, dict[str | None, Slice]] = {name: {} for name in names}
    width = len(names)
    for row in rows:
        grouped, tier, values = row[:width], row[width], row[width + 1 : 2 * width + 1]
        count, coverage, refused = row[2 * width + 1 :]
        if all(grouped):  # the tier totals
            target = market.total
            market.refused += int(refused)
        else:
            index = grouped.index(0)
            name = names[index]
            value = values[index]
            target = slices[name].setdefault(value, Slice(None if value is None else str(value)))
        if count and tier is not None:
            target.tiers[str(tier)] += int(count)
            target.coverage_sum += float(coverage or 0.0)
            if target is market.total:
                sums = market.coverage_sums
                sums[str(tier)] = sums.get(str(tier), 0.0) + float(coverage or 0.0)
    market.by = {name: list(found.values()) for name, found in slices.items()}
    return market
