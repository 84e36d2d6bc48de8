"""Engines, sessions and migrations: the one place that knows which database it is.

SQLite serves the demo, tests and small teams; PostgreSQL serves production,
where several `icpbot serve` replicas share one database. The schema comes
only from the Alembic migrations shipped inside the package, never from
`create_all`, so a database made by the demo and one made in production are
the same schema and both can be upgraded.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from typing import Any

import orjson
from alembic import command
from alembic.config import Config
from sqlalchemy import URL, Connection, Engine, create_engine, event, make_url
from sqlalchemy.pool import StaticPool
from sqlmodel import Session

# `package:directory`: Alembic finds the scripts inside the installed package,
# so migrating needs no alembic.ini in the working directory.
MIGRATIONS = "bot.store:migrations"

# SQLite has one writer at a time, and a writer that finds the database locked polls
# with growing sleeps (up to 100 ms each), so under load some wait for seconds. One
# process's units of work queue on this lock instead and start the moment it frees.
_GATES: weakref.WeakKeyDictionary[Engine, threading.RLock] = weakref.WeakKeyDictionary()

# Any constant works; replicas starting together take it so one migrates at a time.
# pg_advisory_xact_lock key: one migration at a time. Not the scheduler's leader lock
# (bot.schedule.LOCK_KEY), which a leader holds for its lifetime: with one key for both,
# a second replica waited at its migration for as long as the first one led.
_MIGRATION_LOCK = 0x1C9B09


def database_url(url: str) -> URL:
    """The URL SQLAlchemy should use: plain `postgresql://` means psycopg 3 here.

    SQLAlchemy would pick psycopg2 for a bare `postgresql://`, which is not
    installed; `postgres://` is what several hosting platforms hand out.
    """
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def _json_dumps(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()


# Every score row carries three JSON documents; orjson reads them several times faster.
_JSON = {"json_serializer": _json_dumps, "json_deserializer": orjson.loads}


def make_engine(url: str) -> Engine:
    """An engine for `url` with settings suited to its database."""
    parsed = database_url(url)
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(parsed)
    return create_engine(
        parsed,
        pool_pre_ping=True,  # a failover or idle timeout must not surface as an error
        pool_size=5,
        max_overflow=10,
        pool_recycle=1800,
        **_JSON,
    )


def _is_memory(url: URL) -> bool:
    return url.database in (None, "", ":memory:") or url.query.get("mode") == "memory"


def _sqlite_engine(url: URL) -> Engine:
    """Foreign keys on (SQLite defaults them off); WAL so readers never block the writer."""
    memory = _is_memory(url)
    if memory:
        # One shared connection, or every checkout would see its own empty database.
        engine = create_engine(
            url, poolclass=StaticPool, connect_args={"check_same_thread": False}, **_JSON
        )
    else:
        engine = create_engine(url, connect_args={"timeout": 30}, **_JSON)

    _GATES[engine] = threading.RLock()

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        if not memory:
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    return engine


def alembic_config() -> Config:
    """Alembic's configuration, built in code so an installed package can migrate itself.

    Also what to pass to `alembic.command` for new revisions, e.g.
    `command.revision(alembic_config(), autogenerate=True, message=...)` with
    `config.attributes["connection"]` set to a connection to a migrated database.
    """
    config = Config()
    config.set_main_option("script_location", MIGRATIONS)
    return config


def migrate(engine: Engine) -> None:
    """Bring the database to the newest schema (`alembic upgrade head`); safe to repeat."""
    config = alembic_config()
    with engine.connect() as connection:
        if connection.dialect.name == "sqlite":
            _migrate_sqlite(connection, config)
            return
        with connection.begin():
            if connection.dialect.name == "postgresql":
                connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_MIGRATION_LOCK})")
            _upgrade(connection, config)


def _migrate_sqlite(connection: Connection, config: Config) -> None:
    """Foreign keys off while migrating: SQLite alters a table by copying and dropping it.

    The pragma is ignored inside a transaction, so it is set before one
    begins; the keys are checked once the schema is complete. pysqlite opens
    a transaction only before INSERT/UPDATE/DELETE, so `BEGIN` is sent by
    hand: otherwise each CREATE or DROP would commit on its own and a failed
    migration would leave half a schema behind.
    """
    connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
    connection.commit()
    try:
        with connection.begin():
            connection.exec_driver_sql("BEGIN")
            _upgrade(connection, config)
            broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
            if broken:
                raise RuntimeError(f"migration left rows with broken foreign keys: {broken[:5]}")
    finally:
        connection.exec_driver_sql("PRAGMA foreign_keys=ON")
        connection.commit()


def _upgrade(connection: Connection, config: Config) -> None:
    config.attributes["connection"] = connection
    command.upgrade(config, "head")


@contextmanager
def session(engine: Engine) -> Iterator[Session]:
    """One unit of work: committed when the block ends, rolled back if it raises.

    Repo functions only flush, so everything done in one block (an account
    upsert and its score, say) lands together or not at all. Objects stay
    readable after the block (`expire_on_commit=False`), e.g. to render them.
    """
    gate = _GATES.get(engine) or nullcontext()
    with gate, Session(engine, expire_on_commit=False) as db:
        try:
            yield db
            db.commit()
        except BaseException:
            db.rollback()
            raise


@contextmanager
def read_session(engine: Engine) -> Iterator[Session]:
    """A unit of work that only reads: it never waits for the write lock.

    On SQLite (WAL) readers and the one writer run side by side, so a Slack
    command is answered while the worker writes a large batch. Nothing is
    committed: closing the session ends its transaction (the pool rolls the
    connection back) and leaves the loaded objects readable.
    """
    with Session(engine, expire_on_commit=False) as db:
        yield db
