"""Fixtures for the pipeline tests: a database of the test's own that commits for real."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine as Database

from bot.store.db import make_engine, migrate


@pytest.fixture
def database(tmp_path: Path) -> Iterator[Database]:
    """A migrated SQLite file: the worker, the sweep and the backfill commit their own work."""
    engine = make_engine(f"sqlite:///{tmp_path / 'icpbot.db'}")
    migrate(engine)
    yield engine
    engine.dispose()
