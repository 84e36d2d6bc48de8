"""Accounts, contacts and deals: upserts by natural key, lookups, search.

Accounts and people are upserted as sync stores them (`repo.upsert_accounts`,
`repo.upsert_contacts`) and read back."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlmodel import Session

from bot.store import repo
from bot.store.tables import DealStage
from integrations.records import CrmRecord, RecordKind
from tests.bot.store.factories import NOW, account_record, stored_account, stored_contact

pytestmark = pytest.mark.db

LATER = NOW + timedelta(days=3)


def person(email: str, *, kind: RecordKind = RecordKind.CONTACT, **fields: object) -> CrmRecord:
    return CrmRecord(kind, "hubspot", f"c-{email}", {"email": email, **fields}, None)


def test_upsert_accounts_inserts_then_updates_by_domain(db_session: Session) -> None:
    first = stored_account(
        db_session, account_record("acme.com", employees=120, created_at=date(2025, 3, 1)), now=NOW
    )
    assert (first.domain, first.name, first.crm, first.crm_id) == (
        "acme.com",
        "Acme",
        "hubspot",
        "id-acme.com",
    )
    assert first.fields["employees"] == 120
    assert first.crm_created_at == datetime(2025, 3, 1, tzinfo=UTC)
    assert first.url == "https://crm.example/acme.com"

    second = stored_account(
        db_session,
        account_record("acme.com", employees=450, owner_id="42", name="Acme Inc"),
        now=LATER,
    )
    assert second.id == first.id
    assert (second.name, second.owner_id, second.fields["employees"]) == ("Acme Inc", "42", 450)
    assert second.first_seen_at == NOW
    assert second.updated_at == LATER
    assert repo.counts(session=db_session)["accounts"] == 1


def test_account_fields_are_stored_as_json_values(db_session: Session) -> None:
    record = account_record(
        "json.io",
        technologies=["hubspot", "slack"],
        last_funding_at=date(2026, 5, 1),
        annual_revenue=12.5e6,
    )
    repo.upsert_accounts(session=db_session, records=[record], now=NOW)
    db_session.expire_all()
    account = repo.get_account(session=db_session, domain="json.io")
    assert account is not None
    assert account.fields["technologies"] == ["hubspot", "slack"]
    assert account.fields["last_funding_at"] == "2026-05-01"
    assert account.fields["annual_revenue"] == 12.5e6


def test_fields_encoded_ahead_are_stored_as_the_engine_would_store_them(
    db_session: Session,
) -> None:
    """Tagging encodes a record's fields once, for its row and its audit row (`Snapshot`)."""
    record = account_record(
        "ahead.io", technologies=["hubspot"], last_funding_at=date(2026, 5, 1), employees=40
    )
    snapshot = repo.Snapshot.of(record.fields, 3)
    ahead = repo.account_values(record, NOW, snapshot=snapshot)
    repo.upsert_account_rows(session=db_session, rows=[ahead])
    db_session.expire_all()
    stored = repo.get_account(session=db_session, domain="ahead.io")
    assert stored is not None
    fields = dict(stored.fields)
    assert stored_account(db_session, record).fields == fields  # stored again, the engine's way
    assert fields["last_funding_at"] == "2026-05-01" and fields["technologies"] == ["hubspot"]
    assert snapshot.digest == repo.input_hash(record.fields, 3)


def test_upsert_accounts_refuses_records_without_a_domain(db_session: Session) -> None:
    record = CrmRecord(RecordKind.ACCOUNT, "hubspot", "1", {"name": "Nameless"})
    with pytest.raises(ValueError, match="domain"):
        repo.upsert_accounts(session=db_session, records=[record], now=NOW)


def test_upsert_accounts_refuses_an_unknown_crm(db_session: Session) -> None:
    with pytest.raises(ValueError):
        repo.upsert_accounts(
            session=db_session, records=[account_record("x.com", crm="pipedrive")], now=NOW
        )


def test_get_account_ignores_case_and_whitespace(db_session: Session) -> None:
    repo.upsert_accounts(session=db_session, records=[account_record("acme.com")], now=NOW)
    found = repo.get_account(session=db_session, domain="  ACME.com ")
    assert found is not None and found.domain == "acme.com"
    assert repo.get_account(session=db_session, domain="other.com") is None


def test_upsert_contacts_by_email_links_the_account_domain(db_session: Session) -> None:
    first = stored_contact(db_session, person("dana@acme.com", job_title="VP Sales"), now=NOW)
    assert (first.email, first.account_domain, first.kind) == (
        "dana@acme.com",
        "acme.com",
        "contact",
    )
    again = stored_contact(db_session, person("dana@acme.com", job_title="CRO"), now=LATER)
    assert again.id == first.id
    assert again.fields["job_title"] == "CRO"
    assert (again.first_seen_at, again.updated_at) == (NOW, LATER)


