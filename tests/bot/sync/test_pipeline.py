"""Tagging and backfill against a real store: idempotent, audited, batched."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine as Database
from sqlmodel import Session

from bot.config import load_config
from bot.store import repo
from bot.store.db import session as open_session
from bot.sync.backfill import backfill
from bot.sync.tagging import Tagger
from integrations.csv import CsvCrm
from integrations.records import CrmRecord, RecordKind
from scoring.engine import Scorer

pytestmark = pytest.mark.db

ROOT = Path(__file__).resolve().parents[3]
CONFIG = load_config(ROOT / "config")
NOW = datetime(2026, 11, 20, 12, tzinfo=UTC)


def account(domain: str, **fields: object) -> CrmRecord:
    return CrmRecord(RecordKind.ACCOUNT, "csv", domain, {"domain": domain, **fields})


def person(email: str, **fields: object) -> CrmRecord:
    return CrmRecord(RecordKind.CONTACT, "csv", email, {"email": email, **fields})


FIT = {"industry": "software", "employees": 400, "country": "US", "technologies": ["hubspot"]}


@pytest.fixture
def tagger(db_session: Session) -> Tagger:
    tagger = Tagger(Scorer(CONFIG.icp))
    tagger.record_version(session=db_session, icp_text=CONFIG.icp_text, now=NOW)
    return tagger


def test_first_tagging_stores_and_asks_for_a_write(db_session: Session, tagger: Tagger) -> None:
    records = [account("acme.com", **FIT), account("tiny.io", employees=5)]
    tagged = tagger.tag_many(session=db_session, records=records, now=NOW)
    assert [t.is_new and t.stored and t.update is not None for t in tagged] == [True, True]
    assert repo.counts(session=db_session)["scores"] == 2


def test_the_same_records_again_change_nothing(db_session: Session, tagger: Tagger) -> None:
    records = [account("acme.com", **FIT), person("vp@acme.com", job_title="VP Sales")]
    tagger.tag_many(session=db_session, records=records, now=NOW)
    again = tagger.tag_many(session=db_session, records=records, now=NOW)
    assert [(t.stored, t.update) for t in again] == [(False, None), (False, None)]
    assert repo.counts(session=db_session)["scores"] == 2


def test_a_change_that_moves_the_score_is_stored_and_written(
    db_session: Session, tagger: Tagger
) -> None:
    tagger.tag(session=db_session, record=account("acme.com", **FIT), now=NOW)
    moved = tagger.tag(
        session=db_session, record=account("acme.com", **FIT, has_revops=True), now=NOW
    )
    assert moved.stored and moved.update is not None
    assert moved.previous is not None and moved.score is not None
    assert moved.score.score > moved.previous.score


def test_an_input_change_with_the_same_result_is_audited_but_not_written(
    db_session: Session, tagger: Tagger
) -> None:
    tagger.tag(session=db_session, record=account("acme.com", **FIT), now=NOW)
    same = tagger.tag(session=db_session, record=account("acme.com", **FIT, city="Austin"), now=NOW)
    assert same.stored and same.update is None


def test_people_get_their_company_fit_and_free_mail_only_persona(
    db_session: Session, tagger: Tagger
) -> None:
    tagger.tag(session=db_session, record=account("acme.com", **FIT), now=NOW)
    work, free = tagger.tag_many(
        session=db_session,
        records=[person("Dana@Acme.com", job_title="VP Sales"), person("dana@gmail.com")],
        now=NOW,
    )
    assert work.score is not None and work.score.profile_id == "midmarket-saas"
    assert work.persona is not None and work.persona.score > 0
    assert free.score is None and free.persona is not None
    assert free.update is not None and free.update.fields.tier is None


def test_duplicates_inside_one_batch_are_fine(db_session: Session, tagger: Tagger) -> None:
    records = [account("acme.com", **FIT), account("ACME.com", **{**FIT, "employees": 450})]
    tagged = tagger.tag_many(session=db_session, records=records, now=NOW)
    assert len(tagged) == 2
    stored = repo.get_account(session=db_session, domain="acme.com")
    assert stored is not None and stored.fields["employees"] == 450


def test_a_prepared_batch_is_written_only_when_stored(db_session: Session, tagger: Tagger) -> None:
    """What a backfill does with a page: prepared by reading alone, then stored."""
    records = [account("acme.com", **FIT), account("tiny.io", employees=5)]
    prepared = tagger.prepare(session=db_session, records=records, now=NOW)
    assert repo.counts(session=db_session) == {
        "accounts": 0,
        "contacts": 0,
        "deals": 0,
        "scores": 0,
    }
    tagged = prepared.store(db_session)
    assert [t.record for t in tagged] == records and all(t.stored and t.is_new for t in tagged)
    assert (repo.counts(session=db_session)["accounts"], len(prepared.scores)) == (2, 2)
    again = tagger.prepare(session=db_session, records=records, now=NOW)
    assert not again.scores and [t.update for t in again.tagged] == [None, None]


def test_accounts_and_people_are_prepared_apart(db_session: Session, tagger: Tagger) -> None:
    mixed = [account("acme.com", **FIT), person("vp@acme.com", job_title="VP Sales")]
    with pytest.raises(ValueError, match="apart"):
        tagger.prepare(session=db_session, records=mixed, now=NOW)


def test_time_based_criteria_age_without_a_crm_change(db_session: Session, tagger: Tagger) -> None:
    funded = account("acme.com", **FIT, last_funding_at="2026-06-01")
    before = tagger.tag(session=db_session, record=funded, now=NOW)
    later = tagger.tag(session=db_session, record=funded, now=NOW + timedelta(days=365))
    assert before.score is not None and later.score is not None
    assert later.score.score < before.score.score and later.update is not None


def test_backfill_of_the_sample_then_again_changes_nothing(
    database: Database, tmp_path: Path
) -> None:
    db_engine = database
    tagger = Tagger(Scorer(CONFIG.icp))
    crm = CsvCrm(ROOT / "config" / "sample", types=CONFIG.fields.types, out=tmp_path / "s.csv")
    first = backfill(crm, database=db_engine, tagger=tagger, now=NOW, icp_text=CONFIG.icp_text)
    with open_session(db_engine) as session:
        counts = repo.counts(session=session)
    assert first.scored["account"] == counts["accounts"] == 500
    assert first.scored["contact"] == counts["contacts"]
    assert first.new == counts["scores"] and first.written == counts["scores"]
    assert first.deals == counts["deals"] > 0 and not first.skipped_rows
    second = backfill(crm, database=db_engine, tagger=tagger, now=NOW, icp_text=CONFIG.icp_text)
    assert (second.new, second.changed, second.written) == (0, 0, 0)
    assert second.unchanged == sum(second.scored.values())


def test_a_dry_run_stores_nothing(database: Database, tmp_path: Path) -> None:
    db_engine = database
    tagger = Tagger(Scorer(CONFIG.icp))
    crm = CsvCrm(ROOT / "config" / "sample", types=CONFIG.fields.types, out=tmp_path / "s.csv")
    report = backfill(
        crm, database=db_engine, tagger=tagger, now=NOW, icp_text=CONFIG.icp_text, dry_run=True
    )
    assert report.scored["account"] == 500 and report.written == 0
    assert not (tmp_path / "s.csv").exists()
    with open_session(db_engine) as session:
        assert repo.counts(session=session)["accounts"] == 0
