"""Explanations: why a score is what it is, in words an SDR can act on.

`top_reasons` is the short form written to the CRM (`icp_reasons`, one a
line); `explain_lines` is the full form the CLI prints: every criterion with
its status, points and `why`.
"""

from __future__ import annotations

from collections.abc import Sequence

from scoring.operators import format_value
from scoring.result import AccountScore, CriterionResult, Disqualification, PersonaResult, Status

MAX_REASONS = 5
REASON_VALUE_LIMIT = 60  # characters of a value a reason line shows
_MARK = {Status.MATCHED: "✓", Status.MISSED: "✗", Status.UNKNOWN: "?"}
_MATCHED, _UNKNOWN = Status.MATCHED, Status.UNKNOWN


def format_points(points: float) -> str:
    """`+20`, `-30`, `+13.3`: signed, no trailing `.0`."""
    return f"{points:+.0f}" if float(points).is_integer() else f"{points:+.1f}"


def format_coverage(coverage: float) -> str:
    return f"{round(coverage * 100)}%"


def reason_line(result: CriterionResult) -> str:
    """One matched criterion as a line: `+15 industry: software`.

    Cached on the result: the engine shares result objects between records
    with the same value, so a common reason is formatted once.
    """
    if result.reason is None:
        result.reason = (
            f"{result.criterion.label}: {format_value(result.value, limit=REASON_VALUE_LIMIT)}"
        )
    return result.reason


def disqualification_line(dq: Disqualification) -> str:
    scope = "" if dq.scope == "icp" else f" ({dq.scope})"
    return f"DQ {dq.id}{scope}: {dq.why}"


def unknown_line(criteria: Sequence[CriterionResult]) -> str | None:
    """What we could not check and how many points hang on it: honest about missing data."""
    ids = []
    at_stake = 0.0
    for result in criteria:
        info = result.criterion
        if result.status is _UNKNOWN and info.weight > 0:
            ids.append(info.id)
            at_stake += info.max_points
    return _unknown_text(ids, at_stake) if ids else None


def _unknown_text(ids: Sequence[str], at_stake: float) -> str:
    return f"unknown: {', '.join(ids)} ({format_points(at_stake)[1:]} points unchecked)"


def _reason_order(result: CriterionResult) -> float:
    """Penalties first (worst first), then wins (biggest first)."""
    return result.points if result.points < 0 else 1000.0 - result.points


def top_reasons(
    criteria: Sequence[CriterionResult], disqualified_by: Sequence[Disqualification] = ()
) -> tuple[str, ...]:
    """Disqualifiers first, then penalties, then the biggest wins, then what is unknown.

    Built for every record scored, so the criteria are read in one pass that
    collects both the wins and what is unknown (`unknown_line`, folded in).
    """
    lines = [disqualification_line(dq) for dq in disqualified_by] if disqualified_by else []
    matched: list[CriterionResult] = []
    unknown: list[str] = []
    at_stake = 0.0
    for result in criteria:
        status = result.status
        if status is _MATCHED:
            if result.points:
                matched.append(result)
        elif status is _UNKNOWN:
            info = result.criterion
            if info.weight > 0:
                unknown.append(info.id)
                at_stake += info.max_points
    room = MAX_REASONS - len(lines)
    if matched and room > 0:
        if len(matched) > 1:
            matched.sort(key=_reason_order)
        lines.extend([result.reason or reason_line(result) for result in matched[:room]])
    if unknown:
        lines.append(_unknown_text(unknown, at_stake))
    return tuple(lines)


def criterion_line(result: CriterionResult) -> str:
    """`✓ +15  industry  industry is one of software, saas (software)`."""
    value = "missing" if result.status is Status.UNKNOWN else format_value(result.value, limit=60)
    if result.status is Status.MATCHED:
        points = format_points(result.points)
    elif result.weight > 0:
        points = f"0/{format_points(result.max_points)[1:]}"
    else:
        points = "0"
    return f"{_MARK[result.status]} {points:>6}  {result.id}: {result.rule} — got {value}"


def _statuses(
    score: AccountScore | None, persona: PersonaResult | None
) -> dict[tuple[str, str], CriterionResult]:
    found = {
        (profile.profile_id, c.id): c
        for profile in (score.profiles if score else ())
        for c in profile.criteria
    }
    found.update({("persona", c.id): c for c in (persona.criteria if persona else ())})
    return found


def status_changes(
    before: tuple[AccountScore | None, PersonaResult | None],
    after: tuple[AccountScore | None, PersonaResult | None],
) -> list[str]:
    """Every criterion whose status moved between two scorings of one record, in words.

    `funding no longer matches (last_funding_at within the last 365 days, got 2025-11-28)`:
    what the calendar (or the data) changed, criterion by criterion, so a
    re-scored line is never left without its reason. The winning profile's
    criteria come first; another profile's carry its id.
    """
    then, now = _statuses(*before), _statuses(*after)
    winner = after[0].profile_id if after[0] else None
    lines = []
    for key in sorted(now.keys() & then.keys(), key=lambda k: (k[0] != winner, k)):
        old, new = then[key], now[key]
        if old.status is new.status:
            continue
        name = new.id if key[0] in (winner, "persona") else f"{key[0]}/{new.id}"
        verb = {Status.MATCHED: "now matches", Status.MISSED: "no longer matches"}.get(
            new.status, "is now unknown"
        )
        if new.status is Status.MISSED and old.status is Status.UNKNOWN:
            verb = "is now known and misses"
        value = format_value(new.value if new.status is not Status.UNKNOWN else old.value, limit=60)
        lines.append(f"{name} {verb} ({new.rule}, got {value})")
    return lines


def explain_lines(score: AccountScore) -> list[str]:
    """The whole explanation as plain text lines, for terminals and logs."""
    profile = score.profile_name or "no profile"
    lines = [
        f"score {score.score} · tier {score.tier} · {profile} · "
        f"coverage {format_coverage(score.coverage)} · ICP v{score.icp_version}"
    ]
    lines += [disqualification_line(dq) for dq in score.disqualified_by]
    for result in score.criteria:
        lines.append(criterion_line(result))
        lines.append(f"           why: {result.why}")
    return lines
