"""Each ICP version number stands for exactly one icp.yaml text."""

from __future__ import annotations

import hashlib
from datetime import date, timedelta

import pytest
from sqlmodel import Session

from bot.store import IcpVersionConflict, repo
from tests.bot.store.factories import ICP_YAML, NOW

pytestmark = pytest.mark.db


def test_recording_the_same_version_again_is_a_no_op(db_session: Session) -> None:
    first = repo.record_icp_version(
        session=db_session, version=3, content=ICP_YAML, reviewed_on=date(2026, 10, 1), now=NOW
    )
    again = repo.record_icp_version(
        session=db_session,
        version=3,
        content=ICP_YAML,
        reviewed_on=date(2026, 10, 1),
        now=NOW + timedelta(hours=1),
    )
    assert again.version == first.version == 3
    assert again.loaded_at == NOW
    assert again.sha256 == hashlib.sha256(ICP_YAML.encode()).hexdigest()
    assert (again.content, again.reviewed_on) == (ICP_YAML, date(2026, 10, 1))


def test_new_content_under_an_old_version_number_says_bump_version(db_session: Session) -> None:
    repo.record_icp_version(
        session=db_session, version=3, content=ICP_YAML, reviewed_on=None, now=NOW
    )
    edited = ICP_YAML.replace("weight: 40", "weight: 45")
    with pytest.raises(IcpVersionConflict, match="bump `version`") as caught:
        repo.record_icp_version(
            session=db_session, version=3, content=edited, reviewed_on=None, now=NOW
        )
    assert caught.value.version == 3
    bumped = repo.record_icp_version(
        session=db_session, version=4, content=edited, reviewed_on=None, now=NOW
    )
    assert bumped.version == 4
