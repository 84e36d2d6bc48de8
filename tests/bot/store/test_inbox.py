"""The inbox: stored once by content, claimed under a lease, backed off, parked, requeued."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, delete
from sqlmodel import Session, col, select

from bot.store import checkpoints, inbox
from bot.store.inbox import NewEvent, backoff
from bot.store.tables import InboxEvent, InboxStatus
from integrations.records import RecordKind

pytestmark = pytest.mark.db

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
LEASE = timedelta(minutes=5)


def event(n: int, *, key: str | None = None, object_type: str = "company") -> NewEvent:
    return NewEvent(
        source="hubspot",
        dedupe_key=key or f"key-{n}",
        object_type=object_type,
        object_id=str(1000 + n),
        event_type=f"{object_type}.creation",
        payload={"eventId": n, "objectId": 1000 + n, "subscriptionType": f"{object_type}.creation"},
    )


def store(session: Session, *numbers: int, now: datetime = NOW) -> list[int]:
    """Store these events; the ids of all of them, in the order given."""
    inbox.store_events(session=session, events=[event(n) for n in numbers], now=now)
    keys = [f"key-{n}" for n in numbers]
    rows = session.exec(select(InboxEvent).where(col(InboxEvent.dedupe_key).in_(keys))).all()
    by_key = {row.dedupe_key: row.id for row in rows if row.id is not None}
    return [by_key[key] for key in keys]


def claim(
    session: Session, worker: str = "w1", *, limit: int = 10, now: datetime = NOW
) -> list[InboxEvent]:
    return inbox.claim(session=session, worker=worker, limit=limit, now=now, lease=LEASE)


def reload(session: Session, event_id: int) -> InboxEvent:
    row = session.get(InboxEvent, event_id, populate_existing=True)
    assert row is not None
    return row


# --- storing ---------------------------------------------------------------------------------


def test_a_stored_event_is_pending_and_due_at_once(db_session: Session) -> None:
    assert inbox.store_events(session=db_session, events=[event(1)], now=NOW) == 1
    (row,) = db_session.exec(select(InboxEvent)).all()
    assert (row.status, row.attempts, row.source, row.object_id) == (
        "pending",
        0,
        "hubspot",
        "1001",
    )
    assert row.received_at == NOW == row.available_at
    assert row.payload == {"eventId": 1, "objectId": 1001, "subscriptionType": "company.creation"}
    assert (row.claimed_by, row.claimed_until, row.processed_at, row.last_error) == (None,) * 4


def test_an_event_is_claimable_at_the_very_instant_it_was_stored(db_session: Session) -> None:
    """Stored instants compare exactly with the ORM's own (a sweep claims at once)."""
    instant = datetime(2026, 11, 23, 9, 0, 0, 123456, tzinfo=UTC)
    store(db_session, 1, now=instant)
    assert [e.object_id for e in claim(db_session, now=instant)] == ["1001"]
    assert reload(db_session, store(db_session, 1)[0]).received_at == instant


def test_storing_a_delivery_again_stores_nothing(db_session: Session) -> None:
    events = [event(1), event(2), event(3)]
    assert inbox.store_events(session=db_session, events=events, now=NOW) == 3
    assert inbox.store_events(session=db_session, events=events, now=NOW + LEASE) == 0
    assert inbox.store_events(session=db_session, events=[event(2), event(4)], now=NOW) == 1
    assert inbox.counts(session=db_session)["pending"] == 4


def test_duplicates_inside_one_delivery_count_once_and_the_first_is_kept(
    db_session: Session,
) -> None:
    first, again = event(1, key="same"), event(2, key="same")
    assert inbox.store_events(session=db_session, events=[first, again, event(3)], now=NOW) == 2
    row = db_session.exec(select(InboxEvent).where(InboxEvent.dedupe_key == "same")).one()
    assert row.object_id == "1001"


def test_an_empty_delivery_stores_nothing(db_session: Session) -> None:
    assert inbox.store_events(session=db_session, events=[], now=NOW) == 0


def test_an_event_already_done_is_not_stored_again(db_session: Session) -> None:
    (event_id,) = store(db_session, 1)
    inbox.complete(session=db_session, ids=[event_id], now=NOW)
    assert inbox.store_events(session=db_session, events=[event(1)], now=NOW) == 0
    assert reload(db_session, event_id).status == "done"


# --- claiming --------------------------------------------------------------------------------


