"""Socket Mode: with SLACK_APP_TOKEN the app connects out to Slack and answers there.

No `/slack/events` route is served; the fake Web API hands out the URL of a
local WebSocket server (as `apps.connections.open` does), which delivers a
`/icp` envelope and reads the app's acknowledgement.
"""

from __future__ import annotations

import json
from pathlib import Path

from bot.service import build_service
from bot.settings import Settings
from tests.fakes.slack import FakeSlack
from tests.fakes.slack_socket import FakeSocketMode
from tests.support import CONFIG


def test_slash_commands_arrive_and_are_answered_over_socket_mode(tmp_path: Path) -> None:
    with FakeSocketMode() as socket, FakeSlack() as slack:
        slack.socket_url = socket.url
        settings = Settings(
            _env_file=None,
            ICPBOT_DATABASE_URL=f"sqlite:///{tmp_path / 'icpbot.db'}",
            SLACK_BOT_TOKEN=slack.token,
            SLACK_APP_TOKEN=slack.app_token,
            SLACK_API_URL=slack.api_url,
        )  # type: ignore[call-arg]
        service = build_service(settings, CONFIG, sweep=False)
        assert "/slack/events" not in [getattr(r, "path", "") for r in service.app.routes]
        service.start()
        try:
            command = {
                "command": "/icp",
                "text": "help",
                "user_id": "U0DANA",
                "team_id": "T0",
                "channel_id": "C0",
                "response_url": slack.response_url(),
                "trigger_id": "1.2.3",
                "api_app_id": "A0ICP",
            }
            ack = socket.send("slash_commands", command)
        finally:
            service.stop()
            service.database.dispose()
    assert ack["payload"]["response_type"] == "ephemeral"
    assert "/icp top" in json.dumps(ack["payload"]["blocks"])
    assert slack.calls_to("apps.connections.open")
