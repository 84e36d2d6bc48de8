"""Which failures are retried, how long the caller waits, and what it reports."""

from __future__ import annotations

import pytest

from integrations.ratelimit import RateLimiter
from integrations.retries import CrmCaller, Failure, Observer, RetryPolicy, parse_retry_after


class Boom(Exception):
    def __init__(self, failure: Failure) -> None:
        super().__init__(failure.outcome)
        self.failure = failure


def classify(exc: BaseException) -> Failure | None:
    return exc.failure if isinstance(exc, Boom) else None


class Recorder(Observer):
    def __init__(self) -> None:
        self.outcomes: list[str] = []
        self.delays: list[float] = []

    def outcome(self, crm: str, outcome: str) -> None:
        self.outcomes.append(outcome)

    def retry(self, crm: str, failure: Failure, delay: float) -> None:
        self.delays.append(delay)


def caller(recorder: Recorder, attempts: int = 4) -> CrmCaller:
    policy = RetryPolicy(attempts=attempts, max_seconds=10, initial=0.01, max_backoff=0.02)
    return CrmCaller(
        crm="test",
        limiter=RateLimiter(100, 1.0),
        classify=classify,
        policy=policy,
        observer=recorder,
    )


def flaky(*failures: Failure) -> object:
    queue = list(failures)

    def call() -> str:
        if queue:
            raise Boom(queue.pop(0))
        return "ok"

    return call


def test_passing_failures_are_retried_until_the_call_succeeds() -> None:
    recorder = Recorder()
    call = flaky(Failure("server_error", True), Failure("timeout", True))
    assert caller(recorder)(call) == "ok"  # type: ignore[arg-type]
    assert recorder.outcomes == ["server_error", "timeout", "ok"]
    assert len(recorder.delays) == 2 and all(d <= 0.05 for d in recorder.delays)


def test_retry_after_is_what_the_caller_waits() -> None:
    recorder = Recorder()
    call = flaky(Failure("rate_limited", True, retry_after=0.15))
    assert caller(recorder)(call) == "ok"  # type: ignore[arg-type]
    assert recorder.delays == [0.15]


def test_a_refused_request_is_raised_at_once() -> None:
    recorder = Recorder()
    with pytest.raises(Boom):
        caller(recorder)(flaky(Failure("client_error", False)))  # type: ignore[arg-type]
    assert recorder.outcomes == ["client_error"]
    assert recorder.delays == []


def test_the_last_error_is_raised_when_attempts_run_out() -> None:
    recorder = Recorder()
    failures = [Failure("server_error", True)] * 5
    with pytest.raises(Boom):
        caller(recorder, attempts=3)(flaky(*failures))  # type: ignore[arg-type]
    assert recorder.outcomes == ["server_error"] * 3


def test_errors_that_are_not_crm_failures_are_not_retried() -> None:
    recorder = Recorder()

    def broken() -> None:
        raise KeyError("bug")

    with pytest.raises(KeyError):
        caller(recorder)(broken)
    assert recorder.outcomes == []


@pytest.mark.parametrize(
    ("header", "expected"),
    [("2", 2.0), ("0.35", 0.35), (" 1 ", 1.0), ("soon", None), (None, None), ("99999", 600.0)],
)
def test_retry_after_header(header: str | None, expected: float | None) -> None:
    assert parse_retry_after(header) == expected
