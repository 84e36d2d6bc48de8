"""Validation of `icp.yaml`: every problem, named by file, line and criterion.

`parse_icp` never returns a half-built ICP: either the whole file is valid
(warnings aside) and an `Icp` comes back, or `ConfigError` lists everything
wrong at once, so a RevOps engineer fixes the file in one pass.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import Any

from scoring.fields import FieldType
from scoring.model import (
    LAYERS,
    MAX_PROFILES,
    OPERATORS,
    Condition,
    Criterion,
    Disqualifier,
    Icp,
    Profile,
    Tiers,
)
from scoring.problems import (
    ConfigError,
    Problem,
    closest,
    did_you_mean,
    line_of,
    line_of_key,
    load_yaml,
    not_a_key,
)
from scoring.reach import max_score, unreachable_reason

REVIEW_MAX_AGE = timedelta(days=90)
_TOP_KEYS = {"version", "reviewed_on", "tiers", "profiles", "disqualify", "persona"}
_PROFILE_KEYS = {"id", "name", "criteria", "disqualify"}
_CRITERION_KEYS = {"id", "layer", "field", "weight", "why"}
_DISQUALIFIER_KEYS = {"id", "field", "why"}
_SCALAR = (str, int, float, bool)

# Which operators make sense on which field type.
_OPERATOR_TYPES: Mapping[str, frozenset[FieldType]] = {
    "equals": frozenset({FieldType.STRING, FieldType.NUMBER, FieldType.BOOLEAN, FieldType.DATE}),
    "in": frozenset({FieldType.STRING, FieldType.NUMBER}),
    "not_in": frozenset({FieldType.STRING, FieldType.NUMBER}),
    "between": frozenset({FieldType.NUMBER}),
    "gte": frozenset({FieldType.NUMBER}),
    "lte": frozenset({FieldType.NUMBER}),
    "contains_any": frozenset({FieldType.LIST}),
    "contains_all": frozenset({FieldType.LIST}),
    "matches": frozenset({FieldType.STRING, FieldType.LIST}),
    "within_days": frozenset({FieldType.DATE}),
    "exists": frozenset(FieldType),
}


@dataclass
class _Context:
    """Where we are in the file, and the problems found so far."""

    source: str
    fields: Mapping[str, FieldType] | None  # None: fields.yaml did not load, so not known
    problems: list[Problem] = field(default_factory=list)

    def error(self, where: str, message: str, node: object = None, *, key: object = None) -> None:
        """Record an error at `key`'s line in `node` when a key is named, else `node`'s."""
        line = line_of_key(node, key) if key is not None else line_of(node)
        self.problems.append(Problem(self.source, where, message, line))

    def name(self, node: object, where: str) -> None:
        """Give problems the loader found inside `node` (duplicate keys) their full path."""
        line = line_of(node)
        self.problems[:] = [
            replace(p, where=where) if line is not None and p.anchor == line else p
            for p in self.problems
        ]

    def warn(self, where: str, message: str, node: object = None) -> None:
        self.problems.append(Problem(self.source, where, message, line_of(node), warning=True))


def parse_icp(
    text: str,
    *,
    source: str,
    fields: Mapping[str, FieldType] | None,
    today: date | None = None,
) -> tuple[Icp, list[Problem]]:
    """The validated ICP and its warnings; raises ConfigError listing every error.

    `fields`: every field a criterion may test, with its type; None when fields.yaml did
    not load, and then field names and types go unchecked (rather than every criterion
    reporting its field unknown), since that file's own problem is what to fix first."""
    data, problems = load_yaml(text, source)
    ctx = _Context(source, fields, problems)
    icp = _icp(data, ctx, today) if isinstance(data, dict) else None
    if data is not None and not isinstance(data, dict):
        ctx.error("", "the file must be a mapping with version, tiers and profiles")
    elif data is None and not problems:
        ctx.error("", "the file is empty")
    if icp is None or any(not p.warning for p in ctx.problems):
        raise ConfigError(ctx.problems)
    return icp, ctx.problems


