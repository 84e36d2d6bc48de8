"""`icpbot serve` with Salesforce's Change Data Capture: the composition root against the
fake org and its Pub/Sub API, through the real SDKs and gRPC.

A lead created through the REST API is tagged in seconds while the poll waits
a minute; one created while icpbot is stopped is tagged when it starts
(replay); changes too many to describe (`GAP_OVERFLOW`) are caught by the
poll, nothing missed; icpbot's own write-back costs no read; a deleted lead
and a merged-away one leave the store.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from bot.service import Service, build_service
from bot.settings import Settings
from bot.store import checkpoints, repo
from bot.store.db import read_session
from bot.sync.cdc import CHECKPOINT
from bot.sync.sweep import Sweeper
from integrations.retries import RetryPolicy
from tests.fakes.salesforce import SHIPPED_CUSTOM, FakeSalesforce
from tests.fakes.salesforce_pubsub import FakePubSub
from tests.support import CONFIG, create_lead, delete, lead_tagged, wait_for

POLL = 60.0  # far longer than any wait below: what is tagged was heard, not polled


def settings(org: FakeSalesforce, pubsub: FakePubSub, tmp_path: Path) -> Settings:
    values: dict[str, object] = {
        "ICPBOT_DATABASE_URL": f"sqlite:///{tmp_path / 'icpbot.db'}",
        "SALESFORCE_INSTANCE_URL": org.url,
        "SALESFORCE_ACCESS_TOKEN": "test-token",
        "SALESFORCE_PUBSUB_TARGET": pubsub.target,
        "REQUESTS_CA_BUNDLE": org.ca_file,
        "ICPBOT_SALESFORCE_POLL_SECONDS": POLL,
        "ICPBOT_SALESFORCE_SAFETY_POLL_SECONDS": 600,
    }
    return Settings(_env_file=None, **values)  # type: ignore[arg-type]


@contextmanager
def serving(org: FakeSalesforce, pubsub: FakePubSub, tmp_path: Path) -> Iterator[Service]:
    policy = RetryPolicy(attempts=3, initial=0.01, max_backoff=0.02)
    service = build_service(settings(org, pubsub, tmp_path), CONFIG, policy=policy)
    service.start()
    try:
        yield service
    finally:
        service.stop()
        service.database.dispose()


def a_tagged_lead(org: FakeSalesforce, pubsub: FakePubSub, name: str) -> str:
    """Once the service subscribed, a lead created through REST, and waited for until its
    score is written back: its id."""
    wait_for(lambda: pubsub.subscriptions == 1)
    lead = create_lead(org, name)
    wait_for(lambda: lead_tagged(org, lead), seconds=10)
    return lead


def lead_reads(org: FakeSalesforce, lead: str) -> int:
    return sum(1 for q in org.queries() if "FROM Lead WHERE Id IN" in q and lead in q)


def test_a_new_lead_is_tagged_as_it_is_heard_and_the_poll_slows_down(
    org: FakeSalesforce, pubsub: FakePubSub, tmp_path: Path
) -> None:
    with serving(org, pubsub, tmp_path) as service:
        a_tagged_lead(org, pubsub, "Ng")
        poll = next(p for p in service.background if isinstance(p, Sweeper))
        wait_for(lambda: poll.pace() == 600)  # heard as they happen: the poll is the safety net
        shown = (
            'icpbot_crm_poll_interval_seconds{crm="salesforce"} 600.0',
            "icpbot_salesforce_change_stream_up 1.0",
            'icpbot_salesforce_changes_total{action="read"} 1.0',
        )
        wait_for(lambda: all(line in service.metrics.render()[0].decode() for line in shown))


def test_own_write_back_is_heard_and_costs_no_read(
    org: FakeSalesforce, pubsub: FakePubSub, tmp_path: Path
) -> None:
    with serving(org, pubsub, tmp_path) as service:
        lead = a_tagged_lead(org, pubsub, "Ng")
        assert pubsub.published("Lead") == 2  # the creation and icpbot's write-back
        write_back = pubsub.latest().hex()

        def stored() -> str | None:
            with read_session(service.database) as session:
                return checkpoints.get(session=session, name=CHECKPOINT)

        wait_for(lambda: stored() == write_back)  # heard, and the id after it stored
        assert lead_reads(org, lead) == 1
        shown = service.metrics.render()[0].decode()
        assert 'icpbot_salesforce_changes_total{action="own"} 1.0' in shown


def test_a_lead_created_while_stopped_is_tagged_after_the_start(
    org: FakeSalesforce, pubsub: FakePubSub, tmp_path: Path
) -> None:
    with serving(org, pubsub, tmp_path):
        a_tagged_lead(org, pubsub, "First")
    missed = create_lead(org, "WhileDown")
    with serving(org, pubsub, tmp_path):
        wait_for(lambda: lead_tagged(org, missed), seconds=10)


def test_changes_too_many_to_describe_are_caught_by_the_poll(
    org: FakeSalesforce, pubsub: FakePubSub, tmp_path: Path
) -> None:
    with serving(org, pubsub, tmp_path):
        wait_for(lambda: pubsub.subscriptions == 1)
        with pubsub.one_transaction("Lead"):  # no event for these: one GAP_OVERFLOW after
            leads = [create_lead(org, f"Bulk{i}") for i in range(5)]
        wait_for(lambda: all(lead_tagged(org, lead) for lead in leads), seconds=10)


def test_deleted_and_merged_leads_leave_the_store(
    org: FakeSalesforce, pubsub: FakePubSub, tmp_path: Path
) -> None:
    with serving(org, pubsub, tmp_path) as service:
        wait_for(lambda: pubsub.subscriptions == 1)
        gone, loser, master = (create_lead(org, name) for name in ("Gone", "Loser", "Master"))
        wait_for(lambda: all(lead_tagged(org, lead) for lead in (gone, loser, master)), seconds=10)
        delete(org, "Lead", gone)
        org.merge("Lead", master, loser)

        def stored(email: str) -> bool:
            with read_session(service.database) as session:
                return repo.get_contact(session=session, email=email) is not None

        wait_for(lambda: not stored("gone@acme.com") and not stored("loser@acme.com"))
        assert stored("master@acme.com")


def test_an_org_that_selected_no_lead_changes_keeps_the_full_poll_and_says_why(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with (
        FakeSalesforce(custom_fields=SHIPPED_CUSTOM, cdc_selected=("Account",)) as org,
        FakePubSub(org, keepalive=0.1) as pubsub,
    ):
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", org.ca_file)
        with serving(org, pubsub, tmp_path) as service:
            wait_for(lambda: pubsub.subscriptions == 1)
            poll = next(p for p in service.background if isinstance(p, Sweeper))
            assert poll.pace() == POLL
            said = [r.getMessage() for r in caplog.records if "not on for" in r.getMessage()]
            assert said == [
                "salesforce: Change Data Capture is not on for Lead in this org: run `icpbot "
                "crm setup salesforce`, or select it in Setup > Change Data Capture; polling "
                "at the full pace meanwhile"
            ]
            create_lead(org, "Unheard")
            assert pubsub.published("Lead") == 0  # Salesforce publishes no such event