def test_claim_takes_the_oldest_first_up_to_the_limit(db_session: Session) -> None:
    ids = store(db_session, 1, 2, 3, 4, 5)
    first = claim(db_session, limit=2)
    assert [e.id for e in first] == ids[:2]
    assert all(e.claimed_by == "w1" and e.claimed_until == NOW + LEASE for e in first)
    assert [e.id for e in claim(db_session, "w2", limit=2)] == ids[2:4]
    assert [e.id for e in claim(db_session, "w3", limit=2)] == ids[4:]
    assert claim(db_session, "w4") == []
    assert claim(db_session, limit=0) == []


def test_live_events_are_claimed_before_the_daily_rescore_ones(db_session: Session) -> None:
    """Thousands of ageing events queued at 05:00 must not hold back a new lead's webhook."""
    aging = [
        inbox.read_again("hubspot", RecordKind.ACCOUNT, str(n), reason=inbox.AGEING, stamp="d")
        for n in range(3)
    ]
    inbox.store_events(session=db_session, events=aging, now=NOW - timedelta(minutes=1))
    (live,) = store(db_session, 1)
    (first,) = claim(db_session, limit=1)
    assert first.id == live and not inbox.gives_way(first)
    assert [inbox.gives_way(e) for e in claim(db_session, "w2")] == [True] * 3


def test_claimed_events_stay_pending_and_keep_their_attempts(db_session: Session) -> None:
    (event_id,) = store(db_session, 1)
    claim(db_session)
    row = reload(db_session, event_id)
    assert (row.status, row.attempts, row.claimed_by) == ("pending", 0, "w1")


def test_a_live_worker_renews_only_the_leases_it_still_holds(db_session: Session) -> None:
    first, second, settled = store(db_session, 1, 2, 3)
    claim(db_session, "alive")
    inbox.complete(session=db_session, ids=[settled], now=NOW)
    later = NOW + LEASE - timedelta(seconds=1)
    renewed = inbox.renew(
        session=db_session, ids=[first, second, settled], worker="alive", until=later + LEASE
    )
    assert renewed == 2  # the settled one is no longer held
    assert claim(db_session, "other", now=NOW + LEASE + timedelta(seconds=1)) == []
    assert reload(db_session, first).claimed_until == later + LEASE
    assert reload(db_session, settled).claimed_until is None
    assert inbox.renew(session=db_session, ids=[first], worker="other", until=later) == 0
    assert reload(db_session, first).claimed_by == "alive"


def test_a_killed_workers_events_are_claimed_again_once_its_lease_ends(
    db_session: Session,
) -> None:
    ids = store(db_session, 1, 2)
    assert [e.id for e in claim(db_session, "killed")] == ids  # ... and it never settles them
    assert claim(db_session, "w2", now=NOW + LEASE - timedelta(seconds=1)) == []
    assert claim(db_session, "w2", now=NOW + LEASE) == []  # the lease still runs at its end
    later = NOW + LEASE + timedelta(seconds=1)
    resumed = claim(db_session, "w2", now=later)
    assert [e.id for e in resumed] == ids
    assert all(e.claimed_by == "w2" and e.claimed_until == later + LEASE for e in resumed)


def test_events_not_yet_available_are_not_claimed(db_session: Session) -> None:
    (event_id,) = store(db_session, 1, now=NOW + timedelta(minutes=1))
    assert claim(db_session) == []
    assert [e.id for e in claim(db_session, now=NOW + timedelta(minutes=1))] == [event_id]


def test_claim_returns_fresh_rows_even_when_the_session_holds_stale_ones(
    db_session: Session,
) -> None:
    (event_id,) = store(db_session, 1)
    stale = reload(db_session, event_id)
    (claimed,) = claim(db_session)
    assert claimed is stale and claimed.claimed_by == "w1"


def test_released_events_are_claimable_at_once_and_untouched(db_session: Session) -> None:
    ids = store(db_session, 1, 2)
    claim(db_session)
    inbox.release(session=db_session, ids=ids)
    inbox.release(session=db_session, ids=[])
    row = reload(db_session, ids[0])
    assert (row.claimed_by, row.claimed_until, row.attempts, row.status) == (
        None,
        None,
        0,
        "pending",
    )
    assert [e.id for e in claim(db_session, "w2")] == ids


# --- settling --------------------------------------------------------------------------------


