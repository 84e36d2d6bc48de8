"""What the weekly digest says: Block Kit for Slack, and the same as plain text.

The text is the notification and the fallback (screen readers, clients
without blocks, the terminal). Numbers come from `bot.digest.numbers`; nothing here
reads the store.
"""

from __future__ import annotations

from bot.digest.numbers import Digest
from bot.views.common import (
    TIER_EMOJI,
    Block,
    context_block,
    divider_block,
    escape,
    fields_block,
    header_block,
    limit_text,
    link,
    mention,
    one_line,
    section_block,
)
from bot.views.feedback import REASONS
from scoring.model import Tier

SHOWN_FEEDBACK = 5


def digest_title(digest: Digest) -> str:
    week = digest.week
    last = week.end.date().fromordinal(week.end.date().toordinal() - 1)
    return f"ICP digest, week {week.label} ({week.monday:%b %-d}–{last:%b %-d})"


def _change(now: int, before: int) -> str:
    if now == before:
        return "same as last week"
    sign = "+" if now > before else "−"
    return f"{sign}{abs(now - before):,} vs last week"


def tier_lines(digest: Digest) -> list[str]:
    now, before = digest.tiers, digest.tiers_before
    return [f"{TIER_EMOJI[Tier(t)]} *{t}*: {now[t]} ({_change(now[t], before[t])})" for t in now]


def _headline(digest: Digest) -> str:
    before = sum(digest.tiers_before.values())
    return (
        f"*{digest.new_total}* new accounts this week ({_change(digest.new_total, before)}), "
        f"*{digest.tiers.get('A', 0)}* of them tier A."
    )


def _top_a(digest: Digest) -> str:
    if not digest.top_a:
        return "*Top new A-tier accounts*\nNone this week."
    lines = [
        f"• {link(a.url, escape(one_line(a.name)))} `{escape(a.domain)}` — {a.score}, "
        f"coverage {a.coverage:.0%}, {mention(a.owner)}"
        for a in digest.top_a
    ]
    return "*Top new A-tier accounts*\n" + "\n".join(lines)


def _feedback(digest: Digest) -> str:
    if not digest.not_a_fit:
        return "*Not a fit*\nNo rep flagged an account this week."
    reasons = ", ".join(f"{REASONS.get(r, r)} ({n})" for r, n in digest.reasons)
    lines = [
        f"• `{escape(f.domain)}`: {escape(REASONS.get(f.reason, f.reason))}"
        + (f" — “{escape(one_line(f.note))}”" if f.note else "")
        + f" ({mention(f.slack_user)})"
        for f in digest.not_a_fit[:SHOWN_FEEDBACK]
    ]
    more = len(digest.not_a_fit) - SHOWN_FEEDBACK
    if more > 0:
        lines.append(f"…and {more} more")
    return f"*Not a fit* — {len(digest.not_a_fit)} this week: {reasons}\n" + "\n".join(lines)


WIN_RATES = "*Win rate by tier when the deal was created, last 90 days*\n"


def _win_rates(digest: Digest) -> str:
    if not digest.win_rates:
        return WIN_RATES + "No closed deals recorded yet."
    cells = [f"*{w.tier}*: {w.rate:.0%} ({w.won} of {w.won + w.lost})" for w in digest.win_rates]
    return WIN_RATES + " · ".join(cells)


def _missing(digest: Digest) -> str:
    if not digest.new_total:
        return "*Most often missing*\nNo new accounts this week."
    if not digest.missing:
        return "*Most often missing*\nEvery criterion's field was known on the new accounts."
    cells = [f"`{escape(m.field)}` {m.share:.0%}" for m in digest.missing]
    return "*Most often missing on new accounts* (scored as unknown)\n" + " · ".join(cells)


def digest_blocks(digest: Digest, *, chart: bool = False) -> list[Block]:
    """The post; `chart` leaves the tier table out when an image will show it."""
    blocks: list[Block] = [header_block(digest_title(digest))]
    if digest.review_warning:
        blocks.append(section_block(f":warning: {escape(digest.review_warning)}"))
    blocks.append(section_block(_headline(digest)))
    if not chart:
        blocks.append(fields_block(tier_lines(digest)))
    blocks += [divider_block(), section_block(limit_text(_top_a(digest), 3000))]
    blocks.append(section_block(limit_text(_feedback(digest), 3000)))
    blocks.append(section_block(_win_rates(digest)))
    blocks.append(section_block(_missing(digest)))
    blocks.append(
        context_block(
            f"ICP v{digest.icp_version} · `/icp top 10 A` lists the best "
            "accounts now · `/icp <domain>` explains any of them"
        )
    )
    return blocks


def digest_text(digest: Digest) -> str:
    """The whole digest as text: the notification, the fallback and `--dry-run`'s output."""
    parts = [digest_title(digest)]
    if digest.review_warning:
        parts.append(f"Warning: {digest.review_warning}")
    parts += [
        _headline(digest),
        "\n".join(tier_lines(digest)),
        _top_a(digest),
        _feedback(digest),
        _win_rates(digest),
        _missing(digest),
    ]
    return "\n\n".join(parts)
