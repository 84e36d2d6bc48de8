"""Domains, emails and countries as the CRM should have had them.

Accounts are matched on the registrable domain (`https://www.Acme.co.uk/x`
→ `acme.co.uk`), found with the Public Suffix List snapshot that tldextract
ships, so it works offline and never fetches at run time. A contact's email
finds its account by domain, except on free-mail domains, which belong to
nobody's company.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache, lru_cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tldextract.tldextract import ExtractResult


@cache
def _suffix_list() -> tuple[Callable[[str], ExtractResult], frozenset[str]]:
    """The Public Suffix List as a parser and as a set of suffixes, read on first use.

    Loading it (tldextract, requests under it, and the list itself) is a tenth of
    a second that `icpbot check` and `icpbot sql` never need. The snapshot shipped
    with tldextract is used, never fetched; private suffixes count, so
    `acme.github.io` and `acme.myshopify.com` are accounts of their own. The set
    answers the common case (`acme.com`) without a full parse.
    """
    import tldextract

    extract = tldextract.TLDExtract(
        suffix_list_urls=(), cache_dir=None, include_psl_private_domains=True
    )
    return extract, frozenset(extract.tlds)


_SIMPLE = re.compile(r"^[a-z0-9-]+\.[a-z0-9-]+$")
_SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*://", re.IGNORECASE)

FREE_MAIL_DOMAINS = frozenset(
    {
        "gmail.com",
        "googlemail.com",
        "yahoo.com",
        "yahoo.co.uk",
        "yahoo.fr",
        "ymail.com",
        "outlook.com",
        "hotmail.com",
        "hotmail.co.uk",
        "live.com",
        "msn.com",
        "aol.com",
        "icloud.com",
        "me.com",
        "mac.com",
        "proton.me",
        "protonmail.com",
        "gmx.com",
        "gmx.de",
        "gmx.net",
        "web.de",
        "mail.com",
        "zoho.com",
        "yandex.com",
        "yandex.ru",
        "mail.ru",
        "qq.com",
        "163.com",
        "126.com",
        "fastmail.com",
        "hey.com",
        "tutanota.com",
        "orange.fr",
        "free.fr",
        "laposte.net",
        "libero.it",
        "t-online.de",
        "comcast.net",
        "verizon.net",
    }
)

_COUNTRY_ALIASES = {
    "uk": "GB",
    "england": "GB",
    "scotland": "GB",
    "wales": "GB",
    "great britain": "GB",
    "northern ireland": "GB",
    "usa": "US",
    "u.s.": "US",
    "u.s.a.": "US",
    "america": "US",
    "united states of america": "US",
    "russia": "RU",
    "south korea": "KR",
    "korea": "KR",
    "deutschland": "DE",
    "holland": "NL",
    "the netherlands": "NL",
    "czech republic": "CZ",
    "uae": "AE",
    "vietnam": "VN",
    "iran": "IR",
    "syria": "SY",
    "north korea": "KP",
}


@lru_cache(maxsize=65536)
def normalize_domain(text: str) -> str | None:
    """The registrable domain of a URL, host or email, lower-cased; None if there is none."""
    value = text.strip().lower()
    extract, suffixes = _suffix_list()
    if _SIMPLE.match(value):  # `name.tld`: registrable unless the whole of it is a suffix
        label, tld = value.split(".")
        if tld in suffixes and value not in suffixes and f"*.{tld}" not in suffixes:
            return value if label else None
    if "@" in value and not _SCHEME.match(value):
        value = value.rsplit("@", 1)[1]
    host = _SCHEME.sub("", value).split("/", 1)[0].split("?", 1)[0].split("#", 1)[0]
    value = host.rsplit("@", 1)[-1].split(":", 1)[0]  # drop user:password@ and :port
    value = value.strip(". ")
    if not value or " " in value:
        return None
    parts = extract(value)
    if not parts.domain or not parts.suffix:
        return None
    return f"{parts.domain}.{parts.suffix}"


@dataclass(frozen=True, slots=True)
class Suffixes:
    """The Public Suffix List as readers that find registrable domains in bulk (the
    columnar path, in SQL) need it: every rule (wildcards `*.x` and exceptions `!x`
    included), and the TLDs with no wildcard rule right under them, below which the
    longest rule matching a host of three labels or fewer is found by plain look-ups."""

    plain_tlds: tuple[str, ...]
    rules: tuple[str, ...]


@lru_cache(maxsize=1)
def public_suffixes() -> Suffixes:
    rules = _suffix_list()[1]
    plain = sorted(
        t for t in rules if "." not in t and not t.startswith(("*", "!")) and f"*.{t}" not in rules
    )
    return Suffixes(tuple(plain), tuple(sorted(rules)))


def email_domain(email: str) -> str | None:
    """The account domain an email belongs to, or None for free mail and junk."""
    local, _, host = email.strip().rpartition("@")
    if not local or not host:
        return None
    domain = normalize_domain(host)
    if domain is None or domain in FREE_MAIL_DOMAINS:
        return None
    return domain


def is_free_mail(domain: str) -> bool:
    return domain.strip().lower() in FREE_MAIL_DOMAINS


def load_now() -> None:
    """Read the Public Suffix List and the country names at once, not on first use.

    A long-running process calls this as it starts: read on first use, they take a
    quarter of a second of the interpreter's lock, and the requests then in flight
    (the first burst of webhook deliveries) wait as long for their answers.
    """
    import pycountry

    _suffix_list()
    pycountry.countries.lookup("US")


@lru_cache(maxsize=4096)
def normalize_country(text: str) -> str:
    """ISO 3166 alpha-2 where the text names a country; else the text as given."""
    value = text.strip()
    alias = _COUNTRY_ALIASES.get(value.casefold())
    if alias:
        return alias
    import pycountry  # on the first name not an alias: most commands never read one

    try:
        return str(pycountry.countries.lookup(value).alpha_2)
    except LookupError:
        return value
