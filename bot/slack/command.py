"""What a `/icp` text asks for (SPEC §5), parsed without touching anything.

The text is untrusted and anything at all may arrive: every input parses to
exactly one request, and what cannot be understood becomes `Usage` with the
reason, never an exception. Slack may wrap links (`<https://acme.com|acme.com>`,
`<mailto:dana@acme.com|...>`); the link's target is what counts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from integrations.domains import normalize_domain
from integrations.records import RecordKind
from scoring.model import Tier

MAX_TEXT = 500  # longer than any domain, name or record URL an SDR pastes
MAX_TOP = 25  # what one ephemeral answer lists comfortably
DEFAULT_TOP = 10

_SLACK_LINK = re.compile(r"<([^<>|]*)(?:\|[^<>]*)?>")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")
_HUBSPOT_RECORD = re.compile(
    r"/contacts/(?P<portal>[0-9]+)/(?:(?P<name>company|contact)|record/(?P<type>0-[12]))"
    r"/(?P<id>[0-9]+)"
)
_SALESFORCE_LIGHTNING = re.compile(
    r"/lightning/r/(?P<object>Account|Lead|Contact)/(?P<id>[A-Za-z0-9]{15}(?:[A-Za-z0-9]{3})?)/"
)
_SALESFORCE_CLASSIC = re.compile(r"^/(?P<id>(?:001|00Q|003)[A-Za-z0-9]{12}(?:[A-Za-z0-9]{3})?)/?$")
_SALESFORCE_PREFIXES = {
    "001": RecordKind.ACCOUNT,
    "00Q": RecordKind.LEAD,
    "003": RecordKind.CONTACT,
}
_SALESFORCE_OBJECTS = {
    "Account": RecordKind.ACCOUNT,
    "Lead": RecordKind.LEAD,
    "Contact": RecordKind.CONTACT,
}


@dataclass(frozen=True, slots=True)
class Lookup:
    """Explain one account: by domain, by name, or by a CRM record."""

    text: str  # as typed, for messages
    domain: str | None = None
    name: str | None = None
    crm: str | None = None
    kind: RecordKind | None = None
    crm_id: str | None = None


@dataclass(frozen=True, slots=True)
class Top:
    count: int = DEFAULT_TOP
    tier: Tier | None = None


@dataclass(frozen=True, slots=True)
class Recent:
    count: int = DEFAULT_TOP


@dataclass(frozen=True, slots=True)
class Profile:
    pass


@dataclass(frozen=True, slots=True)
class Rescore:
    domain: str


@dataclass(frozen=True, slots=True)
class Calibrate:
    """The ICP checked against won, lost and churned deals; the summary and chart go to the
    asker (admins)."""


@dataclass(frozen=True, slots=True)
class Help:
    pass


@dataclass(frozen=True, slots=True)
class Usage:
    """Not understood; `problem` says what was wrong, the answer adds the usage text."""

    problem: str


Request = Lookup | Top | Recent | Profile | Rescore | Calibrate | Help | Usage


def parse(text: str | None) -> Request:
    """The request a `/icp` text makes."""
    cleaned = clean(text or "")
    if not cleaned:
        return Usage("Tell me which account: a domain, a company name or a CRM link.")
    if len(cleaned) > MAX_TEXT:
        return Usage(f"That is {len(cleaned):,} characters; a domain, name or link is shorter.")
    word, _, rest = cleaned.partition(" ")
    verb = word.lower()
    rest = rest.strip()
    if verb == "help":
        return Help()
    if verb == "profile" and not rest:
        return Profile()
    if verb in ("calibration", "calibrate") and not rest:
        return Calibrate()
    if verb == "top":
        return _top(rest)
    if verb == "recent":
        return _recent(rest)
    if verb == "rescore":
        return _rescore(rest)
    return lookup(cleaned)


def clean(text: str) -> str:
    """Slack's link markup unwrapped, control characters and extra spaces gone."""
    unwrapped = _SLACK_LINK.sub(lambda m: m.group(1).removeprefix("mailto:"), text)
    return " ".join(_CONTROL.sub(" ", unwrapped).split())


def lookup(text: str) -> Lookup | Usage:
    """A record URL, a domain (or URL, or email), else a company name."""
    if "://" in text and " " not in text:
        record = _record_url(text)
        if record is not None:
            return record
    domain = normalize_domain(text) if " " not in text else None
    if domain:
        return Lookup(text, domain=domain)
    if "://" in text or "@" in text:
        return Usage(f"`{text}` is not a domain, a company name or a HubSpot/Salesforce link.")
    return Lookup(text, name=text)


def _record_url(text: str) -> Lookup | None:
    parts = urlsplit(text)
    host = (parts.hostname or "").lower()
    if host.endswith("hubspot.com"):
        match = _HUBSPOT_RECORD.search(parts.path)
        if match:
            person = match["name"] == "contact" or match["type"] == "0-1"
            kind = RecordKind.CONTACT if person else RecordKind.ACCOUNT
            return Lookup(text, crm="hubspot", kind=kind, crm_id=match["id"])
    if host.endswith(("force.com", "salesforce.com")):
        lightning = _SALESFORCE_LIGHTNING.search(parts.path)
        if lightning:
            kind = _SALESFORCE_OBJECTS[lightning["object"]]
            return Lookup(text, crm="salesforce", kind=kind, crm_id=lightning["id"])
        classic = _SALESFORCE_CLASSIC.match(parts.path)
        if classic:
            kind = _SALESFORCE_PREFIXES[classic["id"][:3]]
            return Lookup(text, crm="salesforce", kind=kind, crm_id=classic["id"])
    return None


def _count(word: str) -> int | None:
    if not word.isdigit() or not word.isascii():
        return None
    value = int(word[:4])
    return value if 1 <= value <= MAX_TOP else None


def _top(rest: str) -> Top | Usage:
    count, tier = DEFAULT_TOP, None
    for word in rest.split():
        if word.isdigit() and word.isascii():
            found = _count(word)
            if found is None:
                return Usage(f"`top` lists 1 to {MAX_TOP} accounts.")
            count = found
        elif word.upper() in Tier.__members__:
            tier = Tier(word.upper())
        else:
            return Usage(f"`top` takes a number (1–{MAX_TOP}) and a tier (A, B, C, D, DQ).")
    return Top(count, tier)


def _recent(rest: str) -> Recent | Usage:
    if not rest:
        return Recent()
    count = _count(rest)
    return Recent(count) if count is not None else Usage(f"`recent` lists 1 to {MAX_TOP} accounts.")


def _rescore(rest: str) -> Rescore | Usage:
    domain = normalize_domain(rest) if rest and " " not in rest else None
    if domain is None:
        return Usage("`rescore` takes one domain, like `/icp rescore acme.com`.")
    return Rescore(domain)
