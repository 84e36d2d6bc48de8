"""The `/icp acme.com` answer (SPEC §5): why an account scored what it did.

Laid out for an SDR reading fast: what the verdict is and how much we knew
(score, tier, coverage), what overrode it (disqualifiers), then every
criterion grouped matched, missed, unknown, each with its points, the value
seen and its `why`. Nothing is cut silently: long lists spill into more
sections, and anything beyond Slack's 50 blocks is counted and pointed to
the CLI.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from bot.views.common import (
    CRM_NAMES,
    MAX_BLOCKS,
    Block,
    context_block,
    differs,
    divider_block,
    escape,
    fit_sections,
    header_block,
    is_cleared,
    limit_text,
    one_line,
    open_in_crm_button,
    pack_sections,
    points_text,
    relative_time,
    score_line,
    section_block,
    seen_text,
    short_score,
    slack_date,
    status_mark,
    tier_label,
    value_text,
)
from bot.views.models import AccountView, PersonView
from scoring.explain import format_coverage
from scoring.model import Tier
from scoring.result import (
    AccountScore,
    CriterionResult,
    Disqualification,
    ProfileResult,
    Status,
)

LOW_COVERAGE = 0.6  # below this, say which fields are missing
_RULE_LIMIT = 200
_WHY_LIMIT = 500


__all__ = ["explanation_blocks", "explanation_text", "criterion_entry", "LOW_COVERAGE"]


def explanation_blocks(
    *,
    account: AccountView,
    score: AccountScore,
    previous: AccountScore | None = None,
    person: PersonView | None = None,
    now: datetime,
) -> list[Block]:
    """Every block of the answer, within Block Kit's limits whatever the CRM data."""
    head = [header_block(one_line(account.title) or account.domain)]
    if score.tier is Tier.DQ and score.disqualified_by:
        head.append(section_block(_disqualified_text(score.disqualified_by)))
    head += [section_block(_verdict_text(score, previous)), divider_block()]
    tail = _tail(account=account, score=score, person=person, now=now)
    budget = MAX_BLOCKS - len(head) - len(tail)
    more = f"_…and {{count}} more criteria: `icpbot explain {escape(account.domain)}` lists all._"
    return head + fit_sections(_criteria_sections(score.criteria), budget=budget, more=more) + tail


def explanation_text(
    *,
    account: AccountView,
    score: AccountScore,
    previous: AccountScore | None = None,
    person: PersonView | None = None,
    now: datetime | None = None,
) -> str:
    """The notification fallback: the verdict in one line, coverage included."""
    parts = [
        f"{escape(one_line(account.title))}: {score.score}/100, tier {score.tier.value}",
        f"coverage {format_coverage(score.coverage)}",
    ]
    if score.profile_name:
        parts.append(escape(one_line(score.profile_name)))
    if score.tier is Tier.DQ and score.disqualified_by:
        parts.append("disqualified: " + ", ".join(escape(d.id) for d in score.disqualified_by))
    if differs(score, previous) and previous is not None:
        parts.append(f"was {short_score(previous)}")
    if person is not None:
        parts.append(f"persona {person.persona.score} {person.persona.tier.value}")
    return limit_text(" · ".join(parts), 3000)


def _verdict_text(score: AccountScore, previous: AccountScore | None) -> str:
    line = score_line(score)
    if differs(score, previous) and previous is not None:
        when = slack_date(previous.scored_at, fmt="{date_short}")
        line += f" · was {short_score(previous)} on {when}"
    profile = escape(one_line(score.profile_name)) if score.profile_name else "no profile"
    return f"{line}\nProfile: *{profile}*"


def _disqualified_text(disqualified_by: Sequence[Disqualification]) -> str:
    lines = [":no_entry: *Disqualified*: the score does not count."]
    lines += [_disqualification_entry(dq) for dq in disqualified_by]
    return "\n".join(lines)


def _disqualification_entry(dq: Disqualification) -> str:
    scope = "" if dq.scope == "icp" else f" (profile {escape(dq.scope)})"
    rule = escape(one_line(limit_text(dq.rule, _RULE_LIMIT)))
    seen = value_text(dq.value) if dq.value is not None else "no data"
    why = escape(one_line(limit_text(dq.why, _WHY_LIMIT)))
    return f"• *{escape(dq.id)}*{scope}: {why}\n      ({rule} · got {seen})"


def _criteria_sections(criteria: Sequence[CriterionResult]) -> list[tuple[str, int]]:
    """Matched, missed, cleared, unknown: a penalty that did not apply is good news, shown apart."""
    groups = (
        ("Matched", [c for c in criteria if c.status is Status.MATCHED]),
        ("Missed", [c for c in criteria if c.status is Status.MISSED and not is_cleared(c)]),
        ("Cleared", [c for c in criteria if is_cleared(c)]),
        ("Unknown", [c for c in criteria if c.status is Status.UNKNOWN]),
    )
    packed: list[tuple[str, int]] = []
    for title, group in groups:
        if group:
            entries = [criterion_entry(c) for c in _sorted(group)]
            packed += pack_sections(entries, heading=_group_heading(title, group))
    return packed


def _sorted(group: list[CriterionResult]) -> list[CriterionResult]:
    """Penalties first among matches (they hurt most), else the biggest stakes first."""
    if group[0].status is Status.MATCHED:
        return sorted(group, key=lambda c: (c.points >= 0, -abs(c.points)))
    return sorted(group, key=lambda c: -abs(c.max_points))


