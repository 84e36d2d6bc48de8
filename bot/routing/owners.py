"""CRM owners by id, as people: a routing post says "Dana Reyes", not "owner 108".

Every routing post names its account's owner, and a busy hour routes many
accounts of the same few owners; each owner is asked of the CRM once per
`ttl` (misses too), and a CRM that does not answer costs a post its name,
never the post.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import Protocol

from integrations.base import Crm, Owner

log = logging.getLogger(__name__)

CACHE_SECONDS = 600.0
CRM_NAMES = {"hubspot": "HubSpot", "salesforce": "Salesforce", "csv": "the CSV export"}


class Mentions(Protocol):
    """Slack users by email as mentions (`bot.slack.people.Directory`): the email itself
    when Slack has no such user."""

    def mention(self, email: str | None) -> str | None: ...


class Owners:
    """Owners of each connected CRM, by id, cached for `ttl` seconds."""

    def __init__(
        self,
        crms: Mapping[str, Crm],
        *,
        ttl: float = CACHE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.crms = dict(crms)
        self.ttl = ttl
        self.clock = clock
        self._lock = threading.Lock()
        self._known: dict[tuple[str, str], tuple[float, Owner | None]] = {}

    def get(self, crm: str, owner_id: str) -> Owner | None:
        """The owner, None when the CRM has no such user; a bare `Owner(id)` when it did
        not answer (not remembered: the next post asks again)."""
        key = (crm, owner_id)
        with self._lock:
            cached = self._known.get(key)
        if cached is not None and self.clock() - cached[0] < self.ttl:
            return cached[1]
        source = self.crms.get(crm)
        if source is None:
            return Owner(owner_id)
        try:
            found = source.owner(owner_id)
        except Exception:  # a name is not worth failing a post over
            log.warning("could not read %s owner %s", crm, owner_id, exc_info=True)
            return Owner(owner_id)
        with self._lock:
            self._known[key] = (self.clock(), found)
        return found

    def named(self, crm: str, owner_id: str, directory: Mentions) -> str:
        """A CRM owner as a message names them: a Slack mention when Slack knows their
        email, else `owner_text`. Routing posts and the digest both say it this way."""
        owner = self.get(crm, owner_id)
        mention = directory.mention(owner.email) if owner and owner.email else None
        if mention and mention.startswith("<@"):
            return mention
        return owner_text(owner, owner_id, crm)


def owner_text(owner: Owner | None, owner_id: str, crm: str) -> str:
    """How a message names an owner Slack does not know: their name, else their email,
    else the id with what is known about it."""
    if owner is None:
        return f"owner {owner_id} (no such user in {CRM_NAMES.get(crm, crm)})"
    return owner.name or owner.email or f"owner {owner_id}"
