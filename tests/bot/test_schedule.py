"""The schedule: one leader at a time, stored jobs kept in step with the ones configured.

A real APScheduler with its job store in a real database; the weekly digest
is the job it runs, posting through the fake Slack Web API.
"""

from __future__ import annotations

import pickle
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from apscheduler.triggers.cron import CronTrigger
from apscheduler.util import ref_to_obj
from sqlalchemy import Engine as Database
from sqlalchemy import text

from bot.digest.config import DigestConfig
from bot.digest.job import JOB_ID
from bot.schedule import LeaderLock, Scheduled, Scheduler, run_stored_job
from tests.fakes.slack import FakeSlack
from tests.support import MONDAY_9, NEW_YORK, running, scheduler, wait_for


def test_one_process_leads_and_another_takes_over_when_it_stops(
    database: Database, slack: FakeSlack
) -> None:
    leader = running(scheduler(database, slack, MONDAY_9))
    standby = scheduler(database, slack, MONDAY_9)
    standby.start()
    time.sleep(0.3)
    assert standby.scheduler is None  # the lock is taken
    leader.stop()
    wait_for(lambda: standby.scheduler is not None)
    standby.stop()


def test_a_changed_schedule_replaces_the_stored_one(database: Database, slack: FakeSlack) -> None:
    running(scheduler(database, slack, MONDAY_9)).stop()
    friday = DigestConfig(NEW_YORK, "30 16 * * fri", MONDAY_9.channels)
    part = running(scheduler(database, slack, friday))
    try:
        job = part.scheduler.get_job(JOB_ID) if part.scheduler else None
        assert job is not None
        local = job.next_run_time.astimezone(NEW_YORK)
        assert (local.weekday(), local.hour, local.minute) == (4, 16, 30)
    finally:
        part.stop()


@pytest.mark.db
def test_the_leader_lock_is_held_by_one_at_a_time(db_engine: Database) -> None:
    first, second = LeaderLock(db_engine), LeaderLock(db_engine)
    assert first.acquire()
    try:
        assert not second.acquire()
    finally:
        first.release()
    assert second.acquire()
    second.release()


def test_the_stored_rescore_job_runs_and_a_dropped_digest_is_removed(
    database: Database, slack: FakeSlack
) -> None:
    ran = threading.Event()
    daily = Scheduled(
        "daily-rescore",
        "re-score",
        CronTrigger.from_crontab("0 5 * * *"),
        ran.set,
        timedelta(hours=20),
    )
    digest = scheduler(database, slack, MONDAY_9).jobs[0]
    both = running(Scheduler(database, [digest, daily], timezone=NEW_YORK, retry_leader=0.05))
    assert both.scheduler is not None
    assert {job.id for job in both.scheduler.get_jobs()} == {JOB_ID, "daily-rescore"}
    both.stop()
    alone = running(Scheduler(database, [daily], timezone=NEW_YORK, retry_leader=0.05))
    try:
        assert alone.scheduler is not None
        assert [job.id for job in alone.scheduler.get_jobs()] == ["daily-rescore"]
        alone.scheduler.modify_job("daily-rescore", next_run_time=datetime.now(UTC))
        assert ran.wait(5)
    finally:
        alone.stop()


def test_stored_jobs_name_a_callable_that_does_not_move(database: Database) -> None:
    """The job store keeps each job's callable as text; rows written by any earlier release
    say `bot.schedule:run_stored_job`, so that text must keep resolving (or be migrated)."""
    daily = Scheduled(
        "daily-rescore",
        "ageing",
        CronTrigger.from_crontab("0 5 * * *"),
        lambda: None,
        timedelta(hours=20),
    )
    part = running(Scheduler(database, [daily], timezone=NEW_YORK, retry_leader=0.05))
    part.stop()
    with database.connect() as connection:
        rows = connection.execute(text("SELECT id, job_state FROM apscheduler_jobs")).all()
    stored = {job_id: pickle.loads(state)["func"] for job_id, state in rows}
    assert stored == {"daily-rescore": "bot.schedule:run_stored_job"}
    assert ref_to_obj(stored["daily-rescore"]) is run_stored_job
