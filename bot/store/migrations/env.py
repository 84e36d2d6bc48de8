"""Alembic's entry point, run by `bot.store.db.migrate` with a connection in hand.

No alembic.ini and no logging setup: the caller passes an open connection in
`config.attributes["connection"]` and owns the transaction (and the logging).
Offline (SQL script) mode is not supported; nobody here applies SQL by hand.
"""

from __future__ import annotations

from typing import Any, Literal

from alembic import context
from alembic.autogenerate.api import AutogenContext
from sqlalchemy import Connection
from sqlmodel import SQLModel
from sqlmodel.sql.sqltypes import AutoString

import bot.store.tables  # noqa: F401  (registers every table on SQLModel.metadata)
from bot.store.tables import UtcDateTime

target_metadata = SQLModel.metadata


def render_item(type_: str, obj: Any, autogen_context: AutogenContext) -> str | Literal[False]:
    """Autogenerate plain SQLAlchemy types, so a migration never imports app code."""
    if type_ != "type":
        return False
    if isinstance(obj, UtcDateTime):
        return "sa.DateTime(timezone=True)"
    if isinstance(obj, AutoString):
        return f"sa.String(length={obj.length})" if obj.length else "sa.String()"
    return False


def run_migrations(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        # Always batch: one script must run on SQLite, which cannot ALTER most things.
        render_as_batch=True,
        render_item=render_item,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def main() -> None:
    if context.is_offline_mode():
        raise SystemExit("offline migrations are not supported; use bot.store.db.migrate")
    connection = context.config.attributes.get("connection")
    if connection is None:
        raise SystemExit("run migrations through bot.store.db.migrate(engine)")
    run_migrations(connection)


main()
