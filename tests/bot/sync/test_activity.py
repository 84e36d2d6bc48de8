"""Background work steps aside while deliveries are handled, and never waits forever."""

from __future__ import annotations

import threading
import time

from bot.sync.activity import Activity


def test_quiet_at_once_when_nothing_is_in_progress() -> None:
    assert Activity().wait_quiet(timeout=0.01)


def test_waits_for_the_delivery_in_progress_to_end() -> None:
    activity = Activity()
    entered = threading.Event()

    def deliver() -> None:
        with activity.busy():
            entered.set()
            time.sleep(0.15)

    thread = threading.Thread(target=deliver)
    thread.start()
    entered.wait()
    started = time.monotonic()
    assert activity.wait_quiet(timeout=2.0)
    assert time.monotonic() - started >= 0.1
    thread.join()


def test_gives_up_after_the_timeout() -> None:
    activity = Activity()
    with activity.busy():
        assert not activity.wait_quiet(timeout=0.05)


def test_quiet_only_when_the_last_of_overlapping_deliveries_ends() -> None:
    activity = Activity()
    first, second = activity.busy(), activity.busy()
    first.__enter__()
    second.__enter__()
    first.__exit__(None, None, None)
    assert not activity.wait_quiet(timeout=0.05)
    ended = threading.Timer(0.1, second.__exit__, (None, None, None))
    ended.start()
    started = time.monotonic()
    assert activity.wait_quiet(timeout=2.0)
    assert time.monotonic() - started >= 0.05
    ended.join()
