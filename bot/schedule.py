"""The schedule: APScheduler with its job store in icpbot's database.

Generic: the composition root (`bot.service`) hands it the jobs to run,
each a `Scheduled` (the weekly digest, `bot.digest.job`, and the daily
ageing of time-based scores, `bot.sync.ageing`). Jobs are stored in the
database, so their next runs survive restarts; coalescing and a misfire
grace mean a run missed while the bot was down happens once when it comes
back. Only one process runs the scheduler: it holds a database lock
(PostgreSQL advisory lock; on SQLite, a lock on a file beside the database)
and the others wait to take over.
"""

from __future__ import annotations

import fcntl
import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import IO
from zoneinfo import ZoneInfo

from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.base import BaseTrigger
from sqlalchemy import Connection, text
from sqlalchemy import Engine as Database

log = logging.getLogger(__name__)

LOCK_KEY = 0x1C9B07  # pg_advisory_lock key: "only one scheduler" (held while leading)
RETRY_LEADER = 30.0  # seconds between a standby's tries to take the lock


@dataclass(frozen=True, slots=True)
class Scheduled:
    """One job of the schedule: when it runs, what it runs, how late it may still run."""

    id: str
    name: str
    trigger: BaseTrigger
    run: Callable[[], object]
    grace: timedelta


# APScheduler stores a job's callable as text ("module:function") so that it survives a
# restart; the text is `STORED_JOB` with the job's id as its argument, and the id finds
# what to run in the table the running scheduler filled. That text is in every stored
# row: keep the function at this path, or migrate `apscheduler_jobs` when it moves.
STORED_JOB = "bot.schedule:run_stored_job"
_JOBS: dict[str, Callable[[], object]] = {}


def run_stored_job(name: str) -> None:
    """Where a stored job's reference lands: the job of that id in this process."""
    job = _JOBS.get(name)
    if job is None:
        log.error("scheduled job %s has nothing to run in this process", name)
        return
    job()


class _SharedEngineJobStore(SQLAlchemyJobStore):  # type: ignore[misc]  # APScheduler is untyped
    """APScheduler's SQL job store on icpbot's own engine, which it only borrows.

    The stock store disposes its engine when the scheduler shuts down; this
    engine serves the whole process (and holds the leader lock's connection,
    which would then be returned to a discarded pool and never closed).
    """

    def shutdown(self) -> None:
        """Leave the engine to its owner."""


class LeaderLock:
    """Held by the one process that leads a part (by default the scheduler); released when
    it stops or dies. `key` and `name` tell one part's lock from another's: a PostgreSQL
    advisory lock key, and the lock file's suffix beside a SQLite database.

    Advisory locks belong to the whole PostgreSQL database; `per_schema` keys the
    lock by the schema icpbot's tables are in too (`key` and `hashtext(current_schema())`),
    so deployments kept in schemas of one database each have their leader.
    """

    def __init__(
        self,
        database: Database,
        *,
        key: int = LOCK_KEY,
        name: str = "scheduler",
        per_schema: bool = False,
    ) -> None:
        self.database = database
        self.key = key
        self.name = name
        self._keys = ":k, hashtext(current_schema())" if per_schema else ":k"
        self._connection: Connection | None = None
        self._file: IO[bytes] | None = None

    def acquire(self) -> bool:
        if self.database.dialect.name == "postgresql":
            connection = self.database.connect()
            taken = connection.execute(
                text(f"SELECT pg_try_advisory_lock({self._keys})"), {"k": self.key}
            )
            if taken.scalar():
                self._connection = connection
                return True
            connection.close()
            return False
        path = self._lock_path()
        handle = path.open("a+b")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            return False
        self._file = handle
        return True

    def release(self) -> None:
        if self._connection is not None:
            self._connection.execute(
                text(f"SELECT pg_advisory_unlock({self._keys})"), {"k": self.key}
            )
            self._connection.close()
            self._connection = None
        if self._file is not None:
            fcntl.flock(self._file, fcntl.LOCK_UN)
            self._file.close()
            self._file = None

    def _lock_path(self) -> Path:
        database = self.database.url.database or ""
        if database in ("", ":memory:"):
            return Path(f"icpbot-{self.name}.lock").resolve()
        return Path(f"{database}.{self.name}.lock")


class Scheduler:
    """A background part of `icpbot serve`: the leader runs the scheduler, others stand by."""

    def __init__(
        self,
        database: Database,
        jobs: Sequence[Scheduled],
        *,
        timezone: ZoneInfo,
        retry_leader: float = RETRY_LEADER,
    ) -> None:
        self.database = database
        self.jobs = tuple(jobs)
        self.timezone = timezone
        self.retry_leader = retry_leader
        self.lock = LeaderLock(database)
        self.scheduler: BackgroundScheduler | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._lead, name="schedule", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)
        if self.scheduler is not None:
            self.scheduler.shutdown(wait=True)
            self.scheduler = None
        self.lock.release()

    def _lead(self) -> None:
        """Take the lock (now, or when the leader goes away), then run the scheduler."""
        while not self._stop.is_set():
            if self.lock.acquire():
                self.scheduler = self._scheduler()
                for job in self.jobs:
                    log.info("scheduled: %s (%s)", job.name, job.trigger)
                return
            self._stop.wait(self.retry_leader)

    def _scheduler(self) -> BackgroundScheduler:
        store = _SharedEngineJobStore(engine=self.database, tablename="apscheduler_jobs")
        scheduler = BackgroundScheduler(
            jobstores={"default": store},
            job_defaults={"coalesce": True, "max_instances": 1},
            timezone=self.timezone,
        )
        scheduler.start(paused=True)  # the stored jobs are looked at before anything runs
        wanted = {job.id for job in self.jobs}
        for stored in scheduler.get_jobs():
            if stored.id not in wanted:  # no longer configured (a digest without channels)
                scheduler.remove_job(stored.id)
        for job in self.jobs:
            _JOBS[job.id] = job.run
            stored = scheduler.get_job(job.id)
            if stored is None or str(stored.trigger) != str(job.trigger):
                # a new or changed schedule; an unchanged one keeps its stored next run,
                # which is how a run missed while the bot was down still happens now
                scheduler.add_job(
                    STORED_JOB,
                    trigger=job.trigger,
                    args=[job.id],
                    id=job.id,
                    name=job.name,
                    replace_existing=True,
                    misfire_grace_time=int(job.grace.total_seconds()),
                )
        scheduler.resume()
        return scheduler
