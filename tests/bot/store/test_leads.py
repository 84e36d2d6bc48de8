"""Routing's storage on SQLite and PostgreSQL: decisions once, positions kept, posts queued."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import Session

from bot.store import inbox, leads, posts, repo
from bot.store.posts import PostKind
from bot.store.tables import RoutingDecision
from integrations.records import CrmRecord, RecordKind
from tests.bot.store.factories import (
    BEST,
    GOOD,
    NOW,
    account_record,
    score_account,
    score_persona,
    stored_account,
    stored_contact,
    stored_score,
)

pytestmark = pytest.mark.db


def decision(domain: str, **values: object) -> dict[str, object]:
    return {
        "account_domain": domain,
        "crm": "hubspot",
        "crm_id": "1",
        "rule_id": "a",
        "channel": "#a",
        "owner": "dana@x.io",
        "owner_source": "round_robin:na",
        "reason": "rule a: tier A",
        "tier": "A",
        "score": 90,
        "decided_at": NOW,
        "summarized": False,
        **values,
    }


def test_the_first_decision_stands(db: Session) -> None:
    first = leads.save_decision(session=db, values=decision("acme.com"))
    second = leads.save_decision(session=db, values=decision("acme.com", owner="lee@x.io"))
    assert second.id == first.id and second.owner == "dana@x.io"


def test_posted_and_claimed_decisions(db: Session) -> None:
    saved = leads.save_decision(session=db, values=decision("acme.com"))
    assert saved.id is not None
    leads.mark_posted(session=db, ids=[saved.id], channel_id="C1", ts="1.2", now=NOW)
    claimed = leads.claim_lead(session=db, domain="acme.com", user="U1", now=NOW)
    assert claimed is not None
    db.expire_all()
    stored = db.get(RoutingDecision, saved.id)
    assert stored is not None
    assert (stored.channel_id, stored.message_ts, stored.claimed_by) == ("C1", "1.2", "U1")
    mine = leads.routed_to(session=db, owners=["nobody@x.io"], user="U1")
    assert [d.account_domain for d in mine] == ["acme.com"]
    assert leads.claim_lead(session=db, domain="never.com", user="U1", now=NOW) is None


def test_round_robin_positions_round_trip_and_update(db: Session) -> None:
    assert leads.load_cursors(session=db, teams=["na"]) == {}
    leads.save_cursors(session=db, cursors={"na": 1}, reps={"na": "lee@x.io"}, now=NOW)
    leads.save_cursors(session=db, cursors={"na": 2, "uk": 0}, reps={}, now=NOW)
    assert leads.load_cursors(session=db, teams=["na", "uk", "ae"]) == {"na": 2, "uk": 0}


def test_queued_posts_are_deduplicated_and_claimed_apart_from_crm_events(db: Session) -> None:
    events = [
        posts.post_event(PostKind.ROUTE, "acme.com", crm="hubspot"),
        posts.post_event(PostKind.ROUTE, "acme.com", crm="hubspot"),
        posts.post_event(PostKind.REPLY, "acme.com", crm="hubspot", version="70-B"),
    ]
    assert posts.queue_posts(session=db, events=events, now=NOW) == 2
    crm = inbox.NewEvent("hubspot", "hs:1", "company", "1", "company.creation", {})
    inbox.store_events(session=db, events=[crm], now=NOW)
    lease = timedelta(minutes=1)
    slack = inbox.claim(
        session=db, worker="w", limit=10, now=NOW, lease=lease, sources=[posts.SOURCE]
    )
    assert sorted(e.event_type for e in slack) == ["rescore", "route"]
    rest = inbox.claim(session=db, worker="w", limit=10, now=NOW, lease=lease, sources=["hubspot"])
    assert [e.object_id for e in rest] == ["1"]


def test_an_account_with_its_latest_score_and_best_contact(db: Session) -> None:
    stored_account(db, account_record("best.io"))
    stored_score(db, subject="account", key="best.io", result=score_account(GOOD), snapshot=GOOD)
    latest = stored_score(
        db, subject="account", key="best.io", result=score_account(BEST), snapshot=BEST
    )
    found = repo.explained(session=db, domain="best.io")
    assert found is not None and found.latest is not None and found.latest.id == latest.id
    assert repo.explained(session=db, domain="none.io") is None
    for email, title in (("ann@best.io", "VP Sales"), ("bob@best.io", "Intern")):
        person = {"email": email, "job_title": title, "seniority": "director"}
        stored_contact(db, contact(email, title))
        stored_score(
            db,
            subject="contact",
            key=email,
            result=score_account(BEST),
            snapshot=person,
            persona=score_persona(person),
        )
    best = repo.best_persona(session=db, domain="best.io")
    assert best is not None and best[0].email == "ann@best.io"


def contact(email: str, title: str) -> CrmRecord:
    fields = {"email": email, "job_title": title, "domain": "best.io"}
    return CrmRecord(RecordKind.CONTACT, "hubspot", email, fields)
