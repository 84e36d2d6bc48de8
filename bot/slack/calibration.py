"""`/icp calibration`: the calibration of the ICP against the store's deals, sent to the admin
who asked, as a direct message with its chart (SPEC §8).

A direct message rather than an ephemeral answer: ephemeral messages cannot carry a file,
vanish on reload, and a calibration is something to read twice. Nothing is proposed from
Slack: the proposal is a file for review (`icpbot calibrate --out`), which the message names.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from slack_sdk import WebClient
from sqlalchemy import Engine as Database

from bot.calibration.outcomes import from_store
from bot.calibration.run import calibrate
from bot.store.db import read_session
from bot.views.calibration import calibration_blocks, no_deals, verdict
from bot.views.calibration_chart import calibration_chart_png
from scoring.fields import FieldType
from scoring.model import Icp


def send_calibration(
    *,
    client: WebClient,
    database: Database,
    icp: Icp,
    types: Mapping[str, FieldType],
    user: str,
    now: datetime,
) -> str:
    """Calibrate from the store and send the summary and chart to `user`; the summary's text."""
    with read_session(database) as session:
        observations = from_store(session, now=now)
    channel = client.conversations_open(users=user)["channel"]["id"]
    if not observations.observed:
        text = ":information_source: " + no_deals("the store")
        client.chat_postMessage(channel=channel, text=text)
        return text
    found = calibrate(observations, icp, types=types)
    text = f"Calibration of the ICP v{icp.version}: {verdict(found)}"
    client.chat_postMessage(
        channel=channel, text=text, blocks=calibration_blocks(found, chart_attached=True)
    )
    client.files_upload_v2(
        channel=channel,
        content=calibration_chart_png(found),
        filename=f"icp-v{icp.version}-calibration.png",
        title="Lift per criterion and the held-out ROC curves",
    )
    return text
