"""Top accounts read only each account's latest score."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import Session

from bot.store import repo
from tests.bot.store.factories import (
    BEST,
    CUSTOMER,
    GOOD,
    ICP,
    ICP_YAML,
    NOW,
    POOR,
    company,
    score_account,
)

pytestmark = pytest.mark.db


@pytest.fixture
def seeded(db_session: Session) -> Session:
    """Nine accounts; two were re-scored, so older rows must not count.

    Latest: best, also-best and rising 100 A; good and also-good 70 B with
    coverage 1.0, partial 70 B with coverage 0.7 (its technologies are
    unknown); poor and former-a 30 D; customer DQ.
    """
    repo.record_icp_version(
        session=db_session, version=ICP.version, content=ICP_YAML, reviewed_on=None, now=NOW
    )
    partial = company("partial.io", industry="saas", employees=400)
    scored = [
        (BEST, NOW),
        (BEST | {"domain": "also-best.io"}, NOW),
        (partial, NOW),
        (GOOD, NOW),
        (GOOD | {"domain": "also-good.io"}, NOW),
        (POOR, NOW),
        (CUSTOMER, NOW),
        (BEST | {"domain": "former-a.io"}, NOW),
        (POOR | {"domain": "former-a.io"}, NOW + timedelta(days=1)),
        (POOR | {"domain": "rising.io"}, NOW),
        (BEST | {"domain": "rising.io"}, NOW + timedelta(days=1)),
    ]
    rows = [
        repo.score_row(
            subject="account",
            key=str(fields["domain"]),
            result=score_account(fields, now=at),
            snapshot=fields,
        )
        for fields, at in scored
    ]
    repo.save_scores(session=db_session, rows=rows)  # one batch, as tagging stores them
    return db_session


def _top(session: Session, limit: int = 10, tier: str | None = None) -> list[tuple[str, int]]:
    rows = repo.top_accounts(session=session, limit=limit, tier=tier)
    return [(r.subject_key, r.score) for r in rows]


def test_top_accounts_rank_by_score_then_coverage_then_domain(seeded: Session) -> None:
    assert _top(seeded) == [
        ("also-best.io", 100),
        ("best.io", 100),
        ("rising.io", 100),
        ("also-good.io", 70),
        ("good.io", 70),
        ("partial.io", 70),
        ("former-a.io", 30),
        ("poor.io", 30),
    ]
    assert _top(seeded, limit=2) == [("also-best.io", 100), ("best.io", 100)]


def test_top_accounts_of_one_tier(seeded: Session) -> None:
    assert _top(seeded, tier="B") == [("also-good.io", 70), ("good.io", 70), ("partial.io", 70)]
    assert _top(seeded, tier="C") == []


def test_disqualified_accounts_appear_only_when_asked_for(seeded: Session) -> None:
    assert "customer.io" not in dict(_top(seeded, limit=100))
    assert _top(seeded, tier="DQ") == [("customer.io", 100)]


def test_an_unknown_tier_is_refused(seeded: Session) -> None:
    with pytest.raises(ValueError):
        repo.top_accounts(session=seeded, limit=5, tier="Z")