def _icp(data: dict[str, Any], ctx: _Context, today: date | None) -> Icp | None:
    meant = _unknown_keys(data, _TOP_KEYS, "", ctx)
    version = _version(data, ctx, meant)
    reviewed_on = _reviewed_on(data, ctx, today)
    tiers = _tiers(data.get("tiers"), ctx)
    profiles = _profiles(data.get("profiles"), tiers, ctx, misspelt="profiles" in meant)
    disqualify = _disqualifiers(data.get("disqualify"), "disqualify", ctx)
    persona = _persona(data.get("persona"), ctx)
    if version is None or not profiles:
        return None
    return Icp(version, reviewed_on, tiers, tuple(profiles), disqualify, persona)


def _version(data: dict[str, Any], ctx: _Context, meant: frozenset[str]) -> int | None:
    version = data.get("version")
    if isinstance(version, int) and not isinstance(version, bool) and version > 0:
        return version
    if _misspelt(data, "version", meant):
        return None
    ctx.error("version", "must be a positive whole number, bumped on every change", data)
    return None


def _reviewed_on(data: dict[str, Any], ctx: _Context, today: date | None) -> date | None:
    reviewed = data.get("reviewed_on")
    if reviewed is None:
        ctx.warn("reviewed_on", "missing: record when RevOps last reviewed this ICP", data)
        return None
    if isinstance(reviewed, str):  # quoted, as tools that write YAML often do
        try:
            reviewed = date.fromisoformat(reviewed.strip())
        except ValueError:
            pass
    if not isinstance(reviewed, date) or isinstance(reviewed, datetime):
        ctx.error("reviewed_on", f"{reviewed!r} is not a date like 2026-10-01", data)
        return None
    if today is not None and today - reviewed > REVIEW_MAX_AGE:
        age = (today - reviewed).days
        ctx.warn("reviewed_on", f"last reviewed {age} days ago; recalibrate quarterly", data)
    return reviewed


def _tiers(raw: object, ctx: _Context) -> Tiers:
    if raw is None:
        return Tiers()
    if not isinstance(raw, dict):
        ctx.error("tiers", "must be a mapping like {A: 80, B: 60, C: 40}")
        return Tiers()
    _unknown_keys(raw, {"A", "B", "C"}, "tiers", ctx)
    values = [raw.get(k, d) for k, d in (("A", 80), ("B", 60), ("C", 40))]
    if not all(_is_number(v) and 0 < v <= 100 for v in values):
        ctx.error("tiers", "every tier minimum must be a number from 1 to 100", raw)
        return Tiers()
    a, b, c = (int(v) for v in values)
    if not a > b > c:
        ctx.error("tiers", f"minimums must fall from A to C (got A {a}, B {b}, C {c})", raw)
    return Tiers(a, b, c)


def _profiles(raw: object, tiers: Tiers, ctx: _Context, *, misspelt: bool) -> list[Profile]:
    if raw is None and misspelt:
        return []  # the misspelt key is the problem, already reported
    if not isinstance(raw, list) or not raw:
        ctx.error("profiles", "at least one profile is required")
        return []
    if len(raw) > MAX_PROFILES:
        message = f"{len(raw)} profiles; at most {MAX_PROFILES} are supported"
        ctx.error("profiles", message, raw[MAX_PROFILES])
    profiles = [p for i, item in enumerate(raw) if (p := _profile(item, i, tiers, ctx))]
    _duplicates(raw, "profiles", ctx)
    return profiles


