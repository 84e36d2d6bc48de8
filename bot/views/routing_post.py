"""The routing post for a new lead, and the thread reply when it is re-scored (SPEC §5).

The post answers what an SDR scanning a channel needs: which company, how
good a fit and how sure (tier, score, coverage), why (top reasons), whose it
is, why it landed here, and the buttons to act on it. Button values carry
the domain so the action handler needs no lookup to know which account.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from bot.routing.rules import Decision
from bot.views.common import (
    MAX_BLOCKS,
    Block,
    button,
    context_block,
    differs,
    escape,
    fit_sections,
    limit_text,
    link,
    mention,
    one_line,
    open_in_crm_button,
    pack_sections,
    plain,
    points_text,
    safe_url,
    score_line,
    section_block,
    seen_text,
    short_score,
    status_mark,
    tier_label,
    value_text,
)
from bot.views.models import AccountView
from scoring.explain import format_coverage
from scoring.result import AccountScore, CriterionResult, Status

CLAIM = "icp_claim"
NOT_A_FIT = "icp_not_a_fit"
OPEN_CRM = "icp_open_crm"
LEAD_MENU = "icp_lead_menu"  # a summary post's per-lead overflow menu
_REASON_LIMIT = 300

__all__ = [
    "CLAIM",
    "NOT_A_FIT",
    "OPEN_CRM",
    "routing_post_blocks",
    "routing_post_text",
    "rescore_reply_blocks",
    "rescore_reply_text",
    "status_changes",
]


def routing_post_blocks(
    *, account: AccountView, score: AccountScore, decision: Decision
) -> list[Block]:
    """Company, verdict, reasons, owner, why-here, and Claim / Not a fit / Open in CRM."""
    blocks = [section_block(_summary_text(account, score, decision))]
    if score.reasons:
        blocks.append(section_block(_reasons_text(score.reasons)))
    blocks.append(context_block(f"Why here: {escape(one_line(decision.reason))}"))
    blocks.append({"type": "actions", "elements": _buttons(account)})
    return blocks


def routing_post_text(*, account: AccountView, score: AccountScore, decision: Decision) -> str:
    """Notification fallback: tier, company, score with coverage, owner."""
    return limit_text(
        f"New {score.tier.value} lead: {escape(one_line(account.title))} "
        f"({escape(one_line(account.domain))}), {score.score}/100, "
        f"coverage {format_coverage(score.coverage)}, owner {_owner(account, decision)}",
        3000,
    )


def _summary_text(account: AccountView, score: AccountScore, decision: Decision) -> str:
    name = link(account.url, escape(one_line(limit_text(account.title, 200))))
    domain = escape(one_line(limit_text(account.domain, 200)))
    profile = f" · {escape(one_line(score.profile_name))}" if score.profile_name else ""
    return f"*{name}*  `{domain}`\n{score_line(score)}{profile}\nOwner: {_owner(account, decision)}"


def _owner(account: AccountView, decision: Decision) -> str:
    """The CRM owner first (SPEC §6), else the rep routing picked, else say so."""
    return mention(account.owner or decision.owner)


def _reasons_text(reasons: Sequence[str]) -> str:
    lines = [f"• {escape(one_line(limit_text(r, _REASON_LIMIT)))}" for r in reasons]
    return "*Why this score*\n" + "\n".join(lines)


def _buttons(account: AccountView) -> list[Block]:
    domain = account.domain
    elements = [
        button("Claim", action_id=CLAIM, value=domain, style="primary"),
        button("Not a fit", action_id=NOT_A_FIT, value=domain),
    ]
    crm = open_in_crm_button(account.url)
    if crm is not None:
        elements.append(crm)
    return elements


def rescore_reply_blocks(
    *, account: AccountView, score: AccountScore, previous: AccountScore | None
) -> list[Block]:
    """The thread reply: old → new verdict, then the criteria whose status changed."""
    blocks = [section_block(_rescore_headline(account, score, previous))]
    notes = _rescore_notes(score, previous)
    changes = status_changes(score, previous)
    if changes:
        entries = [_change_entry(before, after) for before, after in changes]
        packed = pack_sections(entries, heading="*What changed*")
        budget = MAX_BLOCKS - len(blocks) - (1 if notes else 0)
        blocks += fit_sections(packed, budget=budget, more="_…and {count} more changes._")
    elif previous is not None:
        notes.insert(0, "No criterion changed status.")
    if notes:
        blocks.append(context_block(*notes))
    return blocks


def rescore_reply_text(
    *, account: AccountView, score: AccountScore, previous: AccountScore | None
) -> str:
    """Notification fallback of the thread reply."""
    return limit_text(_rescore_headline(account, score, previous), 3000)


def _rescore_headline(
    account: AccountView, score: AccountScore, previous: AccountScore | None
) -> str:
    name = escape(one_line(limit_text(account.title, 200)))
    if previous is None:
        verdict = f"*{short_score(score)}*"
    elif differs(score, previous):
        verdict = f"{short_score(previous)} → *{short_score(score)}*"
    else:
        verdict = f"still *{short_score(score)}*"
    coverage = format_coverage(score.coverage)
    return f":arrows_counterclockwise: Re-scored {name}: {verdict} · coverage {coverage}"


def _rescore_notes(score: AccountScore, previous: AccountScore | None) -> list[str]:
    """Changes that are not one criterion's: profile, disqualifiers, ICP version."""
    if previous is None:
        return []
    notes = []
    if previous.profile_id != score.profile_id:
        before = escape(one_line(previous.profile_name or "no profile"))
        after = escape(one_line(score.profile_name or "no profile"))
        notes.append(f"Profile: {before} → {after}")
    was = {dq.id for dq in previous.disqualified_by}
    now = {dq.id for dq in score.disqualified_by}
    if now - was:
        notes.append("Now disqualified by " + ", ".join(escape(i) for i in sorted(now - was)))
    if was - now:
        notes.append("No longer disqualified by " + ", ".join(escape(i) for i in sorted(was - now)))
    if previous.icp_version != score.icp_version:
        notes.append(f"ICP v{previous.icp_version} → v{score.icp_version}")
    return notes


