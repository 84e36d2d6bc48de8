"""Real scores for storage tests: a small ICP run through the real engine, stored
the way production stores records and scores, then read back."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime

from sqlmodel import Session, col, select

from bot.store import repo
from bot.store.tables import Account, Contact, Score, Subject
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


def stored_account(db: Session, record: CrmRecord, *, now: datetime = NOW) -> Account:
    """`record` upserted as a sync batch upserts it (`repo.upsert_accounts`), read back."""
    repo.upsert_accounts(session=db, records=[record], now=now)
    db.expire_all()  # the upsert bypasses the ORM: read the row as stored now
    account = repo.get_account(session=db, domain=str(record.domain))
    assert account is not None
    return account


def stored_contact(db: Session, record: CrmRecord, *, now: datetime = NOW) -> Contact:
    """`record` upserted as a sync batch upserts it (`repo.upsert_contacts`), read back."""
    repo.upsert_contacts(session=db, records=[record], now=now)
    db.expire_all()
    contact = repo.get_contact(session=db, email=str(record.key).strip().lower())
    assert contact is not None
    return contact


def stored_score(
    db: Session,
    *,
    subject: Subject | str,
    key: str,
    result: AccountScore | None,
    snapshot: Mapping[str, object],
    persona: PersonaResult | None = None,
    icp_version: int | None = None,
    scored_at: datetime | None = None,
) -> Score:
    """One audit-trail row appended as tagging appends it (`repo.score_row`, then
    `repo.save_scores`), read back: the row with the highest id is the one just inserted."""
    row = repo.score_row(
        subject=subject,
        key=key,
        result=result,
        snapshot=snapshot,
        persona=persona,
        icp_version=icp_version,
        scored_at=scored_at,
    )
    repo.save_scores(session=db, rows=[row])
    newest = db.exec(select(Score).order_by(col(Score.id).desc()).limit(1)).one()
    assert (newest.subject, newest.subject_key) == (row["subject"], row["subject_key"])
    return newest
