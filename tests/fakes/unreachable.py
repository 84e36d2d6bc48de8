"""Addresses on 127.0.0.1 where nothing answers: a closed port, and a server that never replies.

A closed port is what a mistyped `*_API_URL` or a service that is down looks
like (connection refused, at once). `Silent` accepts connections and reads
nothing back: a server that hangs, or a proxy that swallows requests, which a
client only notices by its timeout. It counts the connections it accepted,
so a test can tell one attempt from a client's retries.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from types import TracebackType


def closed_port() -> int:
    """A port on 127.0.0.1 that was free a moment ago and that nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


class Silent:
    """`with Silent() as server:` accepts on `server.url` and never answers until the block ends."""

    def __init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.1)
        self.port: int = self._listener.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._held: list[socket.socket] = []
        self.accepted_at: list[float] = []  # time.monotonic() of each connection
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._accept, name="silent", daemon=True)

    @property
    def accepted(self) -> int:
        """How many connections were made to it."""
        with self._lock:
            return len(self._held)

    def _accept(self) -> None:
        while not self._stopping.is_set():
            try:
                connection, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:  # closed while waiting
                return
            with self._lock:
                self._held.append(connection)
                self.accepted_at.append(time.monotonic())

    def __enter__(self) -> Silent:
        self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self._stopping.set()
        self._thread.join(timeout=5)
        self._listener.close()
        with self._lock:
            for connection in self._held:
                with contextlib.suppress(OSError):
                    connection.close()
