"""What a calibration says: the terminal report, its JSON (SPEC §8) and the Slack summary.

Every number is shown with its interval or its sample, and every rate that rests on too
few accounts says so in words, so a reader never mistakes noise for a finding. Nothing
here computes: the numbers come from `bot.calibration.run`.
"""

from __future__ import annotations

import math
from typing import Any

from bot.calibration.run import Calibration, CriterionReport
from bot.views.common import Block, context_block, header_block, section_block
from scoring.calibration import Auc, Rate
from scoring.discovery import Suggestion
from scoring.model import Condition
from scoring.operators import describe

NEXT_STEP = "icpbot calibrate --out proposed-icp.yaml  (writes the proposal and prints its diff)"


def no_deals(where: str) -> str:
    """Nothing to learn from, and how to get something."""
    return (
        f"No closed deals to learn from in {where}: load them with `icpbot backfill --crm "
        "hubspot|salesforce` (or let `icpbot serve` sync them), or run `icpbot calibrate "
        "--source DIR` with companies.csv and deals.csv (deal_id, domain, name, stage, amount, "
        "created_at, closed_at)."
    )


def _pct(rate: Rate) -> str:
    if not rate.total:
        return "—"
    low, high = rate.interval or (math.nan, math.nan)
    return f"{rate.value:.0%} of {rate.total:,} ({low:.0%}–{high:.0%})"


def _auc(value: Auc, *, signed: bool = False) -> str:
    sign = "+" if signed else ""
    return f"{value.value:{sign}.2f} (95% {value.low:{sign}.2f} to {value.high:{sign}.2f})"


def _number(value: float | None, digits: int = 2) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def verdict(found: Calibration) -> str:
    """One sentence: is the proposal better on data it was not fitted on, and how sure."""
    if found.too_few:
        return found.too_few
    if found.gain is None or found.current is None:
        return "The hold-out has only one outcome: no AUC can be measured; nothing is proposed."
    gain = found.gain
    if gain.low > 0:
        return f"The proposed weights rank the hold-out better: AUC {_auc(gain, signed=True)}."
    if gain.value > 0:
        return (
            f"The proposed weights rank the hold-out a little better, AUC {_auc(gain, signed=True)}"
            ": the interval still includes no gain, so review before merging."
        )
    return (
        f"The proposed weights do not beat the current ones on the hold-out (AUC "
        f"{_auc(gain, signed=True)}): keep the current weights."
    )


def report_lines(found: Calibration, *, next_step: bool = True) -> list[str]:
    """The whole report, as plain text lines (`next_step`: end with how to get a proposal)."""
    lines = [
        f"Calibration of icp.yaml v{found.icp.version} against {found.good + found.bad:,} "
        f"accounts with closed deals ({found.deals:,} deals read)",
        f"  {found.good:,} good (won, never churned) · {found.bad:,} bad (lost or churned) · "
        f"{found.train:,} to fit · {found.holdout:,} held out (the most recent)",
    ]
    if found.left_out:
        lines.append(f"  Not learned from (they record the outcome): {', '.join(found.left_out)}")
    lines += [f"  Left aside: {note}" for note in found.skipped]
    if found.current and found.proposed_curve:
        lines += [
            "",
            "Held-out ROC AUC (0.5 is a coin toss, 1.0 ranks every win first)",
            f"  current   {_auc(found.current.auc)}",
            f"  proposed  {_auc(found.proposed_curve.auc)}",
        ]
    lines += ["", verdict(found)]
    for profile in found.icp.profiles:
        rows = [c for c in found.criteria if c.profile == profile.id]
        lines += ["", f"Criteria of {profile.id} (on the accounts it scored)", CRITERIA_HEADER]
        lines += [_criterion_line(c) for c in rows]
        lines += [f"    {c.id}: {c.evidence.too_few}" for c in rows if c.evidence.too_few]
    silent = [f"{c.profile}.{c.id}" for c in found.criteria if c.no_signal]
    if silent:
        lines += [
            "",
            "No usable signal (the fit gives them nothing, or the opposite of their layer's "
            f"sign; kept at ±1, remove them if you agree): {', '.join(silent)}",
        ]
    lines += ["", "Win rate by tier when the deal was created"]
    lines += [f"  {t.tier:<3} {_pct(t.rate)}" for t in found.tiers]
    if found.suggestions:
        lines += [
            "",
            "Suggested new criteria (found on the fitted part, confirmed on the hold-out)",
        ]
        for s in found.suggestions:
            criterion = s.criterion
            operator = next(
                k for k in criterion if k not in {"id", "layer", "field", "weight", "why"}
            )
            rule = describe(Condition(s.field, operator, criterion[operator]))
            lines.append(
                f"  {s.profile}: {rule} → weight {criterion['weight']} · hold-out lift "
                f"{_number(s.evidence.lift)}, IV {_number(s.evidence.iv)}, "
                f"{s.evidence.matched.total:,} accounts"
            )
    elif not found.too_few:
        lines += ["", "No new criterion separates good from bad customers clearly enough yet."]
    if found.proposed is not None and next_step:
        lines += ["", f"Next: {NEXT_STEP}"]
    return lines


