"""Fixtures of the store's tests."""

from __future__ import annotations

import pytest
from sqlmodel import Session

from bot.store import repo
from tests.bot.store.factories import ICP, ICP_YAML, NOW, SCORER


@pytest.fixture
def db(db_session: Session) -> Session:
    """A store that knows the ICP version the scores of the factories refer to."""
    repo.record_icp_version(
        session=db_session,
        version=ICP.version,
        content=ICP_YAML,
        reviewed_on=None,
        now=NOW,
        catalogue=SCORER.catalogue(),
    )
    return db_session
