"""Scores as plain JSON-ready data, and back.

Two shapes: the line `icpbot score --json` prints (`summary`: `criteria` is
a list of `{id, status, points}`), and the compact form the audit trail
stores (`compact_account`, `compact_persona`), which leaves out what the
ICP version's catalogue already says and is read back with it.
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

_PLAIN = frozenset({str, int, float, bool, type(None)})


def jsonable(value: object) -> object:
    """Field values as JSON: dates as ISO text, sets and tuples as lists.

    Every score's input snapshot and criteria pass through here, so plain
    values (nearly all of them) return on the first test.
    """
    if type(value) in _PLAIN:
        return value
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, list | tuple | set | frozenset):
        return [v if type(v) in _PLAIN else jsonable(v) for v in value]
    if isinstance(value, dict):
        return {
            k if type(k) is str else str(k): v if type(v) in _PLAIN else jsonable(v)
            for k, v in value.items()
        }
    return value


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


def summary(score: AccountScore, *, domain: str | None = None) -> dict[str, Any]:
    """The line `icpbot score --json` prints (SPEC §9)."""
    return {
        "domain": domain,
        "score": score.score,
        "tier": score.tier.value,
        "profile": score.profile_id,
        "coverage": round(score.coverage, 3),
        "disqualified_by": score.disqualifier_id,
        "criteria": [c.brief or _brief(c) for c in score.criteria],
    }


def _brief(result: CriterionResult) -> dict[str, object]:
    """`{id, status, points}`, cached on the result (the engine shares results between records)."""
    result.brief = {
        "id": result.criterion.id,
        "status": result.status.value,
        "points": result.points,
    }
    return result.brief


# --- compact form, for the audit trail --------------------------------------------
#
# What a criterion *is* (its rule, why, weight) belongs to the ICP version and
# is stored once per version as a catalogue; each stored score keeps only
# what happened: `[id, status, points, value]` per criterion. A score row is
# then a few hundred bytes instead of several kilobytes.

PERSONA = "@persona"  # the catalogue's key for persona criteria
Catalogue = dict[str, dict[str, CriterionInfo]]
_STATUS_CODE = {Status.MATCHED: "m", Status.MISSED: "x", Status.UNKNOWN: "u"}
_CODE_STATUS = {code: status for status, code in _STATUS_CODE.items()}


def catalogue_to_dict(catalogue: Catalogue) -> dict[str, Any]:
    return {
        scope: {cid: _info_to_dict(info) for cid, info in infos.items()}
        for scope, infos in catalogue.items()
    }


def catalogue_from_dict(data: dict[str, Any]) -> Catalogue:
    return {
        scope: {cid: _info_from_dict(cid, info) for cid, info in infos.items()}
        for scope, infos in data.items()
    }


def _info_to_dict(info: CriterionInfo) -> dict[str, Any]:
    return {
        "field": info.field,
        "layer": info.layer,
        "weight": info.weight,
        "max_points": info.max_points,
        "rule": info.rule,
        "why": info.why,
    }


def _info_from_dict(criterion_id: str, data: dict[str, Any]) -> CriterionInfo:
    return CriterionInfo(
        criterion_id,
        data.get("field", ""),
        data.get("layer"),
        int(data.get("weight", 0)),
        float(data.get("max_points", 0.0)),
        data.get("rule", ""),
        data.get("why", ""),
    )


def _compact_criteria(criteria: tuple[CriterionResult, ...]) -> list[tuple[object, ...]]:
    return [c.compact or _compact(c) for c in criteria]


def _compact(result: CriterionResult) -> tuple[object, ...]:
    """`(id, status code, points, value)`, cached on the result: the engine shares a result
    between every record with the same value, so a backfill builds each one once, not
    once per row. A tuple, so the rows that share it cannot change it."""
    result.compact = (
        result.criterion.id,
        _STATUS_CODE[result.status],
        result.points,
        jsonable(result.value),
    )
    return result.compact


def _expand_criteria(
    rows: list[list[Any]], infos: dict[str, CriterionInfo]
) -> tuple[CriterionResult, ...]:
    return tuple(
        CriterionResult(
            infos.get(cid) or CriterionInfo(cid, "", None, 0, 0.0, "", ""),
            _CODE_STATUS[code],
            float(points),
            value,
        )
        for cid, code, points, value in rows
    )


def compact_account(score: AccountScore) -> dict[str, Any]:
    """An account score without what its ICP version already says."""
    winner = next((i for i, p in enumerate(score.profiles) if p.profile_id == score.profile_id), 0)
    return {
        "score": score.score,
        "tier": score.tier.value,
        "winner": winner,
        "coverage": score.coverage,
        "icp_version": score.icp_version,
        "scored_at": score.scored_at.isoformat(),
        "reasons": list(score.reasons),
        "disqualified_by": [disqualification_to_dict(d) for d in score.disqualified_by],
        "profiles": [
            {
                "id": p.profile_id,
                "name": p.profile_name,
                "score": p.score,
                "coverage": p.coverage,
                "criteria": _compact_criteria(p.criteria),
                "disqualified_by": [disqualification_to_dict(d) for d in p.disqualified_by],
            }
            for p in score.profiles
        ],
    }


def expand_account(data: dict[str, Any], catalogue: Catalogue) -> AccountScore:
    """The AccountScore `compact_account` stored, with its ICP version's catalogue."""
    profiles = tuple(
        ProfileResult(
            p["id"],
            p["name"],
            int(p["score"]),
            float(p["coverage"]),
            _expand_criteria(p["criteria"], catalogue.get(p["id"], {})),
            tuple(disqualification_from_dict(d) for d in p["disqualified_by"]),
        )
        for p in data["profiles"]
    )
    winner = profiles[data["winner"]] if profiles else None
    return AccountScore(
        score=int(data["score"]),
        tier=Tier(data["tier"]),
        profile_id=winner.profile_id if winner else None,
        profile_name=winner.profile_name if winner else None,
        coverage=float(data["coverage"]),
        criteria=winner.criteria if winner else (),
        disqualified_by=tuple(disqualification_from_dict(d) for d in data["disqualified_by"]),
        profiles=profiles,
        icp_version=int(data["icp_version"]),
        scored_at=datetime.fromisoformat(data["scored_at"]),
        reasons=tuple(data.get("reasons", [])),
    )


def compact_persona(result: PersonaResult) -> dict[str, Any]:
    return {
        "score": result.score,
        "tier": result.tier.value,
        "coverage": result.coverage,
        "criteria": _compact_criteria(result.criteria),
    }


def expand_persona(data: dict[str, Any], catalogue: Catalogue) -> PersonaResult:
    return PersonaResult(
        int(data["score"]),
        Tier(data["tier"]),
        float(data["coverage"]),
        _expand_criteria(data["criteria"], catalogue.get(PERSONA, {})),
    )
