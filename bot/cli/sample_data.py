"""Deterministic, believable sample CRM data for the demo, tests, benchmarks and calibration.

Why a generator and not hand-written CSVs: the demo, `icpbot calibrate` and the benchmarks
all need the same kind of data at different sizes, and the committed files under
`config/sample/` must be reproducible (a test regenerates them from `manifest.yaml`), so
nobody hand-edits them into an inconsistent state.

What the data models, so a demo and a calibration run have something real to find:

- Companies come from three segments: an "ICP sweet spot" (mid-market SaaS on HubSpot, the
  lookalike accounts marketing brings in), enterprise revenue teams on Salesforce, and the
  general inbound mix. Features are correlated the way markets are: SaaS uses HubSpot more,
  big companies use Salesforce, have RevOps and more SDRs; revenue follows headcount at
  roughly $80k-$300k per employee.
- CRM data is messy: optional fields are empty on 10-50% of rows (custom fields the most)
  and a record is well or poorly enriched as a whole; about 8% of domains are typed as
  URLs, upper case or with `www.`; about 5% of countries are full names; a few industries
  and technologies are in vendor casing. An empty cell always means "missing".
- Deals follow a hidden "true fit" that is deliberately *not* `config/icp.yaml`: it agrees
  on industry, size and CRM but weighs RevOps and SDR hiring more and the revenue band,
  geography and funding less, so calibration has something to propose; and mid-market
  teams that run a sales-engagement tool (Outreach, Salesloft) win more often, a pattern
  `icp.yaml` does not test, for calibration to discover. Win probability
  rises from under 10% (poor fit) to ~55% (A-tier mid-market SaaS on HubSpot). Unserved
  markets never get deals.
- Churn: a won deal whose customer later left keeps its single row, with stage `churned`
  instead of `closed_won`; its `closed_at` is still the day it was won (at least 120 days
  ago). So each deal row is exactly one outcome - `closed_won` (still a customer),
  `closed_lost`, `churned` (won, then lost) or `open` (no `closed_at`) - and no win is
  counted twice. About 8% of won deals churn, poor fits more often.
- `lifecycle_stage` agrees with the deals: a company with a live won deal is a `customer`
  (a few are left stale, as in real CRMs), one whose only win churned is `other`, one with
  an open deal is usually an `opportunity`. Deal `domain` is the registrable domain.
- Time: everything is relative to `as_of`. Company `created_at` falls in the last 10 weeks
  (busier recently, quiet at weekends); deals were created and closed within the last 18
  months, so deal history predates the CRM record, as after a CRM migration. Dates are on
  or before `as_of`; datetimes are before `as_of` 00:00 UTC.

Determinism: the same seed gives byte-identical files. Companies come from one seeded
stream. Each company's deal outcomes come from a hash of (seed, registrable domain) and
fields of its row, so `iter_companies` can derive `lifecycle_stage` from them and
`iter_deals` can rebuild the same deals later from the CSV row alone.

Usage: `python -m bot.cli.sample_data --out config/sample [--companies 500] [--seed 7]`, or
`--only companies --companies 100000 --out DIR` to stream a large file for benchmarks.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import itertools
import math
import operator
import random
import struct
import sys
from bisect import bisect
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from statistics import NormalDist
from typing import TypeVar

SAMPLE_AS_OF = date(2026, 11, 20)

COMPANY_COLUMNS: tuple[str, ...] = (
    "domain",
    "name",
    "industry",
    "employees",
    "annual_revenue",
    "country",
    "state",
    "city",
    "technologies",
    "funding_stage",
    "last_funding_at",
    "lifecycle_stage",
    "owner_id",
    "sales_motion",
    "has_revops",
    "sdr_count",
    "sdr_hiring_posted_at",
    "new_exec_at",
    "created_at",
)
CONTACT_COLUMNS: tuple[str, ...] = (
    "email",
    "first_name",
    "last_name",
    "job_title",
    "seniority",
    "lead_source",
    "lifecycle_stage",
    "owner_id",
    "created_at",
)
DEAL_COLUMNS: tuple[str, ...] = (
    "deal_id",
    "domain",
    "name",
    "stage",
    "amount",
    "created_at",
    "closed_at",
)
DEAL_STAGES: tuple[str, ...] = ("closed_won", "closed_lost", "churned", "open")
FREE_MAIL_DOMAINS: tuple[str, ...] = ("gmail.com", "yahoo.com", "outlook.com", "hotmail.com")
OWNER_IDS: tuple[str, ...] = tuple(f"owner-{n}" for n in range(101, 109))
# The CRM users those ids stand for (owners.csv): the reps of routing.yaml's teams, and one more.
OWNER_NAMES: tuple[str, ...] = (
    "Dana Reyes",
    "Lee Okafor",
    "Sam Patel",
    "Priya Shah",
    "Tom Wright",
    "Maria Gomez",
    "Jon Bauer",
    "Alex Kim",
)
OWNER_COLUMNS: tuple[str, ...] = ("owner_id", "name", "email")
SAMPLE_FILES: tuple[str, ...] = ("companies", "contacts", "deals", "owners")

T = TypeVar("T")
Table = Callable[[float], T]  # maps a uniform in [0, 1) to a weighted choice


def _table(pairs: Sequence[tuple[T, float]]) -> Table[T]:
    """A weighted choice as one bisect: ~5x cheaper than `rng.choices` at 100k rows."""
    values = [value for value, _ in pairs]
    total = sum(weight for _, weight in pairs)
    cum: list[float] = []
    running = 0.0
    for _, weight in pairs:
        running += weight
        cum.append(running / total)
    cum[-1] = 1.0  # so every u < 1.0 lands on a value

    def pick(u: float) -> T:
        return values[bisect(cum, u)]

    return pick


def _pick(rng: random.Random, table: Table[T]) -> T:
    return table(rng.random())


def _choice(r: Callable[[], float], options: Sequence[T]) -> T:
    """`rng.choice` without its exact rejection sampling, which costs ~1 µs a call."""
    return options[int(r() * len(options))]


def _clamp(value: float, low: float, high: float) -> float:
    return low if value < low else high if value > high else value


# --------------------------------------------------------------------------- vocabulary

TECH = frozenset({"software", "saas", "internet", "computer software"})
FINANCE = frozenset({"fintech", "financial services"})
PUBLIC = frozenset({"government", "education", "non-profit"})
AGENCY = frozenset({"marketing agency", "consulting"})
UNSERVED = frozenset({"RU", "BY", "IR", "KP", "CU", "SY"})
MULTI_PART_SUFFIXES = frozenset(
    {"co.uk", "org.uk", "ac.uk", "gov.uk", "com.au", "com.br", "co.in", "com.sg"}
)

_GENERAL_INDUSTRIES = _table(
    [
        ("software", 10),
        ("saas", 10),
        ("internet", 5),
        ("computer software", 4),
        ("it services", 5),
        ("fintech", 5),
        ("financial services", 7),
        ("healthcare", 8),
        ("manufacturing", 9),
        ("retail", 7),
        ("logistics", 5),
        ("marketing agency", 7),
        ("consulting", 6),
        ("media", 3),
        ("real estate", 2),
        ("government", 2),
        ("education", 3),
        ("non-profit", 2),
    ]
)
_SWEET_INDUSTRIES = _table(
    [("software", 35), ("saas", 35), ("internet", 15), ("computer software", 15)]
)
_ENTERPRISE_INDUSTRIES = _table(
    [
        ("software", 25),
        ("saas", 15),
        ("internet", 10),
        ("computer software", 5),
        ("fintech", 15),
        ("financial services", 30),
    ]
)
# Median headcount per industry for the general mix (log-normal around it).
_MEDIAN_EMPLOYEES: dict[str, float] = {
    "software": 110,
    "saas": 110,
    "internet": 120,
    "computer software": 130,
    "it services": 150,
    "fintech": 180,
    "financial services": 600,
    "healthcare": 400,
    "manufacturing": 350,
    "retail": 250,
    "logistics": 300,
    "marketing agency": 30,
    "consulting": 45,
    "media": 80,
    "real estate": 60,
    "government": 900,
    "education": 700,
    "non-profit": 60,
}
_LOG_MEDIAN_EMPLOYEES: dict[str, float] = {k: math.log(v) for k, v in _MEDIAN_EMPLOYEES.items()}
# Median revenue per employee, USD.
_REVENUE_PER_EMPLOYEE: dict[str, float] = {
    "fintech": 220_000,
    "financial services": 260_000,
    "retail": 200_000,
    "manufacturing": 180_000,
    "logistics": 160_000,
    "healthcare": 130_000,
    "marketing agency": 120_000,
    "consulting": 140_000,
    "government": 90_000,
    "education": 90_000,
    "non-profit": 85_000,
}
_LOG_REVENUE_PER_EMPLOYEE: dict[str, float] = {
    k: math.log(v) for k, v in _REVENUE_PER_EMPLOYEE.items()
}
_LOG_170K = math.log(170_000)
_INDUSTRY_VENDOR_CASE: dict[str, str] = {
    "software": "Software",
    "saas": "SaaS",
    "internet": "Internet",
    "computer software": "Computer Software",
    "fintech": "FinTech",
    "financial services": "Financial Services",
    "healthcare": "Healthcare",
    "manufacturing": "Manufacturing",
    "retail": "Retail",
}

_GENERAL_COUNTRIES = _table(
    [
        ("US", 56),
        ("GB", 10),
        ("CA", 6),
        ("DE", 5),
        ("FR", 4),
        ("AU", 4),
        ("IN", 4),
        ("NL", 3),
        ("BR", 3),
        ("ES", 1.2),
        ("SE", 1),
        ("IE", 1),
        ("SG", 0.8),
        ("RU", 0.9),
        ("IR", 0.4),
    ]
)
_SWEET_COUNTRIES = _table([("US", 75), ("GB", 15), ("CA", 10)])
_ENTERPRISE_COUNTRIES = _table(
    [("US", 65), ("GB", 12), ("DE", 6), ("FR", 5), ("CA", 5), ("AU", 4), ("NL", 3)]
)
_COUNTRY_NAMES: dict[str, tuple[str, ...]] = {
    "US": ("United States", "United States", "United States", "USA"),
    "GB": ("United Kingdom", "United Kingdom", "UK"),
    "CA": ("Canada",),
    "DE": ("Germany",),
    "FR": ("France",),
    "AU": ("Australia",),
    "IN": ("India",),
    "NL": ("Netherlands",),
    "BR": ("Brazil",),
    "ES": ("Spain",),
    "SE": ("Sweden",),
    "IE": ("Ireland",),
    "SG": ("Singapore",),
    "RU": ("Russia",),
    "IR": ("Iran",),
}
_COUNTRY_CODES: dict[str, str] = {
    name.lower(): code for code, names in _COUNTRY_NAMES.items() for name in names
}
_CITIES: dict[str, Table[tuple[str, str]]] = {
    "US": _table(
        [
            (("San Francisco", "CA"), 12),
            (("New York", "NY"), 14),
            (("Austin", "TX"), 7),
            (("Boston", "MA"), 7),
            (("Seattle", "WA"), 5),
            (("Chicago", "IL"), 6),
            (("Denver", "CO"), 4),
            (("Atlanta", "GA"), 4),
            (("Los Angeles", "CA"), 5),
            (("Salt Lake City", "UT"), 3),
            (("Raleigh", "NC"), 3),
            (("Miami", "FL"), 3),
            (("Minneapolis", "MN"), 2),
            (("Pittsburgh", "PA"), 2),
            (("Columbus", "OH"), 2),
            (("Nashville", "TN"), 2),
            (("Phoenix", "AZ"), 2),
            (("Portland", "OR"), 2),
            (("San Diego", "CA"), 2),
            (("Dallas", "TX"), 4),
        ]
    ),
    "CA": _table(
        [
            (("Toronto", "ON"), 10),
            (("Vancouver", "BC"), 6),
            (("Montreal", "QC"), 5),
            (("Calgary", "AB"), 2),
            (("Ottawa", "ON"), 2),
            (("Waterloo", "ON"), 2),
        ]
    ),
    "GB": _table(
        [
            (("London", ""), 14),
            (("Manchester", ""), 3),
            (("Edinburgh", ""), 2),
            (("Bristol", ""), 2),
            (("Cambridge", ""), 2),
            (("Leeds", ""), 1),
        ]
    ),
    "DE": _table(
        [(("Berlin", ""), 5), (("Munich", ""), 4), (("Hamburg", ""), 2), (("Köln", ""), 1)]
    ),
    "FR": _table([(("Paris", ""), 8), (("Lyon", ""), 2), (("Toulouse", ""), 1)]),
    "AU": _table([(("Sydney", ""), 5), (("Melbourne", ""), 4), (("Brisbane", ""), 1)]),
    "IN": _table(
        [(("Bengaluru", ""), 5), (("Mumbai", ""), 3), (("Pune", ""), 2), (("Hyderabad", ""), 2)]
    ),
    "NL": _table([(("Amsterdam", ""), 5), (("Rotterdam", ""), 1), (("Utrecht", ""), 1)]),
    "BR": _table([(("São Paulo", ""), 5), (("Rio de Janeiro", ""), 2), (("Florianópolis", ""), 1)]),
    "ES": _table([(("Madrid", ""), 2), (("Barcelona", ""), 2)]),
    "SE": _table([(("Stockholm", ""), 1)]),
    "IE": _table([(("Dublin", ""), 1)]),
    "SG": _table([(("Singapore", ""), 1)]),
    "RU": _table([(("Moscow", ""), 3), (("Saint Petersburg", ""), 1)]),
    "IR": _table([(("Tehran", ""), 1)]),
}
_STATE_NAMES: dict[str, str] = {
    "CA": "California",
    "NY": "New York",
    "TX": "Texas",
    "MA": "Massachusetts",
    "WA": "Washington",
    "ON": "Ontario",
}
_TLDS: dict[str, Table[str]] = {
    "US": _table([("com", 78), ("io", 9), ("co", 5), ("ai", 4), ("net", 4)]),
    "US-tech": _table([("com", 58), ("io", 22), ("ai", 9), ("co", 8), ("net", 3)]),
    "GB": _table([("co.uk", 30), ("com", 55), ("io", 15)]),
    "CA": _table([("com", 65), ("ca", 30), ("io", 5)]),
    "DE": _table([("de", 55), ("com", 40), ("io", 5)]),
    "FR": _table([("fr", 50), ("com", 45), ("io", 5)]),
    "AU": _table([("com.au", 35), ("com", 60), ("io", 5)]),
    "IN": _table([("in", 25), ("co.in", 15), ("com", 55), ("io", 5)]),
    "NL": _table([("nl", 50), ("com", 45), ("io", 5)]),
    "BR": _table([("com.br", 30), ("com", 70)]),
    "ES": _table([("es", 50), ("com", 50)]),
    "SE": _table([("se", 50), ("com", 50)]),
    "IE": _table([("ie", 50), ("com", 50)]),
    "SG": _table([("com.sg", 30), ("com", 70)]),
    "RU": _table([("ru", 85), ("com", 15)]),
    "IR": _table([("ir", 90), ("com", 10)]),
}
_LEGAL_SUFFIX: dict[str, str] = {
    "US": "Inc.",
    "CA": "Inc.",
    "GB": "Ltd",
    "IE": "Ltd",
    "DE": "GmbH",
    "FR": "SAS",
    "AU": "Pty Ltd",
    "NL": "B.V.",
    "IN": "Pvt Ltd",
    "BR": "Ltda",
    "SE": "AB",
    "ES": "S.L.",
    "SG": "Pte Ltd",
    "RU": "LLC",
    "IR": "Co.",
}

_BRAND_ROOTS = (
    "Bright North Blue Clear Cloud Data Flow Pulse Signal Summit Vertex Nimbus Quanta Harbor "
    "Iron Pine Cedar Silver Atlas Beacon Bold Cobalt Crest Delta Echo Ember Falcon Forge "
    "Glacier Granite Helix Horizon Indigo Juniper Keystone Kite Lumen Maple Meridian Nova Oak "
    "Onyx Orbit Peak Prism Quill Radiant Ridge Sage Sierra Spark Spruce Stellar Tandem Terra "
    "Tidal True Upland Vector Velvet Willow Zenith Arc Bay Birch Copper Coral Drift Fern Gale "
    "Haven Lark Mosaic Orchard Pilot River Slate Stone Swift Amber Aspen Canopy Cinder Harvest "
    "Ivory Jade Lantern Magnet Marble Nectar Opal Pebble Quartz Raven Saffron Tundra Umber"
).split()
_BRAND_TAILS = (
    "path wave stack loop point line base field gate works hub bit mind scale shift leaf light "
    "bridge craft view wise yard well mark sight beam grid lane nest fox bird rock ship flow"
).split()
_SYLLABLES = "va lo ri ne zo ka mi tu ra xo li be do fi no sa te ko lu ve ma qui ze".split()
_ENDINGS = "x n r ly io a on is ix o era ent".split()
_LOCAL_BRANDS: dict[str, tuple[str, ...]] = {
    "DE": ("Grünwerk", "Nordlicht", "Bergmann", "Sonnenfeld", "Weißfluss", "Rheinblick"),
    "FR": ("Lumière", "Étoile", "Rivière", "Beaulieu", "Clairval", "Mistral"),
    "BR": ("Estrela", "Ipê", "Jacarandá", "Horizonte", "Mandacaru"),
}
_TRANSLIT = str.maketrans(
    {
        "ü": "ue",
        "ö": "oe",
        "ä": "ae",
        "ß": "ss",
        "é": "e",
        "è": "e",
        "ê": "e",
        "à": "a",
        "á": "a",
        "ã": "a",
        "ç": "c",
        "ô": "o",
        "í": "i",
        "ó": "o",
        "ú": "u",
        "ë": "e",
        "'": "",
        " ": "",
        "-": "",
    }
)
_DESCRIPTORS: dict[str, tuple[str, ...]] = {
    "tech": (
        "Analytics",
        "Labs",
        "Software",
        "Systems",
        "Technologies",
        "Cloud",
        "AI",
        "Data",
        "Security",
        "HQ",
        "Apps",
        "Platform",
    ),
    "fintech": ("Pay", "Capital", "Finance", "Ledger", "Money"),
    "financial services": (
        "Capital",
        "Partners",
        "Financial",
        "Bank",
        "Insurance",
        "Advisors",
        "Wealth",
    ),
    "healthcare": ("Health", "Medical", "Care", "Clinics", "Bio", "Therapeutics"),
    "manufacturing": (
        "Manufacturing",
        "Industries",
        "Components",
        "Materials",
        "Machines",
        "Robotics",
    ),
    "retail": ("Goods", "Outfitters", "Market", "Supply", "Home", "Apparel"),
    "logistics": ("Logistics", "Freight", "Shipping", "Transport", "Fleet"),
    "marketing agency": ("Creative", "Media", "Digital", "Studio", "Agency", "Marketing"),
    "consulting": ("Consulting", "Advisory", "Partners", "Group", "Strategy"),
    "it services": ("IT", "Solutions", "Networks", "Managed Services"),
    "media": ("Media", "Studios", "Publishing", "Press"),
    "real estate": ("Realty", "Properties", "Homes", "Estates"),
}
_PLACE_HEADS = (
    "Oak Cedar Pine Maple Clear Green Spring West North Fair Brook Lake River Ash King Mill "
    "Stone Elm High Glen Rose Red Silver Wood"
).split()
_PLACE_TAILS = "dale field ford ton ville wood view port brook ridge haven burg".split()
_PUBLIC_NAMES: dict[str, tuple[tuple[str, str, str], ...]] = {
    # (name pattern, domain label pattern, US suffix); {p} is a place name.
    "government": (
        ("City of {p}", "cityof{p}", "gov"),
        ("{p} County", "{p}county", "gov"),
        ("{p} Transit Authority", "{p}transit", "gov"),
    ),
    "education": (
        ("{p} University", "{p}", "edu"),
        ("{p} Community College", "{p}cc", "edu"),
        ("{p} School District", "{p}schools", "org"),
    ),
    "non-profit": (
        ("{p} Community Foundation", "{p}foundation", "org"),
        ("{p} Food Bank", "{p}foodbank", "org"),
        ("Friends of {p} Library", "friendsof{p}library", "org"),
    ),
}
_PUBLIC_NON_US_SUFFIX: dict[str, str] = {"government": "gov.uk", "education": "ac.uk"}

_TECH_CASE: dict[str, str] = {
    "hubspot": "HubSpot",
    "salesforce": "Salesforce",
    "slack": "Slack",
    "zoominfo": "ZoomInfo",
    "gong": "Gong",
    "outreach": "Outreach",
}

_OWNERS = _table(list(zip(OWNER_IDS, (18, 16, 15, 13, 12, 10, 9, 7), strict=True)))
# Record-level enrichment: a multiplier on every field's missing rate.
_ENRICHMENT = _table([(0.35, 25), (1.0, 55), (1.7, 20)])
_SWEET_ENRICHMENT = _table([(0.35, 50), (1.0, 40), (1.7, 10)])
# Probability that an optional company field is empty on a normally enriched record.
_MISSING: tuple[tuple[str, float], ...] = (
    ("industry", 0.12),
    ("employees", 0.15),
    ("annual_revenue", 0.30),
    ("country", 0.08),
    ("state", 0.15),
    ("city", 0.18),
    ("technologies", 0.22),
    ("funding_stage", 0.28),
    ("last_funding_at", 0.18),
    ("sales_motion", 0.33),
    ("has_revops", 0.45),
    ("sdr_count", 0.50),
    ("sdr_hiring_posted_at", 0.10),
    ("new_exec_at", 0.10),
)
_LIFECYCLE_PROSPECT = _table(
    [("lead", 55), ("marketingqualifiedlead", 24), ("salesqualifiedlead", 14), ("opportunity", 3)]
)
# Records are created mostly in European and US office hours (UTC).
_HOUR_WEIGHTS = (
    list(range(24)),
    [1.0 + (6.0 if 13 <= hour <= 22 else 2.5 if 8 <= hour <= 12 else 0.0) for hour in range(24)],
)
_HOURS = _table(list(zip(*_HOUR_WEIGHTS, strict=True)))
_VENTURE_FUNDING: tuple[tuple[int, Table[str]], ...] = (
    (30, _table([("seed", 45), ("series-a", 25), ("bootstrapped", 30)])),
    (150, _table([("seed", 10), ("series-a", 40), ("series-b", 25), ("bootstrapped", 25)])),
    (
        600,
        _table(
            [
                ("series-a", 10),
                ("series-b", 35),
                ("series-c", 30),
                ("series-d", 5),
                ("private-equity", 8),
                ("bootstrapped", 12),
            ]
        ),
    ),
    (
        3000,
        _table(
            [
                ("series-c", 20),
                ("series-d", 25),
                ("private-equity", 25),
                ("public", 20),
                ("bootstrapped", 10),
            ]
        ),
    ),
    (10**9, _table([("series-d", 10), ("private-equity", 30), ("public", 60)])),
)
_OTHER_FUNDING: tuple[tuple[int, Table[str]], ...] = (
    (1000, _table([("bootstrapped", 60), ("private-equity", 30), ("series-a", 10)])),
    (10**9, _table([("bootstrapped", 25), ("private-equity", 40), ("public", 35)])),
)


# --------------------------------------------------------------------------- time


@dataclass(frozen=True, slots=True)
class _Calendar:
    """ISO strings precomputed per `as_of`: formatting dates is the hot path at 100k rows."""

    as_of: date
    ago: tuple[str, ...]  # ago[k] is the ISO date k days before as_of
    created_hours: Table[str]  # "YYYY-MM-DDTHH:" of the last 70 days, weighted


@lru_cache(maxsize=8)
def _calendar(as_of: date) -> _Calendar:
    ago = tuple((as_of - timedelta(days=k)).isoformat() for k in range(1600))
    hours: list[tuple[str, float]] = []
    for k in range(70, 0, -1):
        week = (70 - k) // 7  # 0 = oldest week, 9 = the latest
        weekend = (as_of - timedelta(days=k)).weekday() >= 5
        day_weight = (1.0 + 0.08 * week) * (0.25 if weekend else 1.0)
        for hour, hour_weight in zip(*_HOUR_WEIGHTS, strict=True):
            hours.append((f"{ago[k]}T{hour:02d}:", day_weight * hour_weight))
    return _Calendar(as_of, ago, _table(hours))


def _stamp(rng: random.Random, hour_prefix: str) -> str:
    """A UTC timestamp within the hour `hour_prefix` ("YYYY-MM-DDTHH:") names."""
    second = int(rng.random() * 3600)
    return f"{hour_prefix}{second // 60:02d}:{second % 60:02d}Z"


def _moment(cal: _Calendar, t: int) -> str:
    """Format `t`, seconds relative to `as_of` 00:00 UTC (negative: before), as ISO Z."""
    days = (-t - 1) // 86400 + 1
    second = t + days * 86400
    hour, rest = divmod(second, 3600)
    return f"{cal.ago[days]}T{hour:02d}:{rest // 60:02d}:{rest % 60:02d}Z"


def _seconds(cal: _Calendar, stamp: str) -> int:
    """Inverse of `_moment`."""
    moment = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    midnight = datetime(cal.as_of.year, cal.as_of.month, cal.as_of.day, tzinfo=UTC)
    return int((moment - midnight).total_seconds())


# --------------------------------------------------------------------------- domains


def registrable_domain(value: str) -> str:
    """The registrable domain of a URL, host or e-mail, for the suffixes this module emits.

    `https://www.Acme.co.uk/pricing` -> `acme.co.uk`. The bot itself uses the public suffix
    list; this is enough to join the sample files and to check them in tests.
    """
    host = value.strip().lower()
    if "@" in host:
        host = host.rsplit("@", 1)[1]
    if "://" in host:
        host = host.split("://", 1)[1]
    host = host.split("/", 1)[0].split(":", 1)[0].strip(".")
    labels = host.split(".")
    keep = 3 if ".".join(labels[-2:]) in MULTI_PART_SUFFIXES else 2
    return ".".join(labels[-keep:])


def _public_name(
    rng: random.Random, industry: str, country: str, taken: set[str]
) -> tuple[str, str]:
    """A city, college or charity: `.gov`/`.edu`/`.org` in the US, `.gov.uk`/`.ac.uk` else."""
    patterns = _PUBLIC_NAMES[industry]
    suffix_abroad = _PUBLIC_NON_US_SUFFIX.get(industry, "org")
    r = rng.random
    for attempt in range(1000):
        place = _choice(r, _PLACE_HEADS) + _choice(r, _PLACE_TAILS)
        name_pattern, label_pattern, us_suffix = _choice(r, patterns)
        label = label_pattern.format(p=place.lower())
        if attempt >= 20:  # a big benchmark run exhausts the place names
            label += str(attempt)
        domain = f"{label}.{us_suffix if country == 'US' else suffix_abroad}"
        if domain not in taken:
            taken.add(domain)
            return name_pattern.format(p=place), domain
    raise RuntimeError("no free public-sector domain")  # pragma: no cover


def _label(word: str) -> str:
    """A word as a domain label: lower case ASCII, no spaces ("Grünwerk" -> "gruenwerk")."""
    low = word.lower()
    return low if low.isascii() and low.isalnum() else low.translate(_TRANSLIT)


def _brand_name(
    rng: random.Random, industry: str, country: str, taken: set[str]
) -> tuple[str, str]:
    """An invented company name and its (unique) registrable domain."""
    tlds = _TLDS["US-tech" if country == "US" and industry in TECH else country]
    descriptors = _DESCRIPTORS.get("tech" if industry in TECH else industry, ("Group", "Co"))
    local = _LOCAL_BRANDS.get(country)
    r = rng.random
    for attempt in range(1000):
        style = r()
        if local and style < 0.3:
            brand = _choice(r, local)
        elif style < 0.5:
            brand = _choice(r, _BRAND_ROOTS) + _choice(r, _BRAND_TAILS)
        elif style < 0.75:
            brand = _choice(r, _BRAND_ROOTS)
        else:  # invented: "Kavorix", "Lunezo"
            brand = _choice(r, _SYLLABLES).capitalize() + _choice(r, _SYLLABLES)
            if r() < 0.5:
                brand += _choice(r, _SYLLABLES)
            brand += _choice(r, _ENDINGS)
        # A bare root ("Cobalt") needs a descriptor; other brands often have one.
        bare = 0.5 <= style < 0.75
        descriptor = _choice(r, descriptors) if bare or r() < 0.45 else ""
        parts = [_label(brand)]
        if descriptor and (bare or r() < 0.3):
            parts.append(_label(descriptor))
        if attempt >= 3:  # taken: do what startups do
            parts.insert(0, _choice(r, ("get", "try", "go", "use", "join")))
        if attempt >= 12:
            parts.append(str(attempt))
        joiner = "-" if len(parts) > 1 and r() < 0.3 else ""
        domain = f"{joiner.join(parts)}.{tlds(r())}"
        if domain in taken:
            continue
        taken.add(domain)
        name = f"{brand} {descriptor}" if descriptor else brand
        if r() < 0.15:
            name = f"{name} {_LEGAL_SUFFIX[country]}"
        return name, domain
    raise RuntimeError("no free domain")  # pragma: no cover


def _messy_domain(rng: random.Random, domain: str) -> str:
    """How a rep or a web form gave the domain: a URL, upper case, `www.` and so on."""
    label, suffix = domain.split(".", 1)
    display = "-".join(part.capitalize() for part in label.split("-"))
    suffix = f".{suffix}"
    r = rng.random
    roll = r()
    if roll < 0.35:
        page = _choice(r, ("pricing", "about", "contact", "en-us/", ""))
        return f"https://www.{display}{suffix}/{page}"
    if roll < 0.55:
        return f"www.{domain}"
    if roll < 0.75:
        return domain.upper()
    if roll < 0.9:
        return f"http://{domain}/"
    return f"{display}{suffix}"


# --------------------------------------------------------------------------- companies


def _technologies(
    rng: random.Random, segment: str, industry: str, employees: int, motion: str
) -> str:
    """A BuiltWith-style tool list, correlated with segment, industry, size and motion."""
    r = rng.random
    x = math.log10(employees if employees > 5 else 5)
    tech = industry in TECH
    if segment == "sweet":
        hubspot = r() < 0.82
        salesforce = r() < (0.15 if hubspot else 0.7)
    elif segment == "enterprise":
        salesforce = r() < 0.85
        hubspot = r() < 0.25
    else:
        p_sf = _clamp(-0.15 + 0.2 * x + (0.1 if industry in FINANCE else 0.0), 0.03, 0.85)
        salesforce = r() < p_sf
        p_hs = 0.6 if tech or industry in AGENCY else 0.3
        hubspot = r() < p_hs * (0.35 if salesforce else 1.0)
    tools: list[str] = []
    if hubspot:
        tools.append("hubspot")
    if salesforce:
        tools.append("salesforce")
    elif not hubspot and employees < 200 and r() < 0.35:
        tools.append("pipedrive")
    selling = motion != "product-led"
    if salesforce and employees > 300 and r() < 0.35:
        tools.append("marketo")
    if selling and employees > 100:
        roll = r()
        if roll < 0.3:
            tools.append("outreach")
        elif roll < 0.5:
            tools.append("salesloft")
    if r() < (0.35 if employees > 150 and (tech or industry in FINANCE) else 0.07):
        tools.append("gong")
    if r() < (0.2 + 0.06 * x if selling else 0.08):
        tools.append("zoominfo")
    if r() < (0.85 if tech else 0.45):
        tools.append("slack")
    if r() < (0.45 if tech and motion != "sales-led" else 0.2 if tech else 0.03):
        tools.append("segment")
    if r() < (0.35 if tech and employees < 500 else 0.08):
        tools.append("intercom")
    if r() < (0.4 if industry == "retail" else 0.2 if tech else 0.1):
        tools.append("zendesk")
    if r() < (0.02 if tech and (hubspot or salesforce) else 0.002):
        tools.append("madkudu")
    if salesforce and employees > 300 and r() < 0.05:
        tools.append("leandata")
    if not tools:
        tools.append("google-workspace")
    if r() < 0.05:
        tools = [_TECH_CASE.get(tool, tool) for tool in tools]
    return ";".join(tools)


def _company(rng: random.Random, seed: int, cal: _Calendar, taken: set[str]) -> dict[str, str]:
    """One company row; see the module docstring for what is modelled."""
    r = rng.random
    roll = r()
    segment = "sweet" if roll < 0.09 else "enterprise" if roll < 0.16 else "general"
    if segment == "sweet":
        country = _SWEET_COUNTRIES(r())
        industry = _SWEET_INDUSTRIES(r())
        true_employees = _clamp(rng.gauss(math.log(330), 0.45), 4.8, 7.3)
    elif segment == "enterprise":
        country = _ENTERPRISE_COUNTRIES(r())
        industry = _ENTERPRISE_INDUSTRIES(r())
        true_employees = _clamp(rng.gauss(math.log(3000), 0.8), 6.7, 9.9)
    else:
        country = _GENERAL_COUNTRIES(r())
        industry = _GENERAL_INDUSTRIES(r())
        median = _LOG_MEDIAN_EMPLOYEES[industry]
        true_employees = _clamp(rng.gauss(median, 1.2), 1.61, 9.9)
    employees = int(math.exp(true_employees))
    if employees >= 50 and r() < 0.33:  # enrichment vendors give rounded headcounts
        step = 10 if employees < 500 else 50 if employees < 2000 else 100
        employees = round(employees / step) * step
    x = math.log10(employees)

    if industry in PUBLIC:
        name, domain = _public_name(rng, industry, country, taken)
    else:
        name, domain = _brand_name(rng, industry, country, taken)

    per_employee = math.exp(rng.gauss(_LOG_REVENUE_PER_EMPLOYEE.get(industry, _LOG_170K), 0.3))
    revenue = employees * _clamp(per_employee, 80_000, 300_000)
    step = 100_000 if revenue >= 10_000_000 else 10_000  # enrichment vendors round revenue
    revenue = int(revenue / step + 0.5) * step
    city, state = _CITIES[country](r())

    if segment == "sweet":
        shares = (50, 40)
    elif segment == "enterprise":
        shares = (75, 25)
    elif industry in TECH:
        shares = (25, 35) if employees < 50 else (35, 35)
    else:
        shares = (70, 20)
    roll = r() * 100
    motion = "sales-led" if roll < shares[0] else "hybrid" if roll < sum(shares) else "product-led"
    technologies = _technologies(rng, segment, industry, employees, motion)

    funding_stage = funded_at = ""
    if industry not in PUBLIC:
        venture = industry in TECH or industry in FINANCE or industry == "healthcare"
        for limit, stages in _VENTURE_FUNDING if venture else _OTHER_FUNDING:
            if employees < limit:
                funding_stage = stages(r())
                break
        if funding_stage not in ("bootstrapped", "public"):
            recent = 0.65 if segment == "sweet" else 0.25
            days = int(r() * 365) if r() < recent else 365 + int(r() * 1096)
            funded_at = cal.ago[days]

    p_revops = 1.0 / (1.0 + math.exp(-2.2 * (x - 2.4)))
    p_revops += (0.2 if segment == "sweet" else 0.0) - (0.15 if motion == "product-led" else 0.0)
    has_revops = r() < p_revops
    if motion == "product-led":
        sdr_rate = 0.002
    else:
        sdr_rate = 0.015 if industry in TECH or industry in FINANCE else 0.006
    sdrs = int(min(400.0, employees * sdr_rate * math.exp(rng.gauss(0.0, 0.5))))
    if segment == "sweet":
        p_hiring = 0.65
    else:
        p_hiring = 0.35 if sdrs > 0 and motion != "product-led" else 0.1
    hiring_at = ""
    if r() < p_hiring:
        hiring_at = cal.ago[int(r() * 91) if r() < 0.65 else 91 + int(r() * 275)]
    p_exec = 0.45 if segment == "enterprise" else _clamp(0.05 + 0.05 * x, 0.05, 0.3)
    exec_at = ""
    if r() < p_exec:
        exec_at = cal.ago[int(r() * 121) if r() < 0.4 else 121 + int(r() * 600)]

    shown_country = country
    if r() < 0.06:
        shown_country = _choice(r, _COUNTRY_NAMES[country])
    if state and r() < 0.05:
        state = _STATE_NAMES.get(state, state)
    if r() < 0.04:
        industry = _INDUSTRY_VENDOR_CASE.get(industry, industry)
    shown_domain = _messy_domain(rng, domain) if r() < 0.08 else domain

    row = {
        "domain": shown_domain,
        "name": name,
        "industry": industry,
        "employees": str(employees),
        "annual_revenue": str(revenue),
        "country": shown_country,
        "state": state,
        "city": city,
        "technologies": technologies,
        "funding_stage": funding_stage,
        "last_funding_at": funded_at,
        "lifecycle_stage": "",
        "owner_id": "",
        "sales_motion": motion,
        "has_revops": "true" if has_revops else "false",
        "sdr_count": str(sdrs),
        "sdr_hiring_posted_at": hiring_at,
        "new_exec_at": exec_at,
        "created_at": _stamp(rng, cal.created_hours(r())),
    }
    quality = (_SWEET_ENRICHMENT if segment == "sweet" else _ENRICHMENT)(r())
    if employees >= 1000:
        quality *= 0.7  # data vendors know big companies better
    for column, base in _MISSING:
        if r() < base * quality and row[column]:
            row[column] = ""

    plan = _plan(row, domain, seed, cal)
    lifecycle = _lifecycle(rng, plan)
    row["lifecycle_stage"] = lifecycle
    if lifecycle in ("customer", "opportunity"):
        owned = 0.9
    else:
        owned = 0.3 if segment == "general" else 0.5
    if r() < owned:
        row["owner_id"] = _OWNERS(r())
    return row


def _lifecycle(rng: random.Random, plan: _Plan | None) -> str:
    """A lifecycle stage that agrees with the deals, with some CRM staleness."""
    r = rng.random
    stages = plan.stages if plan else ()
    if "closed_won" in stages:
        return "customer" if r() < 0.88 else "opportunity" if r() < 0.5 else "salesqualifiedlead"
    if r() < 0.06:
        return ""
    if plan and plan.open_deal:
        return "opportunity" if r() < 0.8 else "salesqualifiedlead"
    if "churned" in stages:
        return "other"
    if "closed_lost" in stages:
        return _LIFECYCLE_PROSPECT(r())
    if r() < 0.01:
        return "customer"  # won before the 18-month deal window
    return _LIFECYCLE_PROSPECT(r())


def iter_companies(
    n: int, *, seed: int = 7, as_of: date = SAMPLE_AS_OF
) -> Iterator[dict[str, str]]:
    """Yield `n` company rows (keys = `COMPANY_COLUMNS`) lazily, so 100k rows can stream.

    Only the set of domains used so far is kept, to keep registrable domains unique.
    """
    rng = random.Random(f"icpbot-sample:{seed}:companies")
    taken: set[str] = set(FREE_MAIL_DOMAINS)
    cal = _calendar(as_of)
    for _ in range(n):
        yield _company(rng, seed, cal, taken)


# --------------------------------------------------------------------------- deals


@dataclass(frozen=True, slots=True)
class _Plan:
    """A company's deal outcomes, decided before any dates or amounts."""

    fit: float
    employees: float
    stages: tuple[str, ...]  # closed deals: closed_won, closed_lost or churned
    open_deal: bool


