"""The `/icp` answers other than an account's explanation: usage, lists, the ICP in words.

Every answer is blocks plus a one-line fallback text, and every piece of CRM
or user text in them is escaped: a company called `<!channel>` pings nobody.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from bot.views.common import (
    MAX_BLOCKS,
    TIER_EMOJI,
    Block,
    button,
    context_block,
    divider_block,
    escape,
    fit_sections,
    header_block,
    limit_text,
    link,
    one_line,
    pack_sections,
    relative_time,
    section_block,
)
from scoring.explain import format_coverage
from scoring.model import Criterion, Disqualifier, Icp, Profile, Tier
from scoring.operators import describe

EXPLAIN = "icp_explain"  # the button on a name search's matches

USAGE = "\n".join(
    [
        "*`/icp acme.com`* · why an account scored as it did (also a company name, "
        "or a HubSpot/Salesforce record link)",
        "*`/icp top [N] [tier]`* · the best-fitting accounts, e.g. `/icp top 5 A`",
        "*`/icp recent [N]`* · the accounts that arrived last",
        "*`/icp profile`* · the current ICP in words",
        "*`/icp rescore acme.com`* · score again from fresh CRM data (admins)",
        "*`/icp calibration`* · the ICP checked against won, lost and churned deals, with a "
        "chart, sent to you (admins)",
        "*`/icp help`* · this list",
    ]
)


@dataclass(frozen=True, slots=True)
class Answer:
    """What a command says: blocks, and the text notifications and screen readers use."""

    text: str
    blocks: list[Block]


@dataclass(frozen=True, slots=True)
class Listed:
    """One account in a list answer."""

    domain: str
    name: str | None
    tier: str
    score: int
    coverage: float
    url: str | None
    when: datetime | None = None


def usage(problem: str | None = None) -> Answer:
    """The usage text, after what was wrong with the input if anything."""
    blocks = [section_block(f":warning: {escape(problem)}")] if problem else []
    blocks.append(section_block(USAGE))
    return Answer(limit_text(problem or "How to use /icp", 3000), blocks)


def notice(text: str) -> Answer:
    """A one-line answer: not found, not allowed, looking it up..."""
    return Answer(limit_text(text, 3000), [section_block(text)])


def account_list(title: str, rows: Sequence[Listed], *, now: datetime, empty: str) -> Answer:
    """`/icp top` and `/icp recent`: one line per account, best first."""
    if not rows:
        return notice(empty)
    entries = [_listed_line(i, row, now) for i, row in enumerate(rows, 1)]
    blocks = [header_block(title)]
    blocks += fit_sections(
        pack_sections(entries, heading=""), budget=MAX_BLOCKS - 2, more="_…and {count} more._"
    )
    blocks.append(context_block("`/icp DOMAIN` explains any of them."))
    return Answer(f"{title}: {len(rows)} accounts", blocks)


def _listed_line(index: int, row: Listed, now: datetime) -> str:
    name = escape(one_line(limit_text(row.name or row.domain, 80)))
    tier = Tier(row.tier) if row.tier in Tier.__members__ else Tier.D
    line = (
        f"{index}. {TIER_EMOJI[tier]} *{link(row.url, name)}* `{escape(row.domain)}` · "
        f"{row.score} {escape(row.tier)} · coverage {format_coverage(row.coverage)}"
    )
    if row.when is not None:
        line += f" · {relative_time(row.when, now)}"
    return line


def matches(text: str, rows: Sequence[Listed]) -> Answer:
    """Several accounts match a name: each with an Explain button."""
    blocks = [section_block(f"{len(rows)} accounts match *{escape(one_line(text))}*:")]
    for row in rows[: MAX_BLOCKS - 1]:
        name = escape(one_line(limit_text(row.name or row.domain, 80)))
        line = f"*{name}* `{escape(row.domain)}` · {row.score} {escape(row.tier)}"
        blocks.append(
            section_block(line, accessory=button("Explain", action_id=EXPLAIN, value=row.domain))
        )
    return Answer(f"{len(rows)} accounts match {one_line(text)}", blocks)


def icp_in_words(icp: Icp) -> list[Block]:
    """The ICP as an SDR reads it: tiers, each profile's criteria with weights and why."""
    tiers = icp.tiers
    reviewed = f" · reviewed {icp.reviewed_on.isoformat()}" if icp.reviewed_on else ""
    blocks: list[Block] = [
        header_block(f"Our ICP, version {icp.version}"),
        context_block(
            f"Tier A ≥ {tiers.a} · B ≥ {tiers.b} · C ≥ {tiers.c} · else D; "
            f"a disqualifier makes it DQ{reviewed}"
        ),
    ]
    for profile in icp.profiles:
        blocks.append(section_block(_profile_text(profile)))
    if icp.disqualify:
        lines = ["*Disqualified whatever the score*"]
        lines += [_disqualifier_line(d) for d in icp.disqualify]
        blocks.append(section_block(limit_text("\n".join(lines), 3000)))
    if icp.persona:
        lines = ["*Persona: who we want to talk to*"]
        lines += [_criterion_line(c) for c in icp.persona]
        blocks.append(section_block(limit_text("\n".join(lines), 3000)))
    return blocks


def profile_answer(icp: Icp) -> Answer:
    names = ", ".join(p.name for p in icp.profiles)
    blocks = icp_in_words(icp)[: MAX_BLOCKS - 1]
    blocks.append(divider_block())
    return Answer(limit_text(f"ICP v{icp.version}: {names}", 3000), blocks)


def _profile_text(profile: Profile) -> str:
    lines = [f"*{escape(one_line(profile.name))}* (`{escape(profile.id)}`)"]
    ranked = sorted(profile.criteria, key=lambda c: (c.weight < 0, -abs(c.weight)))
    lines += [_criterion_line(c) for c in ranked]
    lines += [f"Out if {_disqualifier_line(d).removeprefix('• ')}" for d in profile.disqualify]
    return limit_text("\n".join(lines), 3000)


def _criterion_line(criterion: Criterion) -> str:
    rule = escape(one_line(limit_text(describe(criterion.condition), 150)))
    why = escape(one_line(limit_text(criterion.why, 200)))
    return f"• `{criterion.weight:+d}` {rule} · _{why}_"


def _disqualifier_line(dq: Disqualifier) -> str:
    rule = escape(one_line(limit_text(describe(dq.condition), 150)))
    why = escape(one_line(limit_text(dq.why, 200)))
    return f"• *{escape(dq.id)}*: {rule} · _{why}_"
