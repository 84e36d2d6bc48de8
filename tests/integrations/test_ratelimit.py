"""The limiter's promise: never more than N answers-in-flight-or-recent per window."""

from __future__ import annotations

import threading
import time

import pytest

from integrations.ratelimit import RateLimiter


def test_limit_requests_pass_at_once_then_the_next_waits_for_the_window() -> None:
    limiter = RateLimiter(3, 0.3)
    waits = []
    for _ in range(4):
        with limiter.slot() as waited:
            waits.append(waited)
    assert all(w < 0.05 for w in waits[:3])
    assert 0.25 <= waits[3] < 0.6


def test_no_window_ever_holds_more_than_the_limit_across_threads() -> None:
    limiter = RateLimiter(5, 0.2)
    done: list[float] = []
    lock = threading.Lock()

    def work() -> None:
        for _ in range(4):
            with limiter.slot():
                time.sleep(0.005)
                with lock:
                    done.append(time.monotonic())

    threads = [threading.Thread(target=work) for _ in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    done.sort()
    assert len(done) == 20
    # slots are timed from the answer, so any 6 consecutive answers span more than a window
    assert min(done[i + 5] - done[i] for i in range(len(done) - 5)) >= 0.2 - 1e-3


def test_pause_holds_everyone_until_it_ends() -> None:
    limiter = RateLimiter(100, 1.0)
    limiter.pause(0.2)
    with limiter.slot() as waited:
        assert waited >= 0.15


def test_when_every_slot_is_in_flight_a_release_frees_the_waiter() -> None:
    limiter = RateLimiter(1, 0.05)
    limiter.acquire()
    started = time.monotonic()
    threading.Timer(0.1, limiter.release).start()
    with limiter.slot():
        elapsed = time.monotonic() - started
    assert 0.1 <= elapsed < 0.5


@pytest.mark.parametrize(("limit", "window"), [(0, 1.0), (5, 0.0)])
def test_nonsense_limits_are_refused(limit: int, window: float) -> None:
    with pytest.raises(ValueError):
        RateLimiter(limit, window)