_UNIFORMS = struct.Struct("<32H")
_U = 65536.0
_STANDARD_NORMAL = NormalDist()


def _uniforms(key: str) -> tuple[int, ...]:
    """32 uniforms in 0..65535 from one hash: reproducible per company, cheap at 100k rows."""
    return _UNIFORMS.unpack(hashlib.blake2b(key.encode(), digest_size=64).digest())


def _country_code(value: str) -> str:
    if len(value) == 2:
        return value.upper()
    return _COUNTRY_CODES.get(value.lower(), "")


def _true_fit(
    row: dict[str, str], domain: str, u: Sequence[int], cal: _Calendar
) -> tuple[float, float, bool]:
    """The market's hidden fit (0..1), the headcount and whether a competitor has it locked.

    Reads the CRM row; a blank field stands for a true value the CRM does not know, drawn
    from the 16-bit uniforms `u` with pessimistic priors: what enrichment cannot find is
    more often small or absent. Deliberately not `config/icp.yaml`: industry multiplies
    the fit instead of adding to it, RevOps and SDR hiring weigh more, and the revenue band,
    geography and funding less.
    """
    industry = row["industry"].lower()
    if not industry:
        if domain.endswith((".gov", ".edu", ".gov.uk", ".ac.uk")):
            industry = "government"
        elif domain.endswith(".org"):
            industry = "non-profit"
        else:
            industry = _GENERAL_INDUSTRIES(u[10] / _U)
    revenue = float(row["annual_revenue"]) if row["annual_revenue"] else 0.0
    if row["employees"]:
        employees = float(row["employees"])
    elif revenue:
        employees = max(5.0, revenue / 170_000)
    else:
        z = _STANDARD_NORMAL.inv_cdf((u[11] + 0.5) / _U)
        employees = _clamp(math.exp(math.log(80) + 1.2 * z), 5, 20000)
    revenue = revenue or employees * 170_000
    country = _country_code(row["country"]) or ("US" if u[16] < 0.6 * _U else "DE")
    tools = row["technologies"].lower()
    if tools:
        hubspot, salesforce = "hubspot" in tools, "salesforce" in tools
    else:
        hubspot, salesforce = u[12] < 0.2 * _U, u[13] < 0.15 * _U
    locked = "madkudu" in tools or "leandata" in tools
    motion = row["sales_motion"] or ("sales-led" if u[14] < 0.5 * _U else "product-led")
    revops = row["has_revops"] == "true" if row["has_revops"] else u[15] < 0.25 * _U
    sdrs = float(row["sdr_count"]) if row["sdr_count"] else employees * 0.01
    ago = cal.ago
    funded = row["last_funding_at"] >= ago[365]  # ISO dates compare as strings; "" is older
    hiring = row["sdr_hiring_posted_at"]
    new_exec = row["new_exec_at"]

    mid = 0.22 if 200 <= employees <= 800 else 0.11 if 120 <= employees <= 1200 else 0.0
    mid += 0.17 if hubspot else 0.0
    mid += 0.04 if 5e6 <= revenue <= 5e7 else 0.0
    mid += 0.07 if country in ("US", "CA", "GB") else 0.03
    mid += 0.12 if motion in ("sales-led", "hybrid") else 0.0
    mid += 0.15 if revops else 0.0
    mid += 0.05 if funded else 0.0
    mid += 0.18 if hiring >= ago[90] else 0.08 if hiring >= ago[180] else 0.0
    mid += 0.25 if "outreach" in tools or "salesloft" in tools else 0.0  # not in icp.yaml
    ent = 0.25 if 1000 <= employees <= 10000 else 0.12 if employees >= 600 else 0.0
    ent += 0.28 if salesforce else 0.0
    ent += 0.17 if sdrs >= 10 else 0.0
    ent += 0.15 if new_exec >= ago[120] else 0.07 if new_exec >= ago[240] else 0.0
    ent += 0.05 if revenue >= 1e8 else 0.0
    ent += 0.10 if revops else 0.0
    mid_factor, ent_factor = _INDUSTRY_FACTORS.get(industry, (0.5, 0.5))
    fit = max(mid * mid_factor, ent * ent_factor)
    fit += (u[17] + u[18] - _U) * (0.12 / _U)  # triangular noise, +-0.12
    if employees <= 20:
        fit *= 0.5
    return _clamp(fit, 0.0, 1.0), employees, locked


