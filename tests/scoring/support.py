"""Helpers for the scoring tests: small ICPs written as inline YAML, a fixed clock.

Every ICP goes through `parse_icp`, the path a real `icp.yaml` takes, so a
test can never build a model the validator would have refused.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from textwrap import dedent, indent

from scoring.engine import Scorer
from scoring.fields import FieldType, known_fields
from scoring.model import Icp
from scoring.result import AccountScore, CriterionResult
from scoring.validation import parse_icp

NOW = datetime(2026, 10, 1, 12, 0, tzinfo=UTC)
TODAY = NOW.date()

# The custom fields the shipped fields.yaml declares.
CUSTOM_FIELDS: Mapping[str, FieldType] = {
    "sales_motion": FieldType.STRING,
    "has_revops": FieldType.BOOLEAN,
    "sdr_count": FieldType.NUMBER,
    "sdr_hiring_posted_at": FieldType.DATE,
    "new_exec_at": FieldType.DATE,
}
FIELDS = known_fields(CUSTOM_FIELDS)


def build_icp(text: str, *, fields: Mapping[str, FieldType] = FIELDS) -> Icp:
    """An ICP from inline YAML, validated as `icpbot check` would."""
    icp, _warnings = parse_icp(dedent(text), source="icp.yaml", fields=fields, today=TODAY)
    return icp


def one_criterion_icp(field: str, rule: str) -> Icp:
    """A one-profile, one-criterion ICP: `rule` is the operator line, e.g. `gte: 10`."""
    return build_icp(
        f"""\
        version: 1
        reviewed_on: 2026-09-01
        profiles:
          - id: only
            name: Only
            criteria:
              - id: rule
                layer: firmographic
                field: {field}
                {rule}
                weight: 10
                why: Under test.
        """
    )


def evaluate(field: str, rule: str, record: Mapping[str, object]) -> CriterionResult:
    """The one criterion's result for `record`, scored through the Scorer at NOW."""
    score = Scorer(one_criterion_icp(field, rule)).score_account(record, NOW)
    (result,) = score.criteria
    return result


# The profile a persona-only test still needs: an ICP has at least one profile.
_FILLER = indent(
    "- id: known\n  layer: firmographic\n  field: domain\n  exists: true\n"
    "  weight: 1\n  why: Filler.\n",
    " " * 6,
)


def flags_icp(
    weights: Mapping[str, int], *, persona: bool = False, tiers: str = "{A: 80, B: 60, C: 40}"
) -> Icp:
    """One profile (or the persona) of `<name> equals true` criteria on boolean fields.

    Negative weights get the negative layer, as validation requires.
    """
    fields = known_fields(dict.fromkeys(weights, FieldType.BOOLEAN))
    lines = []
    for name, weight in weights.items():
        layer = "negative" if weight < 0 else "firmographic"
        lines.append(
            f"- id: {name}\n  layer: {layer}\n  field: {name}\n"
            f"  equals: true\n  weight: {weight}\n  why: Because {name}.\n"
        )
    criteria = indent("".join(lines), " " * 6)
    if persona:
        body = f"profiles:\n  - id: base\n    name: Base\n    criteria:\n{_FILLER}persona:\n"
        body += indent("".join(lines), "  ")
    else:
        body = f"profiles:\n  - id: flags\n    name: Flags\n    criteria:\n{criteria}"
    text = f"version: 1\nreviewed_on: 2026-09-01\ntiers: {tiers}\n" + body
    return build_icp(text, fields={**FIELDS, **fields})


def flags_record(outcomes: Mapping[str, bool | None]) -> dict[str, object]:
    """True → matched, False → missed, None → the field is missing (unknown)."""
    return {name: value for name, value in outcomes.items() if value is not None}


def score_flags(weights: Mapping[str, int], outcomes: Mapping[str, bool | None]) -> AccountScore:
    return Scorer(flags_icp(weights)).score_account(flags_record(outcomes), NOW)
