"""Real scores for storage tests: a small ICP run through the real engine."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime

from integrations.records import CrmRecord, RecordKind
from scoring.engine import Scorer
from scoring.fields import known_fields
from scoring.result import AccountScore, PersonaResult
from scoring.validation import parse_icp

NOW = datetime(2026, 11, 2, 9, 30, tzinfo=UTC)

ICP_YAML = """\
version: 3
reviewed_on: 2026-10-01
tiers: {A: 80, B: 60, C: 40}
profiles:
  - id: saas
    name: B2B SaaS
    criteria:
      - id: industry
        layer: firmographic
        field: industry
        in: [software, saas]
        weight: 40
        why: Our playbooks fit SaaS.
      - id: headcount
        layer: firmographic
        field: employees
        between: [200, 800]
        weight: 30
        why: Big enough to need routing.
      - id: crm
        layer: technographic
        field: technologies
        contains_any: [hubspot]
        weight: 30
        why: Native integration.
disqualify:
  - id: customer
    field: lifecycle_stage
    equals: customer
    why: Already a customer.
persona:
  - id: revenue-leader
    field: job_title
    matches: '(?i)\\b(vp|head)\\b.*\\b(sales|revenue)\\b'
    weight: 60
    why: Owns the number.
  - id: senior
    field: seniority
    in: [executive, director]
    weight: 40
    why: Can sign.
"""

ICP, _WARNINGS = parse_icp(
    ICP_YAML, source="icp.yaml", fields=known_fields(), today=date(2026, 11, 1)
)
SCORER = Scorer(ICP)


def company(domain: str, **fields: object) -> dict[str, object]:
    return {"domain": domain, "name": domain.split(".")[0].title(), **fields}


def account_record(domain: str, *, crm: str = "hubspot", **fields: object) -> CrmRecord:
    return CrmRecord(
        RecordKind.ACCOUNT,
        crm,
        f"id-{domain}",
        company(domain, **fields),
        f"https://crm.example/{domain}",
    )


def score_account(fields: Mapping[str, object], *, now: datetime = NOW) -> AccountScore:
    return SCORER.score_account(fields, now)


def score_persona(fields: Mapping[str, object], *, now: datetime = NOW) -> PersonaResult:
    persona = SCORER.score_persona(fields, now)
    assert persona is not None
    return persona


# A-tier (100), B-tier (70), D-tier (30), DQ (a customer scoring 100).
BEST = company("best.io", industry="saas", employees=400, technologies=["hubspot"])
GOOD = company("good.io", industry="software", employees=300, technologies=["salesforce"])
POOR = company("poor.io", industry="retail", employees=5000, technologies=["hubspot"])
CUSTOMER = company(
    "customer.io",
    industry="saas",
    employees=400,
    technologies=["hubspot"],
    lifecycle_stage="customer",
)