# How much of the mid-market and enterprise fit an industry keeps; others keep half.
_INDUSTRY_FACTORS: dict[str, tuple[float, float]] = {
    **dict.fromkeys(TECH, (1.0, 1.0)),
    "fintech": (0.6, 1.0),
    "financial services": (0.5, 1.0),
    "it services": (0.65, 0.7),
    "marketing agency": (0.35, 0.35),
    "consulting": (0.35, 0.35),
    "government": (0.2, 0.2),
    "education": (0.2, 0.2),
    "non-profit": (0.2, 0.2),
}
_MAX_DEAL_SHARE = 0.82  # p(has deals) at fit 1


def _plan(row: dict[str, str], domain: str, seed: int, cal: _Calendar) -> _Plan | None:
    """Decide a company's deal outcomes from its row and a hash of (seed, domain).

    Reads only fields that are final before `lifecycle_stage` and `owner_id` are set, so
    `iter_companies` and `iter_deals` reach the same plan.
    """
    if _country_code(row["country"]) in UNSERVED:
        return None
    u = _uniforms(f"icpbot-sample:{seed}:{domain}")
    if u[0] >= _MAX_DEAL_SHARE * _U:  # no deals whatever the fit: skip the work
        return None
    fit, employees, locked = _true_fit(row, domain, u, cal)
    if u[0] >= (0.22 + 0.6 * fit) * (0.4 if locked else 1.0) * _U:
        return None
    win = (0.06 + 0.72 * fit**2.6) * (0.4 if locked else 1.0) * _U
    churn = (0.03 + 0.12 * (1.0 - fit)) * _U
    count = 1 + (u[1] < 0.25 * _U) + (u[2] < 0.06 * _U)
    stages = tuple(
        ("churned" if u[6 + i] < churn else "closed_won") if u[3 + i] < win else "closed_lost"
        for i in range(count)
    )
    open_deal = u[9] < (0.45 if "closed_won" in stages else 0.22) * _U
    return _Plan(fit, employees, stages, open_deal)


