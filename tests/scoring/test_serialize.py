"""Scores as JSON-ready data: the store's full form round-trips, and SPEC §9's summary line."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from scoring.engine import Scorer
from scoring.explain import explain_lines
from scoring.result import AccountScore
from scoring.serialize import (
    account_score_from_dict,
    account_score_to_dict,
    persona_from_dict,
    persona_to_dict,
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


@pytest.mark.parametrize("record", RECORDS)
def test_round_trip_gives_the_same_score(record: dict[str, object]) -> None:
    original = score(record)
    restored = account_score_from_dict(account_score_to_dict(original))
    assert restored == original


@pytest.mark.parametrize("record", RECORDS)
def test_round_trip_through_json_text(record: dict[str, object]) -> None:
    data = account_score_to_dict(score(record))
    again = account_score_to_dict(account_score_from_dict(json.loads(json.dumps(data))))
    assert again == data


@pytest.mark.parametrize("record", RECORDS)
def test_round_trip_explains_the_same(record: dict[str, object]) -> None:
    original = score(record)
    restored = account_score_from_dict(json.loads(json.dumps(account_score_to_dict(original))))
    assert explain_lines(restored) == explain_lines(original)
    assert restored.reasons == original.reasons
    assert restored.scored_at == NOW


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
    original = Scorer(icp).score_account({"last_funding_at": NOW - timedelta(days=30)}, NOW)
    data = json.loads(json.dumps(account_score_to_dict(original)))
    assert explain_lines(account_score_from_dict(data)) == explain_lines(original)


@pytest.mark.parametrize(
    ("record", "coverage"),
    [
        pytest.param({"industry": "software"}, 0.5, id="half known"),
        pytest.param({"industry": "software", "employees": 90}, 0.8, id="four fifths known"),
    ],
)
def test_coverage_survives_as_a_fraction(record: dict[str, object], coverage: float) -> None:
    restored = account_score_from_dict(account_score_to_dict(score(record)))
    assert restored.coverage == pytest.approx(coverage)


def test_persona_round_trip() -> None:
    persona = SCORER.score_persona({"job_title": "VP Sales", "seniority": "vp"}, NOW)
    assert persona is not None
    assert persona_from_dict(json.loads(json.dumps(persona_to_dict(persona)))) == persona


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
