"""Slack's side of Socket Mode: a WebSocket server on 127.0.0.1 that hands the app envelopes.

The app asks the Web API (`apps.connections.open`, served by FakeSlack) for a
URL and connects here; `send` delivers an envelope the way Slack does and
returns the app's acknowledgement (`{"envelope_id", "payload"}`).
"""

from __future__ import annotations

import json
import queue
import threading
import uuid
from typing import Any

from websockets.sync.server import Server, ServerConnection, serve


class FakeSocketMode:
    """`with FakeSocketMode() as socket:` serves `socket.url` (ws://127.0.0.1:PORT/link)."""

    def __init__(self) -> None:
        self._connections: queue.Queue[ServerConnection] = queue.Queue()
        self._server: Server | None = None
        self.url = ""

    def __enter__(self) -> FakeSocketMode:
        self._server = serve(self._handle, "127.0.0.1", 0)
        self.url = f"ws://127.0.0.1:{self._server.socket.getsockname()[1]}/link"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._server is not None:
            self._server.shutdown()

    def _handle(self, connection: ServerConnection) -> None:
        connection.send(
            json.dumps(
                {"type": "hello", "num_connections": 1, "connection_info": {"app_id": "A0ICP"}}
            )
        )
        self._connections.put(connection)
        try:
            connection.wait_closed()
        except Exception:
            pass

    def send(self, kind: str, payload: dict[str, Any], *, timeout: float = 10.0) -> dict[str, Any]:
        """Deliver one envelope (`slash_commands`, `interactive`, `events_api`); the app's ack."""
        connection = self._connections.get(timeout=timeout)
        self._connections.put(connection)
        envelope_id = str(uuid.uuid4())
        connection.send(
            json.dumps(
                {
                    "envelope_id": envelope_id,
                    "type": kind,
                    "payload": payload,
                    "accepts_response_payload": kind != "events_api",
                }
            )
        )
        while True:
            message = json.loads(connection.recv(timeout=timeout))
            if message.get("envelope_id") == envelope_id:
                return dict(message)
