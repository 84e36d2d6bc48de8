"""The digest's job on its schedule: local time across DST, caught up once after downtime.

A real APScheduler with its job store in a real database; the digest goes
out through the fake Slack Web API.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine as Database

from bot.digest.job import JOB_ID
from tests.fakes.slack import FakeSlack
from tests.support import MONDAY_9, running, scheduler, wait_for


def test_monday_nine_is_local_time_on_both_sides_of_the_dst_change() -> None:
    trigger = MONDAY_9.trigger()
    before = trigger.get_next_fire_time(None, datetime(2026, 10, 20, tzinfo=UTC))
    after = trigger.get_next_fire_time(None, datetime(2026, 10, 27, tzinfo=UTC))
    assert before is not None and after is not None
    assert before.astimezone(UTC) == datetime(2026, 10, 26, 13, tzinfo=UTC)  # EDT, UTC-4
    assert after.astimezone(UTC) == datetime(2026, 11, 2, 14, tzinfo=UTC)  # EST, UTC-5
    spring = trigger.get_next_fire_time(None, datetime(2027, 3, 10, tzinfo=UTC))
    assert spring is not None and spring.astimezone(UTC) == datetime(2027, 3, 15, 13, tzinfo=UTC)


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
