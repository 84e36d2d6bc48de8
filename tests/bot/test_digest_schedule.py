"""The digest's schedule: local time across DST, catching up after downtime, one leader.

A real APScheduler with its job store in a real database; the digest goes
out through the fake Slack Web API.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from apscheduler.triggers.cron import CronTrigger
from sqlalchemy import Engine as Database

from bot.config import load_config
from bot.digest.config import DigestConfig
from bot.digest.job import JOB_ID, DigestJob
from bot.schedule import LeaderLock, Scheduled, Scheduler
from bot.service import build_service
from bot.settings import Settings
from bot.slack.client import make_client
from bot.sync.ageing import JOB_ID as AGEING_JOB_ID
from tests.bot.test_slack_app import wait_for
from tests.fakes.slack import FakeSlack

ROOT = Path(__file__).resolve().parents[2]
CONFIG = load_config(ROOT / "config", today=datetime(2026, 11, 20).date())
NEW_YORK = ZoneInfo("America/New_York")
MONDAY_9 = DigestConfig(NEW_YORK, "0 9 * * mon", ("#sales-leadership",))


def test_monday_nine_is_local_time_on_both_sides_of_the_dst_change() -> None:
    trigger = MONDAY_9.trigger()
    before = trigger.get_next_fire_time(None, datetime(2026, 10, 20, tzinfo=UTC))
    after = trigger.get_next_fire_time(None, datetime(2026, 10, 27, tzinfo=UTC))
    assert before is not None and after is not None
    assert before.astimezone(UTC) == datetime(2026, 10, 26, 13, tzinfo=UTC)  # EDT, UTC-4
    assert after.astimezone(UTC) == datetime(2026, 11, 2, 14, tzinfo=UTC)  # EST, UTC-5
    spring = trigger.get_next_fire_time(None, datetime(2027, 3, 10, tzinfo=UTC))
    assert spring is not None and spring.astimezone(UTC) == datetime(2027, 3, 15, 13, tzinfo=UTC)


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    with FakeSlack(channels={"sales-leadership": "C0LEAD"}) as fake:
        yield fake


def scheduler(database: Database, slack: FakeSlack, config: DigestConfig) -> Scheduler:
    job = DigestJob(
        database=database,
        client=make_client(token=slack.token, base_url=slack.api_url),
        icp=CONFIG.icp,
        config=config,
        worker="test",
        clock=lambda: datetime(2026, 11, 23, 14, tzinfo=UTC),
    )
    return Scheduler(database, [job.scheduled()], timezone=config.timezone, retry_leader=0.05)


def running(part: Scheduler) -> Scheduler:
    part.start()
    wait_for(lambda: part.scheduler is not None)
    return part


def test_a_digest_missed_while_down_goes_out_once_when_the_bot_is_back(
    database: Database, slack: FakeSlack
) -> None:
    first = running(scheduler(database, slack, MONDAY_9))
    assert first.scheduler is not None
    # the bot goes down a moment before the digest is due, and is still down when it is
    first.scheduler.modify_job(JOB_ID, next_run_time=datetime.now(UTC) + timedelta(seconds=1))
    first.stop()
    time.sleep(1.5)
    assert slack.messages("C0LEAD") == []
    again = running(scheduler(database, slack, MONDAY_9))
    try:
        posted = wait_for(lambda: slack.messages("C0LEAD"))
        assert "2026-W47" in posted[0].text
        job = again.scheduler.get_job(JOB_ID) if again.scheduler else None
        assert job is not None and job.next_run_time > datetime.now(UTC)  # next Monday
    finally:
        again.stop()
    third = running(scheduler(database, slack, MONDAY_9))  # a restart posts nothing more
    time.sleep(0.3)
    third.stop()
    assert len(slack.messages("C0LEAD")) == 1


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


# -- the daily re-score beside the digest --------------------------------------------------------


def test_serve_schedules_the_daily_rescore_in_the_team_timezone(tmp_path: Path) -> None:
    settings = Settings(
        _env_file=None,
        ICPBOT_DATABASE_URL=f"sqlite:///{tmp_path / 'icpbot.db'}",
        ICPBOT_RESCORE_CRON="30 4 * * *",
    )  # type: ignore[call-arg]
    config = dataclasses.replace(CONFIG, digest=MONDAY_9)
    service = build_service(settings, config, sweep=False)
    (part,) = [p for p in service.background if isinstance(p, Scheduler)]
    # no Slack: no digest, but scores still age
    assert [(j.id, j.trigger.timezone) for j in part.jobs] == [(AGEING_JOB_ID, NEW_YORK)]
    fire = part.jobs[0].trigger.get_next_fire_time(None, datetime(2026, 11, 23, tzinfo=UTC))
    assert fire is not None and (fire.hour, fire.minute) == (4, 30)
    service.database.dispose()


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