def _group_heading(title: str, group: Sequence[CriterionResult]) -> str:
    status = group[0].status
    if status is Status.MATCHED:
        total = sum(c.points for c in group)
        return f"*{title}* ({len(group)}) · {_number(total, signed=True)} points"
    if is_cleared(group[0]):
        return f"*{title}* ({len(group)}) · penalties that did not apply"
    at_stake = sum(c.max_points for c in group if c.max_points > 0)
    if not at_stake:
        return f"*{title}* ({len(group)})"
    label = "not earned" if status is Status.MISSED else "unchecked"
    return f"*{title}* ({len(group)}) · {_number(at_stake)} points {label}"


def criterion_entry(result: CriterionResult) -> str:
    """`✓ *industry* +15 · got software` and, below, the rule and its `why`."""
    mark = status_mark(result)
    rule = escape(one_line(limit_text(result.rule, _RULE_LIMIT)))
    why = escape(one_line(limit_text(result.why, _WHY_LIMIT)))
    seen = _seen(result)
    head = f"{mark} *{escape(result.id)}* `{points_text(result)}` · {seen}"
    return f"{head}\n      _{why}_ ({rule})" if why else f"{head}\n      ({rule})"


def _number(value: float, *, signed: bool = False) -> str:
    text = f"{value:+.0f}" if float(value).is_integer() else f"{value:+.1f}"
    return text if signed else text.lstrip("+")


def _tail(
    *, account: AccountView, score: AccountScore, person: PersonView | None, now: datetime
) -> list[Block]:
    """What follows the criteria: coverage warning, other profiles, persona, when, CRM link."""
    blocks: list[Block] = []
    low = _low_coverage_text(score)
    if low:
        blocks.append(context_block(low))
    others = _other_profiles_text(score)
    if others:
        blocks.append(context_block(others))
    if person is not None:
        blocks += [divider_block(), section_block(_persona_text(person))]
    blocks.append(context_block(*_footer(account, score, now)))
    crm = open_in_crm_button(account.url)
    if crm is not None:
        blocks.append({"type": "actions", "elements": [crm]})
    return blocks


def _low_coverage_text(score: AccountScore) -> str | None:
    """Low coverage is a data problem, not a fit problem: name the fields to fill in."""
    if score.coverage >= LOW_COVERAGE:
        return None
    unknown = [c for c in score.criteria if c.status is Status.UNKNOWN and c.max_points > 0]
    if not unknown:
        return None
    fields = list(dict.fromkeys(c.field for c in unknown))
    at_stake = sum(c.max_points for c in unknown)
    names = ", ".join(f"`{escape(f)}`" for f in fields)
    return (
        f":warning: Low coverage ({format_coverage(score.coverage)}): no data for {names}; "
        f"{_number(at_stake)} points hang on them."
    )


def _other_profiles_text(score: AccountScore) -> str | None:
    """Why the other profiles did not win, in words: out of the running, or scored lower."""
    others = [p for p in score.profiles if p.profile_id != score.profile_id]
    if not others:
        return None
    return "\n".join(_other_profile(profile) for profile in others)


def _other_profile(profile: ProfileResult) -> str:
    name = f"*{escape(one_line(profile.profile_name))}*"
    if not profile.disqualified_by:
        return f"Also scored: {name} {profile.score}/100, lower, so it did not win."
    reasons = "; ".join(_ruled_out(dq) for dq in profile.disqualified_by)
    return f"Not in the running: {name}, {reasons}"


def _ruled_out(dq: Disqualification) -> str:
    """`too small for the enterprise motion (employees at most 499, got 352)`."""
    why = escape(one_line(limit_text(dq.why, _WHY_LIMIT))).rstrip(".")
    rule = escape(one_line(limit_text(dq.rule, _RULE_LIMIT)))
    seen = value_text(dq.value) if dq.value is not None else "no data"
    return f"{why[:1].lower()}{why[1:]} ({rule}, got {seen})."


def _persona_text(person: PersonView) -> str:
    persona = person.persona
    names = (person.name or person.email, person.job_title)
    who = ", ".join(escape(one_line(name)) for name in names if name)
    lines = [
        f"*Persona fit*: {who} · {tier_label(persona.tier)} · {persona.score}/100 · "
        f"coverage {format_coverage(persona.coverage)}"
    ]
    matched = [c for c in persona.criteria if c.status is Status.MATCHED]
    if matched:
        lines += [_persona_entry(c) for c in matched]
    else:  # a 0 needs its reasons as much as a 100: what each criterion saw
        lines.append("_No persona criterion matched:_")
        lines += [_persona_miss(c) for c in sorted(persona.criteria, key=lambda c: -c.max_points)]
    return "\n".join(lines)


def _seen(result: CriterionResult) -> str:
    """`got software`, or what is known of an unknown value (`no data`)."""
    seen = seen_text(result)
    return seen if result.status is Status.UNKNOWN else f"got {seen}"


def _persona_miss(result: CriterionResult) -> str:
    seen = _seen(result)
    rule = escape(one_line(limit_text(result.rule, _RULE_LIMIT)))
    return f"{status_mark(result)} *{escape(result.id)}* `{points_text(result)}` · {seen} ({rule})"


def _persona_entry(result: CriterionResult) -> str:
    why = escape(one_line(limit_text(result.why, _WHY_LIMIT)))
    return f"{status_mark(result)} *{escape(result.id)}* `{points_text(result)}` · {why}"


def _footer(account: AccountView, score: AccountScore, now: datetime) -> list[str]:
    when = f"scored {relative_time(score.scored_at, now)} ({slack_date(score.scored_at)})"
    source = f" in {escape(CRM_NAMES.get(account.crm, account.crm))}" if account.crm else ""
    return [f"`{escape(one_line(account.domain))}`{source}", f"ICP v{score.icp_version}", when]
