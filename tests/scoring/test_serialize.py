"""Scores as JSON-ready data: the store's compact form round-trips, and SPEC §9's summary line."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from scoring.engine import Scorer
from scoring.explain import explain_lines
from scoring.result import AccountScore, PersonaResult
from scoring.serialize import (
    Catalogue,
    catalogue_from_dict,
    catalogue_to_dict,
    compact_account,
    compact_persona,
    expand_account,
    expand_persona,
    summary,
)
from tests.scoring.support import NOW, build_icp

ICP = """\
version: 4
reviewed_on: 2026-09-01
profiles:
  - id: saas
    name: SaaS
    criteria:
      - {id: industry, layer: firmographic, field: industry, in: [software], weight: 50, why: a.}
      - {id: headcount, layer: firmographic, field: employees, between: [200, 800], weight: 30,
         why: b.}
      - {id: crm, layer: technographic, field: technologies, contains_any: [hubspot], weight: 20,
         why: c.}
      - {id: public, layer: negative, field: funding_stage, equals: grant, weight: -10, why: d.}
    disqualify:
      - {id: too-small, field: employees, lte: 20, why: Too small.}
  - id: other
    name: Other
    criteria:
      - {id: country, layer: firmographic, field: country, in: [US], weight: 10, why: e.}
disqualify:
  - {id: customer, field: lifecycle_stage, equals: customer, why: Already a customer.}
persona:
  - {id: leader, field: job_title, matches: '(?i)vp', weight: 60, why: Buyer.}
  - {id: senior, field: seniority, in: [vp], weight: 40, why: Budget.}
"""
SCORER = Scorer(build_icp(ICP))

RECORDS = [
    pytest.param(
        {"industry": "software", "employees": 450, "technologies": ["hubspot"]},
        id="clean A, everything known",
    ),
    pytest.param({"industry": "software", "employees": 450}, id="one criterion unknown"),
    pytest.param(
        {"industry": "software", "employees": 450, "funding_stage": "grant"}, id="with a penalty"
    ),
    pytest.param(
        {"industry": "software", "employees": 450, "lifecycle_stage": "customer"},
        id="top-level DQ",
    ),
    pytest.param({"industry": "software", "employees": 5, "country": "US"}, id="profile DQ"),
    pytest.param({}, id="empty record"),
]


def score(record: dict[str, object]) -> AccountScore:
    return SCORER.score_account(record, NOW)


def stored_catalogue(scorer: Scorer) -> Catalogue:
    """The ICP version's catalogue as the store keeps it: JSON text."""
    return catalogue_from_dict(json.loads(json.dumps(catalogue_to_dict(scorer.catalogue()))))


def restored(original: AccountScore, scorer: Scorer = SCORER) -> AccountScore:
    """The score as the audit trail keeps it (compact JSON text) and reads it back."""
    data = json.loads(json.dumps(compact_account(original)))
    return expand_account(data, stored_catalogue(scorer))


def restored_persona(original: PersonaResult) -> PersonaResult:
    data = json.loads(json.dumps(compact_persona(original)))
    return expand_persona(data, stored_catalogue(SCORER))


@pytest.mark.parametrize("record", RECORDS)
def test_round_trip_gives_the_same_score(record: dict[str, object]) -> None:
    original = score(record)
    assert restored(original) == original


@pytest.mark.parametrize("record", RECORDS)
def test_round_trip_through_json_text(record: dict[str, object]) -> None:
    data = compact_account(score(record))
    again = compact_account(expand_account(json.loads(json.dumps(data)), SCORER.catalogue()))
    assert again == data


@pytest.mark.parametrize("record", RECORDS)
def test_round_trip_explains_the_same(record: dict[str, object]) -> None:
    original = score(record)
    restored_score = restored(original)
    assert explain_lines(restored_score) == explain_lines(original)
    assert restored_score.reasons == original.reasons
    assert restored_score.scored_at == NOW


def test_round_trip_keeps_a_date_valued_criterion_readable() -> None:
    icp = build_icp(
        """\
        version: 1
        reviewed_on: 2026-09-01
        profiles:
          - id: p
            name: P
            criteria:
              - {id: funding, layer: behavioral, field: last_funding_at, within_days: 365,
                 weight: 10, why: Fresh budget.}
        """
    )
    scorer = Scorer(icp)
    original = scorer.score_account({"last_funding_at": NOW - timedelta(days=30)}, NOW)
    assert explain_lines(restored(original, scorer)) == explain_lines(original)


@pytest.mark.parametrize(
    ("record", "coverage"),
    [
        pytest.param({"industry": "software"}, 0.5, id="half known"),
        pytest.param({"industry": "software", "employees": 90}, 0.8, id="four fifths known"),
    ],
)
def test_coverage_survives_as_a_fraction(record: dict[str, object], coverage: float) -> None:
    assert restored(score(record)).coverage == pytest.approx(coverage)


def test_persona_round_trip() -> None:
    persona = SCORER.score_persona({"job_title": "VP Sales", "seniority": "vp"}, NOW)
    assert persona is not None
    assert restored_persona(persona) == persona


# --- SPEC §9: `icpbot score --json`, one object a line ---

SUMMARY_KEYS = {"domain", "score", "tier", "profile", "coverage", "disqualified_by", "criteria"}


@pytest.mark.parametrize("record", RECORDS)
def test_summary_has_exactly_the_spec_keys(record: dict[str, object]) -> None:
    line = summary(score(record), domain="acme.com")
    assert set(line) == SUMMARY_KEYS
    assert all(set(item) == {"id", "status", "points"} for item in line["criteria"])
    assert {item["status"] for item in line["criteria"]} <= {"matched", "missed", "unknown"}
    assert 0.0 <= line["coverage"] <= 1.0
    assert json.loads(json.dumps(line)) == line


@pytest.mark.parametrize(
    ("record", "expected"),
    [
        pytest.param(
            {"industry": "software", "employees": 450},
            {
                "domain": "acme.com",
                "score": 80,
                "tier": "A",
                "profile": "saas",
                "coverage": 0.8,
                "disqualified_by": None,
                "criteria": [
                    {"id": "industry", "status": "matched", "points": 50.0},
                    {"id": "headcount", "status": "matched", "points": 30.0},
                    {"id": "crm", "status": "unknown", "points": 0.0},
                    {"id": "public", "status": "unknown", "points": 0.0},
                ],
            },
            id="A with one unknown",
        ),
        pytest.param(
            {
                "industry": "Software",
                "employees": 900,
                "technologies": "hubspot",
                "funding_stage": "Grant",
                "lifecycle_stage": "customer",
            },
            {
                "domain": "acme.com",
                "score": 60,
                "tier": "DQ",
                "profile": "saas",
                "coverage": 1.0,
                "disqualified_by": "customer",
                "criteria": [
                    {"id": "industry", "status": "matched", "points": 50.0},
                    {"id": "headcount", "status": "missed", "points": 0.0},
                    {"id": "crm", "status": "matched", "points": 20.0},
                    {"id": "public", "status": "matched", "points": -10.0},
                ],
            },
            id="DQ: score kept, first disqualifier named",
        ),
    ],
)
def test_summary_line(record: dict[str, object], expected: dict[str, object]) -> None:
    assert summary(score(record), domain="acme.com") == expected


def test_summary_without_a_domain() -> None:
    assert summary(score({}))["domain"] is None
