"""The audit trail: every score stored as it was, read back newest first.

Rows are written as tagging writes them (`repo.score_row`, then `repo.save_scores`)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta

import pytest
from sqlalchemy import event
from sqlmodel import Session

from bot.store import repo
from bot.store.tables import Contact, Score
from integrations.records import CrmRecord, RecordKind
from scoring.model import Tier
from tests.bot.store.factories import (
    BEST,
    CUSTOMER,
    GOOD,
    ICP,
    NOW,
    POOR,
    account_record,
    company,
    score_account,
    score_persona,
    stored_account,
    stored_contact,
    stored_score,
)

pytestmark = pytest.mark.db


def _save(db: Session, fields: dict[str, object], at: datetime) -> Score:
    return stored_score(
        db,
        subject="account",
        key=str(fields["domain"]),
        result=score_account(fields, now=at),
        snapshot=fields,
    )


def test_an_account_score_round_trips_exactly(db: Session) -> None:
    original = score_account(CUSTOMER)
    row_values = repo.score_row(
        subject="account", key="Customer.io", result=original, snapshot=CUSTOMER
    )
    repo.save_scores(session=db, rows=[row_values])
    db.expire_all()
    row = repo.latest_score(session=db, subject="account", key="customer.io")
    assert row is not None
    assert (row.subject, row.subject_key, row.icp_version) == ("account", "customer.io", 3)
    assert (row.score, row.tier, row.profile, row.coverage) == (100, "DQ", "saas", 1.0)
    assert row.disqualified_by == "customer"
    assert row.reasons == list(original.reasons)
    assert row.scored_at == NOW
    assert row.input_snapshot == CUSTOMER
    assert row.input_hash == repo.input_hash(CUSTOMER, 3)

    restored = repo.account_score_of(row, session=db)
    assert restored is not None
    assert restored == original
    assert (restored.tier, restored.scored_at, restored.disqualifier_id) == (
        Tier.DQ,
        NOW,
        "customer",
    )
    assert [c.status for c in restored.criteria] == [c.status for c in original.criteria]
    assert repo.persona_of(row, session=db) is None


def test_a_contact_score_keeps_the_persona_alongside(db: Session) -> None:
    person = {"email": "dana@best.io", "job_title": "VP of Sales", "seniority": "manager"}
    persona = score_persona(person)
    row_values = repo.score_row(
        subject="contact",
        key="dana@best.io",
        result=score_account(BEST),
        snapshot={**BEST, **person},
        persona=persona,
    )
    repo.save_scores(session=db, rows=[row_values])
    db.expire_all()
    row = repo.latest_score(session=db, subject="contact", key="dana@best.io")
    assert row is not None
    assert (row.score, row.tier, row.persona_score, row.persona_tier) == (100, "A", 60, "B")
    restored = repo.persona_of(row, session=db)
    assert restored is not None and restored == persona
    assert repo.account_score_of(row, session=db) is not None
    assert repo.latest_score(session=db, subject="account", key="dana@best.io") is None


def test_a_persona_only_score_for_a_contact_without_an_account(db: Session) -> None:
    person = {"email": "sam@gmail.com", "job_title": "Head of Revenue"}
    persona = score_persona(person)
    # As tagging stores a person without a company: no account score, the ICP version given.
    row_values = repo.score_row(
        subject="contact",
        key="sam@gmail.com",
        result=None,
        snapshot=person,
        persona=persona,
        icp_version=3,
        scored_at=NOW,
    )
    repo.save_scores(session=db, rows=[row_values])
    db.expire_all()
    row = repo.latest_score(session=db, subject="contact", key="sam@gmail.com")
    assert row is not None
    assert (row.subject, row.score, row.tier, row.profile) == ("contact", 60, "B", None)
    assert (row.persona_score, row.persona_tier, row.coverage) == (60, "B", 0.6)
    assert repo.account_score_of(row, session=db) is None
    assert repo.persona_of(row, session=db) == persona


def test_a_score_needs_its_icp_version_recorded(db_session: Session) -> None:
    with pytest.raises(Exception, match="(?i)foreign key"):
        _save(db_session, BEST, NOW)


def test_every_score_is_appended_and_rows_are_never_updated(db: Session) -> None:
    days = [NOW + timedelta(days=d) for d in range(4)]
    saved = [
        _save(db, fields, at)
        for fields, at in zip([GOOD, GOOD, POOR | {"domain": "good.io"}, GOOD], days, strict=True)
    ]
    assert len({s.id for s in saved}) == 4
    assert repo.counts(session=db)["scores"] == 4
    db.expire_all()
    kept = [db.get(Score, s.id) for s in saved]
    assert [(s.score, s.scored_at) for s in kept if s is not None] == list(
        zip([70, 70, 30, 70], days, strict=True)
    )
    latest = repo.latest_score(session=db, subject="account", key="good.io")
    assert latest is not None and latest.id == saved[-1].id
    previous = repo.previous_different_score(session=db, subject="account", key="good.io")
    assert previous is not None and previous.id == saved[2].id


def test_equal_timestamps_are_ordered_by_insertion(db: Session) -> None:
    _save(db, GOOD, NOW)
    last = _save(db, POOR | {"domain": "good.io"}, NOW)
    latest = repo.latest_score(session=db, subject="account", key="good.io")
    assert latest is not None and latest.id == last.id


def test_previous_different_score_skips_rescores_that_said_the_same(db: Session) -> None:
    key = "good.io"
    assert repo.previous_different_score(session=db, subject="account", key=key) is None
    _save(db, GOOD, NOW)
    assert repo.previous_different_score(session=db, subject="account", key=key) is None
    _save(db, GOOD, NOW + timedelta(days=1))
    assert repo.previous_different_score(session=db, subject="account", key=key) is None
    changed = _save(db, POOR | {"domain": key}, NOW + timedelta(days=2))
    _save(db, GOOD, NOW + timedelta(days=3))
    _save(db, GOOD, NOW + timedelta(days=4))
    previous = repo.previous_different_score(session=db, subject="account", key=key)
    assert previous is not None and (previous.id, previous.score) == (changed.id, 30)


def test_input_hash_changes_with_the_input_or_the_icp_version_only() -> None:
    same = repo.input_hash(company("a.io", employees=10, technologies=["x"]), 3)
    reordered = repo.input_hash(
        {"technologies": ["x"], "employees": 10, "name": "A", "domain": "a.io"}, 3
    )
    assert same == reordered
    assert same != repo.input_hash(company("a.io", employees=11, technologies=["x"]), 3)
    assert same != repo.input_hash(company("a.io", employees=10, technologies=["x"]), 4)
    assert len(same) == 64


def test_latest_for_gives_one_row_per_key_in_one_query(db: Session) -> None:
    for day, fields in enumerate([BEST, GOOD, POOR, GOOD, POOR | {"domain": "best.io"}]):
        _save(db, fields, NOW + timedelta(days=day))
    keys = ["best.io", "good.io", "poor.io", "none.io"]
    with _statements(db) as statements:
        found = repo.latest_for(session=db, subject="account", keys=keys)
    latest = {key: row.score for key, row in found.items()}
    assert latest == {"best.io": 30, "good.io": 70, "poor.io": 30}
    assert len(statements) == 1


@contextmanager
def _statements(db: Session) -> Iterator[list[str]]:
    """The SQL statements sent while the block runs."""
    connection = db.connection()
    seen: list[str] = []

    def record(_conn: object, _cursor: object, statement: str, *_rest: object) -> None:
        seen.append(statement)

    event.listen(connection, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(connection, "before_cursor_execute", record)


def test_explained_reads_in_one_query_what_the_separate_reads_find(db: Session) -> None:
    days = [NOW + timedelta(days=n) for n in range(4)]
    for at, fields in zip(days, [GOOD, POOR, GOOD, GOOD], strict=True):
        _save(db, fields | {"domain": "good.io"}, at)
    stored_account(db, account_record("good.io"))
    stored_account(db, account_record("new.io"))  # stored, never scored
    for email, title, at in (
        ("ann@good.io", "VP Sales", days[0]),
        ("ann@good.io", "Intern", days[1]),  # her latest score is what counts
        ("bob@good.io", "Head of Revenue", days[0]),
        ("cy@good.io", "Head of Sales", days[0]),  # ties with Bob: the first email wins
    ):
        person = {"email": email, "job_title": title, "seniority": "director"}
        stored_contact(db, _person(email, title, "good.io"))
        persona = score_persona(person)
        stored_score(
            db,
            subject="contact",
            key=email,
            result=None,
            snapshot=person,
            persona=persona,
            icp_version=ICP.version,
            scored_at=at,
        )
    for domain, email in [
        ("good.io", None),
        ("GOOD.io ", None),
        ("good.io", "ann@good.io"),
        ("good.io", "nobody@good.io"),
        ("new.io", None),
        ("none.io", None),
    ]:
        with _statements(db) as statements:
            found = repo.explained(session=db, domain=domain, email=email)
        assert len(statements) == 1
        assert _ids(found) == _separately(db, domain, email)
    found = repo.explained(session=db, domain="good.io")
    assert found is not None and found.contact is not None
    assert (found.contact.email, found.previous is not None) == ("bob@good.io", True)


def _ids(found: repo.Explained | None) -> tuple[int | None, ...] | None:
    if found is None:
        return None
    rows = (found.account, found.latest, found.previous, found.contact, found.said)
    return tuple(row.id if row is not None else None for row in rows)


def _separately(db: Session, domain: str, email: str | None) -> tuple[int | None, ...] | None:
    """What `explained` finds, read the way each part is read on its own."""
    account = repo.get_account(session=db, domain=domain)
    if account is None:
        return None
    latest = repo.latest_score(session=db, subject="account", key=domain)
    previous = repo.previous_different_score(
        session=db, subject="account", key=domain, latest=latest
    )
    person: tuple[Contact | None, Score | None] = (None, None)
    if email is not None:
        person = (
            repo.get_contact(session=db, email=email),
            repo.latest_score(session=db, subject="contact", key=email),
        )
    elif best := repo.best_persona(session=db, domain=domain):
        person = best
    rows = (account, latest, previous, *person)
    return tuple(row.id if row is not None else None for row in rows)


def _person(email: str, title: str, domain: str) -> CrmRecord:
    fields = {"email": email, "job_title": title, "domain": domain}
    return CrmRecord(RecordKind.CONTACT, "hubspot", email, fields)
