"""The market summary as terminal lines (`icpbot score FILE --summary`): pure rendering.

RevOps sizes the ICP's market from it: how many companies fit (A and B),
where they are, and how much of the ICP the data could check (coverage),
so a thin vendor file is not mistaken for a small market.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from bot.lists.market import TIERS, Market, Slice
from bot.views.common import counted

TOP = 10  # groups shown per dimension; the JSON form (--summary --json) has them all
_TITLES = {
    "profile": "by profile",
    "country": "by country",
    "industry": "by industry",
    "disqualified_by": "disqualified by",
}


def market_lines(market: Market, *, version: int, day: date, refused: int) -> list[str]:
    """The summary: the headline, the tiers, then each dimension's top groups."""
    total = market.scored
    fit = market.total.fit
    lines = [
        f"{counted(total, 'company', 'companies')} scored against ICP v{version} "
        f"as of {day.isoformat()}" + (f" ({counted(refused, 'row')} skipped)" if refused else ""),
        f"ICP market (tiers A and B): {counted(fit, 'company', 'companies')} "
        f"({_share(fit, total)}), mean coverage {_coverage(market, ('A', 'B'))}",
        "",
        f"{'tier':<6}{'companies':>12}{'share':>9}{'coverage':>10}",
    ]
    for tier in TIERS:
        count = market.tiers[tier]
        lines.append(
            f"{tier:<6}{count:>12,}{_share(count, total):>9}{_coverage(market, (tier,)):>10}"
        )
    for dimension, title in _TITLES.items():
        found = market.by.get(dimension, [])
        if dimension == "disqualified_by":
            found = [s for s in found if s.name is not None and s.tiers["DQ"]]
            groups = sorted(found, key=lambda s: (-s.tiers["DQ"], s.name or ""))[:TOP]
        else:
            groups = market.top(dimension, TOP)
        if groups:
            lines += ["", *_table(title, groups, len(found))]
    return lines


def _table(title: str, groups: Sequence[Slice], of: int) -> list[str]:
    """A title line, then a row a group: companies by tier and their mean coverage."""
    order = "companies disqualified" if title == "disqualified by" else "companies in A and B"
    shown = f": top {len(groups)} of {of:,}, by {order}" if of > len(groups) else ""
    width = max(24, *(len(_name(s)) + 2 for s in groups))
    lines = [
        title + shown,
        " " * width + "".join(f"{t:>10}" for t in TIERS) + f"{'coverage':>10}",
    ]
    for group in groups:
        counts = "".join(f"{group.tiers[t]:>10,}" for t in TIERS)
        lines.append(f"{_name(group):<{width}}{counts}{_percent(group.coverage):>10}")
    return lines


def _name(group: Slice) -> str:
    return "  " + (group.name if group.name is not None else "(unknown)")


def _share(count: int, total: int) -> str:
    return f"{100 * count / total:.1f}%" if total else "-"


def _coverage(market: Market, tiers: Sequence[str]) -> str:
    """Mean coverage of these tiers' companies; `-` where there are none (not 0%)."""
    if not sum(market.tiers[t] for t in tiers):
        return "-"
    return _percent(market.coverage_of(tiers))


def _percent(value: float) -> str:
    return f"{round(100 * value)}%"