def _amount(rng: random.Random, size: float) -> int:
    """ARR in USD: $8k-$250k, growing with headcount, rounded like a price sheet."""
    value = _clamp(9000 * math.sqrt(max(size, 0.5)) * math.exp(rng.gauss(0, 0.35)), 8000, 250000)
    step = 500 if value < 50_000 else 1000
    return int(round(value / step) * step)


def iter_deals(
    companies: Iterable[dict[str, str]], *, seed: int = 7, as_of: date = SAMPLE_AS_OF
) -> Iterator[dict[str, str]]:
    """Yield deal rows (keys = `DEAL_COLUMNS`) for rows from `iter_companies`.

    Pass the `seed` and `as_of` the companies were made with. Deals of a company are in
    creation order; `domain` is the company's registrable domain.
    """
    cal = _calendar(as_of)
    number = 0
    for company in companies:
        domain = registrable_domain(company["domain"])
        plan = _plan(company, domain, seed, cal)
        if plan is None:
            continue
        rng = random.Random(f"icpbot-sample:{seed}:{domain}:deals")
        size = plan.employees / 10.0
        deals: list[tuple[int, int | None, str, int]] = []  # created, closed, stage, amount
        for stage in plan.stages:
            cycle = int(_clamp(math.exp(rng.gauss(math.log(30 * size**0.12), 0.4)), 10, 200))
            earliest = cycle + (122 if stage == "churned" else 2)  # days ago
            days_ago = earliest + int(rng.random() * (540 - earliest))
            created = -days_ago * 86400 + _pick(rng, _HOURS) * 3600 + int(rng.random() * 3600)
            # Closes `cycle` days later, during the next 20 hours: still before `as_of`.
            closed = created + cycle * 86400 + int(rng.random() * 20) * 3600
            deals.append((created, closed, stage, _amount(rng, size)))
        if plan.open_deal:
            days_ago = 1 + int(rng.random() * 150)
            created = -days_ago * 86400 + _pick(rng, _HOURS) * 3600 + int(rng.random() * 3600)
            deals.append((created, None, "open", _amount(rng, size)))
        deals.sort(key=lambda deal: deal[0])
        won_before = False
        for opened, closes, stage, amount in deals:
            kind = "Expansion" if won_before else "New business"
            if not won_before and size >= 100 and rng.random() < 0.3:
                kind = "Pilot"
            won_before = won_before or stage in ("closed_won", "churned")
            number += 1
            yield {
                "deal_id": f"deal-{number:05d}",
                "domain": domain,
                "name": f"{company['name']} - {kind}",
                "stage": stage,
                "amount": str(amount),
                "created_at": _moment(cal, opened),
                "closed_at": "" if closes is None else _moment(cal, closes),
            }


