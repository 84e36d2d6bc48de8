"""The schema comes from the migrations alone, and they match the models exactly."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, inspect
from sqlmodel import SQLModel

import bot.store
import bot.store.tables  # noqa: F401  (the models compared against)
from bot.store.db import SCHEMA_HEAD, alembic_config, make_engine, migrate

pytestmark = pytest.mark.db

TABLES = {"account", "contact", "icp_version", "score", "deal"}


def _head() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def test_migrations_build_exactly_the_models_schema(db_engine: Engine) -> None:
    with db_engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = compare_metadata(context, SQLModel.metadata)
    assert differences == []


def test_the_database_is_at_head_and_migrating_again_changes_nothing(db_engine: Engine) -> None:
    migrate(db_engine)
    with db_engine.connect() as connection:
        assert MigrationContext.configure(connection).get_current_revision() == _head()
        assert TABLES <= set(inspect(connection).get_table_names())


def test_a_current_database_is_known_without_alembic_by_the_newest_revision() -> None:
    """A new migration moves SCHEMA_HEAD with it, or every open would skip the migration."""
    assert SCHEMA_HEAD == _head()


def test_a_database_one_migration_behind_is_brought_up(db_engine: Engine) -> None:
    config = alembic_config()
    with db_engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "-1")
        assert MigrationContext.configure(connection).get_current_revision() != SCHEMA_HEAD
    migrate(db_engine)
    with db_engine.connect() as connection:
        assert MigrationContext.configure(connection).get_current_revision() == SCHEMA_HEAD


def test_downgrade_to_nothing_and_back(db_engine: Engine) -> None:
    config = alembic_config()
    with db_engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "base")
        assert set(inspect(connection).get_table_names()) <= {"alembic_version"}
        command.upgrade(config, "head")
        assert TABLES <= set(inspect(connection).get_table_names())


def test_migrations_ship_inside_the_package() -> None:
    scripts = ScriptDirectory.from_config(alembic_config())
    assert Path(scripts.dir).resolve() == Path(bot.store.__file__).parent.resolve() / "migrations"


def test_migrate_needs_no_alembic_ini_in_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    engine = make_engine(f"sqlite:///{tmp_path / 'fresh.db'}")
    try:
        migrate(engine)
        assert TABLES <= set(inspect(engine).get_table_names())
    finally:
        engine.dispose()
    assert not (tmp_path / "alembic.ini").exists()


def test_a_failed_migration_leaves_no_half_schema_on_sqlite(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'clash.db'}")
    try:
        with engine.begin() as connection:
            connection.exec_driver_sql("CREATE TABLE deal (id INTEGER PRIMARY KEY)")
        with pytest.raises(Exception, match="deal"):
            migrate(engine)
        assert set(inspect(engine).get_table_names()) == {"deal"}
    finally:
        engine.dispose()
