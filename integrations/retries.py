"""Calling a CRM: paced by the rate limiter, retried when the failure is passing.

Each adapter says which of its SDK's errors are worth another try (429,
5xx, timeouts, dropped connections) and what the server asked for
(`Retry-After`); this module owns the how: wait what the server asked or
back off exponentially with jitter, give up after a bounded number of
attempts and time, and tell an observer (metrics, logs) about each outcome.
A failure that is not passing (400, 401, 404) is raised at once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    stop_after_delay,
    wait_exponential_jitter,
)

from integrations.ratelimit import Limiter

T = TypeVar("T")
log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Failure:
    """How an adapter classifies an error: its outcome label and what to do about it."""

    outcome: str  # rate_limited | server_error | timeout | client_error
    transient: bool
    retry_after: float | None = None


Classify = Callable[[BaseException], Failure | None]  # None: not a CRM call failure at all


class Observer:
    """Told about every call's outcome and every retry; metrics subclass it."""

    def outcome(self, crm: str, outcome: str) -> None:
        """One call ended: ok, rate_limited, server_error, timeout or client_error."""

    def retry(self, crm: str, failure: Failure, delay: float) -> None:
        """A passing failure; the next attempt comes after `delay` seconds."""


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How hard to try. The defaults ride out a few minutes of outage or throttling."""

    attempts: int = 8
    max_seconds: float = 300.0
    initial: float = 0.5
    max_backoff: float = 30.0


class CrmCaller:
    """Runs one CRM's calls through its limiter and retry policy."""

    def __init__(
        self,
        *,
        crm: str,
        limiter: Limiter,
        classify: Classify,
        policy: RetryPolicy | None = None,
        observer: Observer | None = None,
    ) -> None:
        self.crm = crm
        self.limiter = limiter
        self.classify = classify
        self.policy = policy or RetryPolicy()
        self.observer = observer or Observer()
        self._backoff = wait_exponential_jitter(
            multiplier=self.policy.initial, max=self.policy.max_backoff, jitter=self.policy.initial
        )

    def __call__(self, call: Callable[[], T]) -> T:
        """`call()` with pacing and retries; the last error is raised when they run out."""
        retrying = Retrying(
            retry=retry_if_exception(self._is_transient),
            wait=self._wait,
            stop=stop_after_attempt(self.policy.attempts)
            | stop_after_delay(self.policy.max_seconds),
            before_sleep=self._before_sleep,
            reraise=True,
        )
        # Typed alias: mypy cannot solve tenacity's return type from a generic bound method.
        once: Callable[[Callable[[], T]], T] = self._once
        return retrying(once, call)

    def _once(self, call: Callable[[], T]) -> T:
        with self.limiter.slot():
            try:
                result = call()
            except BaseException as exc:
                self._record(exc)
                raise
        self.observer.outcome(self.crm, "ok")
        return result

    def _record(self, exc: BaseException) -> None:
        failure = self.classify(exc)
        if failure is None:
            return
        self.observer.outcome(self.crm, failure.outcome)
        if failure.retry_after is not None:
            self.limiter.pause(failure.retry_after)

    def _is_transient(self, exc: BaseException) -> bool:
        failure = self.classify(exc)
        return failure is not None and failure.transient

    def _wait(self, state: RetryCallState) -> float:
        """What the server asked for, else exponential backoff with jitter."""
        exc = state.outcome.exception() if state.outcome else None
        failure = self.classify(exc) if exc is not None else None
        if failure is not None and failure.retry_after is not None:
            return failure.retry_after
        return float(self._backoff(state))

    def _before_sleep(self, state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        failure = self.classify(exc) if exc is not None else None
        delay = state.next_action.sleep if state.next_action else 0.0
        if failure is not None:
            self.observer.retry(self.crm, failure, delay)
        log.warning(
            "%s call failed (%s), attempt %d; retrying in %.1fs",
            self.crm,
            failure.outcome if failure else type(exc).__name__,
            state.attempt_number,
            delay,
        )


def parse_retry_after(value: str | None, *, default: float | None = None) -> float | None:
    """Seconds from a `Retry-After` header (a number of seconds; HTTP dates are rare for APIs)."""
    if value is None:
        return default
    try:
        seconds = float(value.strip())
    except ValueError:
        return default
    return max(0.0, min(seconds, 600.0))