# --------------------------------------------------------------------------- contacts

_FIRST_NAMES = (
    "James Mary Robert Patricia John Jennifer Michael Linda David Elizabeth William Barbara "
    "Richard Susan Joseph Jessica Thomas Sarah Chris Karen Daniel Lisa Matthew Nancy Anthony "
    "Emily Mark Ashley Steven Megan Andrew Rachel Kevin Laura Brian Amanda Ryan Olivia Jason "
    "Hannah Priya Rahul Ananya Arjun Wei Mei Hiroshi Yuki Ji-woo Min-jun Mohammed Fatima "
    "Omar Layla Carlos Sofia Diego Lucia Mateo Camila João Ana Pierre Camille Lukas Lena "
    "Jonas Sophie Liam Emma Noah Ava Oliver Chloe Ethan Grace Aisha Kwame Chidi Zanele "
    "Siobhan Declan Niamh Eoin Ingrid Lars Astrid Dmitri Elena Tomás Inés Zoë René"
).split()
_LAST_NAMES = (
    "Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez Hernandez Lopez "
    "Gonzalez Wilson Anderson Thomas Taylor Moore Jackson Martin Lee Perez Thompson White "
    "Harris Sanchez Clark Ramirez Lewis Robinson Walker Young Allen King Wright Scott Torres "
    "Nguyen Hill Flores Green Adams Nelson Baker Hall Rivera Campbell Mitchell Carter Roberts "
    "Patel Shah Gupta Sharma Iyer Chen Wang Zhang Liu Kim Park Tanaka Sato Müller Schmidt "
    "Schneider Fischer Dubois Lefèvre Moreau Rossi Bianchi Silva Santos Oliveira Costa "
    "O'Brien O'Connor Murphy Kelly Byrne Novak Kowalski Johansson Larsen Okafor Mensah "
    "Ivanova Haddad Cohen Levi Fernández Ortega"
).split()
_TITLES = _table(
    [
        (("Chief Revenue Officer", "executive"), 3),
        (("CEO", "executive"), 5),
        (("Co-Founder & CEO", "executive"), 3),
        (("CTO", "executive"), 2),
        (("CFO", "executive"), 1.5),
        (("VP Sales", "vp"), 5),
        (("VP of Sales", "vp"), 3),
        (("Vice President, Revenue", "vp"), 1),
        (("VP Marketing", "vp"), 3),
        (("Head of Revenue Operations", "director"), 4),
        (("Head of Sales", "director"), 3),
        (("Head of Growth", "director"), 2),
        (("Director of Growth", "director"), 3),
        (("Director of Sales Development", "director"), 2),
        (("Sales Director", "director"), 2),
        (("Director of Marketing", "director"), 2),
        (("Revenue Operations Manager", "manager"), 4),
        (("Sales Operations Manager", "manager"), 4),
        (("Marketing Operations Manager", "manager"), 2),
        (("RevOps Lead", "manager"), 1.5),
        (("Sales Manager", "manager"), 3),
        (("Marketing Manager", "manager"), 5),
        (("Demand Generation Manager", "manager"), 2),
        (("Customer Success Manager", "manager"), 2),
        (("Product Manager", "manager"), 2),
        (("Office Manager", "manager"), 1),
        (("SDR", "individual contributor"), 4),
        (("Sales Development Representative", "individual contributor"), 4),
        (("BDR", "individual contributor"), 2),
        (("Account Executive", "individual contributor"), 6),
        (("Senior Account Executive", "individual contributor"), 3),
        (("Software Engineer", "individual contributor"), 4),
        (("Senior Software Engineer", "individual contributor"), 2),
        (("Data Analyst", "individual contributor"), 2),
        (("Intern", "individual contributor"), 1.5),
        (("Marketing Intern", "individual contributor"), 1),
        (("Executive Assistant", "individual contributor"), 1.5),
        (("Student", "individual contributor"), 0.5),
    ]
)
_LEAD_SOURCES = _table(
    [
        ("organic search", 28),
        ("paid search", 18),
        ("referral", 14),
        ("event", 12),
        ("outbound", 20),
        ("partner", 8),
    ]
)
_CONTACT_COUNTS = _table([(1, 28), (2, 34), (3, 22), (4, 16)])
_EMAIL_STYLES = _table(
    [
        ("first.last", 55),
        ("flast", 20),
        ("first", 10),
        ("firstl", 5),
        ("first_last", 5),
        ("f.last", 5),
    ]
)


