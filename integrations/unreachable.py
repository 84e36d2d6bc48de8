"""Why a service could not be reached, in words a person can act on.

The SDKs wrap the socket's own error in layers (urllib's `URLError`,
urllib3's `MaxRetryError` and `NewConnectionError`, requests'
`ConnectionError`), and their messages name the layers rather than the
cause: "HTTPSConnectionPool(...): Max retries exceeded with url". The
start-up checks of Slack and Salesforce unwrap them here, so `serve` says
"connection refused" or "the name could not be resolved" instead.
"""

from __future__ import annotations

import http.client
import socket
import ssl
from collections.abc import Iterator
from urllib.error import URLError
from urllib.parse import urlsplit

import requests
import urllib3.exceptions


def causes(exc: BaseException) -> Iterator[BaseException]:
    """The error and every error it wraps (cause, context, `reason`, arguments), outermost first."""
    seen: set[int] = set()
    todo = [exc]
    while todo:
        current = todo.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        inner = (current.__cause__, current.__context__, getattr(current, "reason", None))
        todo += [e for e in (*inner, *current.args) if isinstance(e, BaseException)]


def why_unreachable(exc: BaseException, *, url: str, timeout: float) -> str:
    """What went wrong on the way to `url`: refused, not resolved, timed out, TLS, cut off.

    A timeout while connecting is told apart from one while waiting for the
    answer: the first is a host that is down or a firewall that drops the
    connection, the second a server that is there but does not answer.
    """
    chain = list(causes(exc))
    parts = urlsplit(url)
    address = parts.netloc.rpartition("@")[2]  # never a user or password from the URL

    def found(kind: type[BaseException] | tuple[type[BaseException], ...]) -> bool:
        return any(isinstance(e, kind) for e in chain)

    for error in chain:
        if isinstance(error, ssl.SSLCertVerificationError):
            return f"its TLS certificate was not accepted ({error.verify_message})"
    if found(socket.gaierror):
        return f"the name {parts.hostname} could not be resolved (DNS)"
    if found(ConnectionRefusedError):
        return f"connection refused: nothing is listening at {address}"
    if found((TimeoutError, requests.Timeout, urllib3.exceptions.TimeoutError)):
        if found((requests.ConnectTimeout, urllib3.exceptions.ConnectTimeoutError, URLError)):
            return f"could not connect to {address} within {timeout:g} s (timed out)"
        return f"connected to {address}, but no answer came within {timeout:g} s (timed out)"
    for error in chain:
        if isinstance(error, ssl.SSLError):
            return f"the TLS handshake failed ({error.reason or error})"
    if found((ConnectionResetError, ConnectionAbortedError, http.client.RemoteDisconnected)):
        return "the connection was closed before an answer came"
    if found(http.client.HTTPException):
        return f"what answers at {address} does not speak HTTP"
    for error in chain:
        if isinstance(error, OSError) and error.strerror:
            return error.strerror[0].lower() + error.strerror[1:]  # "network is unreachable"
    return str(exc)