def summary_lines(found: Calibration) -> list[str]:
    """The few lines that say what calibration found: counts, AUCs, verdict, suggestions."""
    lines = [
        f"{found.good + found.bad:,} accounts with closed deals ({found.good:,} good, "
        f"{found.bad:,} bad); the {found.holdout:,} most recent held out of the fit."
    ]
    if found.current and found.proposed_curve:
        lines.append(
            f"Held-out ROC AUC: current {_auc(found.current.auc)} → proposed "
            f"{_auc(found.proposed_curve.auc)}."
        )
    lines.append(verdict(found))
    lines += [f"Suggested: {_suggestion_text(s)}" for s in found.suggestions]
    rates = " · ".join(f"{t.tier} {t.rate.value:.0%}" for t in found.tiers if t.rate.total)
    lines.append(f"Win rate by tier when the deal was created: {rates}.")
    return lines


def _suggestion_text(s: Suggestion) -> str:
    criterion = s.criterion
    operator = next(k for k in criterion if k not in {"id", "layer", "field", "weight", "why"})
    rule = describe(Condition(s.field, operator, criterion[operator]))
    return (
        f"{s.profile}: {rule} → weight {criterion['weight']} · hold-out lift "
        f"{_number(s.evidence.lift)}, IV {_number(s.evidence.iv)}, "
        f"{s.evidence.matched.total:,} accounts"
    )


CRITERIA_HEADER = (
    f"  {'criterion':<16} {'known':>5}  {'won if matched':<22} {'won if not':<22} "
    f"{'lift':>5} {'WoE':>6} {'IV':>6} {'signal':<8} weight"
)


def _criterion_line(c: CriterionReport) -> str:
    """One row under `CRITERIA_HEADER`; rates as `23% of 60 (14–35%)`."""
    e = c.evidence
    proposed = "" if c.proposed_weight is None else f" → {c.proposed_weight}"
    return (
        f"  {c.id[:16]:<16} {e.known:>5.0%}  {_pct(e.matched):<22} {_pct(e.missed):<22} "
        f"{_number(e.lift):>5} {_number(e.woe):>6} {_number(e.iv, 3):>6} {e.signal:<8} "
        f"{c.weight}{proposed}"
    )


def calibration_json(found: Calibration, proposal: str | None) -> dict[str, Any]:
    """The one JSON object of `icpbot calibrate --json` (SPEC §8), plus intervals and words."""
    return {
        "examples": {
            "good": found.good,
            "bad": found.bad,
            "train": found.train,
            "holdout": found.holdout,
        },
        "auc": {
            "current": found.current.auc.value if found.current else None,
            "proposed": found.proposed_curve.auc.value if found.proposed_curve else None,
            "current_ci": _interval(found.current.auc) if found.current else None,
            "proposed_ci": _interval(found.proposed_curve.auc) if found.proposed_curve else None,
            "gain_ci": _interval(found.gain) if found.gain else None,
        },
        "criteria": [
            {
                "profile": c.profile,
                "id": c.id,
                "known": c.evidence.known,
                "lift": c.evidence.lift,
                "woe": c.evidence.woe,
                "iv": c.evidence.iv,
                "signal": c.evidence.signal,
                "too_few": c.evidence.too_few,
                "weight": c.weight,
                "proposed_weight": c.proposed_weight,
                "no_signal": c.no_signal,
            }
            for c in found.criteria
        ],
        "tiers": [
            {"tier": t.tier, "examples": t.rate.total, "win_rate": t.rate.value}
            for t in found.tiers
        ],
        "suggestions": [
            {
                "profile": s.profile,
                "field": s.field,
                "criterion": s.criterion,
                "lift": s.evidence.lift,
                "iv": s.evidence.iv,
                "support": s.evidence.matched.total,
            }
            for s in found.suggestions
        ],
        "left_out": list(found.left_out),
        "skipped": found.skipped,
        "verdict": verdict(found),
        "too_few": found.too_few,
        "proposal": proposal,
    }


def _interval(value: Auc) -> list[float]:
    return [value.low, value.high]


def calibration_blocks(found: Calibration, *, chart_attached: bool) -> list[Block]:
    """The Slack summary an admin gets from `/icp calibration`."""
    blocks: list[Block] = [header_block(f"Calibration of the ICP v{found.icp.version}")]
    blocks.append(
        section_block(
            f"*{found.good + found.bad:,}* accounts with closed deals: *{found.good:,}* good, "
            f"*{found.bad:,}* bad; {found.holdout:,} most recent held out.\n{verdict(found)}"
        )
    )
    if found.current and found.proposed_curve:
        blocks.append(
            section_block(
                f"*Held-out ROC AUC*: current {_auc(found.current.auc)} · proposed "
                f"{_auc(found.proposed_curve.auc)}"
            )
        )
    changed = [
        f"`{c.profile}.{c.id}` {c.weight} → {c.proposed_weight}"
        for c in found.criteria
        if c.proposed_weight is not None and c.proposed_weight != c.weight
    ]
    if changed:
        blocks.append(section_block("*Proposed weights*: " + " · ".join(changed)))
    if found.suggestions:
        lines = [
            f"`{s.profile}`: `{s.criterion['id']}` lift {_number(s.evidence.lift)}, "
            f"IV {_number(s.evidence.iv)}, {s.evidence.matched.total:,} accounts"
            for s in found.suggestions
        ]
        blocks.append(section_block("*Suggested criteria*\n" + "\n".join(lines)))
    note = "The chart: lift per criterion and the ROC curves. " if chart_attached else ""
    blocks.append(context_block(f"{note}The full report and a proposed icp.yaml: `{NEXT_STEP}`"))
    return blocks