def status_changes(
    score: AccountScore, previous: AccountScore | None
) -> list[tuple[CriterionResult | None, CriterionResult]]:
    """Criteria of the winning profile whose status differs from the previous scoring.

    Compared within the same profile (the previous result keeps every
    profile's criteria), so a change of winning profile still shows real
    changes rather than every criterion of the other profile.
    """
    if previous is None:
        return []
    before = {c.id: c for c in _previous_criteria(score, previous)}
    changed: list[tuple[CriterionResult | None, CriterionResult]] = []
    for result in score.criteria:
        old = before.get(result.id)
        if old is None or old.status is not result.status:
            changed.append((old, result))
    return changed


def _previous_criteria(score: AccountScore, previous: AccountScore) -> Sequence[CriterionResult]:
    for profile in previous.profiles:
        if profile.profile_id == score.profile_id:
            return profile.criteria
    return previous.criteria if previous.profile_id == score.profile_id else ()


def _change_entry(before: CriterionResult | None, after: CriterionResult) -> str:
    """`:x: → :white_check_mark: *funding* +10 · got 2026-09-01 (was no data)`."""
    was_mark = status_mark(before) if before is not None else "new"
    seen = seen_text(after)
    seen = seen if after.status is Status.UNKNOWN else f"got {seen}"
    entry = f"{was_mark} → {status_mark(after)} *{escape(after.id)}* "
    entry += f"`{points_text(after)}` · {seen}"
    if before is not None:
        entry += f" (was {_was_value(before)})"
    return entry


def _was_value(before: CriterionResult) -> str:
    if before.status is Status.UNKNOWN or before.value is None:
        return "no data"
    return value_text(before.value, limit=40)


CLAIMED_BLOCK = "icp_claimed"


def claimed_blocks(blocks: list[Block], *, user: str) -> list[Block]:
    """The post after a Claim: the Claim button gone, who claimed it said in its place."""
    kept = []
    for block in blocks:
        if block.get("type") == "actions":
            elements = [e for e in block.get("elements", []) if e.get("action_id") != CLAIM]
            if elements:
                kept.append({**block, "elements": elements})
        elif block.get("block_id") != CLAIMED_BLOCK:
            kept.append(block)
    note = context_block(f":raising_hand: Claimed by <@{user}>")
    return [*kept, {**note, "block_id": CLAIMED_BLOCK}][:MAX_BLOCKS]