def _email_local(style: str, first: str, last: str) -> str:
    """The part before the @ in a company's house style (first.last, flast, ...)."""
    f = first.lower().translate(_TRANSLIT)
    la = last.lower().translate(_TRANSLIT)
    if style == "first.last":
        return f"{f}.{la}"
    if style == "flast":
        return f"{f[0]}{la}"
    if style == "first":
        return f
    if style == "firstl":
        return f"{f}{la[0]}"
    if style == "first_last":
        return f"{f}_{la}"
    return f"{f[0]}.{la}"


def _contact_lifecycle(rng: random.Random, company_stage: str) -> str:
    if rng.random() < 0.08:
        return ""
    if company_stage == "customer":
        return "customer" if rng.random() < 0.9 else "lead"
    if company_stage == "opportunity":
        return "opportunity" if rng.random() < 0.6 else "salesqualifiedlead"
    if company_stage == "other":
        return "other"
    return _pick(rng, _LIFECYCLE_PROSPECT)


def iter_contacts(
    companies: Iterable[dict[str, str]], *, seed: int = 7, as_of: date = SAMPLE_AS_OF
) -> Iterator[dict[str, str]]:
    """Yield 1-4 contact rows (keys = `CONTACT_COLUMNS`) per company row.

    E-mail addresses are unique and at the company's registrable domain, except ~7% on
    free-mail domains, which never match an account (SPEC section 3).
    """
    rng = random.Random(f"icpbot-sample:{seed}:contacts")
    cal = _calendar(as_of)
    used: set[str] = set()
    for company in companies:
        domain = registrable_domain(company["domain"])
        style = _pick(rng, _EMAIL_STYLES)
        count = _pick(rng, _CONTACT_COUNTS)
        if company["employees"] and int(company["employees"]) <= 20:
            count = min(count, 2)
        company_created = _seconds(cal, company["created_at"])
        for index in range(count):
            first = rng.choice(_FIRST_NAMES)
            last = rng.choice(_LAST_NAMES)
            if rng.random() < 0.07:
                local = _email_local(
                    rng.choice(("first.last", "firstl", "first_last")), first, last
                )
                if rng.random() < 0.5:
                    local += str(rng.randrange(1, 100))
                email_domain = rng.choice(FREE_MAIL_DOMAINS)
            else:
                local = _email_local(style, first, last)
                email_domain = domain
            email = f"{local}@{email_domain}"
            duplicate = 2
            while email in used:
                email = f"{local}{duplicate}@{email_domain}"
                duplicate += 1
            used.add(email)
            title, seniority = _pick(rng, _TITLES)
            if rng.random() < 0.03:
                title = title.lower()
            if rng.random() < 0.08:
                title = ""
            if rng.random() < 0.2:
                seniority = ""
            source = _pick(rng, _LEAD_SOURCES) if rng.random() >= 0.12 else ""
            lifecycle = _contact_lifecycle(rng, company["lifecycle_stage"])
            owner = company["owner_id"] if company["owner_id"] and rng.random() < 0.85 else ""
            if not owner and rng.random() < 0.1:
                owner = _pick(rng, _OWNERS)
            # The first contact arrives with (or creates) the company; colleagues follow.
            delay = rng.expovariate(1 / 60) if index == 0 else rng.expovariate(1 / (3 * 86400))
            created = min(company_created + 5 + int(delay), -1)
            yield {
                "email": email,
                "first_name": first,
                "last_name": last,
                "job_title": title,
                "seniority": seniority,
                "lead_source": source,
                "lifecycle_stage": lifecycle,
                "owner_id": owner,
                "created_at": _moment(cal, created),
            }


