"""Scores as plain JSON-ready data, and back.

One shape serves `icpbot score --json`, the audit trail in the store and
anything else that needs a score outside the process: `criteria` is a list
of `{id, status, points}` plus the detail an explanation needs later.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from scoring.model import Tier
from scoring.result import (
    AccountScore,
    CriterionInfo,
    CriterionResult,
    Disqualification,
    PersonaResult,
    ProfileResult,
    Status,
)


def jsonable(value: object) -> object:
    """Field values as JSON: dates as ISO text, sets and tuples as lists."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, list | tuple | set | frozenset):
        return [jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    return value


def criterion_to_dict(result: CriterionResult) -> dict[str, Any]:
    info = result.criterion
    return {
        "id": info.id,
        "status": result.status.value,
        "points": result.points,
        "max_points": info.max_points,
        "weight": info.weight,
        "field": info.field,
        "layer": info.layer,
        "rule": info.rule,
        "why": info.why,
        "value": jsonable(result.value),
    }


def criterion_from_dict(data: dict[str, Any]) -> CriterionResult:
    info = CriterionInfo(
        data["id"],
        data.get("field", ""),
        data.get("layer"),
        int(data.get("weight", 0)),
        float(data.get("max_points", 0.0)),
        data.get("rule", ""),
        data.get("why", ""),
    )
    return CriterionResult(info, Status(data["status"]), float(data["points"]), data.get("value"))


def disqualification_to_dict(dq: Disqualification) -> dict[str, Any]:
    return {
        "id": dq.id,
        "scope": dq.scope,
        "field": dq.field,
        "rule": dq.rule,
        "why": dq.why,
        "value": jsonable(dq.value),
    }


def disqualification_from_dict(data: dict[str, Any]) -> Disqualification:
    return Disqualification(
        data["id"], data["scope"], data["field"], data["rule"], data["why"], data.get("value")
    )


def profile_to_dict(result: ProfileResult) -> dict[str, Any]:
    return {
        "id": result.profile_id,
        "name": result.profile_name,
        "score": result.score,
        "coverage": round(result.coverage, 3),
        "criteria": [criterion_to_dict(c) for c in result.criteria],
        "disqualified_by": [disqualification_to_dict(d) for d in result.disqualified_by],
    }


def profile_from_dict(data: dict[str, Any]) -> ProfileResult:
    return ProfileResult(
        data["id"],
        data["name"],
        int(data["score"]),
        float(data["coverage"]),
        tuple(criterion_from_dict(c) for c in data["criteria"]),
        tuple(disqualification_from_dict(d) for d in data["disqualified_by"]),
    )


def summary(score: AccountScore, *, domain: str | None = None) -> dict[str, Any]:
    """The line `icpbot score --json` prints (SPEC §9)."""
    return {
        "domain": domain,
        "score": score.score,
        "tier": score.tier.value,
        "profile": score.profile_id,
        "coverage": round(score.coverage, 3),
        "disqualified_by": score.disqualifier_id,
        "criteria": [
            {"id": c.criterion.id, "status": c.status.value, "points": c.points}
            for c in score.criteria
        ],
    }


def account_score_to_dict(score: AccountScore) -> dict[str, Any]:
    """Everything needed to show this score again later, exactly as it was."""
    return {
        "score": score.score,
        "tier": score.tier.value,
        "profile": score.profile_id,
        "profile_name": score.profile_name,
        "coverage": round(score.coverage, 3),
        "icp_version": score.icp_version,
        "scored_at": score.scored_at.isoformat(),
        "reasons": list(score.reasons),
        "disqualified_by": [disqualification_to_dict(d) for d in score.disqualified_by],
        "criteria": [criterion_to_dict(c) for c in score.criteria],
        "profiles": [profile_to_dict(p) for p in score.profiles],
    }


def account_score_from_dict(data: dict[str, Any]) -> AccountScore:
    return AccountScore(
        score=int(data["score"]),
        tier=Tier(data["tier"]),
        profile_id=data.get("profile"),
        profile_name=data.get("profile_name"),
        coverage=float(data["coverage"]),
        criteria=tuple(criterion_from_dict(c) for c in data["criteria"]),
        disqualified_by=tuple(disqualification_from_dict(d) for d in data["disqualified_by"]),
        profiles=tuple(profile_from_dict(p) for p in data.get("profiles", [])),
        icp_version=int(data["icp_version"]),
        scored_at=datetime.fromisoformat(data["scored_at"]),
        reasons=tuple(data.get("reasons", [])),
    )


def persona_to_dict(result: PersonaResult) -> dict[str, Any]:
    return {
        "score": result.score,
        "tier": result.tier.value,
        "coverage": round(result.coverage, 3),
        "criteria": [criterion_to_dict(c) for c in result.criteria],
    }


def persona_from_dict(data: dict[str, Any]) -> PersonaResult:
    return PersonaResult(
        int(data["score"]),
        Tier(data["tier"]),
        float(data["coverage"]),
        tuple(criterion_from_dict(c) for c in data["criteria"]),
    )