def summary_post_blocks(
    entries: Sequence[tuple[AccountView, AccountScore, Decision]], *, total: int
) -> list[Block]:
    """A burst of new leads for one channel in one post, each line with its menu.

    Slack allows about one message a second per channel; a hundred leads
    arriving together would take minutes and bury the channel. One post
    lists them (each with Claim / Not a fit / Open in CRM in its menu); the
    re-scores of any of them reply in its thread.
    """
    blocks: list[Block] = [section_block(f":inbox_tray: *{total} new leads* routed here just now")]
    room = MAX_BLOCKS - 2
    for index, (account, score, decision) in enumerate(entries[:room]):
        name = link(account.url, escape(one_line(limit_text(account.title, 80))))
        line = (
            f"{tier_label(score.tier)} *{name}* "
            f"`{escape(one_line(limit_text(account.domain, 80)))}` · {score.score}/100 · "
            f"coverage {format_coverage(score.coverage)} · {_owner(account, decision)}"
        )
        blocks.append(section_block(line, accessory=_menu(account, index)))
    left = total - min(len(entries), room)
    footer = "`/icp DOMAIN` explains any of them."
    if left > 0:
        footer = f"…and {left} more: `/icp recent {min(left, 25)}` lists them. " + footer
    blocks.append(context_block(footer))
    return blocks


def summary_post_text(total: int, channel_tiers: Sequence[str]) -> str:
    counts = ", ".join(f"{channel_tiers.count(t)} {t}" for t in dict.fromkeys(channel_tiers))
    return f"{total} new leads ({counts})"


def rescore_summary_blocks(
    entries: Sequence[tuple[AccountView, AccountScore, AccountScore | None]],
) -> list[Block]:
    """Many accounts of one channel re-scored at once (a new ICP version rolled out, a day's
    ageing) in one post instead of a reply in each thread: how many moved, and where."""
    moves = [f"{_tier(p)} → {s.tier.value}" for _, s, p in entries]
    counts = ", ".join(f"{n} {move}" for move, n in Counter(moves).most_common())
    blocks: list[Block] = [
        section_block(
            f":arrows_counterclockwise: *{len(entries)} accounts re-scored* here: {counts}"
        )
    ]
    lines = []
    for account, score, previous in entries:
        name = link(account.url, escape(one_line(limit_text(account.title, 80))))
        domain = escape(one_line(limit_text(account.domain, 80)))
        was = f"{short_score(previous)} → " if previous is not None else ""
        lines.append(f"{name} `{domain}`: {was}*{short_score(score)}*")
    chunks = [lines[i : i + 10] for i in range(0, len(lines), 10)][: MAX_BLOCKS - 2]
    blocks += [section_block("\n".join(chunk)) for chunk in chunks]
    shown = sum(len(chunk) for chunk in chunks)
    footer = "`/icp DOMAIN` explains any of them, criterion by criterion."
    if len(lines) > shown:
        footer = f"…and {len(lines) - shown} more. " + footer
    blocks.append(context_block(footer))
    return blocks


def rescore_summary_text(
    entries: Sequence[tuple[AccountView, AccountScore, AccountScore | None]],
) -> str:
    moves = Counter(f"{_tier(p)} → {s.tier.value}" for _, s, p in entries)
    return f"{len(entries)} accounts re-scored: " + ", ".join(
        f"{n} {m}" for m, n in moves.most_common()
    )


def _tier(score: AccountScore | None) -> str:
    return score.tier.value if score is not None else "new"


def _menu(account: AccountView, index: int) -> Block:
    """Claim, Not a fit and Open in CRM in one overflow menu (a section has one accessory).

    Action ids must differ within a message: `icp_lead_menu:3`, matched by prefix.
    """
    options = [
        {"text": plain("Claim", limit=75), "value": f"{CLAIM}:{account.domain}"[:150]},
        {"text": plain("Not a fit", limit=75), "value": f"{NOT_A_FIT}:{account.domain}"[:150]},
    ]
    url = safe_url(account.url)
    if url is not None:
        options.append(
            {"text": plain("Open in CRM", limit=75), "value": f"{OPEN_CRM}:", "url": url}
        )
    return {"type": "overflow", "action_id": f"{LEAD_MENU}:{index}", "options": options}