def _profile(raw: object, index: int, tiers: Tiers, ctx: _Context) -> Profile | None:
    if not isinstance(raw, dict):
        ctx.error(f"profiles[{index}]", "must be a mapping with id, name and criteria")
        return None
    meant = _meant(raw, _PROFILE_KEYS)
    profile_id = _identifier(raw, f"profiles[{index}]", ctx, meant)
    where = profile_id or f"profiles[{index}]"
    _unknown_keys(raw, _PROFILE_KEYS, where, ctx)
    name = raw.get("name", profile_id)
    if not isinstance(name, str) or not name.strip():
        ctx.error(where, "name must be text", raw)
    raw_criteria = raw.get("criteria")
    if not isinstance(raw_criteria, list) or not raw_criteria:
        if not _misspelt(raw, "criteria", meant):
            ctx.error(where, "criteria: at least one criterion is required", raw)
        raw_criteria = []
    criteria = _criteria(raw_criteria, where, ctx, layered=True)
    raw_dq = raw.get("disqualify")
    disqualify = _disqualifiers(raw_dq, f"{where}/disqualify", ctx)
    _duplicates(raw_criteria, where, ctx, others=raw_dq if isinstance(raw_dq, list) else [])
    if criteria and not any(c.weight > 0 for c in criteria):
        ctx.error(where, "no criterion has a positive weight, so every score is 0", raw)
    if profile_id is None:
        return None
    profile = Profile(profile_id, str(name), tuple(criteria), disqualify)
    if criteria:  # none valid: the reason is reported, and a reach of 0 would only repeat it
        _check_reach(profile, tiers, ctx, raw)
    return profile


def _criteria(
    raw: Iterable[object], where: str, ctx: _Context, *, layered: bool
) -> list[Criterion]:
    return [c for i, item in enumerate(raw) if (c := _criterion(item, i, where, ctx, layered))]


def _criterion(
    raw: object, index: int, parent: str, ctx: _Context, layered: bool
) -> Criterion | None:
    if not isinstance(raw, dict):
        ctx.error(f"{parent}[{index}]", "a criterion must be a mapping")
        return None
    allowed = _CRITERION_KEYS | set(OPERATORS)
    meant = _meant(raw, allowed)
    criterion_id = _identifier(raw, f"{parent}[{index}]", ctx, meant)
    where = f"{parent}/{criterion_id or f'[{index}]'}"
    ctx.name(raw, where)
    _unknown_keys(raw, allowed, where, ctx)
    condition = _condition(raw, where, ctx, meant)
    weight = _weight(raw, where, ctx, meant)
    why = _why(raw, where, ctx, meant)
    layer = _layer(raw, where, ctx, weight, required=layered and not _misspelt(raw, "layer", meant))
    if criterion_id is None or condition is None or weight is None or why is None:
        return None
    return Criterion(criterion_id, condition, weight, why, layer)