def test_completed_events_are_done_and_never_claimed_again(db_session: Session) -> None:
    ids = store(db_session, 1, 2)
    claim(db_session)
    inbox.complete(session=db_session, ids=[ids[0]], now=NOW + timedelta(seconds=3))
    inbox.complete(session=db_session, ids=[], now=NOW)
    done = reload(db_session, ids[0])
    assert (done.status, done.processed_at, done.claimed_by, done.claimed_until) == (
        "done",
        NOW + timedelta(seconds=3),
        None,
        None,
    )
    assert [e.id for e in claim(db_session, now=NOW + 2 * LEASE)] == [ids[1]]


def test_backoff_doubles_from_two_seconds_up_to_fifteen_minutes() -> None:
    seconds = [backoff(n).total_seconds() for n in range(1, 12)]
    assert seconds == [2, 4, 8, 16, 32, 64, 128, 256, 512, 900, 900]
    assert backoff(0) == timedelta(seconds=2)
    assert backoff(10_000) == timedelta(minutes=15)


def test_a_failure_backs_off_and_records_the_error(db_session: Session) -> None:
    (event_id,) = store(db_session, 1)
    claim(db_session)
    assert inbox.fail(session=db_session, ids=[event_id], error="boom", now=NOW) == 0
    row = reload(db_session, event_id)
    assert (row.status, row.attempts, row.last_error) == ("pending", 1, "boom")
    assert (row.claimed_by, row.claimed_until) == (None, None)
    assert row.available_at == NOW + timedelta(seconds=2)
    assert claim(db_session, now=NOW + timedelta(seconds=1)) == []
    assert [e.id for e in claim(db_session, now=NOW + timedelta(seconds=2))] == [event_id]


def test_events_that_keep_failing_are_parked_after_max_attempts(db_session: Session) -> None:
    ids = store(db_session, 1, 2)
    now, parked = NOW, []
    for _ in range(3):
        events = claim(db_session, now=now)
        assert [e.id for e in events] == ids
        parked.append(
            inbox.fail(session=db_session, ids=ids, error="x" * 5000, now=now, max_attempts=3)
        )
        now = reload(db_session, ids[0]).available_at
    assert parked == [0, 0, 2]
    assert claim(db_session, now=now + timedelta(days=1)) == []
    rows = inbox.parked(session=db_session)
    assert [r.id for r in rows] == ids
    assert all(r.status == "parked" and r.attempts == 3 for r in rows)
    assert len(rows[0].last_error or "") == 2000
    assert inbox.counts(session=db_session) == {"pending": 0, "done": 0, "parked": 2}
    assert inbox.fail(session=db_session, ids=[], error="x", now=NOW) == 0


def test_parked_lists_the_oldest_first_up_to_the_limit(db_session: Session) -> None:
    ids = store(db_session, 1, 2, 3)
    inbox.fail(session=db_session, ids=ids, error="no", now=NOW, max_attempts=1)
    assert [r.id for r in inbox.parked(session=db_session, limit=2)] == ids[:2]


def test_requeued_events_are_pending_again_with_a_fresh_count(db_session: Session) -> None:
    ids = store(db_session, 1, 2, 3)
    inbox.fail(session=db_session, ids=ids, error="no", now=NOW, max_attempts=1)
    later = NOW + timedelta(hours=1)
    assert inbox.requeue_parked(session=db_session, now=later, ids=[ids[0]]) == 1
    row = reload(db_session, ids[0])
    assert (row.status, row.attempts, row.available_at) == ("pending", 0, later)
    assert row.last_error == "no"  # kept, for whoever looks next
    assert inbox.requeue_parked(session=db_session, now=later) == 2
    assert inbox.requeue_parked(session=db_session, now=later) == 0
    assert [e.id for e in claim(db_session, now=later)] == ids


def test_requeue_leaves_pending_and_done_events_alone(db_session: Session) -> None:
    pending, done = store(db_session, 1, 2)
    inbox.complete(session=db_session, ids=[done], now=NOW)
    assert inbox.requeue_parked(session=db_session, now=NOW, ids=[pending, done]) == 0
    assert reload(db_session, done).status == "done"


# --- reporting and housekeeping --------------------------------------------------------------


def test_counts_name_every_status_even_when_empty(db_session: Session) -> None:
    assert inbox.counts(session=db_session) == {s.value: 0 for s in InboxStatus}
    ids = store(db_session, 1, 2, 3, 4)
    inbox.complete(session=db_session, ids=ids[:1], now=NOW)
    inbox.fail(session=db_session, ids=ids[1:2], error="e", now=NOW, max_attempts=1)
    assert inbox.counts(session=db_session) == {"pending": 2, "done": 1, "parked": 1}


