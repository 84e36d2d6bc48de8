"""`icpbot crm setup` and `icpbot backfill`, as a user runs them: a real process, the fake CRMs."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fakes.hubspot import FakeHubSpot
from tests.fakes.salesforce import SHIPPED_CUSTOM, FakeSalesforce
from tests.support import ROOT, a_tier, icpbot

# -- HubSpot ---------------------------------------------------------------------------------------


@pytest.fixture
def fake() -> Iterator[FakeHubSpot]:
    with FakeHubSpot(rate_limit=(50, 1.0)) as server:
        yield server


@pytest.fixture
def env(fake: FakeHubSpot, tmp_path: Path) -> dict[str, str]:
    return {
        "ICPBOT_DATABASE_URL": f"sqlite:///{tmp_path / 'icpbot.db'}",
        "HUBSPOT_ACCESS_TOKEN": fake.token,
        "HUBSPOT_API_URL": fake.url,
        "ICPBOT_HUBSPOT_RATE_LIMIT": "40",
    }


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


# -- a CRM not configured --------------------------------------------------------------------------


def test_backfill_from_an_unknown_crm() -> None:
    done = icpbot("backfill", "--crm", "pipedrive")
    assert done.returncode == 1 and "use hubspot, salesforce or csv" in done.stderr


def test_backfill_from_salesforce_names_the_missing_settings() -> None:
    done = icpbot("backfill", "--crm", "salesforce")
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "SALESFORCE_ACCESS_TOKEN" in done.stderr and "SALESFORCE_USERNAME" in done.stderr


def test_backfill_from_hubspot_names_the_missing_token() -> None:
    done = icpbot("backfill", "--crm", "hubspot", env={"HUBSPOT_ACCESS_TOKEN": ""})
    assert done.returncode == 1
    assert "HUBSPOT_ACCESS_TOKEN" in done.stderr and "Traceback" not in done.stderr


# -- Salesforce ------------------------------------------------------------------------------------


def salesforce_env(fake: FakeSalesforce, tmp_path: Path) -> dict[str, str]:
    """The settings that point `icpbot` at the fake Salesforce and a store of the test's own."""
    return {
        "SALESFORCE_INSTANCE_URL": fake.url,
        "SALESFORCE_ACCESS_TOKEN": "test-token",
        "REQUESTS_CA_BUNDLE": fake.ca_file,
        "ICPBOT_DATABASE_URL": f"sqlite:///{tmp_path}/icpbot.db",
        "ICPBOT_CONFIG_DIR": str(ROOT / "config"),
    }


def test_setup_then_backfill_from_the_command_line_resumes_after_a_failure(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    with FakeSalesforce(icp_fields=False, custom_fields=SHIPPED_CUSTOM) as fake:
        env = salesforce_env(fake, tmp_path)
        setup = icpbot("crm", "setup", "salesforce", env=env)
        assert setup.returncode == 0, setup.stderr
        assert "13 created, 0 already there" in setup.stdout and "ICP_Fields" in setup.stdout
        ids = [a_tier(fake, f"c{n}.com") for n in range(450)]
        fake.fail_next(1, status=400, path="composite", code="INVALID_FIELD")
        failed = icpbot("backfill", "--crm", "salesforce", env=env)
        assert failed.returncode == 1 and "Nothing is lost" in failed.stderr
        assert "INVALID_FIELD" in failed.stderr and "Traceback" not in failed.stderr
        done = icpbot("backfill", "--crm", "salesforce", env=env)
        assert done.returncode == 0, done.stderr
        assert all(fake.row("Account", i).get("ICP_Tier__c") == "A" for i in ids)


def test_setup_selects_the_change_events_and_says_what_the_org_refused(tmp_path: Path) -> None:
    org = ("Contact", "Case", "Order", "Lead")  # 4 of the 5 the allocation allows, one icpbot's
    with FakeSalesforce(custom_fields=SHIPPED_CUSTOM, cdc_selected=org) as fake:
        setup = icpbot("crm", "setup", "salesforce", env=salesforce_env(fake, tmp_path))
        assert setup.returncode == 0, setup.stderr  # the fields are there; the poll covers the rest
        assert "exists   Lead change events" in setup.stdout
        assert "selected Account change events" in setup.stdout
        assert "refused  Opportunity change events" in setup.stdout
        assert "Change Data Capture: 1 selected, 1 already selected, 1 refused" in setup.stdout
        assert "View All Records" in setup.stdout
        warning = " ".join(setup.stderr.split())
        assert "Opportunity is not selected for Change Data Capture" in warning
        assert "allocation is used up" in warning and "deselect an object" in warning
        assert "Traceback" not in setup.stderr
        assert fake.cdc_selected() == {*org, "Account"}


def test_setup_in_an_edition_without_change_data_capture_still_succeeds(tmp_path: Path) -> None:
    with FakeSalesforce(custom_fields=SHIPPED_CUSTOM, cdc_available=False) as fake:
        setup = icpbot("crm", "setup", "salesforce", env=salesforce_env(fake, tmp_path))
        assert setup.returncode == 0, setup.stderr
        assert "Change Data Capture: 0 selected, 0 already selected, 3 refused" in setup.stdout
        warning = " ".join(setup.stderr.split())
        assert warning.count("edition has no Change Data Capture") == 3
        assert "The poll still finds the changes of objects not selected" in warning