def _disqualifiers(raw: object, where: str, ctx: _Context) -> tuple[Disqualifier, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        ctx.error(where, "must be a list of disqualifiers")
        return ()
    found = [d for i, item in enumerate(raw) if (d := _disqualifier(item, i, where, ctx))]
    _duplicates(raw, where, ctx)
    return tuple(found)


def _disqualifier(raw: object, index: int, parent: str, ctx: _Context) -> Disqualifier | None:
    if not isinstance(raw, dict):
        ctx.error(f"{parent}[{index}]", "a disqualifier must be a mapping")
        return None
    allowed = _DISQUALIFIER_KEYS | {"weight"} | set(OPERATORS)
    meant = _meant(raw, allowed)
    dq_id = _identifier(raw, f"{parent}[{index}]", ctx, meant)
    where = f"{parent}/{dq_id or f'[{index}]'}"
    ctx.name(raw, where)
    if "weight" in raw:
        ctx.error(where, "a disqualifier has no weight: it overrides the score", raw, key="weight")
    _unknown_keys(raw, allowed, where, ctx)
    condition = _condition(raw, where, ctx, meant)
    why = _why(raw, where, ctx, meant)
    if dq_id is None or condition is None or why is None:
        return None
    return Disqualifier(dq_id, condition, why)


def _persona(raw: object, ctx: _Context) -> tuple[Criterion, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        ctx.error("persona", "must be a list of criteria")
        return ()
    criteria = _criteria(raw, "persona", ctx, layered=False)
    _duplicates(raw, "persona", ctx)
    if criteria and not any(c.weight > 0 for c in criteria):
        ctx.error("persona", "no persona criterion has a positive weight")
    return tuple(criteria)


def _identifier(
    raw: dict[str, Any], where: str, ctx: _Context, meant: frozenset[str]
) -> str | None:
    value = raw.get("id")
    if isinstance(value, str) and re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", value):
        return value
    if _misspelt(raw, "id", meant):
        return None
    ctx.error(where, f"id {value!r} must be a word like 'headcount' (letters, digits, - _ .)", raw)
    return None


def _weight(raw: dict[str, Any], where: str, ctx: _Context, meant: frozenset[str]) -> int | None:
    weight = raw.get("weight")
    if isinstance(weight, int) and not isinstance(weight, bool) and weight != 0:
        return weight
    if _misspelt(raw, "weight", meant):
        return None
    ctx.error(where, f"weight {weight!r} must be a non-zero whole number", raw)
    return None


def _why(raw: dict[str, Any], where: str, ctx: _Context, meant: frozenset[str]) -> str | None:
    why = raw.get("why")
    if isinstance(why, str) and why.strip():
        return why.strip()
    if _misspelt(raw, "why", meant):
        return None
    ctx.error(where, "why is missing: every criterion needs the business reason SDRs will see", raw)
    return None


def _layer(
    raw: dict[str, Any], where: str, ctx: _Context, weight: int | None, *, required: bool
) -> str | None:
    layer = raw.get("layer")
    if layer is None:
        if required:
            ctx.error(where, f"layer is missing: one of {', '.join(LAYERS)}", raw)
        return None
    if layer not in LAYERS:
        ctx.error(where, f"unknown layer {layer!r}{did_you_mean(layer, LAYERS)}", raw)
        return None
    if weight is not None and (layer == "negative") != (weight < 0):
        ctx.error(where, "negative criteria need a negative weight, and only they", raw)
    return str(layer)


def _condition(
    raw: dict[str, Any], where: str, ctx: _Context, meant: frozenset[str]
) -> Condition | None:
    """The criterion's one operator on its field; a misspelt operator or `field` key has
    been reported as such, so its absence is not reported again."""
    operators = [k for k in raw if k in OPERATORS]
    if not operators and meant & set(OPERATORS):
        return None
    if len(operators) != 1:
        found = ", ".join(operators) if operators else "none"
        ctx.error(where, f"needs exactly one operator (found {found})", raw)
        return None
    if _misspelt(raw, "field", meant):
        return None
    field_name = raw.get("field")
    known = ctx.fields
    if not isinstance(field_name, str) or (known is not None and field_name not in known):
        hint = did_you_mean(str(field_name), known or ())
        ctx.error(
            where, f"unknown field {field_name!r}{hint} (custom fields go in fields.yaml)", raw
        )
        return None
    operator = operators[0]
    operand = raw[operator]
    field_type = known[field_name] if known is not None else None
    if field_type is not None and field_type not in _OPERATOR_TYPES[operator]:
        ctx.error(where, _type_message(operator, field_name, field_type), raw)
        return None
    message = _operand_problem(operator, operand, field_type)
    if message:
        ctx.error(where, f"{operator}: {message}", raw)
        return None
    return Condition(field_name, operator, _freeze(operand), field_type is FieldType.LIST)


def _type_message(operator: str, field_name: str, field_type: FieldType) -> str:
    hint = " (use contains_any)" if field_type is FieldType.LIST else ""
    return f"operator {operator!r} does not apply to {field_name}, a {field_type} field{hint}"


def _operand_problem(operator: str, operand: object, field_type: FieldType | None) -> str | None:
    """What is wrong with an operator's value, or None."""
    if operator in ("in", "not_in", "contains_any", "contains_all"):
        if not isinstance(operand, list) or not operand:
            return "needs a non-empty list"
        if not all(isinstance(v, _SCALAR) and not isinstance(v, bool) for v in operand):
            return "list items must be text or numbers"
        return None
    if operator == "between":
        if not (isinstance(operand, list) and len(operand) == 2 and all(map(_is_number, operand))):
            return "needs two numbers, [low, high]"
        return None if operand[0] <= operand[1] else f"low {operand[0]} is above high {operand[1]}"
    if operator in ("gte", "lte"):
        return None if _is_number(operand) else "needs a number"
    if operator == "within_days":
        ok = isinstance(operand, int) and not isinstance(operand, bool) and operand > 0
        return None if ok else "needs a positive whole number of days"
    if operator == "exists":
        return None if isinstance(operand, bool) else "needs true or false"
    if operator == "matches":
        return _regex_problem(operand)
    return _equals_problem(operand, field_type)


def _regex_problem(operand: object) -> str | None:
    if not isinstance(operand, str) or not operand:
        return "needs a regular expression as text"
    try:
        re.compile(operand)
    except re.error as exc:
        return f"bad regular expression {operand!r}: {exc}"
    return None


def _equals_problem(operand: object, field_type: FieldType | None) -> str | None:
    if field_type is FieldType.BOOLEAN and not isinstance(operand, bool):
        return "needs true or false on a boolean field"
    if field_type is FieldType.NUMBER and not _is_number(operand):
        return "needs a number on a number field"
    if isinstance(operand, list | dict) or operand is None:
        return "needs a single value (use in for a list)"
    return None


def _check_reach(profile: Profile, tiers: Tiers, ctx: _Context, node: object) -> None:
    best = max_score(profile.criteria)
    if best < tiers.a:
        reason = unreachable_reason(profile.criteria)
        message = f"can score at most {best}, below tier A ({tiers.a}){reason}"
        ctx.error(profile.id, message, node)


def _unknown_keys(
    raw: dict[str, Any], allowed: set[str], where: str, ctx: _Context
) -> frozenset[str]:
    """Report each key `raw` may not have, at its own line, with the key it was probably
    meant to be; return those meant keys (see `_meant`)."""
    operators = allowed >= set(OPERATORS)
    for key in raw:
        if key not in allowed:
            ctx.error(where, _unknown_key_message(key, allowed, operators=operators), raw, key=key)
    return _meant(raw, allowed)


def _unknown_key_message(key: object, allowed: set[str], *, operators: bool) -> str:
    if not operators:
        return not_a_key(key, allowed)
    if closest(key, allowed) is None:
        return f"{key!r} is not an operator or key — the operators are {', '.join(OPERATORS)}"
    return not_a_key(key, allowed, what="an operator or key")


def _meant(raw: dict[str, Any], allowed: set[str]) -> frozenset[str]:
    """The allowed keys that unknown keys of `raw` look like misspellings of (`inn` for
    `in`, `why:` for `why`): their absence is the same mistake, not a second one."""
    meant = (closest(key, allowed) for key in raw if key not in allowed)
    return frozenset(key for key in meant if key is not None)


def _misspelt(raw: dict[str, Any], key: str, meant: frozenset[str]) -> bool:
    """`key` is missing only because it was misspelt, a problem already reported."""
    return key not in raw and key in meant


def _duplicates(
    items: Iterable[object], where: str, ctx: _Context, *, others: Iterable[object] = ()
) -> None:
    """Ids used twice among `items`, or used in `items` again by `others` (checked on their own)."""
    seen: set[str] = set()
    for item in items:
        item_id = item.get("id") if isinstance(item, dict) else None
        if isinstance(item_id, str) and item_id in seen:
            ctx.error(f"{where}/{item_id}", f"duplicate id {item_id!r}", item)
        if isinstance(item_id, str):
            seen.add(item_id)
    for item in others:
        item_id = item.get("id") if isinstance(item, dict) else None
        if isinstance(item_id, str) and item_id in seen:
            ctx.error(
                f"{where}/{item_id}", f"duplicate id {item_id!r}: a criterion has it too", item
            )


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _freeze(operand: object) -> object:
    return tuple(operand) if isinstance(operand, list) else operand
