"""Calibration's examples read from the store: fields and tiers as they were before the deal."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlmodel import Session

from bot.calibration.outcomes import from_store
from bot.store import repo
from tests.support import A_TIER, tag_account

pytestmark = pytest.mark.db
NOW = datetime(2026, 11, 20, tzinfo=UTC)
BEFORE = datetime(2026, 3, 1, tzinfo=UTC)
DEAL = datetime(2026, 4, 1, tzinfo=UTC)


def deal(session: Session, domain: str, stage: str, n: int) -> None:
    repo.upsert_deal(
        session=session,
        crm="hubspot",
        crm_id=f"deal-{n}",
        account_domain=domain,
        name=domain,
        stage=stage,
        amount=None,
        created_at=DEAL,
        closed_at=datetime(2026, 5, 1, tzinfo=UTC),
    )


def test_an_account_is_read_as_it_was_before_its_first_deal(db_session: Session) -> None:
    small = {**A_TIER, "employees": 150, "lifecycle_stage": "opportunity"}
    tag_account(db_session, "then.com", small, BEFORE)  # what icpbot saw before the deal
    tag_account(db_session, "then.com", {**A_TIER, "lifecycle_stage": "customer"}, NOW)  # after it
    tag_account(db_session, "now.com", {**A_TIER, "lifecycle_stage": "customer"}, NOW)  # no history
    deal(db_session, "then.com", "closed_won", 1)
    deal(db_session, "now.com", "closed_won", 2)
    deal(db_session, "gone.com", "closed_lost", 3)  # an account never stored
    db_session.flush()
    found = from_store(db_session, now=NOW)
    by_domain = {o.example.domain: o for o in found.observed}
    then = by_domain["then.com"]
    assert then.record["employees"] == 150 and then.seen_at == BEFORE
    assert then.recorded_tier is not None and then.recorded_tier != "DQ"
    current = by_domain["now.com"]
    assert current.record["lifecycle_stage"] == "customer" and current.seen_at == NOW
    assert current.recorded_tier is None  # its tier then is the outcome-free ICP's
    assert "gone.com" not in by_domain
    assert found.deals == 3
    assert any("not in the store" in note for note in found.skipped)
