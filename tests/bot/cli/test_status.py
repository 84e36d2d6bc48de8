"""`icpbot status` says when each checkpoint last moved: a stalled change stream shows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.cli.status import describe_age
from bot.store import checkpoints
from bot.store.db import make_engine, migrate
from bot.store.db import session as open_session
from tests.support import icpbot


def test_each_checkpoint_says_when_it_moved(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'icpbot.db'}"
    engine = make_engine(url)
    migrate(engine)
    with open_session(engine) as session:
        then = datetime.now(UTC) - timedelta(minutes=42)
        checkpoints.save(session=session, name="salesforce.cdc", value="00000000000002a5", now=then)
    engine.dispose()
    done = icpbot("status", env={"ICPBOT_DATABASE_URL": url})
    assert done.returncode == 0, done.stderr
    assert "checkpoint salesforce.cdc: 00000000000002a5 (moved 42 min ago)" in done.stdout


def test_ages_read_at_a_glance() -> None:
    assert [describe_age(timedelta(seconds=s)) for s in (-1, 59, 600, 10_000, 300_000)] == [
        "0 s ago",
        "59 s ago",
        "10 min ago",
        "2 h ago",
        "3 days ago",
    ]
