"""Engines, URLs, sessions and time zones on every database we run on."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import Engine, make_url
from sqlalchemy.exc import StatementError
from sqlmodel import Session, select

from bot.store import repo
from bot.store.db import (
    DatabaseUnavailable,
    database_url,
    make_engine,
    migrate,
    open_database,
    session,
)
from bot.store.tables import Account
from tests.bot.store.factories import NOW, account_record, stored_account
from tests.fakes.unreachable import Silent

pytestmark = pytest.mark.db


@pytest.mark.parametrize(
    ("url", "driver"),
    [
        ("postgresql://bot@db.internal/icpbot", "postgresql+psycopg"),
        ("postgres://bot:secret@db.internal:5432/icpbot", "postgresql+psycopg"),
        ("postgresql+psycopg://bot@/icpbot?host=/tmp/pg", "postgresql+psycopg"),
        ("sqlite:///icpbot.db", "sqlite"),
    ],
)
def test_postgresql_urls_speak_psycopg_3(url: str, driver: str) -> None:
    parsed = database_url(url)
    assert parsed.drivername == driver
    assert parsed.database == make_url(url).database


def test_a_plain_postgresql_url_makes_a_psycopg_engine() -> None:
    engine = make_engine("postgresql://bot@db.internal/icpbot")  # no connection is made
    assert (engine.dialect.name, engine.dialect.driver) == ("postgresql", "psycopg")
    engine.dispose()


def test_each_run_uses_the_database_its_parameter_names(
    db_engine: Engine, request: pytest.FixtureRequest
) -> None:
    wanted = request.node.callspec.params["db_engine"]
    with db_engine.connect() as connection:
        assert connection.dialect.name == wanted
        if wanted == "postgresql":
            version = connection.exec_driver_sql("SELECT version()").scalar_one()
            assert version.startswith("PostgreSQL")


def test_sqlite_files_enforce_foreign_keys_and_use_wal(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'wal.db'}")
    try:
        with engine.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar_one() == 1
            assert connection.exec_driver_sql("PRAGMA journal_mode").scalar_one() == "wal"
    finally:
        engine.dispose()


def test_an_in_memory_sqlite_database_is_one_database() -> None:
    engine = make_engine("sqlite://")
    migrate(engine)
    with session(engine) as db:
        repo.upsert_accounts(session=db, records=[account_record("acme.com")], now=NOW)
    with session(engine) as db:
        assert repo.get_account(session=db, domain="acme.com") is not None
    engine.dispose()


def test_session_commits_at_the_end_and_rolls_back_on_error(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'unit.db'}")
    migrate(engine)
    with session(engine) as db:
        kept = stored_account(db, account_record("kept.com"))
    assert kept.domain == "kept.com"  # still readable after the block
    with pytest.raises(RuntimeError), session(engine) as db:
        repo.upsert_accounts(session=db, records=[account_record("lost.com")], now=NOW)
        raise RuntimeError("boom")
    with session(engine) as db:
        assert [a.domain for a in db.exec(select(Account))] == ["kept.com"]
    engine.dispose()


def test_timestamps_come_back_aware_and_in_utc(db_session: Session) -> None:
    paris = timezone(timedelta(hours=2))
    seen = datetime(2026, 6, 1, 14, 0, 0, 123456, tzinfo=paris)
    repo.upsert_accounts(session=db_session, records=[account_record("tz.com")], now=seen)
    db_session.expire_all()
    account = repo.get_account(session=db_session, domain="tz.com")
    assert account is not None
    assert account.first_seen_at == seen
    assert account.first_seen_at.tzinfo == UTC
    assert account.first_seen_at.hour == 12


def test_naive_timestamps_are_refused(db_session: Session) -> None:
    naive = datetime(2026, 6, 1, 12, 0)
    with pytest.raises(StatementError, match="naive datetime"):
        repo.upsert_accounts(session=db_session, records=[account_record("naive.com")], now=naive)


# -- opening the database at start: what is wrong, said by setting name --------------------------


def test_a_database_server_that_never_answers_is_given_up_on() -> None:
    """`connect_timeout` in the URL wins over icpbot's own 10 s; without one, a dropped
    connection attempt would wait for the system's TCP timeout."""
    with Silent() as server:
        url = f"postgresql://icp:s3cret@127.0.0.1:{server.port}/icp?connect_timeout=1"
        started = time.monotonic()
        with pytest.raises(DatabaseUnavailable) as refused:
            open_database(url)
        assert time.monotonic() - started < 5
    said = str(refused.value)
    assert said.startswith("ICPBOT_DATABASE_URL: the database at postgresql://icp:***@127.0.0.1:")
    assert "could not be opened: connection timeout expired" in said
    assert "s3cret" not in said


def test_an_sqlite_file_in_a_missing_directory_names_the_directory(tmp_path: Path) -> None:
    with pytest.raises(DatabaseUnavailable) as refused:
        open_database(f"sqlite:///{tmp_path}/nowhere/icpbot.db")
    assert f"the directory {tmp_path}/nowhere does not exist" in str(refused.value)
    assert "Next: create that directory" in str(refused.value)
