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
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson
from sqlalchemy import URL, Connection, Engine, create_engine, event, inspect, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError
from sqlalchemy.pool import StaticPool
from sqlmodel import Session

if TYPE_CHECKING:
    from alembic.config import Config

# `package:directory`: Alembic finds the scripts inside the installed package,
# so migrating needs no alembic.ini in the working directory.
MIGRATIONS = "bot.store:migrations"
# The newest migration's revision: a database already there is opened without loading
# Alembic (a test holds this equal to the scripts' head).
SCHEMA_HEAD = "0007"

# SQLite has one writer at a time, and a writer that finds the database locked polls
# with growing sleeps (up to 100 ms each), so under load some wait for seconds. One
# process's units of work queue on this lock instead and start the moment it frees.
_GATES: weakref.WeakKeyDictionary[Engine, threading.RLock] = weakref.WeakKeyDictionary()

# Any constant works; replicas starting together take it so one migrates at a time.
# pg_advisory_xact_lock key: one migration at a time. Not the scheduler's leader lock
# (bot.schedule.LOCK_KEY), which a leader holds for its lifetime: with one key for both,
# a second replica waited at its migration for as long as the first one led.
_MIGRATION_LOCK = 0x1C9B09
CONNECT_TIMEOUT = 10  # seconds for PostgreSQL to accept a connection


def database_url(url: str) -> URL:
    """The URL SQLAlchemy should use: plain `postgresql://` means psycopg 3 here.

    SQLAlchemy would pick psycopg2 for a bare `postgresql://`, which is not
    installed; `postgres://` is what several hosting platforms hand out.
    """
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


@dataclass(frozen=True, slots=True)
class Encoded:
    """A JSON column's value encoded before its statement (`encode_json`), stored as it is.

    A batch's documents are encoded before its write transaction opens, so
    the transaction is held only for the statements (on SQLite it blocks
    every other writer in the process), and a document two rows share (a
    record's fields and its audit row's snapshot) is encoded once.
    """

    text: str


def encode_json(value: object) -> Encoded:
    """`value` as the engine would encode it for a JSON column, ahead of time."""
    return Encoded(orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode())


def _json_dumps(value: Any) -> str:
    if type(value) is Encoded:
        return value.text
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()


# Every score row carries three JSON documents; orjson reads them several times faster.
_JSON = {"json_serializer": _json_dumps, "json_deserializer": orjson.loads}


def make_engine(url: str, *, checkpoint_on_commit: bool = True) -> Engine:
    """An engine for `url` with settings suited to its database.

    `checkpoint_on_commit=False`: a SQLite file's log is copied into the database by
    `bot.store.wal.WalCheckpoints`, not by the commit that finds it long (`serve`).
    """
    parsed = database_url(url)
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(parsed, checkpoint_on_commit=checkpoint_on_commit)
    # A server that drops the connection attempt (a firewall, a wrong host) would otherwise
    # hold a start or a reconnect for the system's TCP timeout, minutes; the URL may say
    # otherwise (`?connect_timeout=30`).
    connect = {} if "connect_timeout" in parsed.query else {"connect_timeout": CONNECT_TIMEOUT}
    return create_engine(
        parsed,
        pool_pre_ping=True,  # a failover or idle timeout must not surface as an error
        pool_size=5,
        max_overflow=10,
        pool_recycle=1800,
        connect_args=connect,
        **_JSON,
    )


class DatabaseUnavailable(Exception):
    """ICPBOT_DATABASE_URL names a database that cannot be opened or migrated; says why."""


def open_database(url: str, *, checkpoint_on_commit: bool = True) -> Engine:
    """An engine for `url`, connected and migrated, or DatabaseUnavailable saying why not.

    What a first start gets wrong (a URL that is no URL, a server that is not
    running, a directory that does not exist, a user without rights to create
    tables) is said here, by setting name, instead of as SQLAlchemy's traceback.
    """
    try:
        engine = make_engine(url, checkpoint_on_commit=checkpoint_on_commit)
    except (ArgumentError, NoSuchModuleError, ImportError) as exc:
        raise DatabaseUnavailable(_unreadable(url, exc)) from exc
    try:
        migrate(engine)
    except DBAPIError as exc:
        engine.dispose()
        raise DatabaseUnavailable(_unopened(make_url(url), exc)) from exc
    return engine


EXAMPLES = "sqlite:///icpbot.db (a file here, the default) or postgresql://user:password@host/db"


def _unreadable(url: str, exc: Exception) -> str:
    """Not a URL, or one for a database icpbot has no driver for. The URL is not repeated:
    it may hold a password."""
    if isinstance(exc, ArgumentError):
        what = "is not a database URL"
    else:
        what = f"names a database icpbot has no driver for ({make_url(url).drivername})"
    return f"ICPBOT_DATABASE_URL {what}.\n  Next: set it to {EXAMPLES}."


def _unopened(url: URL, exc: DBAPIError) -> str:
    """The driver's own first line, with the URL (password hidden) and what to do next."""
    reason = str(exc.orig).strip().splitlines()[0] if exc.orig is not None else str(exc)
    if url.get_backend_name() == "sqlite":
        where = f"the SQLite file {url.database}"
        folder = Path(url.database or "").resolve().parent
        if not folder.is_dir():
            reason += f": the directory {folder} does not exist"
        hint = "create that directory, or point ICPBOT_DATABASE_URL at a file that can be written"
    else:
        where = f"the database at {url.render_as_string(hide_password=True)}"
        hint = "start the database server, or correct ICPBOT_DATABASE_URL"
    return f"ICPBOT_DATABASE_URL: {where} could not be opened: {reason}.\n  Next: {hint}."


def _is_memory(url: URL) -> bool:
    return url.database in (None, "", ":memory:") or url.query.get("mode") == "memory"


def _sqlite_engine(url: URL, *, checkpoint_on_commit: bool) -> Engine:
    """Foreign keys on (SQLite defaults them off); WAL so readers never block the writer;
    without `checkpoint_on_commit`, no commit copies the log into the database file."""
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
            if not checkpoint_on_commit:
                cursor.execute("PRAGMA wal_autocheckpoint=0")
        cursor.close()

    return engine


def alembic_config() -> Config:
    """Alembic's configuration, built in code so an installed package can migrate itself.

    Also what to pass to `alembic.command` for new revisions, e.g.
    `command.revision(alembic_config(), autogenerate=True, message=...)` with
    `config.attributes["connection"]` set to a connection to a migrated database.
    """
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", MIGRATIONS)
    return config


def migrate(engine: Engine) -> None:
    """Bring the database to the newest schema (`alembic upgrade head`); safe to repeat."""
    with engine.connect() as connection:
        current = _at_head(connection)
        connection.rollback()
        if current:
            return
        config = alembic_config()
        if connection.dialect.name == "sqlite":
            _migrate_sqlite(connection, config)
            return
        with connection.begin():
            if connection.dialect.name == "postgresql":
                connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_MIGRATION_LOCK})")
            _upgrade(connection, config)


def _at_head(connection: Connection) -> bool:
    """Whether the schema is already the newest, read without Alembic.

    Every command opens the store this way, and Alembic with what it loads
    (its DDL for every dialect, Mako) costs more than the rest of a short
    command; a database behind, ahead or empty is left to Alembic, to
    upgrade or to say what is wrong.
    """
    if not inspect(connection).has_table("alembic_version"):
        return False
    versions = connection.exec_driver_sql("SELECT version_num FROM alembic_version")
    return list(versions.scalars()) == [SCHEMA_HEAD]


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
    from alembic import command

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
