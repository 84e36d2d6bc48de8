"""The HTTP server the wire-level fakes run on: 127.0.0.1, a free port, nothing left behind.

It keeps its client connections, so that stopping a fake can end the
keep-alive ones (an SDK's pooled connection would otherwise hold a handler
thread until it times out) and then wait for every handler thread.
"""

from __future__ import annotations

import contextlib
import socket
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class TrackingServer(ThreadingHTTPServer):
    """A threading server that knows its open connections and can end them all."""

    daemon_threads = True
    block_on_close = True

    def __init__(self, handler: type[BaseHTTPRequestHandler]) -> None:
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), handler)

    def handle_error(self, request: object, client_address: object) -> None:
        """A client that went away mid-request (a killed process) is normal life, not news;
        anything else is printed as the standard server prints it."""
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)  # type: ignore[arg-type]

    def track(self, connection: socket.socket, *, opened: bool) -> None:
        with self._connections_lock:
            if opened:
                self._connections.add(connection)
            else:
                self._connections.discard(connection)

    def close_connections(self) -> None:
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):  # already gone
                connection.shutdown(socket.SHUT_RDWR)
