"""The store as the command line opens it: the configured database, migrated.

Returns the process exit code; data goes to stdout, diagnostics to the `err` console.
"""

from __future__ import annotations

from sqlalchemy import Engine as Database

from bot.settings import Settings
from bot.store import db


def open_database(url: str | None = None) -> Database:
    """The configured database, migrated to the newest schema; `DatabaseUnavailable`
    (said by `main` as one message naming ICPBOT_DATABASE_URL) when it cannot be opened."""
    return db.open_database(url or Settings().database_url)
