"""Storage: SQLModel tables, Alembic migrations and the repo functions over them.

engine = make_engine(settings.database_url)
migrate(engine)
with session(engine) as db:
    repo.upsert_accounts(session=db, records=records, now=now)
    repo.save_scores(session=db, rows=[repo.score_row(subject="account", key=domain, ...)])
"""

from bot.store import repo
from bot.store.db import database_url, make_engine, migrate, session
from bot.store.repo import IcpVersionConflict, StoreError
from bot.store.tables import Account, Contact, Crm, Deal, DealStage, IcpVersion, Score, Subject

__all__ = [
    "Account",
    "Contact",
    "Crm",
    "Deal",
    "DealStage",
    "IcpVersion",
    "IcpVersionConflict",
    "Score",
    "StoreError",
    "Subject",
    "database_url",
    "make_engine",
    "migrate",
    "repo",
    "session",
]
