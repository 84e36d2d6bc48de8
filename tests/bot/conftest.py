"""Fixtures shared by the application's test folders.

`database`: the sync (worker, sweep, backfill, ageing), routing and the
schedule commit their own work, so they get a migrated SQLite file of their
own rather than the rolled-back `db_session` of tests/conftest.py.
`slack`: the fake Slack the weekly digest posts to, for the digest's job and
the schedule.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine as Database

from bot.store.db import make_engine, migrate
from tests.fakes.slack import FakeSlack


@pytest.fixture
def database(tmp_path: Path) -> Iterator[Database]:
    """A migrated SQLite file: the worker, the sweep and the backfill commit their own work."""
    engine = make_engine(f"sqlite:///{tmp_path / 'icpbot.db'}")
    migrate(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    """The fake Slack with the digest's channel, #sales-leadership (C0LEAD)."""
    with FakeSlack(channels={"sales-leadership": "C0LEAD"}) as fake:
        yield fake
