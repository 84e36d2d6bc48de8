"""`backfill --crm hubspot`: every page tagged, resumable after an interruption, dry run."""

from __future__ import annotations

import gc
import sys
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from hubspot.crm.companies.exceptions import ApiException
from sqlalchemy import Engine as Database
from sqlmodel import select

from bot.store import checkpoints
from bot.store.db import session as open_session
from bot.store.tables import Account, Contact
from bot.sync.backfill import NoProgress, backfill, backfill_checkpoint
from bot.sync.tagging import Tagger
from integrations.hubspot import HubSpotCrm, classify, make_client
from integrations.ratelimit import RateLimiter
from integrations.retries import CrmCaller, RetryPolicy
from scoring.engine import Scorer
from tests.fakes.hubspot import FakeHubSpot
from tests.support import CONFIG

NOW = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


@pytest.fixture
def fake() -> Iterator[FakeHubSpot]:
    with FakeHubSpot(rate_limit=None) as server:
        crm(server).setup()  # the portal after `icpbot crm setup hubspot`
        server.seed_companies(350)
        for n in range(30):
            person = {"email": f"person{n}@company1-{n}.com", "jobtitle": "Head of Sales"}
            server.add_contact(person)
        yield server


def crm(fake: FakeHubSpot) -> HubSpotCrm:
    policy = RetryPolicy(attempts=2, initial=0.01, max_backoff=0.02)
    caller = CrmCaller(
        crm="hubspot", limiter=RateLimiter(1000, 10.0), classify=classify, policy=policy
    )
    client = make_client(access_token=fake.token, host=fake.url)
    return HubSpotCrm(client=client, caller=caller, field_map=CONFIG.fields)


def run(fake: FakeHubSpot, database: Database, **options: object):  # type: ignore[no-untyped-def]
    return backfill(
        crm(fake),
        database=database,
        tagger=Tagger(Scorer(CONFIG.icp)),
        now=NOW,
        icp_text=CONFIG.icp_text,
        **options,  # type: ignore[arg-type]
    )


class Interrupt(NoProgress):
    """Takes HubSpot down after a number of account pages, as an outage would."""

    def __init__(self, fake: FakeHubSpot, after_pages: int) -> None:
        self.fake = fake
        self.left = after_pages

    def __call__(self, stage: str, n: int) -> None:
        if stage == "accounts":
            self.left -= 1
            if self.left == 0:
                self.fake.fail_next(1000, status=503)


def tagged(fake: FakeHubSpot) -> int:
    return int(fake.stats()["tagged_companies"])


def test_every_company_and_contact_is_tagged_and_written_100_a_call(
    fake: FakeHubSpot, database: Database
) -> None:
    report = run(fake, database, batch_size=100)
    assert report.scored["account"] == 350
    assert report.scored["contact"] == 30
    assert report.written == 380
    assert tagged(fake) == 350
    updates = [r for r in fake.requests if r.path.endswith("/batch/update")]
    assert all(len(u.body["inputs"]) <= 100 for u in updates)
    with open_session(database) as session:
        assert len(session.exec(select(Account)).all()) == 350
        assert len(session.exec(select(Contact)).all()) == 30
        name = backfill_checkpoint("hubspot", "accounts")
        assert checkpoints.get(session=session, name=name) is None


def test_a_second_run_writes_nothing(fake: FakeHubSpot, database: Database) -> None:
    run(fake, database)
    before = len(fake.requests)
    report = run(fake, database)
    assert report.written == 0
    assert report.unchanged == 380
    assert not [r for r in fake.requests[before:] if r.path.endswith("/batch/update")]


def test_an_interrupted_backfill_resumes_after_its_last_finished_page(
    fake: FakeHubSpot, database: Database
) -> None:
    with pytest.raises(ApiException):
        run(fake, database, progress=Interrupt(fake, after_pages=2))
    assert tagged(fake) == 200
    with open_session(database) as session:
        saved = checkpoints.get(session=session, name=backfill_checkpoint("hubspot", "accounts"))
    assert saved is not None and '"done":200' in saved
    fake.fail_next(0)
    resumed_at = len(fake.requests)
    report = run(fake, database)
    assert report.resumed == {"accounts": 200}
    assert report.scored["account"] == 150
    assert tagged(fake) == 350
    first = next(r for r in fake.requests[resumed_at:] if r.path == "/crm/v3/objects/companies")
    assert first.query.get("after")


def test_restart_ignores_the_checkpoint(fake: FakeHubSpot, database: Database) -> None:
    with pytest.raises(ApiException):
        run(fake, database, progress=Interrupt(fake, after_pages=1))
    fake.fail_next(0)
    report = run(fake, database, resume=False)
    assert report.resumed == {}
    assert report.scored["account"] == 350


def test_a_dry_run_scores_everything_and_writes_nothing(
    fake: FakeHubSpot, database: Database
) -> None:
    report = run(fake, database, dry_run=True)
    assert report.scored["account"] == 350
    assert tagged(fake) == 0
    assert not [r for r in fake.requests if r.method != "GET" and "/batch/update" in r.path]
    with open_session(database) as session:
        assert session.exec(select(Account)).first() is None


def test_the_interpreter_is_set_back_after_a_backfill_even_a_failed_one(
    fake: FakeHubSpot, database: Database
) -> None:
    """A backfill shortens the GIL's switch interval and freezes what it found loaded
    (`_tuned_for_pages`); what runs after it in the process gets the defaults back."""
    before = (sys.getswitchinterval(), gc.get_threshold(), gc.get_freeze_count())
    with pytest.raises(ApiException):
        run(fake, database, progress=Interrupt(fake, after_pages=1))
    assert (sys.getswitchinterval(), gc.get_threshold(), gc.get_freeze_count()) == before
    fake.fail_next(0)
    run(fake, database)
    assert (sys.getswitchinterval(), gc.get_threshold(), gc.get_freeze_count()) == before
