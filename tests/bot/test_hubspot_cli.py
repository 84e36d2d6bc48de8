"""The HubSpot commands as a user runs them: `crm setup`, `backfill`, `status`."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fakes.hubspot import FakeHubSpot

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def fake() -> Iterator[FakeHubSpot]:
    with FakeHubSpot(rate_limit=(50, 1.0)) as server:
        yield server


@pytest.fixture
def env(fake: FakeHubSpot, tmp_path: Path) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("ICPBOT_", "HUBSPOT_"))}
    return {
        **clean,
        "ICPBOT_DATABASE_URL": f"sqlite:///{tmp_path / 'icpbot.db'}",
        "HUBSPOT_ACCESS_TOKEN": fake.token,
        "HUBSPOT_API_URL": fake.url,
        "ICPBOT_HUBSPOT_RATE_LIMIT": "40",
    }


def icpbot(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=120,
        check=False,
    )


def test_crm_setup_creates_the_properties_then_finds_them(
    fake: FakeHubSpot, env: dict[str, str]
) -> None:
    first = icpbot("crm", "setup", "hubspot", env=env)
    assert first.returncode == 0, first.stderr
    assert "created  companies.icp_score" in first.stdout
    assert set(fake.properties_of("contacts")) >= {"icp_tier", "icp_persona_score"}
    second = icpbot("crm", "setup", "hubspot", env=env)
    assert second.returncode == 0
    assert "0 created" in second.stdout


def test_backfill_tags_every_company_and_status_reports_an_empty_inbox(
    fake: FakeHubSpot, env: dict[str, str]
) -> None:
    icpbot("crm", "setup", "hubspot", env=env)
    fake.seed_companies(120)
    done = icpbot("backfill", "--crm", "hubspot", env=env)
    assert done.returncode == 0, done.stderr
    assert "tagged 120 accounts" in done.stderr
    assert fake.stats()["tagged_companies"] == 120
    assert fake.stats()["rate_limited"] == 0
    status = icpbot("status", env=env)
    assert status.returncode == 0, status.stderr
    assert "inbox: pending 0, done 0, parked 0" in status.stdout


def test_a_token_hubspot_refuses_is_said_in_one_line(
    fake: FakeHubSpot, env: dict[str, str]
) -> None:
    done = icpbot("backfill", "--crm", "hubspot", env={**env, "HUBSPOT_ACCESS_TOKEN": "wrong"})
    assert done.returncode == 1
    assert "HTTP 401" in done.stderr and "Traceback" not in done.stderr
