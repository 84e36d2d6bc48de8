"""The weekly digest's numbers, checked against a seeded store (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import Session

from bot.digest.config import parse_digest_config
from bot.digest.numbers import Week, build_digest, review_warning
from bot.digest.post import ALREADY, FAILED, POSTED, post_digest
from bot.routing.owners import Owners
from bot.slack.client import make_client
from bot.store import digests, leads, repo
from bot.store.db import make_engine, migrate
from bot.store.db import session as open_session
from bot.store.tables import Feedback
from bot.views.common import MAX_BLOCKS, MAX_SECTION_TEXT
from bot.views.digest import digest_blocks, digest_text
from bot.views.digest_chart import chart_alt_text, tier_chart_png
from scoring.problems import ConfigError
from tests.fakes.hubspot import FakeHubSpot
from tests.fakes.slack import FakeSlack, SlackUser
from tests.support import A_TIER, CONFIG, ROOT, hubspot, tag_account

NEW_YORK = ZoneInfo("America/New_York")
W47 = Week(2026, 47, NEW_YORK)  # Monday 16 to Sunday 22 November 2026
D_TIER = {"industry": "retail", "employees": 50, "country": "US"}

pytestmark = pytest.mark.db


def seed(
    session: Session,
    domain: str,
    created: datetime,
    fields: dict,
    now: datetime = datetime(2026, 11, 23, 8, tzinfo=UTC),
) -> None:
    tag_account(session, domain, {"created_at": created, **fields}, now)


def local(day: int, hour: int = 12) -> datetime:
    return datetime(2026, 11, day, hour, tzinfo=NEW_YORK)


@pytest.fixture
def store(db_session: Session) -> Session:
    seed(db_session, "acme.com", local(16, 0), A_TIER)  # Monday 00:00: inside W47
    seed(db_session, "globex.com", local(22, 23), {**A_TIER, "employees": 500})  # Sunday night
    seed(db_session, "tiny.com", local(18), D_TIER)
    seed(db_session, "late.com", local(23, 0), A_TIER)  # next Monday 00:00: W48
    seed(db_session, "before.com", local(10), A_TIER)  # W46
    seed(db_session, "old.com", datetime(2026, 1, 5, tzinfo=UTC), A_TIER)
    leads.save_decision(
        session=db_session,
        values={
            "account_domain": "acme.com",
            "crm": "hubspot",
            "crm_id": "acme.com",
            "rule_id": "a",
            "channel": "#icp-a-tier",
            "owner": "dana.reyes@example.com",
            "owner_source": "rr",
            "reason": "test",
            "tier": "A",
            "score": 90,
            "decided_at": local(16, 1),
            "summarized": False,
            "claimed_by": "U0DANA01",
        },
    )
    db_session.add(
        Feedback(
            account_domain="tiny.com",
            kind="not_a_fit",
            reason="too_small",
            note="5 people",
            slack_user="U0LEE",
            created_at=local(19),
        )
    )
    db_session.add(
        Feedback(
            account_domain="old.com",
            kind="not_a_fit",
            reason="bad_data",
            slack_user="U0LEE",
            created_at=local(12),
        )
    )  # W46: not this week
    for n, (domain, stage, closed) in enumerate(
        [
            ("acme.com", "closed_won", local(20)),
            ("globex.com", "closed_lost", local(20)),
            ("old.com", "churned", local(2)),
            ("tiny.com", "closed_lost", local(3)),
            ("before.com", "closed_won", datetime(2026, 6, 1, tzinfo=UTC)),  # over 90 days ago
        ]
    ):
        repo.upsert_deal(
            session=db_session,
            crm="hubspot",
            crm_id=str(n),
            account_domain=domain,
            name=domain,
            stage=stage,
            amount=1000.0,
            created_at=local(1),
            closed_at=closed,
        )
    db_session.flush()
    return db_session


def test_the_numbers_of_a_week(store: Session) -> None:
    digest = build_digest(session=store, icp=CONFIG.icp, week=W47)
    assert digest.tiers["A"] == 2
    assert digest.new_total == 3  # acme, globex, tiny; not late.com, before.com, old.com
    assert sum(digest.tiers_before.values()) == 1  # before.com
    assert {a.domain for a in digest.top_a} == {"acme.com", "globex.com"}
    assert [a.score for a in digest.top_a] == sorted((a.score for a in digest.top_a), reverse=True)
    acme = next(a for a in digest.top_a if a.domain == "acme.com")
    assert acme.owner == "U0DANA01"  # the claimer
    assert [(f.domain, f.reason) for f in digest.not_a_fit] == [("tiny.com", "too_small")]
    rates = {w.tier: (w.won, w.lost) for w in digest.win_rates}
    assert rates["A"] == (2, 1)  # acme won, old.com churned (a win), globex lost
    assert sum(won + lost for won, lost in rates.values()) == 4  # June's deal is too old
    assert digest.missing and digest.missing[0].count >= 1
    assert all(0 < m.share <= 1 for m in digest.missing)
    assert [label for label, _ in digest.history][-2:] == ["2026-W46", "2026-W47"]
    assert len(digest.history) == 8


def test_the_post_stays_within_block_kit_limits_and_says_it_all(store: Session) -> None:
    digest = build_digest(session=store, icp=CONFIG.icp, week=W47)
    blocks = digest_blocks(digest)
    assert len(blocks) <= MAX_BLOCKS
    for block in blocks:
        text = (block.get("text") or {}).get("text", "")
        assert len(text) <= MAX_SECTION_TEXT
    posted = json.dumps(blocks)
    for expected in (
        "2026-W47",
        "Top new A-tier",
        "<@U0DANA01>",
        "Too small",
        "5 people",
        "Win rate by tier",
        "Most often missing",
    ):
        assert expected in posted, expected
    text = digest_text(digest)
    assert "3* new accounts" in text and "+2 vs last week" in text


def test_win_rates_use_the_tier_each_account_had_when_its_deal_was_created(
    db_session: Session,
) -> None:
    """A won account is a customer now, so DQ; its win counts for the tier it had then."""
    before_deal = datetime(2026, 9, 1, tzinfo=UTC)
    deal_created = datetime(2026, 9, 15, tzinfo=UTC)
    seen = {**A_TIER, "lifecycle_stage": "opportunity"}
    seed(db_session, "snapshot.com", before_deal, seen, now=before_deal)
    seed(db_session, "snapshot.com", before_deal, {**A_TIER, "lifecycle_stage": "customer"})
    seed(db_session, "rescored.com", before_deal, {**A_TIER, "lifecycle_stage": "customer"})
    seed(db_session, "d-then.com", before_deal, D_TIER, now=before_deal)
    seed(db_session, "d-then.com", before_deal, {**A_TIER, "lifecycle_stage": "customer"})
    for n, domain in enumerate(["snapshot.com", "rescored.com", "d-then.com"]):
        repo.upsert_deal(
            session=db_session,
            crm="hubspot",
            crm_id=f"deal-{n}",
            account_domain=domain,
            name=domain,
            stage="closed_won",
            amount=1000.0,
            created_at=deal_created,
            closed_at=local(18),
        )
    db_session.flush()
    assert repo.latest_score(session=db_session, subject="account", key="snapshot.com").tier == "DQ"
    digest = build_digest(session=db_session, icp=CONFIG.icp, week=W47)
    rates = {w.tier: (w.won, w.lost) for w in digest.win_rates}
    # snapshot.com: A in the audit trail before the deal; rescored.com: no snapshot from
    # before, so its fields now without lifecycle_stage (A); d-then.com: D back then.
    assert rates == {"A": (2, 0), "D": (1, 0)}
    assert "when the deal was created" in digest_text(digest)


def test_weeks_are_local_and_dst_weeks_are_an_hour_longer() -> None:
    fall_back = Week(2026, 44, NEW_YORK)  # US clocks go back on Sunday 1 November 2026
    assert fall_back.end.astimezone(UTC) - fall_back.start.astimezone(UTC) == timedelta(
        days=7, hours=1
    )
    assert W47.start == datetime(2026, 11, 16, tzinfo=NEW_YORK)
    assert Week.parse("2026-w47", NEW_YORK) == W47
    assert Week.last_complete(datetime(2026, 11, 23, 14, tzinfo=UTC), NEW_YORK) == W47
    assert Week.last_complete(datetime(2026, 11, 23, 4, tzinfo=UTC), NEW_YORK).label == "2026-W46"
    assert Week(2026, 1, NEW_YORK).previous.label == "2025-W52"
    for bad in ("2026-47", "W47", "2026-W54"):
        with pytest.raises(ValueError):
            Week.parse(bad, NEW_YORK)


def test_an_old_review_is_a_warning() -> None:
    assert review_warning(CONFIG.icp, CONFIG.icp.reviewed_on + timedelta(days=90)) is None
    warning = review_warning(CONFIG.icp, CONFIG.icp.reviewed_on + timedelta(days=91))
    assert warning is not None and "91 days ago" in warning


def test_digest_config_problems_name_the_file_and_key() -> None:
    with pytest.raises(ConfigError) as raised:
        parse_digest_config(
            "timezone: Mars/Base\ncron: '61 9 * * mon'\nchanel: []\n", source="digest.yaml"
        )
    messages = [str(p) for p in raised.value.problems]
    assert any(m.startswith("digest.yaml:1: timezone:") and "IANA" in m for m in messages)
    assert any(m.startswith("digest.yaml:2: cron: '61 9 * * mon'") for m in messages)
    assert "digest.yaml:3: 'chanel' is not a key here — did you mean 'channels'?" in messages
    config, _ = parse_digest_config(None, source="digest.yaml")
    assert config.cron == "0 9 * * mon" and config.channels == ()


def test_the_chart_is_a_png_with_words_for_screen_readers() -> None:
    history = [
        ("2026-W46", {"A": 1, "B": 0, "C": 2, "D": 5, "DQ": 0}),
        ("2026-W47", dict.fromkeys(("A", "B", "C", "D", "DQ"), 0)),
    ]
    png = tier_chart_png(history, title="New accounts by tier")
    assert png.startswith(b"\x89PNG") and len(png) > 1000
    assert chart_alt_text(history).endswith("2026-W46: A 1, C 2, D 5; 2026-W47: none")


def test_dry_run_prints_the_digest(tmp_path: Path) -> None:
    env = {"ICPBOT_DATABASE_URL": f"sqlite:///{tmp_path / 'icpbot.db'}", "PATH": ""}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "bot",
            "digest",
            "--dry-run",
            "--week",
            "2026-W47",
            "--channel",
            "#managers",
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**env, "PYTHONPATH": str(ROOT)},
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "#managers" in done.stdout and "2026-W47" in done.stdout
    bad = subprocess.run(
        [sys.executable, "-m", "bot", "digest", "--dry-run", "--week", "47"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**env, "PYTHONPATH": str(ROOT)},
        timeout=120,
        check=False,
    )
    assert bad.returncode == 1 and "ISO week" in bad.stderr


# -- posting -----------------------------------------------------------------------------------


def test_a_week_is_posted_once_per_channel_and_a_refused_post_is_retried(
    tmp_path: Path,
) -> None:
    database = make_engine(f"sqlite:///{tmp_path / 'icpbot.db'}")
    migrate(database)
    with open_session(database) as session:
        seed(session, "acme.com", local(17), A_TIER)
    with open_session(database) as session:
        leads.save_decision(
            session=session,
            values={
                "account_domain": "acme.com",
                "crm": "hubspot",
                "crm_id": "acme.com",
                "rule_id": "a",
                "channel": "#icp-a-tier",
                "owner": "dana.reyes@example.com",
                "owner_source": "rr",
                "reason": "test",
                "tier": "A",
                "score": 90,
                "decided_at": local(17),
                "summarized": False,
            },
        )
    channels = {"sales-leadership": "C0LEAD", "icp-a-tier": "C0A"}
    dana = SlackUser("U0DANA01", "dana", "dana.reyes@example.com")
    with FakeSlack(channels=channels, users=[dana]) as slack:
        client = make_client(token=slack.token, base_url=slack.api_url, retries=0)
        post = partial(
            post_digest,
            database=database,
            client=client,
            icp=CONFIG.icp,
            week=W47,
            now=local(23, 9),
            worker="test",
        )
        slack.fail_next("chat.postMessage", status=500)
        first = post(channels=["#sales-leadership", "#icp-a-tier"])
        assert [o.result for o in first] == [FAILED, POSTED]
        second = post(channels=["#sales-leadership", "#icp-a-tier"])
        assert [o.result for o in second] == [POSTED, ALREADY]
        assert len(slack.messages("C0LEAD")) == 1 and len(slack.messages("C0A")) == 1
        message = slack.messages("C0LEAD")[0]
        assert "2026-W47" in message.text and "acme" in json.dumps(message.blocks).lower()
        assert "<@U0DANA01>" in json.dumps(message.blocks)  # the routed rep, as a mention
        charts = [f for f in slack.files if f["channel"] == "C0LEAD"]
        assert len(charts) == 1 and charts[0]["thread_ts"] == message.ts
        assert slack.uploads[charts[0]["id"]].startswith(b"\x89PNG")
    with open_session(database) as session:
        stored = digests.posts(session=session, week="2026-W47")
    assert [(p.channel, p.status) for p in stored] == [
        ("#icp-a-tier", "posted"),
        ("#sales-leadership", "posted"),
    ]
    database.dispose()


def test_a_crm_owner_in_the_digest_is_named_through_the_crm(tmp_path: Path) -> None:
    """A top account nobody was routed to keeps its CRM owner: named, not an id."""
    database = make_engine(f"sqlite:///{tmp_path / 'icpbot.db'}")
    migrate(database)
    with open_session(database) as session:
        seed(session, "owned.com", local(17), {**A_TIER, "owner_id": "41000002"})
    with (
        FakeHubSpot(rate_limit=None) as fake,
        FakeSlack(channels={"sales-leadership": "C0LEAD"}, users=[]) as slack,
    ):
        fake.add_owner("41000002", "kim.lee@example.com", first="Kim", last="Lee")
        client = make_client(token=slack.token, base_url=slack.api_url, retries=0)
        done = post_digest(
            database=database,
            client=client,
            icp=CONFIG.icp,
            week=W47,
            channels=["#sales-leadership"],
            now=local(23, 9),
            worker="test",
            owners=Owners({"hubspot": hubspot(fake)}),
        )
        assert [o.result for o in done] == [POSTED]
        blocks = json.dumps(slack.messages("C0LEAD")[0].blocks)
        assert "Kim Lee" in blocks and "41000002" not in blocks
    database.dispose()
