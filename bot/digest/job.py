"""The weekly digest as a scheduled job: the last complete week, to every channel.

`bot.schedule` runs it on the cron and in the timezone of `digest.yaml`;
the (channel, week) claim in `digest_post` keeps a week from going out twice
whichever process runs it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from slack_sdk import WebClient
from sqlalchemy import Engine as Database

from bot.digest.config import DigestConfig
from bot.digest.numbers import Week
from bot.digest.post import Outcome, post_digest
from bot.routing.owners import Owners
from bot.schedule import Scheduled
from scoring.model import Icp

log = logging.getLogger(__name__)

JOB_ID = "weekly-digest"
MISFIRE_GRACE = timedelta(days=6)  # a digest late by less than this still goes out


class DigestJob:
    """What the stored job runs: the last complete week's digest to every channel."""

    def __init__(
        self,
        *,
        database: Database,
        client: WebClient,
        icp: Callable[[], Icp],
        config: DigestConfig,
        worker: str,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        owners: Owners | None = None,
    ) -> None:
        self.database = database
        self.client = client
        self.icp = icp  # the ICP being served when it runs (a reload may change it)
        self.config = config
        self.worker = worker
        self.clock = clock
        self.owners = owners  # CRM owner ids named as people in the top accounts

    def __call__(self) -> list[Outcome]:
        now = self.clock()
        week = Week.last_complete(now, self.config.timezone)
        outcomes = post_digest(
            database=self.database,
            client=self.client,
            icp=self.icp(),
            week=week,
            channels=self.config.channels,
            now=now,
            worker=self.worker,
            owners=self.owners,
        )
        for outcome in outcomes:
            log.info(
                "digest %s to %s: %s %s",
                week.label,
                outcome.channel,
                outcome.result,
                outcome.detail,
            )
        return outcomes

    def scheduled(self) -> Scheduled:
        return Scheduled(JOB_ID, "weekly digest", self.config.trigger(), self, MISFIRE_GRACE)