# --------------------------------------------------------------------------- files


def write_csv(path: Path, columns: Sequence[str], rows: Iterable[dict[str, str]]) -> int:
    """Write rows as UTF-8 CSV with `\\n` line ends (stable in git); return the row count."""
    getter = operator.itemgetter(*columns)
    counter = itertools.count()  # advanced once per row written

    def values(row: dict[str, str]) -> Sequence[str]:
        next(counter)
        return getter(row) if len(columns) > 1 else (getter(row),)

    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows(map(values, rows))
    return next(counter)


def _write_manifest(out_dir: Path, seed: int, counts: dict[str, int]) -> None:
    lines = [
        "# Written by `python -m bot.cli.sample_data`; regenerate rather than edit the CSVs.",
        f"as_of: {SAMPLE_AS_OF.isoformat()}",
        f"seed: {seed}",
        "counts:",
        *(f"  {name}: {count}" for name, count in counts.items()),
    ]
    (out_dir / "manifest.yaml").write_text("\n".join(lines) + "\n", encoding="utf-8")


def _write_files(
    out_dir: Path, *, n_companies: int, seed: int, only: Sequence[str]
) -> dict[str, int]:
    out_dir.mkdir(parents=True, exist_ok=True)
    counts: dict[str, int] = {}
    if tuple(only) == ("companies",):  # stream: nothing else needs the rows in memory
        rows = iter_companies(n_companies, seed=seed)
        counts["companies"] = write_csv(out_dir / "companies.csv", COMPANY_COLUMNS, rows)
    else:
        companies = list(iter_companies(n_companies, seed=seed))
        if "companies" in only:
            counts["companies"] = write_csv(out_dir / "companies.csv", COMPANY_COLUMNS, companies)
        if "contacts" in only:
            contacts = iter_contacts(companies, seed=seed)
            counts["contacts"] = write_csv(out_dir / "contacts.csv", CONTACT_COLUMNS, contacts)
        if "deals" in only:
            deals = iter_deals(companies, seed=seed)
            counts["deals"] = write_csv(out_dir / "deals.csv", DEAL_COLUMNS, deals)
        if "owners" in only:
            counts["owners"] = write_csv(out_dir / "owners.csv", OWNER_COLUMNS, iter_owners())
    _write_manifest(out_dir, seed, counts)
    return counts


