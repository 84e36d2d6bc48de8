"""Who is who: Slack users by email and id, and CRM owners as Slack mentions (SPEC §6).

Routing names reps by email (`routing.yaml`), the CRM names owners by id,
Slack names users by id; email is what they share. Answers are cached for a
while: the round robin asks about the same few reps for every lead, and a
routing post should not wait on Slack's user lookups.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

log = logging.getLogger(__name__)

CACHE_SECONDS = 600.0
_NOT_FOUND = {"users_not_found", "user_not_found"}


@dataclass(frozen=True, slots=True)
class Person:
    """A Slack user as routing needs one."""

    id: str
    email: str | None
    name: str
    deleted: bool = False

    @property
    def mention(self) -> str:
        return f"<@{self.id}>"


def person_of(user: dict[str, object]) -> Person:
    """A `users.info` / `users.lookupByEmail` user object as a Person."""
    profile = user.get("profile") if isinstance(user.get("profile"), dict) else {}
    assert isinstance(profile, dict)
    email = profile.get("email")
    name = profile.get("real_name") or user.get("real_name") or user.get("name") or user.get("id")
    return Person(
        id=str(user["id"]),
        email=str(email).lower() if email else None,
        name=str(name),
        deleted=bool(user.get("deleted")),
    )


class Directory:
    """Slack users by email and by id, cached for `ttl` seconds (misses too)."""

    def __init__(
        self,
        client: WebClient,
        *,
        ttl: float = CACHE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client
        self.ttl = ttl
        self.clock = clock
        self._lock = threading.Lock()
        self._by_email: dict[str, tuple[float, Person | None]] = {}
        self._by_id: dict[str, tuple[float, Person | None]] = {}

    def by_email(self, email: str) -> Person | None:
        """The Slack user with this email, None when Slack has none."""
        key = email.strip().lower()
        cached = self._cached(self._by_email, key)
        if cached is not None:
            return cached[1]
        person = self._ask(lambda: self.client.users_lookupByEmail(email=key))
        self._remember(person, email=key)
        return person

    def by_id(self, user_id: str) -> Person | None:
        cached = self._cached(self._by_id, user_id)
        if cached is not None:
            return cached[1]
        person = self._ask(lambda: self.client.users_info(user=user_id))
        self._remember(person, user_id=user_id)
        return person

    def cached_active(self, email: str) -> bool:
        """Can this rep take leads: not deactivated in Slack (unknown to Slack still counts).

        From the cache alone: for use inside a transaction, never waits on Slack.
        """
        cached = self._cached(self._by_email, email.strip().lower())
        person = cached[1] if cached else None
        return person is None or not person.deleted

    def warm(self, emails: Iterable[str]) -> None:
        """Look these up now (outside any transaction), so later questions hit the cache."""
        for email in emails:
            try:
                self.by_email(email)
            except SlackApiError as exc:
                log.warning("slack: looking up %s failed: %s", email, exc.response.get("error"))

    def mention(self, email: str | None) -> str | None:
        """`<@U123>` for an email Slack knows, else the email itself; None for None."""
        if not email:
            return None
        try:
            person = self.by_email(email)
        except SlackApiError:
            return email
        return person.mention if person is not None and not person.deleted else email

    def _ask(self, call: Callable[[], object]) -> Person | None:
        try:
            response = call()
        except SlackApiError as exc:
            if exc.response.get("error") in _NOT_FOUND:
                return None
            raise
        user = getattr(response, "get", lambda _key: None)("user")
        return person_of(user) if isinstance(user, dict) else None

    def _cached(
        self, table: dict[str, tuple[float, Person | None]], key: str
    ) -> tuple[float, Person | None] | None:
        with self._lock:
            entry = table.get(key)
        if entry is None or self.clock() - entry[0] > self.ttl:
            return None
        return entry

    def _remember(
        self, person: Person | None, *, email: str | None = None, user_id: str | None = None
    ) -> None:
        now = self.clock()
        with self._lock:
            if email is not None:
                self._by_email[email] = (now, person)
            if user_id is not None:
                self._by_id[user_id] = (now, person)
            if person is not None:
                self._by_id[person.id] = (now, person)
                if person.email:
                    self._by_email[person.email] = (now, person)