def test_free_mail_contacts_belong_to_no_account(db_session: Session) -> None:
    lead = stored_contact(db_session, person("sam@gmail.com", kind=RecordKind.LEAD), now=NOW)
    assert (lead.account_domain, lead.kind) == (None, "lead")


def test_upsert_contacts_refuses_records_without_an_email(db_session: Session) -> None:
    record = CrmRecord(RecordKind.CONTACT, "hubspot", "1", {"job_title": "VP"})
    with pytest.raises(ValueError, match="email"):
        repo.upsert_contacts(session=db_session, records=[record], now=NOW)


def test_upsert_deal_updates_the_same_crm_deal(db_session: Session) -> None:
    opened = repo.upsert_deal(
        session=db_session,
        crm="salesforce",
        crm_id="006A",
        account_domain="Acme.com",
        name="Acme - new business",
        stage="open",
        amount=None,
        created_at=NOW,
    )
    won = repo.upsert_deal(
        session=db_session,
        crm="salesforce",
        crm_id="006A",
        account_domain="acme.com",
        name="Acme - new business",
        stage=DealStage.CLOSED_WON,
        amount=24000.0,
        created_at=NOW,
        closed_at=LATER,
    )
    assert won.id == opened.id
    assert (won.stage, won.amount, won.closed_at, won.account_domain) == (
        "closed_won",
        24000.0,
        LATER,
        "acme.com",
    )
    other_crm = repo.upsert_deal(
        session=db_session,
        crm="hubspot",
        crm_id="006A",
        account_domain="acme.com",
        name="Same id, other CRM",
        stage="closed_lost",
        amount=1.0,
        created_at=LATER,
    )
    assert other_crm.id != won.id
    assert [d.crm for d in repo.deals(session=db_session)] == ["salesforce", "hubspot"]


def test_upsert_deal_refuses_an_unknown_stage(db_session: Session) -> None:
    with pytest.raises(ValueError):
        repo.upsert_deal(
            session=db_session,
            crm="csv",
            crm_id="1",
            account_domain="acme.com",
            name="x",
            stage="won",
            amount=None,
            created_at=NOW,
        )


@pytest.fixture
def searchable(db_session: Session) -> Session:
    names = {
        "acme.com": "Acme",
        "acmecorp.io": "Acme Corp",
        "bigacme.net": "Big Acme",
        "percent.io": "100% Growth",
        "under_score.io": "Under Score",
        "underxscore.io": "Underxscore",
        "quote.io": "O'Brien Ltd",
    }
    records = [account_record(domain, name=name) for domain, name in names.items()]
    repo.upsert_accounts(session=db_session, records=records, now=NOW)
    return db_session


def _find(session: Session, text: str, limit: int = 10) -> list[str]:
    return [a.domain for a in repo.find_accounts(session=session, text=text, limit=limit)]


def test_find_accounts_matches_name_or_domain_in_any_case(searchable: Session) -> None:
    assert _find(searchable, "ACME") == ["acme.com", "acmecorp.io", "bigacme.net"]
    assert _find(searchable, "corp") == ["acmecorp.io"]
    assert _find(searchable, "acme", limit=2) == ["acme.com", "acmecorp.io"]


def test_find_accounts_puts_the_exact_domain_first(searchable: Session) -> None:
    assert _find(searchable, "bigacme.net") == ["bigacme.net"]
    assert _find(searchable, "acme.com")[0] == "acme.com"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("%", ["percent.io"]),
        ("100%", ["percent.io"]),
        ("_", ["under_score.io"]),
        ("under_", ["under_score.io"]),
        ("\\", []),
        ("' OR 1=1 --", []),
        ("'", ["quote.io"]),
        ("acme'; DROP TABLE account; --", []),
        ("", []),
        ("   ", []),
    ],
)
def test_find_accounts_treats_text_literally(
    searchable: Session, text: str, expected: list[str]
) -> None:
    assert _find(searchable, text) == expected
    assert repo.counts(session=searchable)["accounts"] == 7


def test_counts(db_session: Session) -> None:
    assert repo.counts(session=db_session) == {
        "accounts": 0,
        "contacts": 0,
        "deals": 0,
        "scores": 0,
    }
    repo.upsert_accounts(session=db_session, records=[account_record("a.com")], now=NOW)
    repo.upsert_contacts(session=db_session, records=[person("x@a.com")], now=NOW)
    assert repo.counts(session=db_session) == {
        "accounts": 1,
        "contacts": 1,
        "deals": 0,
        "scores": 0,
    }
