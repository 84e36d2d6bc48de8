"""Two replicas on one database roll a version out once (SQLite, and PostgreSQL in CI):
each stored record is queued exactly once, whichever replica's driver queued its page."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine, delete
from sqlmodel import select

from bot.change.rollout import AHEAD, RolloutDriver, begin_rollout
from bot.store.db import make_engine, read_session
from bot.store.db import session as open_session
from bot.store.inbox import ROLLOUT
from bot.store.tables import Account, InboxEvent, Rollout, Score
from bot.sync.tagging import Tagger
from integrations.records import CrmRecord, RecordKind
from scoring.engine import Scorer
from scoring.validation import parse_icp
from tests.support import A_TIER, CONFIG, icp_v8_text

pytestmark = pytest.mark.db
NOW = datetime(2026, 11, 20, tzinfo=UTC)
ACCOUNTS = 1500  # three pages of the driver, and fewer than AHEAD waiting at once


@pytest.fixture
def replicas(db_engine: Engine) -> Iterator[tuple[Engine, Engine]]:
    url = db_engine.url.render_as_string(hide_password=False)
    first, second = make_engine(url), make_engine(url)
    with open_session(first) as session:  # this module's database, emptied for each test
        for table in (InboxEvent, Rollout, Score, Account):
            session.execute(delete(table))
        tagger = Tagger(Scorer(CONFIG.icp))
        tagger.record_version(session=session, icp_text=CONFIG.icp_text, now=NOW)
        records = [
            CrmRecord(RecordKind.ACCOUNT, "hubspot", str(n), {"domain": f"r{n}.com", **A_TIER})
            for n in range(ACCOUNTS)
        ]
        tagger.tag_many(session=session, records=records, now=NOW)
    yield first, second
    first.dispose()
    second.dispose()


def test_two_replicas_queue_every_record_once(replicas: tuple[Engine, Engine]) -> None:
    assert ACCOUNTS < AHEAD
    v8, _ = parse_icp(icp_v8_text(), source="icp.yaml", fields=CONFIG.fields.types)
    tagger = Tagger(Scorer(v8))
    drivers = []
    for engine in replicas:  # each replica starts with v8: one rollout, not two, not an error
        with open_session(engine) as session:
            tagger.record_version(session=session, icp_text=icp_v8_text(), now=NOW)
        assert begin_rollout(engine, version=8, now=NOW) is not None
        drivers.append(RolloutDriver(database=engine, tagger=tagger, drains={}, clock=lambda: NOW))
    barrier = threading.Barrier(2)

    def run(driver: RolloutDriver) -> None:
        barrier.wait()
        for _ in range(20):  # bounded: four steps queue everything
            driver.step()

    threads = [threading.Thread(target=run, args=(d,)) for d in drivers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    with read_session(replicas[0]) as session:
        events = list(session.exec(select(InboxEvent).where(InboxEvent.event_type == ROLLOUT)))
        row = session.get(Rollout, 8)
    queued = Counter(e.object_id for e in events)
    assert len(queued) == ACCOUNTS and max(queued.values()) == 1
    assert row is not None and row.queued == ACCOUNTS and row.total == ACCOUNTS
    assert row.after_account > 0 and row.state == "running"  # done once the workers finish