def test_oldest_pending_is_when_the_longest_waiting_event_arrived(db_session: Session) -> None:
    assert inbox.oldest_pending(session=db_session) is None
    (first,) = store(db_session, 1, now=NOW)
    store(db_session, 2, now=NOW + timedelta(minutes=1))
    assert inbox.oldest_pending(session=db_session) == NOW
    inbox.complete(session=db_session, ids=[first], now=NOW)
    oldest = inbox.oldest_pending(session=db_session)
    assert oldest == NOW + timedelta(minutes=1)
    assert oldest is not None and oldest.tzinfo is not None


def test_prune_forgets_only_done_events_processed_before_the_cutoff(db_session: Session) -> None:
    old, recent, pending = store(db_session, 1, 2, 3)
    inbox.complete(session=db_session, ids=[old], now=NOW - timedelta(days=8))
    inbox.complete(session=db_session, ids=[recent], now=NOW)
    assert inbox.prune_done(session=db_session, before=NOW - timedelta(days=7)) == 1
    remaining = db_session.exec(select(InboxEvent.id)).all()
    assert sorted(remaining) == sorted([recent, pending])  # type: ignore[type-var]


def test_checkpoints_are_upserted_read_and_cleared(db_session: Session) -> None:
    name = "hubspot.sweep.company"
    assert checkpoints.get(session=db_session, name=name) is None
    checkpoints.save(session=db_session, name=name, value="2026-11-01T00:00:00Z", now=NOW)
    assert checkpoints.get(session=db_session, name=name) == "2026-11-01T00:00:00Z"
    later = NOW + timedelta(hours=1)
    checkpoints.save(session=db_session, name=name, value="2026-11-02T00:00:00Z", now=later)
    assert checkpoints.get(session=db_session, name=name) == "2026-11-02T00:00:00Z"
    checkpoints.save(session=db_session, name="hubspot.backfill.company", value="p2", now=NOW)
    checkpoints.clear(session=db_session, name=name)
    checkpoints.clear(session=db_session, name="never-set")
    assert checkpoints.get(session=db_session, name=name) is None
    assert checkpoints.get(session=db_session, name="hubspot.backfill.company") == "p2"


# --- two replicas ----------------------------------------------------------------------------


@pytest.fixture
def committed(db_engine: Engine) -> Iterator[list[int]]:
    """Six committed events (other sessions must see them), deleted afterwards."""
    keys = [f"replicas-{n}" for n in range(6)]
    with Session(db_engine) as session:
        events = [event(n, key=key) for n, key in enumerate(keys)]
        inbox.store_events(session=session, events=events, now=NOW)
        session.commit()
        query = select(InboxEvent.id).where(col(InboxEvent.dedupe_key).in_(keys))
        ids = sorted(i for i in session.exec(query).all() if i is not None)
    try:
        yield ids
    finally:
        with Session(db_engine) as session:
            session.execute(delete(InboxEvent).where(col(InboxEvent.dedupe_key).in_(keys)))
            session.commit()


def test_two_replicas_claiming_at_once_get_disjoint_events(
    db_engine: Engine, committed: list[int]
) -> None:
    if db_engine.dialect.name != "postgresql":
        pytest.skip("SQLite has one writer at a time; row locks are PostgreSQL's")
    with db_engine.connect() as one, db_engine.connect() as two:
        # SKIP LOCKED must not wait on the other replica's open transaction.
        two.exec_driver_sql("SET lock_timeout = '2s'")
        two.commit()  # SET outlives the transaction; the sessions below begin their own
        first = Session(bind=one)
        second = Session(bind=two)
        try:
            a = [e.id for e in claim(first, "replica-a", limit=4)]  # not committed yet
            b = [e.id for e in claim(second, "replica-b", limit=4)]
            assert a == committed[:4]
            assert b == committed[4:]
            first.commit()
            second.commit()
        finally:
            first.close()
            second.close()
    with Session(db_engine) as session:
        rows = session.exec(select(InboxEvent).where(col(InboxEvent.id).in_(committed))).all()
        holders = {row.id: row.claimed_by for row in rows}
    assert holders == {i: "replica-a" if i in a else "replica-b" for i in committed}


def test_committed_claims_by_two_workers_never_overlap(
    db_engine: Engine, committed: list[int]
) -> None:
    claimed: list[list[int | None]] = []
    for worker in ("a", "b", "c"):
        with Session(db_engine) as session:
            claimed.append([e.id for e in claim(session, worker, limit=4)])
            session.commit()
    assert claimed == [committed[:4], committed[4:], []]