def iter_owners() -> Iterator[dict[str, str]]:
    """The CRM users behind `owner_id`: what the demo's posts name instead of an id."""
    for owner_id, name in zip(OWNER_IDS, OWNER_NAMES, strict=True):
        email = name.lower().replace(" ", ".") + "@example.com"
        yield {"owner_id": owner_id, "name": name, "email": email}


def write_sample(out_dir: Path, *, n_companies: int = 500, seed: int = 7) -> None:
    """Write companies.csv, contacts.csv, deals.csv, owners.csv and manifest.yaml."""
    _write_files(
        out_dir,
        n_companies=n_companies,
        seed=seed,
        only=SAMPLE_FILES,
    )


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m bot.cli.sample_data --out DIR [--companies N] [--seed S] [--only KIND ...]`."""
    parser = argparse.ArgumentParser(
        prog="python -m bot.cli.sample_data",
        description="Write deterministic sample CRM data: companies, contacts and deals.",
    )
    parser.add_argument("--out", type=Path, required=True, help="output directory")
    parser.add_argument("--companies", type=int, default=500, help="number of companies")
    parser.add_argument("--seed", type=int, default=7, help="same seed, byte-identical files")
    parser.add_argument(
        "--only",
        action="append",
        choices=SAMPLE_FILES,
        help="write only this file (repeatable); companies alone are streamed",
    )
    args = parser.parse_args(argv)
    if args.companies < 0:
        parser.error("--companies must be >= 0")
    only = tuple(dict.fromkeys(args.only or SAMPLE_FILES))
    counts = _write_files(args.out, n_companies=args.companies, seed=args.seed, only=only)
    summary = ", ".join(f"{count} {name}" for name, count in counts.items())
    sys.stdout.write(f"wrote {summary} to {args.out}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
