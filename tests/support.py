"""Helpers shared by test modules, so that no test module imports another."""

from __future__ import annotations


class Woken:
    """Stands where an `InboxDrain` (a CRM's worker) goes and counts how often it was woken."""

    def __init__(self) -> None:
        self.times = 0

    def wake(self) -> None:
        self.times += 1
