"""Fixtures for the sync tests against HubSpot."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fakes.hubspot import FakeHubSpot
from tests.support import hubspot


@pytest.fixture
def fake_hubspot() -> Iterator[FakeHubSpot]:
    """The fake HubSpot portal after `icpbot crm setup hubspot`, with no rate limit."""
    with FakeHubSpot(rate_limit=None) as server:
        hubspot(server).setup()
        yield server
