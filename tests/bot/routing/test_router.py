"""Routing decisions against a real database and the fake Slack: stored once, rotation kept."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Engine as Database

from bot.routing.router import Router
from bot.routing.rules import parse_routing
from bot.slack.client import make_client
from bot.slack.people import Directory
from bot.store.db import session as open_session
from bot.sync.tagging import Tagger
from integrations.records import CrmRecord, RecordKind
from scoring.engine import Scorer
from tests.fakes.slack import FakeSlack, SlackUser
from tests.support import A_TIER, CONFIG

NOW = datetime(2026, 11, 20, 12, tzinfo=UTC)


def store(database: Database, *domains: str) -> None:
    tagger = Tagger(Scorer(CONFIG.icp))
    records = [
        CrmRecord(RecordKind.ACCOUNT, "hubspot", str(n), {"domain": d, "name": d, **A_TIER})
        for n, d in enumerate(domains, 1)
    ]
    with open_session(database) as session:
        tagger.record_version(session=session, icp_text=CONFIG.icp_text, now=NOW)
        tagger.tag_many(session=session, records=records, now=NOW)


def router(database: Database, slack: FakeSlack) -> Router:
    directory = Directory(make_client(token=slack.token, base_url=slack.api_url))
    return Router(database=database, routing=CONFIG.routing, directory=directory)


def test_the_rotation_survives_a_restart(database: Database) -> None:
    users = [
        SlackUser("U1", "dana", "dana.reyes@example.com"),
        SlackUser("U2", "lee", "lee.okafor@example.com"),
    ]
    store(database, "a.com", "b.com")
    with FakeSlack(users=users) as slack:
        first = router(database, slack).decide("a.com", now=NOW)
        restarted = router(database, slack)  # a new process: the position comes from the database
        second = restarted.decide("b.com", now=NOW)
        again = restarted.decide("a.com", now=NOW)
        assert first and second
        mentions = (
            restarted.owner_mention(first.decision),
            restarted.owner_mention(second.decision),
        )
    assert first and second and again
    assert (first.decision.owner, second.decision.owner) == (
        "dana.reyes@example.com",
        "lee.okafor@example.com",
    )
    assert again.decision.id == first.decision.id  # decided once, never re-routed
    assert mentions == ("<@U1>", "<@U2>")


def test_reps_deactivated_in_slack_are_skipped(database: Database) -> None:
    users = [
        SlackUser("U1", "dana", "dana.reyes@example.com"),
        SlackUser("U2", "lee", "lee.okafor@example.com", deleted=True),
    ]
    store(database, "a.com", "b.com")
    with FakeSlack(users=users) as slack:
        owners = [router(database, slack).decide(d, now=NOW) for d in ("a.com", "b.com")]
    assert [o.decision.owner for o in owners if o] == ["dana.reyes@example.com"] * 2


def test_an_account_not_stored_gets_no_decision(database: Database) -> None:
    with FakeSlack() as slack:
        assert router(database, slack).decide("nowhere.com", now=NOW) is None


def test_persona_tier_rules_see_the_best_known_contact(database: Database) -> None:
    text = (
        "rules:\n"
        "  - {id: leader, when: {persona_tier: [A, B]}, channel: '#leaders'}\n"
        "  - {id: rest, when: {tier: [A, B, C, D, DQ]}, channel: null}\n"
    )
    routing, _ = parse_routing(
        text,
        source="routing.yaml",
        fields=CONFIG.fields.types,
        profiles=[p.id for p in CONFIG.icp.profiles],
    )
    store(database, "a.com", "b.com")
    tagger = Tagger(Scorer(CONFIG.icp))
    person = {"email": "vp@a.com", "job_title": "VP Sales", "seniority": "vp", "domain": "a.com"}
    with open_session(database) as session:
        tagger.tag(
            session=session, record=CrmRecord(RecordKind.CONTACT, "hubspot", "9", person), now=NOW
        )
    with FakeSlack() as slack:
        directory = Directory(make_client(token=slack.token, base_url=slack.api_url))
        decide = Router(database=database, routing=routing, directory=directory).decide
        with_leader, without = decide("a.com", now=NOW), decide("b.com", now=NOW)
    assert with_leader and with_leader.decision.rule_id == "leader"
    assert "persona_tier B" in with_leader.decision.reason
    assert without and without.decision.rule_id == "rest" and without.decision.channel is None
