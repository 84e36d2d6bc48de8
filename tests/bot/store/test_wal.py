"""`serve`'s SQLite log: no commit copies it into the database; a thread of its own does."""

from __future__ import annotations

import time
from pathlib import Path

from sqlalchemy import Engine

from bot.store import repo
from bot.store.db import make_engine, migrate, open_database, session
from bot.store.wal import WalCheckpoints
from tests.bot.store.factories import NOW, account_record

BATCH = 200  # accounts a commit


def _write(database: Engine, batches: int) -> None:
    for start in range(0, batches * BATCH, BATCH):
        records = [account_record(f"a{n}.io") for n in range(start, start + BATCH)]
        with session(database) as db:
            repo.upsert_accounts(session=db, records=records, now=NOW)


def _autocheckpoint(database: Engine) -> int:
    with database.connect() as connection:
        return int(connection.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar_one())


def test_commits_leave_the_log_to_the_checkpoints(tmp_path: Path) -> None:
    file = tmp_path / "serve.db"
    database = open_database(f"sqlite:///{file}", checkpoint_on_commit=False)
    try:
        assert _autocheckpoint(database) == 0
        before = file.stat().st_size
        _write(database, 10)
        assert file.stat().st_size == before  # everything is still in the log
        busy, logged, copied = WalCheckpoints(database).checkpoint()
        assert (busy, copied) == (0, logged) and logged > 0
        assert file.stat().st_size > before
    finally:
        database.dispose()


def test_other_commands_keep_sqlite_s_own_checkpoints(tmp_path: Path) -> None:
    database = make_engine(f"sqlite:///{tmp_path / 'cli.db'}")
    try:
        migrate(database)
        assert _autocheckpoint(database) == 1000
    finally:
        database.dispose()


def test_the_thread_checkpoints_while_serving_and_stops(tmp_path: Path) -> None:
    file = tmp_path / "serve.db"
    database = open_database(f"sqlite:///{file}", checkpoint_on_commit=False)
    checkpoints = WalCheckpoints(database, interval=0.05)
    try:
        before = file.stat().st_size
        checkpoints.start()
        _write(database, 3)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and file.stat().st_size == before:
            time.sleep(0.05)
        assert file.stat().st_size > before
    finally:
        checkpoints.stop()
        database.dispose()
    assert checkpoints._thread is not None and not checkpoints._thread.is_alive()


def test_nothing_to_do_in_memory() -> None:
    checkpoints = WalCheckpoints(make_engine("sqlite://"))
    checkpoints.start()
    checkpoints.stop()
    assert checkpoints._thread is None
