"""A wire-level fake of HubSpot's CRM API, for the real `hubspot-api-client` to talk to.

Adapters are tested through the SDK they ship with, over real HTTP, so the
SDK's request encoding, its answer decoding and its silent retries are all
part of the test, and a test asserts on what crossed the wire.

What it answers, with HubSpot's shapes (the SDK's models decode every one):
companies, contacts and deals (list, get, batch read, batch update, search),
their company associations (`associations=` on the list API and the v4
batch read), properties and property groups (read and create), and the deal
pipelines (read). A deal's `hs_is_closed` and `hs_is_closed_won` follow its
`dealstage` as HubSpot calculates them, from the stage's `isClosed` and
`probability` (1.0: won). What it
refuses, as HubSpot does: a missing or wrong bearer token, batches over the
limits, unknown, read-only or ill-typed property values, enumeration values
outside their options, search requests over the filter limits or past the
10,000-result paging cap, and more requests than the rolling rate limit.

Test hooks: every API request is recorded with the status it got;
`fail_next` injects errors, `latency` delays answers. Run on its own,

    python -m tests.fakes.hubspot --companies 50000 --rate-limit 190

prints its URL and serves until stdin closes or SIGTERM; the `/_fake/...`
control endpoints (no auth, not rate limited, not recorded) let another
process seed it and read its statistics. It binds 127.0.0.1 on a free port.

`Retry-After` on a rate-limited answer is whole seconds, rounded up, at
least 1. RFC 9110 defines it as an integer, and urllib3, which the SDK uses
and which silently retries GETs answered 429/503 with `Retry-After`, raises
`InvalidHeader` on a decimal. Injected faults send the `retry_after` they
are given, decimals included ("0.2"), to test how a client parses those.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import bisect
import collections
import contextlib
import fnmatch
import gc
import itertools
import math
import random
import re
import signal
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import orjson

from tests.fakes.server import TrackingServer

Properties = dict[str, str | None]
Json = Any

# HubSpot's limits, as documented (search filters: changelog of 2024-08-26).
BATCH_LIMIT = 100  # inputs of a batch read or batch update
HISTORY_BATCH_LIMIT = 50  # batch read inputs when propertiesWithHistory is asked for
LIST_LIMIT = 100  # `limit` of the list API
SEARCH_LIMIT = 200  # `limit` of the search API
SEARCH_CAP = 10_000  # `after` + `limit` of the search API
SEARCH_GROUPS = 5  # filterGroups, OR-ed
SEARCH_FILTERS_PER_GROUP = 10  # filters in a group, AND-ed
SEARCH_FILTERS = 25  # filters in all groups together
ASSOCIATION_BATCH_LIMIT = 1_000  # inputs of the v4 associations batch read
DEFAULT_WINDOW = 10.0  # seconds; what max_in_window measures when there is no limit
FIRST_ID = 1000

OBJECT_TYPES = ("companies", "contacts", "deals")
_ALIASES = {
    "companies": "companies",
    "company": "companies",
    "0-2": "companies",
    "contacts": "contacts",
    "contact": "contacts",
    "0-1": "contacts",
    "deals": "deals",
    "deal": "deals",
    "0-3": "deals",
}
_SINGULAR = {"companies": "company", "contacts": "contact", "deals": "deal"}
# Kept by HubSpot: moved forward on every write (contacts have both names).
_MODIFIED = {
    "companies": ("hs_lastmodifieddate",),
    "contacts": ("hs_lastmodifieddate", "lastmodifieddate"),
    "deals": ("hs_lastmodifieddate",),
}
# Always in an answer's properties, whatever was asked for.
_ALWAYS = {
    "companies": ("createdate", "hs_lastmodifieddate", "hs_object_id"),
    "contacts": ("createdate", "hs_lastmodifieddate", "hs_object_id", "lastmodifieddate"),
    "deals": ("createdate", "hs_lastmodifieddate", "hs_object_id"),
}
# What an answer holds when no `properties` were asked for.
_DEFAULTS = {
    "companies": ("createdate", "domain", "hs_lastmodifieddate", "hs_object_id", "name"),
    "contacts": (
        "createdate",
        "email",
        "firstname",
        "hs_lastmodifieddate",
        "hs_object_id",
        "lastmodifieddate",
        "lastname",
    ),
    # The deals spec's defaults: dealname, amount, closedate, pipeline, dealstage.
    "deals": (
        "amount",
        "closedate",
        "createdate",
        "dealname",
        "dealstage",
        "hs_lastmodifieddate",
        "hs_object_id",
        "pipeline",
    ),
}
# What the search API's free-text `query` looks in.
_SEARCHABLE = {
    "companies": ("name", "domain", "website", "phone"),
    "contacts": ("firstname", "lastname", "email", "phone", "company"),
    "deals": ("dealname", "pipeline", "dealstage", "description", "dealtype"),
}
# (typeId of the primary association, typeId of an unlabeled one), per direction.
_ASSOCIATION_TYPE_IDS = {
    ("contacts", "companies"): (1, 279),
    ("companies", "contacts"): (2, 280),
    ("deals", "companies"): (5, 341),
    ("companies", "deals"): (6, 342),
}
# HubSpot's default deal pipeline: stage id, label, probability, closed.
_DEAL_STAGES = (
    ("appointmentscheduled", "Appointment Scheduled", 0.2, False),
    ("qualifiedtobuy", "Qualified To Buy", 0.4, False),
    ("presentationscheduled", "Presentation Scheduled", 0.6, False),
    ("decisionmakerboughtin", "Decision Maker Bought-In", 0.8, False),
    ("contractsent", "Contract Sent", 0.9, False),
    ("closedwon", "Closed Won", 1.0, True),
    ("closedlost", "Closed Lost", 0.0, True),
)
DEFAULT_PIPELINE = "default"

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_DAY_MS = 86_400_000
_NAME = re.compile(r"[a-z][a-z0-9_]*")


# -- time ------------------------------------------------------------------------------------


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _iso(ms: int) -> str:
    """HubSpot's timestamp form: ISO-8601 in UTC with milliseconds and a `Z`."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms // 1000)) + f".{ms % 1000:03d}Z"


def _epoch_ms(value: object) -> int | None:
    """Epoch milliseconds from what HubSpot takes for a date: epoch ms or ISO-8601."""
    text = "" if value is None else str(value).strip()
    if not text:
        return None
    if text.lstrip("-").isdigit():
        return int(text)
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (moment - _EPOCH) // timedelta(milliseconds=1)


def _seconds(value: float) -> str:
    """A `Retry-After` value as given: "1" for whole seconds, "0.2" for a fraction."""
    return str(int(value)) if float(value).is_integer() else f"{value:.3f}".rstrip("0")


# -- the property catalogue ------------------------------------------------------------------

_DEFINED_AT = "2019-08-06T02:43:01.613Z"
# A subset of HubSpot's 150 industries.
_INDUSTRIES = (
    "ACCOUNTING",
    "AUTOMOTIVE",
    "BANKING",
    "BIOTECHNOLOGY",
    "COMPUTER_HARDWARE",
    "COMPUTER_NETWORK_SECURITY",
    "COMPUTER_SOFTWARE",
    "CONSTRUCTION",
    "CONSUMER_GOODS",
    "E_LEARNING",
    "EDUCATION_MANAGEMENT",
    "FINANCIAL_SERVICES",
    "GOVERNMENT_ADMINISTRATION",
    "HIGHER_EDUCATION",
    "HOSPITAL_HEALTH_CARE",
    "HOSPITALITY",
    "HUMAN_RESOURCES",
    "INFORMATION_TECHNOLOGY_AND_SERVICES",
    "INSURANCE",
    "INTERNET",
    "LEGAL_SERVICES",
    "LOGISTICS_AND_SUPPLY_CHAIN",
    "MANAGEMENT_CONSULTING",
    "MARKETING_AND_ADVERTISING",
    "MEDICAL_DEVICES",
    "NON_PROFIT_ORGANIZATION_MANAGEMENT",
    "REAL_ESTATE",
    "RETAIL",
    "STAFFING_AND_RECRUITING",
    "TELECOMMUNICATIONS",
    "WHOLESALE",
)
_TECHNOLOGIES = (
    "hubspot",
    "salesforce",
    "slack",
    "google_analytics",
    "google_tag_manager",
    "wordpress",
    "shopify",
    "stripe",
    "segment",
    "intercom",
    "zendesk",
    "marketo",
    "pardot",
    "outreach",
    "salesloft",
    "gong",
    "drift",
    "hotjar",
    "mailchimp",
    "madkudu",
    "leandata",
)
_LIFECYCLE = (
    "subscriber",
    "lead",
    "marketingqualifiedlead",
    "salesqualifiedlead",
    "opportunity",
    "customer",
    "evangelist",
    "other",
)
_SOURCES = (
    "ORGANIC_SEARCH",
    "PAID_SEARCH",
    "EMAIL_MARKETING",
    "SOCIAL_MEDIA",
    "REFERRALS",
    "OTHER_CAMPAIGNS",
    "DIRECT_TRAFFIC",
    "OFFLINE",
    "PAID_SOCIAL",
    "AI_REFERRALS",
)
_LEAD_STATUS = (
    "NEW",
    "OPEN",
    "IN_PROGRESS",
    "OPEN_DEAL",
    "UNQUALIFIED",
    "ATTEMPTED_TO_CONTACT",
    "CONNECTED",
    "BAD_TIMING",
)
_OWNERS = ("31000001", "31000002", "31000003", "31000004", "31000005", "31000006")
_FIELD_TYPES = {
    "string": {"text", "textarea", "file"},
    "number": {"number"},
    "date": {"date"},
    "datetime": {"date"},
    "enumeration": {"select", "radio", "checkbox"},
    "bool": {"booleancheckbox"},
}
_BOOL_OPTIONS = (("true", "Yes"), ("false", "No"))
# name, label, type, fieldType, options, read-only value
_Row = tuple[str, str, str, str, Iterable[str | tuple[str, str]], bool]
_COMMON: tuple[_Row, ...] = (
    ("createdate", "Create Date", "datetime", "date", (), False),
    ("hs_lastmodifieddate", "Last Modified Date", "datetime", "date", (), True),
    ("hs_object_id", "Record ID", "number", "number", (), True),
    ("hubspot_owner_id", "Owner", "enumeration", "select", _OWNERS, False),
    ("lifecyclestage", "Lifecycle Stage", "enumeration", "radio", _LIFECYCLE, False),
    ("country", "Country/Region", "string", "text", (), False),
    ("state", "State/Region", "string", "text", (), False),
    ("city", "City", "string", "text", (), False),
    ("phone", "Phone Number", "string", "text", (), False),
)
_CATALOGUE: dict[str, tuple[str, tuple[_Row, ...]]] = {
    "companies": (
        "companyinformation",
        (
            *_COMMON,
            ("name", "Name", "string", "text", (), False),
            ("domain", "Company Domain Name", "string", "text", (), False),
            ("website", "Website URL", "string", "text", (), False),
            ("industry", "Industry", "enumeration", "select", _INDUSTRIES, False),
            ("numberofemployees", "Number of Employees", "number", "number", (), False),
            ("annualrevenue", "Annual Revenue", "number", "number", (), False),
            ("zip", "Postal Code", "string", "text", (), False),
            ("description", "Description", "string", "textarea", (), False),
            ("founded_year", "Year Founded", "string", "text", (), False),
            ("is_public", "Is Public", "bool", "booleancheckbox", _BOOL_OPTIONS, False),
            (
                "type",
                "Type",
                "enumeration",
                "select",
                ("PROSPECT", "PARTNER", "RESELLER", "VENDOR", "OTHER"),
                False,
            ),
            (
                "web_technologies",
                "Web Technologies",
                "enumeration",
                "checkbox",
                _TECHNOLOGIES,
                False,
            ),
        ),
    ),
    "contacts": (
        "contactinformation",
        (
            *_COMMON,
            ("email", "Email", "string", "text", (), False),
            ("firstname", "First Name", "string", "text", (), False),
            ("lastname", "Last Name", "string", "text", (), False),
            ("jobtitle", "Job Title", "string", "text", (), False),
            ("company", "Company Name", "string", "text", (), False),
            ("hs_seniority", "Seniority", "string", "text", (), False),
            ("hs_analytics_source", "Original Source", "enumeration", "select", _SOURCES, False),
            ("hs_lead_status", "Lead Status", "enumeration", "select", _LEAD_STATUS, False),
            ("lastmodifieddate", "Last Modified Date", "datetime", "date", (), True),
            ("associatedcompanyid", "Primary Associated Company ID", "number", "number", (), True),
        ),
    ),
}
_DEAL_TYPES = (("newbusiness", "New Business"), ("existingbusiness", "Existing Business"))
_CATALOGUE["deals"] = (
    "dealinformation",
    (
        *_COMMON[:4],  # createdate, hs_lastmodifieddate, hs_object_id, hubspot_owner_id
        ("dealname", "Deal Name", "string", "text", (), False),
        ("amount", "Amount", "number", "number", (), False),
        ("closedate", "Close Date", "datetime", "date", (), False),
        (
            "pipeline",
            "Pipeline",
            "enumeration",
            "select",
            ((DEFAULT_PIPELINE, "Sales Pipeline"),),
            False,
        ),
        ("dealstage", "Deal Stage", "enumeration", "radio", [s[:2] for s in _DEAL_STAGES], False),
        ("dealtype", "Deal Type", "enumeration", "radio", _DEAL_TYPES, False),
        ("description", "Deal Description", "string", "textarea", (), False),
        # Calculated by HubSpot from the deal's stage: read-only.
        ("hs_is_closed", "Is Deal Closed?", "bool", "booleancheckbox", _BOOL_OPTIONS, True),
        ("hs_is_closed_won", "Is Closed Won", "bool", "booleancheckbox", _BOOL_OPTIONS, True),
    ),
)
_CALCULATED = {"hs_is_closed", "hs_is_closed_won"}
_GROUPS = {
    "deals": (("dealinformation", "Deal information"), ("deal_activity", "Deal activity")),
    "companies": (
        ("companyinformation", "Company information"),
        ("socialmediainformation", "Social media information"),
        ("analyticsinformation", "Web analytics history"),
    ),
    "contacts": (
        ("contactinformation", "Contact information"),
        ("emailinformation", "Email information"),
        ("socialmediainformation", "Social media information"),
        ("analyticsinformation", "Web analytics history"),
    ),
}


def _option(value: str, label: str, order: int) -> dict[str, Any]:
    return {
        "label": label,
        "value": value,
        "description": "",
        "displayOrder": order,
        "hidden": False,
    }


def _options(values: Iterable[str | tuple[str, str]]) -> list[dict[str, Any]]:
    """Options from values, or (value, label) pairs; `A_B` values are labelled `A B`."""
    pairs = [v if isinstance(v, tuple) else (v, v.replace("_", " ").title()) for v in values]
    return [_option(value, label, i) for i, (value, label) in enumerate(pairs)]


def _definition(row: _Row, group: str) -> dict[str, Any]:
    """A HubSpot-defined property, with every field the SDK's `Property` model wants."""
    name, label, kind, field_type, options, read_only = row
    return {
        "name": name,
        "label": label,
        "type": kind,
        "fieldType": field_type,
        "description": "",
        "groupName": group,
        "options": _options(options),
        "displayOrder": -1,
        "calculated": False,
        "externalOptions": False,
        "hasUniqueValue": False,
        "hidden": False,
        "hubspotDefined": True,
        "formField": not read_only,
        "archived": False,
        "createdAt": _DEFINED_AT,
        "updatedAt": _DEFINED_AT,
        "modificationMetadata": {
            "archivable": False,
            "readOnlyDefinition": True,
            "readOnlyValue": read_only,
        },
    }


def _custom(name: str, group: str, stamp: str) -> dict[str, Any]:
    """A text property defined on the fly, for a seeded value nothing had defined."""
    definition = _definition((name, name, "string", "text", (), False), group)
    definition.update(hubspotDefined=False, createdAt=stamp, updatedAt=stamp)
    definition["modificationMetadata"].update(archivable=True, readOnlyDefinition=False)
    return definition


def _catalogue(object_type: str) -> dict[str, dict[str, Any]]:
    group, rows = _CATALOGUE[object_type]
    catalogue = {row[0]: _definition(row, group) for row in rows}
    for name in _CALCULATED & set(catalogue):
        catalogue[name]["calculated"] = True
    return catalogue


def _stage(id: str, label: str, probability: float, closed: bool, order: int) -> dict[str, Any]:
    """A deal pipeline stage as the pipelines API shows one (metadata values are text)."""
    return {
        "id": id,
        "label": label,
        "displayOrder": order,
        "metadata": {"isClosed": str(closed).lower(), "probability": str(probability)},
        "createdAt": _iso(0),  # the default pipeline's stages were created at 0, says the spec
        "updatedAt": _DEFINED_AT,
        "archived": False,
        "writePermissions": "CRM_PERMISSIONS_ENFORCEMENT",
    }


def _default_pipeline() -> dict[str, Any]:
    return {
        "id": DEFAULT_PIPELINE,
        "label": "Sales Pipeline",
        "displayOrder": 0,
        "stages": [_stage(*row, order) for order, row in enumerate(_DEAL_STAGES)],
        "createdAt": _iso(0),
        "updatedAt": _DEFINED_AT,
        "archived": False,
    }


def _owner(id: str, email: str, first: str = "", last: str = "") -> dict[str, Any]:
    """An owner as the owners API shows one."""
    return {
        "id": id,
        "email": email,
        "firstName": first,
        "lastName": last,
        "userId": int(id) % 10**7,
        "type": "PERSON",
        "archived": False,
        "teams": [],
        "createdAt": _DEFINED_AT,
        "updatedAt": _DEFINED_AT,
    }


def _group(name: str, label: str, order: int = -1) -> dict[str, Any]:
    return {"name": name, "label": label, "displayOrder": order, "archived": False}


# -- errors ----------------------------------------------------------------------------------


class Refused(Exception):
    """An error answer shaped like HubSpot's: status, message, category and extra fields."""

    def __init__(
        self, status: int, message: str, category: str = "VALIDATION_ERROR", **extra: Any
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.category = category
        self.extra = extra

    def body(self) -> dict[str, Any]:
        return {**_error(self.message, self.category), **self.extra}


def _error(message: str, category: str) -> dict[str, Any]:
    return {
        "status": "error",
        "message": message,
        "correlationId": str(uuid.uuid4()),
        "category": category,
    }


def _not_valid(problems: list[dict[str, Any]]) -> Refused:
    """HubSpot's answer to bad property values: the problems as JSON inside the message."""
    return Refused(400, "Property values were not valid: " + orjson.dumps(problems).decode())


def _problem(name: str, error: str, message: str) -> dict[str, Any]:
    return {
        "isValid": False,
        "message": message,
        "error": error,
        "name": name,
        "localizedErrorMessage": message,
    }


def _unknown_property(name: str) -> dict[str, Any]:
    return _problem(name, "PROPERTY_DOESNT_EXIST", f'Property "{name}" does not exist')


class _Invalid(Exception):
    """A value a property refuses: HubSpot's error code and message."""

    def __init__(self, error: str, message: str) -> None:
        super().__init__(message)
        self.error = error
        self.message = message


# -- values ----------------------------------------------------------------------------------


def _text(value: object) -> str:
    """A JSON value as HubSpot takes it for a property: text; numbers and booleans as text."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | str):
        return str(value)
    raise _Invalid("INVALID_VALUE", f"{orjson.dumps(value).decode()} is not a property value")


def _stored(definition: Mapping[str, Any], value: object) -> str:
    """The value as HubSpot keeps it; `_Invalid` when the property's type refuses it.

    Dates come back in HubSpot's own form whatever form they were written in
    (epoch ms or ISO-8601): clients that compare what they wrote with what
    they read must normalise, as they must against HubSpot.
    """
    text = _text(value)
    if text == "":
        return ""
    check = _CHECKS.get(definition["type"])
    return check(definition, text) if check else text


def _number(definition: Mapping[str, Any], text: str) -> str:
    try:
        if math.isfinite(float(text)):
            return text
    except ValueError:
        pass
    raise _Invalid("INVALID_NUMBER", f"{text} was not a valid number.")


def _datetime(definition: Mapping[str, Any], text: str) -> str:
    ms = _epoch_ms(text)
    if ms is None:
        raise _Invalid("INVALID_DATE", f"{text} was not a valid date-time.")
    return _iso(ms)


def _date(definition: Mapping[str, Any], text: str) -> str:
    ms = _epoch_ms(text)
    if ms is None or ms % _DAY_MS:
        raise _Invalid("INVALID_DATE", f"{text} is not a valid date at midnight UTC.")
    return _iso(ms)[:10]


def _bool(definition: Mapping[str, Any], text: str) -> str:
    if text.lower() not in ("true", "false"):
        raise _Invalid("INVALID_BOOLEAN", f"{text} was not a valid boolean.")
    return text.lower()


def _enumeration(definition: Mapping[str, Any], text: str) -> str:
    allowed = [o["value"] for o in definition["options"]]
    chosen = text.split(";") if definition["fieldType"] == "checkbox" else [text]
    for value in chosen:
        if value not in allowed:
            message = f"{value} was not one of the allowed options: [{', '.join(allowed)}]"
            raise _Invalid("INVALID_OPTION", message)
    return text


_CHECKS: dict[str, Callable[[Mapping[str, Any], str], str]] = {
    "number": _number,
    "datetime": _datetime,
    "date": _date,
    "bool": _bool,
    "enumeration": _enumeration,
}


# -- search ----------------------------------------------------------------------------------

Predicate = Callable[[Properties], bool]


def _comparable(kind: str) -> Callable[[object], Any]:
    """How a property's values compare: dates as instants, numbers as numbers, text folded."""
    if kind in ("datetime", "date"):
        return _instant
    if kind == "number":
        return _float
    return lambda v: None if v is None or v == "" else str(v).lower()


def _instant(value: object) -> str | None:
    """A date as a sortable instant: HubSpot's own form (fixed width, UTC) already sorts
    as one, so only values in another form (epoch ms, other ISO forms) are parsed."""
    if value is None or value == "":
        return None
    text = str(value)
    if len(text) == 24 and text[10] == "T" and text[-1] == "Z":
        return text
    ms = _epoch_ms(text)
    return None if ms is None else _iso(ms)


def _float(value: object) -> float | None:
    try:
        return float(str(value))
    except ValueError:
        return None


def _tokens(text: str) -> set[str]:
    """The words HubSpot's search indexes a text value by, and the whole value."""
    lowered = text.lower()
    return {lowered, *re.split(r"[^\w]+", lowered)} - {""}


def _has_token(value: object, pattern: str) -> bool:
    """CONTAINS_TOKEN: a word of the value equals the pattern; `*` is a wildcard."""
    if value in (None, ""):
        return False
    words = _tokens(str(value))
    pattern = pattern.lower()
    if "*" not in pattern:
        return pattern in words
    return any(fnmatch.fnmatchcase(w, pattern) for w in words)


def _predicate(flt: Mapping[str, Any], definition: Mapping[str, Any]) -> Predicate:
    """One search filter as a test of an object's properties."""
    name, operator = flt["propertyName"], flt["operator"]
    if operator in ("HAS_PROPERTY", "NOT_HAS_PROPERTY"):
        wanted = operator == "HAS_PROPERTY"
        return lambda p: (p.get(name) not in (None, "")) is wanted
    if operator in ("CONTAINS_TOKEN", "NOT_CONTAINS_TOKEN"):
        pattern, wanted = str(flt.get("value", "")), operator == "CONTAINS_TOKEN"
        return lambda p: _has_token(p.get(name), pattern) is wanted
    key = _comparable(definition["type"])
    if definition.get("fieldType") == "checkbox":
        return _multi_predicate(name, operator, flt, key)
    return _value_predicate(name, operator, flt, key)


def _value_predicate(
    name: str, operator: str, flt: Mapping[str, Any], key: Callable[[object], Any]
) -> Predicate:
    if operator in ("IN", "NOT_IN"):
        values, wanted = {key(v) for v in flt.get("values") or []}, operator == "IN"
        return lambda p: (key(p.get(name)) in values) is wanted
    if operator == "BETWEEN":
        low, high = key(flt.get("value")), key(flt.get("highValue"))
        return lambda p: _between(key(p.get(name)), low, high)
    target = key(flt.get("value"))
    if operator == "NEQ":
        return lambda p: key(p.get(name)) != target
    compare = _COMPARE[operator]
    return lambda p: _compared(key(p.get(name)), target, compare)


def _multi_predicate(
    name: str, operator: str, flt: Mapping[str, Any], key: Callable[[object], Any]
) -> Predicate:
    """A multiple-checkbox property matches when any of its chosen values does."""
    values = flt.get("values") if operator in ("IN", "NOT_IN") else [flt.get("value")]
    targets = {key(v) for v in values or []}
    wanted = operator in ("EQ", "IN")
    if operator not in ("EQ", "NEQ", "IN", "NOT_IN"):
        raise Refused(400, f"{operator} cannot filter the multiple-checkbox property {name}")
    return lambda p: bool(targets & {key(v) for v in str(p.get(name) or "").split(";")}) is wanted


def _between(value: Any, low: Any, high: Any) -> bool:
    return None not in (value, low, high) and low <= value <= high


def _compared(value: Any, target: Any, compare: Callable[[Any, Any], bool]) -> bool:
    return value is not None and target is not None and compare(value, target)


_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "EQ": lambda a, b: a == b,
    "GT": lambda a, b: a > b,
    "GTE": lambda a, b: a >= b,
    "LT": lambda a, b: a < b,
    "LTE": lambda a, b: a <= b,
}
_OPERATORS = {
    *_COMPARE,
    "NEQ",
    "IN",
    "NOT_IN",
    "BETWEEN",
    "HAS_PROPERTY",
    "NOT_HAS_PROPERTY",
    "CONTAINS_TOKEN",
    "NOT_CONTAINS_TOKEN",
}
_NEEDS_VALUE = {*_COMPARE, "NEQ", "BETWEEN", "CONTAINS_TOKEN", "NOT_CONTAINS_TOKEN"}


@dataclass(frozen=True, slots=True)
class SearchRequest:
    """A search body, checked against HubSpot's rules."""

    groups: list[list[dict[str, Any]]]
    sort: tuple[str, bool] | None  # (property, descending)
    properties: list[str] | None
    limit: int
    after: int
    query: str

    @classmethod
    def parse(cls, body: Json) -> SearchRequest:
        if not isinstance(body, dict):
            raise Refused(400, "The search body must be a JSON object.")
        limit = _count(body.get("limit", 10), "limit", SEARCH_LIMIT)
        after = _position(body["after"]) if body.get("after") else 0
        if after + limit > SEARCH_CAP:
            raise Refused(
                400,
                f"Search results are capped at {SEARCH_CAP}: after ({after}) + limit "
                f"({limit}) may not exceed it. Narrow the filters instead of paging further.",
            )
        groups = _filter_groups(body.get("filterGroups") or [])
        properties = _names(body.get("properties"), "properties")
        return cls(
            groups,
            _sort(body.get("sorts") or []),
            properties,
            limit,
            after,
            str(body.get("query") or ""),
        )

    def key(self) -> bytes:
        """What decides the matches and their order (not the page), for the match cache."""
        return orjson.dumps([self.groups, self.sort, self.query])


def cursor(position: int) -> str:
    """A paging cursor as HubSpot hands them out: opaque text ("NTI1Cg=="), never a number a
    client could do sums with. Here it is a position (the last id of a list page, a search
    offset) in base64; a client that `int()`s one fails here as it would on HubSpot."""
    return base64.b64encode(f"{position}\n".encode()).decode()


def _position(value: object) -> int:
    """The position a cursor of ours stands for; 400 for anything else, as HubSpot answers."""
    try:
        return int(base64.b64decode(str(value), validate=True).decode())
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise Refused(400, f"after is not a valid paging cursor: {value!r}.") from None


def _count(value: object, name: str, high: int | None) -> int:
    """A non-negative integer (given as a number or as text), at most `high`."""
    try:
        number = int(str(value))
    except ValueError:
        raise Refused(400, f"{name} must be an integer, got {value!r}.") from None
    if number < 0 or (high is not None and number > high):
        raise Refused(400, f"{name} must be between 0 and {high}, got {number}.")
    return number


def _filter_groups(groups: object) -> list[list[dict[str, Any]]]:
    if not isinstance(groups, list) or not all(isinstance(g, dict) for g in groups):
        raise Refused(400, "filterGroups must be a list of objects.")
    filters = [g.get("filters") or [] for g in groups]
    if len(groups) > SEARCH_GROUPS or any(len(f) > SEARCH_FILTERS_PER_GROUP for f in filters):
        raise Refused(
            400,
            f"A search takes at most {SEARCH_GROUPS} filterGroups of at most "
            f"{SEARCH_FILTERS_PER_GROUP} filters each.",
        )
    if sum(len(f) for f in filters) > SEARCH_FILTERS:
        raise Refused(400, f"A search takes at most {SEARCH_FILTERS} filters in all.")
    for flt in (f for group in filters for f in group):
        _check_filter(flt)
    return filters


def _check_filter(flt: object) -> None:
    if not isinstance(flt, dict) or not flt.get("propertyName"):
        raise Refused(400, "Every filter needs a propertyName.")
    operator = flt.get("operator")
    if operator not in _OPERATORS:
        raise Refused(400, f"Unknown filter operator {operator!r}.")
    if operator in _NEEDS_VALUE and flt.get("value") is None:
        raise Refused(400, f"The {operator} filter on {flt['propertyName']} needs a value.")
    if operator == "BETWEEN" and flt.get("highValue") is None:
        raise Refused(400, f"The BETWEEN filter on {flt['propertyName']} needs a highValue.")
    if operator in ("IN", "NOT_IN") and not isinstance(flt.get("values"), list):
        raise Refused(400, f"The {operator} filter on {flt['propertyName']} needs values.")


def _sort(sorts: object) -> tuple[str, bool] | None:
    """HubSpot sorts by one property: `{"propertyName", "direction"}` or a bare name."""
    if not isinstance(sorts, list):
        raise Refused(400, "sorts must be a list.")
    if len(sorts) > 1:
        raise Refused(400, "A search can be sorted by one property only.")
    if not sorts:
        return None
    first = sorts[0]
    if isinstance(first, str):
        return first.lstrip("-"), first.startswith("-")
    if not isinstance(first, dict) or not first.get("propertyName"):
        raise Refused(400, "A sort needs a propertyName.")
    direction = first.get("direction", "ASCENDING")
    if direction not in ("ASCENDING", "DESCENDING"):
        raise Refused(400, f"A sort direction is ASCENDING or DESCENDING, not {direction!r}.")
    return first["propertyName"], direction == "DESCENDING"


# -- state -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Recorded:
    """One API request as the fake saw it, and the status it answered."""

    method: str
    path: str
    query: dict[str, list[str]]
    body: Any
    status: int
    at: float  # time.monotonic() on arrival


@dataclass(slots=True)
class Fault:
    count: int
    status: int
    path: str | None
    retry_after: float | None


@dataclass(slots=True)
class Stored:
    """One company or contact."""

    id: str
    properties: Properties
    created_at: str
    updated_at: str
    modified_ms: int
    history: dict[str, list[dict[str, Any]]] | None = None  # begun at the first write


@dataclass(frozen=True, slots=True)
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    body: bytes
    authorization: str | None


@dataclass(slots=True)
class Response:
    status: int
    body: Json
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Call:
    """What a route gets: the path's parts, the query string and the parsed body."""

    params: dict[str, str]
    query: dict[str, list[str]]
    body: Json


Answer = tuple[int, Json]


# -- the fake --------------------------------------------------------------------------------


class FakeHubSpot:
    """The fake; `with FakeHubSpot() as fake:` serves on `fake.url` for the block."""

    def __init__(
        self,
        *,
        token: str = "test-token",
        rate_limit: tuple[int, float] | None = (190, 10.0),
        latency: float = 0.0,
        retry_after: float = 1.0,
        search_limit: int | None = 5,
    ) -> None:
        self.token = token
        self.rate_limit = rate_limit
        self.search_limit = search_limit  # search requests a second, apart from rate_limit
        self._searches: collections.deque[float] = collections.deque()
        self._max_searches = 0  # the most searches seen in any second
        self.latency = latency
        self.retry_after = retry_after  # the least Retry-After a rate-limited answer sends
        self.url = ""
        self._lock = threading.RLock()
        self._objects: dict[str, dict[str, Stored]] = {t: {} for t in OBJECT_TYPES}
        self._order: dict[str, list[int]] = {t: [] for t in OBJECT_TYPES}  # ids, ascending
        self._links: dict[tuple[str, str], dict[str, list[str]]] = {
            pair: {} for pair in _ASSOCIATION_TYPE_IDS
        }
        self._properties = {t: _catalogue(t) for t in OBJECT_TYPES}
        self._groups = {t: {n: _group(n, label) for n, label in _GROUPS[t]} for t in OBJECT_TYPES}
        self._tagged: dict[str, set[str]] = {t: set() for t in OBJECT_TYPES}
        self._first_tagged: dict[str, float] = {}
        self._versions = dict.fromkeys(OBJECT_TYPES, 0)
        self._matches: dict[tuple[str, bytes, int], list[Stored]] = {}
        self._next_id = FIRST_ID
        self._last_seed = 0
        self._requests: list[Recorded] = []
        self._window: collections.deque[float] = collections.deque()  # admitted requests
        self._seen: collections.deque[float] = collections.deque()  # every API request
        self._max_in_window = 0
        self._rate_limited = 0
        self._injected = 0
        self._faults: list[Fault] = []
        self._refused_updates: dict[str, str] = {}  # object id → why a batch update refuses it
        self._owners: dict[str, dict[str, Any]] = {
            owner: _owner(owner, f"owner{n}@example.com") for n, owner in enumerate(_OWNERS, 1)
        }
        self._pipelines: dict[str, dict[str, Any]] = {DEFAULT_PIPELINE: _default_pipeline()}
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> FakeHubSpot:
        """Serve in a daemon thread on 127.0.0.1, on a port the system picks."""
        if self._server is not None:
            raise RuntimeError("the fake HubSpot is already serving")
        self._stopping.clear()
        self._server = _Server(self)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.01,), name="fake-hubspot", daemon=True
        )  # polls for `stop` every 10 ms: stopping must not cost a test half a second
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, close every client connection and wait for the handler threads."""
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is None:
            return
        self._stopping.set()
        server.shutdown()
        server.close_connections()
        server.server_close()
        if thread is not None:
            thread.join(5)

    def __enter__(self) -> FakeHubSpot:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- seeding ---------------------------------------------------------------------------

    def add_company(self, properties: Properties, *, id: str | None = None) -> str:
        """A company as the portal holds it (values are taken as given, not validated)."""
        with self._lock:
            return self._insert("companies", properties, id).id

    def update_company(self, id: str, properties: Properties) -> None:
        """A change made in HubSpot by a person (not validated), modified now."""
        with self._lock:
            self._update("companies", self._objects["companies"][id], dict(properties))

    def add_contact(
        self, properties: Properties, *, company_id: str | None = None, id: str | None = None
    ) -> str:
        """A contact; with `company_id`, its primary company (the first one associated)."""
        with self._lock:
            contact = self._insert("contacts", properties, id).id
            if company_id is not None:
                self._associate("contacts", contact, company_id)
            return contact

    def add_deal(
        self, properties: Properties, *, company_id: str | None = None, id: str | None = None
    ) -> str:
        """A deal; with `company_id`, its primary company (the first one associated).
        `hs_is_closed` and `hs_is_closed_won` follow its `dealstage`, as HubSpot's do."""
        with self._lock:
            deal = self._insert("deals", properties, id).id
            if company_id is not None:
                self._associate("deals", deal, company_id)
            return deal

    def update_deal(self, id: str, properties: Properties) -> None:
        """A change made in HubSpot by a person (a deal moved to another stage, say)."""
        with self._lock:
            self._update("deals", self._objects["deals"][id], dict(properties))

    def associate_deal(self, deal: str, company: str) -> None:
        """One more company for a deal (its first one stays the primary)."""
        with self._lock:
            self._associate("deals", deal, company)

    def add_deal_stage(
        self,
        id: str,
        label: str,
        *,
        probability: float,
        closed: bool,
        pipeline: str = DEFAULT_PIPELINE,
    ) -> None:
        """A stage of the team's own in a deal pipeline: listed by the pipelines API, and a
        valid `dealstage` value."""
        with self._lock:
            stages = self._pipelines[pipeline]["stages"]
            stages.append(_stage(id, label, probability, closed, len(stages)))
            options = self._properties["deals"]["dealstage"]["options"]
            options.append(_option(id, label, len(options)))

    def add_owner(self, id: str, email: str, *, first: str = "", last: str = "") -> None:
        """A HubSpot user who can own records: listed by the owners API, valid as an owner id."""
        with self._lock:
            self._owners[id] = _owner(id, email, first, last)
            for object_type in OBJECT_TYPES:
                prop = self._properties[object_type].get("hubspot_owner_id")
                if prop is not None and all(o["value"] != id for o in prop["options"]):
                    prop["options"].append(_options([(id, f"{first} {last}".strip() or email)])[0])

    def seed_companies(self, n: int, *, seed: int = 1) -> list[str]:
        """`n` plausible companies, the same for the same seed; domains `company{seed}-{i}.com`.

        Domains follow a pattern so that tests can give contacts an email at a
        seeded company without asking which companies were made.
        """
        with self._lock, _gc_paused():
            self._last_seed = max(self._last_seed, seed)
            rows = _plausible_companies(n, seed)
            first = self._next_id
            self._next_id += n  # above every id so far: the index stays in order by appending
            objects = self._objects["companies"]
            for id, (props, modified_ms) in zip(range(first, first + n), rows, strict=True):
                props["hs_object_id"] = key = str(id)
                stamp = props["hs_lastmodifieddate"]
                objects[key] = Stored(key, props, props["createdate"], stamp, modified_ms)
            self._order["companies"].extend(range(first, first + n))
            if rows:
                self._define_seeded("companies", rows[0][0])
            self._versions["companies"] += 1
            return [str(i) for i in range(first, first + n)]

    def seed_contacts(
        self, n: int, *, seed: int = 1, company_ids: list[str] | None = None
    ) -> list[str]:
        """`n` plausible contacts; with `company_ids`, each works at one (in turn) and has
        an email at its domain; one in ten uses a free-mail address instead."""
        rng = random.Random(seed)
        with self._lock:
            companies = [self._objects["companies"][i] for i in company_ids or []]
            ids = []
            for i in range(n):
                company = companies[i % len(companies)] if companies else None
                domain = company.properties.get("domain") if company else None
                contact = self._insert("contacts", _plausible_contact(rng, i, domain), None)
                if company is not None:
                    self._associate("contacts", contact.id, company.id)
                ids.append(contact.id)
            return ids

    # -- inspection ------------------------------------------------------------------------

    def company(self, id: str) -> Properties:
        """A company's current properties (a copy); KeyError for an unknown id."""
        with self._lock:
            return dict(self._objects["companies"][id].properties)

    def contact(self, id: str) -> Properties:
        with self._lock:
            return dict(self._objects["contacts"][id].properties)

    def deal(self, id: str) -> Properties:
        with self._lock:
            return dict(self._objects["deals"][id].properties)

    def properties_of(self, object_type: str) -> dict[str, dict[str, Any]]:
        """The property definitions of an object type, by name (copies)."""
        with self._lock:
            return {n: _copy(d) for n, d in self._properties[_ALIASES[object_type]].items()}

    def groups_of(self, object_type: str) -> dict[str, dict[str, Any]]:
        with self._lock:
            return {n: dict(g) for n, g in self._groups[_ALIASES[object_type]].items()}

    @property
    def requests(self) -> list[Recorded]:
        """Every API request so far, in the order answered (a copy)."""
        with self._lock:
            return list(self._requests)

    def stats(self) -> dict[str, Any]:
        """Counters for tests and benchmarks; JSON-ready, also at `GET /_fake/stats`.

        `max_in_window` counts every authenticated API request (429s included)
        within any `rate_limit[1]` seconds (10 s when there is no limit): a
        client that keeps under the limit never sees it above the limit.
        """
        with self._lock:
            return {
                "requests": len(self._requests),
                "rate_limited": self._rate_limited,
                "max_searches_in_a_second": self._max_searches,
                "injected": self._injected,
                "max_in_window": self._max_in_window,
                "tagged_companies": len(self._tagged["companies"]),
                "tagged_contacts": len(self._tagged["contacts"]),
                "first_tagged_at": dict(self._first_tagged),
            }

    # -- faults ----------------------------------------------------------------------------

    def refuse_updates(self, refusals: Mapping[str, str]) -> None:
        """Batch updates refuse these objects (id → HubSpot's message) and write the others,
        answering 207 Multi-Status with an `errors` entry per refusal, as HubSpot documents
        for `.../batch/update` (`BatchResponseSimplePublicObjectWithErrors`). Empty: none."""
        with self._lock:
            self._refused_updates = dict(refusals)

    def fail_next(
        self,
        count: int,
        *,
        status: int = 500,
        path: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        """The next `count` API requests (under `path`, when given) get `status`.

        The answer has HubSpot's error body for that status, and `Retry-After`
        (as given: "0.2" stays a decimal) when `retry_after` is given. Faults
        queue in the order given; `count` 0 clears every pending one.
        """
        with self._lock:
            if count <= 0:
                self._faults.clear()
                return
            self._faults.append(Fault(count, status, path, retry_after))

    # -- the store (callers hold the lock) -------------------------------------------------

    def _insert(
        self, object_type: str, properties: Mapping[str, str | None], id: str | None
    ) -> Stored:
        """An object created now (or at its `createdate`, when given), modified now."""
        id = self._new_id(object_type, id)
        now = _now_ms()
        created = _iso(_epoch_ms(properties.get("createdate")) or now)
        modified = _iso(now)
        props: Properties = {**properties, "hs_object_id": id, "createdate": created}
        props.update(self._calculated(object_type, props))
        props.update(dict.fromkeys(_MODIFIED[object_type], modified))
        self._define_seeded(object_type, props)
        stored = Stored(id, props, created, modified, now)
        self._objects[object_type][id] = stored
        self._index(object_type, int(id))
        self._note_tag(object_type, stored)
        self._versions[object_type] += 1
        return stored

    def _new_id(self, object_type: str, id: str | None) -> str:
        if id is None:
            id = str(self._next_id)
        if not id.isdigit() or id != str(int(id)):
            raise ValueError(f"HubSpot ids are positive integers, not {id!r}")
        if id in self._objects[object_type]:
            raise ValueError(f"{object_type} {id} exists already")
        self._next_id = max(self._next_id, int(id) + 1)
        return id

    def _index(self, object_type: str, id: int) -> None:
        order = self._order[object_type]
        if not order or id > order[-1]:
            order.append(id)
        else:
            bisect.insort(order, id)

    def _define_seeded(self, object_type: str, props: Properties) -> None:
        """A seeded property nothing defines gets a text definition, as in a real portal."""
        known = self._properties[object_type]
        for name in props:
            if name not in known:
                group = _CATALOGUE[object_type][0]
                known[name] = _custom(name, group, _iso(_now_ms()))

    def _note_tag(self, object_type: str, stored: Stored) -> None:
        """Who carries an `icp_tier`, and when each company first got one (wall clock)."""
        if stored.properties.get("icp_tier"):
            if object_type == "companies":
                self._first_tagged.setdefault(stored.id, time.time())
            self._tagged[object_type].add(stored.id)
        else:
            self._tagged[object_type].discard(stored.id)

    def _associate(self, object_type: str, object_id: str, company: str) -> None:
        """A contact's or deal's company; its first one is its primary one."""
        if company not in self._objects["companies"]:
            what = _SINGULAR[object_type]
            raise ValueError(f"no company {company} to associate {what} {object_id} with")
        companies = self._links[(object_type, "companies")].setdefault(object_id, [])
        if company not in companies:
            companies.append(company)
            self._links[("companies", object_type)].setdefault(company, []).append(object_id)
        if object_type == "contacts":
            self._objects["contacts"][object_id].properties["associatedcompanyid"] = companies[0]
        self._versions[object_type] += 1

    def _calculated(self, object_type: str, values: Mapping[str, str | None]) -> Properties:
        """What HubSpot calculates from these values: a deal's closed and won flags from
        its stage (`isClosed`, and `probability` 1.0 for won); a stage no pipeline has is
        neither."""
        if object_type != "deals" or "dealstage" not in values:
            return {}
        stage = self._deal_stage(values["dealstage"])
        closed = stage is not None and stage["metadata"]["isClosed"] == "true"
        won = closed and stage is not None and float(stage["metadata"]["probability"]) == 1.0
        return {"hs_is_closed": str(closed).lower(), "hs_is_closed_won": str(won).lower()}

    def _deal_stage(self, id: str | None) -> dict[str, Any] | None:
        stages = (s for p in self._pipelines.values() for s in p["stages"])
        return next((s for s in stages if s["id"] == id), None)

    def _update(self, object_type: str, stored: Stored, values: Properties) -> None:
        """Write checked values; the modification time moves forward on every write."""
        values = {**values, **self._calculated(object_type, values)}
        stamp = max(_now_ms(), stored.modified_ms + 1)
        for name, value in values.items():
            self._remember(stored, name, value, stamp)
            stored.properties[name] = value
        stored.modified_ms = stamp
        stored.updated_at = _iso(stamp)
        stored.properties.update(dict.fromkeys(_MODIFIED[object_type], stored.updated_at))
        self._note_tag(object_type, stored)
        self._versions[object_type] += 1

    def _remember(self, stored: Stored, name: str, value: str | None, stamp: int) -> None:
        """Property history, newest first, begun lazily at the first write."""
        if stored.history is None:
            stored.history = {}
        history = stored.history.get(name)
        if history is None:
            history = stored.history[name] = _initial_history(stored, name)
        history.insert(
            0,
            {
                "value": value or "",
                "timestamp": _iso(stamp),
                "sourceType": "API",
                "sourceId": "fake-hubspot",
            },
        )

    def _history(self, stored: Stored, name: str) -> list[dict[str, Any]]:
        history = (stored.history or {}).get(name)
        return list(history) if history is not None else _initial_history(stored, name)

    # -- serving (called by the HTTP handler) ----------------------------------------------

    def _answer(self, request: Request) -> Response:
        if request.path.startswith("/_fake/"):
            return _control(self, request)
        return self._api(request)

    def _api(self, request: Request) -> Response:
        """Token, rate limit, injected faults, then the route; recorded, after `latency`."""
        arrived = time.monotonic()
        try:
            body, malformed = _json(request.body), None
        except Refused as refused:
            body, malformed = None, refused
        response = self._respond(request, body, malformed, arrived)
        if self.latency > 0:
            self._stopping.wait(self.latency)
        self._record(request, body, response.status, arrived)
        return response

    def _respond(
        self, request: Request, body: Json, malformed: Refused | None, arrived: float
    ) -> Response:
        if request.authorization != f"Bearer {self.token}":
            return _unauthorised()
        refusal, headers = self._gate(arrived, request.path)
        response = refusal or self._route(request, body, malformed)
        response.headers.update(headers)
        return response

    def _route(self, request: Request, body: Json, malformed: Refused | None) -> Response:
        """The route's answer; a fault in the fake itself is a 500 that names it."""
        try:
            if malformed is not None:
                raise malformed
            status, answer = _dispatch(self, request.method, request.path, request.query, body)
        except Refused as refused:
            return Response(refused.status, refused.body())
        except Exception as exc:  # a bug in the fake: answer, and say where
            where = "".join(traceback.format_exception(exc)[-3:])
            return Response(500, _error(f"Fake HubSpot failed: {where}", "INTERNAL_ERROR"))
        return Response(status, answer)

    def _gate(self, now: float, path: str) -> tuple[Response | None, dict[str, str]]:
        """The rate limit, then injected faults: an answer when the request goes no further,
        and the rate-limit headers every authenticated answer carries."""
        with self._lock:
            self._note_seen(now)
            answer = self._limited(now)
            if answer is None and path.endswith("/search"):
                answer = self._search_limited(now)
            if answer is not None:
                self._rate_limited += 1
            else:
                answer = self._fault(path)
                if answer is None or answer.status != 429:
                    self._admit(now)
            return answer, self._rate_headers()

    def _note_seen(self, now: float) -> None:
        window = self.rate_limit[1] if self.rate_limit else DEFAULT_WINDOW
        self._seen.append(now)
        while self._seen[0] <= now - window:
            self._seen.popleft()
        self._max_in_window = max(self._max_in_window, len(self._seen))

    def _limited(self, now: float) -> Response | None:
        """429 when the rolling window is full. `Retry-After` is when its oldest slot frees,
        in whole seconds rounded up, and at least `self.retry_after` (see the module's doc)."""
        if self.rate_limit is None:
            return None
        limit, window = self.rate_limit
        while self._window and self._window[0] <= now - window:
            self._window.popleft()
        if len(self._window) < limit:
            return None
        wait = self._window[0] + window - now if self._window else window
        seconds = max(1, math.ceil(wait), math.ceil(self.retry_after))
        return Response(429, _rate_limit_body(), {"Retry-After": str(seconds)})

    def _search_limited(self, now: float) -> Response | None:
        """429 when this second already saw `search_limit` searches (HubSpot's "secondly"
        limit of the search endpoints); counted whether or not it was refused."""
        while self._searches and self._searches[0] <= now - 1.0:
            self._searches.popleft()
        self._searches.append(now)
        self._max_searches = max(self._max_searches, len(self._searches))
        if self.search_limit is None or len(self._searches) <= self.search_limit:
            return None
        body = {
            "status": "error",
            "message": "You have reached your secondly limit.",
            "errorType": "RATE_LIMIT",
            "correlationId": "00000000-0000-4000-8000-000000000000",
            "policyName": "SECONDLY",
        }
        return Response(429, body, {"Retry-After": "1"})

    def _admit(self, now: float) -> None:
        if self.rate_limit is not None:
            self._window.append(now)

    def _fault(self, path: str) -> Response | None:
        for fault in self._faults:
            if fault.path is None or path.startswith(fault.path):
                fault.count -= 1
                if fault.count <= 0:
                    self._faults.remove(fault)
                self._injected += 1
                return _fault_answer(fault)
        return None

    def _rate_headers(self) -> dict[str, str]:
        if self.rate_limit is None:
            return {}
        limit, window = self.rate_limit
        return {
            "X-HubSpot-RateLimit-Max": str(limit),
            "X-HubSpot-RateLimit-Remaining": str(max(0, limit - len(self._window))),
            "X-HubSpot-RateLimit-Interval-Milliseconds": str(int(window * 1000)),
        }

    def _record(self, request: Request, body: Json, status: int, arrived: float) -> None:
        query = {k: list(v) for k, v in request.query.items()}
        with self._lock:
            self._requests.append(
                Recorded(request.method, request.path, query, body, status, arrived)
            )

    # -- objects API -----------------------------------------------------------------------

    def _list(self, call: Call) -> Answer:
        """GET /crm/v3/objects/{type}: a page in id order; `after` is the last id given."""
        object_type = _object_type(call.params["type"])
        limit = _count(_one(call.query, "limit") or 10, "limit", LIST_LIMIT)
        cursor_given = _one(call.query, "after")
        after = _position(cursor_given) if cursor_given else 0
        associations = [_object_type(a) for a in _listed(call.query, "associations") or []]
        with self._lock:
            order = self._order[object_type]
            start = bisect.bisect_right(order, after)
            page = [] if _flag(call.query, "archived") else order[start : start + limit]
            stored = [self._objects[object_type][str(i)] for i in page]
            results = self._views(object_type, stored, *_wanted(call.query))
            for result in results:
                self._attach_associations(object_type, result, associations)
            more = bool(page) and start + limit < len(order)
        answer: dict[str, Any] = {"results": results}
        if more:
            answer["paging"] = {"next": {"after": cursor(page[-1]), "link": self._link(call, page)}}
        return 200, answer

    def _link(self, call: Call, page: list[int]) -> str:
        query = {**call.query, "after": [cursor(page[-1])]}
        path = "/crm/v3/objects/" + call.params["type"]
        return f"{self.url}{path}?{urlencode(query, doseq=True)}"

    def _get_one(self, call: Call) -> Answer:
        """GET /crm/v3/objects/{type}/{id}."""
        object_type = _object_type(call.params["type"])
        associations = [_object_type(a) for a in _listed(call.query, "associations") or []]
        with self._lock:
            stored = self._objects[object_type].get(call.params["id"])
            if stored is None or _flag(call.query, "archived"):
                raise Refused(404, "Object not found.", "OBJECT_NOT_FOUND")
            (result,) = self._views(object_type, [stored], *_wanted(call.query))
            self._attach_associations(object_type, result, associations)
        return 200, result

    def _owners_page(self, call: Call) -> Answer:
        """GET /crm/v3/owners/: every owner, or the one with `email`."""
        email = (_listed(call.query, "email") or [None])[0]
        with self._lock:
            owners = [o for o in self._owners.values() if email in (None, o["email"])]
        limit = int((_listed(call.query, "limit") or ["100"])[0])
        if not 1 <= limit <= 500:
            raise Refused(400, f"limit {limit} must be between 1 and 500.")
        return 200, {"results": owners[:limit]}

    def _owner_by_id(self, call: Call) -> Answer:
        """GET /crm/v3/owners/{ownerId} (idProperty=id)."""
        with self._lock:
            owner = self._owners.get(call.params["id"])
        if owner is None:
            raise Refused(404, f"Owner {call.params['id']} not found.", "OBJECT_NOT_FOUND")
        return 200, owner

    def _views(
        self, object_type: str, stored: list[Stored], wanted: list[str] | None, history: list[str]
    ) -> list[dict[str, Any]]:
        names = self._selection(object_type, wanted)
        with_history = self._selection(object_type, history, ())
        return [self._view(object_type, s, names, with_history) for s in stored]

    def _selection(
        self, object_type: str, wanted: list[str] | None, always: Iterable[str] | None = None
    ) -> list[str]:
        """The properties an answer holds: the known ones asked for (unknown ones are
        silently left out, as HubSpot does), and those HubSpot always adds."""
        if wanted is None:
            return list(_DEFAULTS[object_type])
        known = self._properties[object_type]
        extra = _ALWAYS[object_type] if always is None else always
        return list(dict.fromkeys([*(n for n in wanted if n in known), *extra]))

    def _view(
        self, object_type: str, stored: Stored, names: list[str], history: list[str]
    ) -> dict[str, Any]:
        """An object as HubSpot answers it: the chosen properties, unset ones as null."""
        view: dict[str, Any] = {
            "id": stored.id,
            "properties": {n: stored.properties.get(n) for n in names},
            "createdAt": stored.created_at,
            "updatedAt": stored.updated_at,
            "archived": False,
        }
        if history:
            view["propertiesWithHistory"] = {n: self._history(stored, n) for n in history}
        return view

    def _attach_associations(
        self, object_type: str, view: dict[str, Any], to_types: list[str]
    ) -> None:
        """The v3 `associations` of an answer. A primary association is listed twice,
        typed and unlabeled, as HubSpot lists it: clients must not count entries."""
        found = {}
        for to_type in to_types:
            ids = self._links.get((object_type, to_type), {}).get(view["id"], [])
            if ids:
                primary = self._primary(object_type, to_type, view["id"], ids)
                found[to_type] = {"results": _associated(object_type, to_type, ids, primary)}
        if found:
            view["associations"] = found

    def _primary(self, from_type: str, to_type: str, from_id: str, to_ids: list[str]) -> set[str]:
        """Which of these associations are primary: a contact's or a deal's first company,
        both ways."""
        if from_type != "companies":
            return {to_ids[0]}
        firsts = self._links[(to_type, "companies")]
        return {c for c in to_ids if firsts.get(c, [None])[0] == from_id}

    def _batch_read(self, call: Call) -> Answer:
        """POST .../batch/read: the objects found; 207 with an error naming the others."""
        object_type = _object_type(call.params["type"])
        body = _object(call.body)
        inputs = _inputs(body, BATCH_LIMIT)
        history = _names(body.get("propertiesWithHistory"), "propertiesWithHistory") or []
        if history and len(inputs) > HISTORY_BATCH_LIMIT:
            raise Refused(
                400,
                "The maximum number of inputs supported in a batch request for property "
                f"histories is {HISTORY_BATCH_LIMIT}. Please reduce the number of items and "
                "try again.",
            )
        names = _names(body.get("properties"), "properties")
        with self._lock:
            finder = self._finder(object_type, body.get("idProperty"))
            found = {i: finder(i) for i in dict.fromkeys(_input_ids(inputs))}
            stored = list({s.id: s for s in found.values() if s is not None}.values())
            results = self._views(object_type, stored, names, history)
        missing = [i for i, s in found.items() if s is None]
        if not missing:
            return 200, _batch(results)
        what = _SINGULAR[object_type].upper()
        return 207, _batch(
            results,
            [
                _batch_error(
                    "OBJECT_NOT_FOUND",
                    {"ids": missing},
                    f"Could not get some {what} objects, they may be deleted or not exist. "
                    "Check that ids are valid.",
                )
            ],
        )

    def _finder(self, object_type: str, id_property: object) -> Callable[[str], Stored | None]:
        """How inputs name objects: by id, or by a unique property (`idProperty`)."""
        objects = self._objects[object_type]
        if id_property in (None, "", "hs_object_id"):
            return objects.get
        definition = self._properties[object_type].get(str(id_property))
        unique = definition is not None and (
            definition["hasUniqueValue"] or (object_type, id_property) == ("contacts", "email")
        )
        if not unique:
            raise Refused(400, f"{id_property} is not a unique property of {object_type}.")
        by_value = {
            str(s.properties.get(str(id_property)) or "").lower(): s for s in objects.values()
        }
        return lambda value: by_value.get(value.lower())

    def _batch_update(self, call: Call) -> Answer:
        """POST .../batch/update: any unknown id or bad value refuses it all (400); objects
        set to be refused (`refuse_updates`) are named in a 207's `errors`, the rest written."""
        object_type = _object_type(call.params["type"])
        body = _object(call.body)
        inputs = _inputs(body, BATCH_LIMIT)
        for item in inputs:
            if not isinstance(item.get("properties"), dict):
                raise Refused(400, "Every input needs an id and a properties object.")
        ids = _input_ids(inputs)
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            raise Refused(
                400, f"Duplicate IDs found in batch input: {duplicates}. IDs must be unique."
            )
        with self._lock:
            found = self._all_found(object_type, ids, body.get("idProperty"))
            values = [self._checked(object_type, item["properties"]) for item in inputs]
            results, errors = [], []
            for stored, changes in zip(found, values, strict=True):
                refusal = self._refused_updates.get(stored.id)
                if refusal is not None:
                    errors.append(_batch_error("VALIDATION_ERROR", {"ids": [stored.id]}, refusal))
                    continue
                self._update(object_type, stored, changes)
                names = self._selection(object_type, list(changes))
                results.append(self._view(object_type, stored, names, []))
        return (207 if errors else 200), _batch(results, errors)

    def _all_found(self, object_type: str, ids: list[str], id_property: object) -> list[Stored]:
        """Every object a batch update names, or HubSpot's 400 naming those it cannot find."""
        finder = self._finder(object_type, id_property)
        found = [finder(i) for i in ids]
        unknown = [i for i, s in zip(ids, found, strict=True) if s is None]
        if unknown:
            raise Refused(
                400,
                f"Could not update {_SINGULAR[object_type]} objects with ids: {unknown}. "
                "They may be deleted or not exist.",
                "OBJECT_NOT_FOUND",
                context={"ids": unknown},
            )
        return [s for s in found if s is not None]

    def _checked(self, object_type: str, values: Mapping[str, object]) -> Properties:
        """Values as they will be stored, or HubSpot's 400 listing every bad one."""
        known = self._properties[object_type]
        checked: Properties = {}
        problems = []
        for name, value in values.items():
            definition = known.get(name)
            if definition is None:
                problems.append(_unknown_property(name))
            elif definition["modificationMetadata"]["readOnlyValue"]:
                problems.append(
                    _problem(
                        name,
                        "READ_ONLY_VALUE",
                        f"{name} is a read only property; its value cannot be set.",
                    )
                )
            else:
                try:
                    checked[name] = _stored(definition, value)
                except _Invalid as invalid:
                    problems.append(_problem(name, invalid.error, invalid.message))
        if problems:
            raise _not_valid(problems)
        return checked

    def _search(self, call: Call) -> Answer:
        """POST .../search: filters, one sort, offset paging, `total` of all matches."""
        object_type = _object_type(call.params["type"])
        request = SearchRequest.parse(call.body)
        with self._lock:
            matches = self._matching(object_type, request)
            page = matches[request.after : request.after + request.limit]
            names = self._selection(object_type, request.properties)
            results = [self._view(object_type, s, names, []) for s in page]
        answer: dict[str, Any] = {"total": len(matches), "results": results}
        end = request.after + len(page)
        if page and end < len(matches):
            answer["paging"] = {"next": {"after": cursor(end)}}
        return 200, answer

    def _matching(self, object_type: str, request: SearchRequest) -> list[Stored]:
        """Every match in order, kept until the objects change, so paging costs a slice."""
        key = (object_type, request.key(), self._versions[object_type])
        cached = self._matches.get(key)
        if cached is None:
            if len(self._matches) > 16:
                self._matches.clear()
            cached = self._matches[key] = self._find_matches(object_type, request)
        return cached

    def _find_matches(self, object_type: str, request: SearchRequest) -> list[Stored]:
        known = self._properties[object_type]
        unknown = [
            f["propertyName"] for g in request.groups for f in g if f["propertyName"] not in known
        ]
        if request.sort and request.sort[0] not in known:
            unknown.append(request.sort[0])
        if unknown:
            raise _not_valid([_unknown_property(n) for n in dict.fromkeys(unknown)])
        groups = [[_predicate(f, known[f["propertyName"]]) for f in g] for g in request.groups]
        words = request.query.lower().split()
        objects = self._objects[object_type]
        found = [objects[str(i)] for i in self._order[object_type]]
        matcher = _matcher(groups)
        if matcher is not None:
            found = [s for s in found if matcher(s.properties)]
        if words:
            fields = _SEARCHABLE[object_type]
            found = [s for s in found if _mentions(s.properties, fields, words)]
        return _sorted(found, request.sort, known)

    # -- associations API ------------------------------------------------------------------

    def _association_read(self, call: Call) -> Answer:
        """POST /crm/v4/associations/{from}/{to}/batch/read; 207 names those without any."""
        from_type = _object_type(call.params["from"])
        to_type = _object_type(call.params["to"])
        inputs = _inputs(_object(call.body), ASSOCIATION_BATCH_LIMIT)
        results, errors = [], []
        with self._lock:
            links = self._links.get((from_type, to_type), {})
            for object_id in dict.fromkeys(_input_ids(inputs)):
                to_ids = links.get(object_id)
                if to_ids:
                    primary = self._primary(from_type, to_type, object_id, to_ids)
                    to = _associated_v4(from_type, to_type, to_ids, primary)
                    results.append({"from": {"id": object_id}, "to": to})
                else:
                    errors.append(_no_associations(from_type, to_type, object_id))
        return (207 if errors else 200), _batch(results, errors)

    # -- pipelines API ---------------------------------------------------------------------

    def _all_pipelines(self, call: Call) -> Answer:
        """GET /crm/v3/pipelines/{type}: every deal pipeline with its stages."""
        if _object_type(call.params["type"]) != "deals":
            raise Refused(400, f"The fake has pipelines for deals only, not {call.params['type']}.")
        with self._lock:
            return 200, {"results": [_copy(p) for p in self._pipelines.values()]}

    # -- properties API --------------------------------------------------------------------

    def _all_properties(self, call: Call) -> Answer:
        object_type = _object_type(call.params["type"])
        if _flag(call.query, "archived"):
            return 200, {"results": []}
        with self._lock:
            return 200, {"results": [_copy(d) for d in self._properties[object_type].values()]}

    def _get_property(self, call: Call) -> Answer:
        object_type = _object_type(call.params["type"])
        with self._lock:
            found = self._properties[object_type].get(call.params["name"])
            if found is None:
                raise Refused(
                    404, f"Property {call.params['name']} does not exist", "OBJECT_NOT_FOUND"
                )
            return 200, _copy(found)

    def _create_property(self, call: Call) -> Answer:
        """POST /crm/v3/properties/{type}: 201, or 409 when the name is taken."""
        object_type = _object_type(call.params["type"])
        body = _object(call.body)
        with self._lock:
            definition = _new_property(body, self._groups[object_type])
            if definition["name"] in self._properties[object_type]:
                raise Refused(
                    409,
                    f"A property named '{definition['name']}' already exists.",
                    "OBJECT_ALREADY_EXISTS",
                )
            self._properties[object_type][definition["name"]] = definition
            return 201, _copy(definition)

    def _all_groups(self, call: Call) -> Answer:
        object_type = _object_type(call.params["type"])
        with self._lock:
            return 200, {"results": [dict(g) for g in self._groups[object_type].values()]}

    def _get_group(self, call: Call) -> Answer:
        object_type = _object_type(call.params["type"])
        with self._lock:
            group = self._groups[object_type].get(call.params["name"])
            if group is None:
                raise Refused(
                    404,
                    f"Property group {call.params['name']} does not exist",
                    "OBJECT_NOT_FOUND",
                )
            return 200, dict(group)

    def _create_group(self, call: Call) -> Answer:
        """POST /crm/v3/properties/{type}/groups: 201, or 409 when the name is taken."""
        object_type = _object_type(call.params["type"])
        body = _object(call.body)
        name, label = body.get("name"), body.get("label")
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            raise Refused(400, f"A group name is lowercase letters, digits and _: {name!r}.")
        if not label:
            raise Refused(400, "A property group needs a label.")
        with self._lock:
            if name in self._groups[object_type]:
                raise Refused(
                    409,
                    f"A property group named '{name}' already exists.",
                    "OBJECT_ALREADY_EXISTS",
                )
            group = self._groups[object_type][name] = _group(
                name, str(label), int(body.get("displayOrder", -1))
            )
            return 201, dict(group)


# -- answers ---------------------------------------------------------------------------------


def _unauthorised() -> Response:
    message = (
        "Authentication credentials not found. This API supports OAuth 2.0 authentication and "
        "you can find more details at https://developers.hubspot.com/docs/methods/auth/oauth-overview"
    )
    return Response(401, _error(message, "INVALID_AUTHENTICATION"))


def _rate_limit_body() -> dict[str, Any]:
    return {
        "status": "error",
        "message": "You have reached your ten_secondly_rolling limit.",
        "errorType": "RATE_LIMIT",
        "correlationId": str(uuid.uuid4()),
        "policyName": "TEN_SECONDLY_ROLLING",
        "groupName": "publicapi:private-app-api-calls-ten-secondly:0",
    }


_FAULT_CATEGORIES = {
    400: "VALIDATION_ERROR",
    401: "INVALID_AUTHENTICATION",
    403: "MISSING_SCOPES",
    404: "OBJECT_NOT_FOUND",
    409: "CONFLICT",
    423: "LOCKED",
}


def _fault_answer(fault: Fault) -> Response:
    if fault.status == 429:
        body = _rate_limit_body()
    else:
        category = _FAULT_CATEGORIES.get(fault.status, "INTERNAL_ERROR")
        body = _error(f"Injected failure: HTTP {fault.status}.", category)
    headers = {} if fault.retry_after is None else {"Retry-After": _seconds(fault.retry_after)}
    return Response(fault.status, body, headers)


def _batch(results: list[Any], errors: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    stamp = _iso(_now_ms())
    answer: dict[str, Any] = {
        "status": "COMPLETE",
        "results": results,
        "startedAt": stamp,
        "completedAt": stamp,
    }
    if errors:
        answer["numErrors"] = len(errors)
        answer["errors"] = errors
    return answer


def _batch_error(
    category: str, context: dict[str, list[str]], message: str, **extra: Any
) -> dict[str, Any]:
    """One entry of a 207's `errors`, with every field the SDK's `StandardError` requires."""
    return {
        "status": "error",
        "category": category,
        "message": message,
        "context": context,
        "links": {},
        "errors": [],
        **extra,
    }


def _no_associations(from_type: str, to_type: str, object_id: str) -> dict[str, Any]:
    return _batch_error(
        "OBJECT_NOT_FOUND",
        {"fromObjectId": [object_id]},
        f"No {_SINGULAR[to_type]} is associated with {_SINGULAR[from_type]} {object_id}.",
        subCategory="crm.associations.NO_ASSOCIATIONS_FOUND",
    )


def _associated(
    from_type: str, to_type: str, ids: list[str], primary: set[str]
) -> list[dict[str, str]]:
    """v3 entries: `contact_to_company` for a primary one, `..._unlabeled` for each."""
    kind = f"{_SINGULAR[from_type]}_to_{_SINGULAR[to_type]}"
    entries = []
    for i in ids:
        if i in primary:
            entries.append({"id": i, "type": kind})
        entries.append({"id": i, "type": f"{kind}_unlabeled"})
    return entries


def _associated_v4(
    from_type: str, to_type: str, ids: list[str], primary: set[str]
) -> list[dict[str, Any]]:
    """v4 entries: a primary association carries HubSpot's `Primary` type as well."""
    primary_id, unlabeled_id = _ASSOCIATION_TYPE_IDS[(from_type, to_type)]
    unlabeled = {"category": "HUBSPOT_DEFINED", "typeId": unlabeled_id, "label": None}
    labelled = {"category": "HUBSPOT_DEFINED", "typeId": primary_id, "label": "Primary"}
    return [
        {
            "toObjectId": int(i),
            "associationTypes": [labelled, unlabeled] if i in primary else [unlabeled],
        }
        for i in ids
    ]


def _initial_history(stored: Stored, name: str) -> list[dict[str, Any]]:
    value = stored.properties.get(name)
    if value in (None, ""):
        return []
    return [{"value": value, "timestamp": stored.created_at, "sourceType": "IMPORT"}]


def _copy(definition: Mapping[str, Any]) -> dict[str, Any]:
    return orjson.loads(orjson.dumps(definition))


# -- requests --------------------------------------------------------------------------------


def _json(raw: bytes) -> Json:
    if not raw:
        return None
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise Refused(400, f"Invalid input JSON: {exc}") from None


def _object(body: Json) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise Refused(400, "The request body must be a JSON object.")
    return body


def _object_type(name: str) -> str:
    try:
        return _ALIASES[name]
    except KeyError:
        raise Refused(400, f"Unable to infer object type from: {name}") from None


def _inputs(body: dict[str, Any], limit: int) -> list[dict[str, Any]]:
    inputs = body.get("inputs")
    if not isinstance(inputs, list) or not all(isinstance(i, dict) for i in inputs):
        raise Refused(400, "inputs must be a list of objects.")
    if len(inputs) > limit:
        raise Refused(400, f"Batch input size {len(inputs)} exceeds the limit of {limit}.")
    return inputs


def _input_ids(inputs: list[dict[str, Any]]) -> list[str]:
    ids = [i.get("id") for i in inputs]
    if not all(isinstance(i, str | int) and str(i) for i in ids):
        raise Refused(400, "Every input needs an id.")
    return [str(i) for i in ids]


def _names(value: object, field_name: str) -> list[str] | None:
    """A list of property names from a body; None when absent (HubSpot's defaults apply)."""
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise Refused(400, f"{field_name} must be a list of property names.")
    return value


def _one(query: Mapping[str, list[str]], name: str) -> str | None:
    values = query.get(name)
    return values[0] if values else None


def _wanted(query: Mapping[str, list[str]]) -> tuple[list[str] | None, list[str]]:
    """The `properties` and `propertiesWithHistory` a GET asks for."""
    return _listed(query, "properties"), _listed(query, "propertiesWithHistory") or []


def _listed(query: Mapping[str, list[str]], name: str) -> list[str] | None:
    """A list parameter, sent repeated (as the SDK does) or comma-separated; None if absent."""
    if name not in query:
        return None
    return [p for v in query[name] for p in v.split(",") if p]


def _flag(query: Mapping[str, list[str]], name: str) -> bool:
    """A boolean parameter; the SDK sends Python's `False`, HubSpot reads it case-blind."""
    return (_one(query, name) or "false").lower() == "true"


def _matcher(groups: list[list[Predicate]]) -> Predicate | None:
    """Groups OR-ed of filters AND-ed; the usual single filter is called directly."""
    if not groups:
        return None
    if len(groups) == 1 and len(groups[0]) == 1:
        return groups[0][0]
    return lambda props: any(all(test(props) for test in group) for group in groups)


def _mentions(props: Properties, fields: Iterable[str], words: list[str]) -> bool:
    """The free-text `query`: every word starts a word of one of the searchable fields."""
    tokens = set().union(*(_tokens(str(props.get(f) or "")) for f in fields))
    return all(any(t.startswith(w) for t in tokens) for w in words)


def _sorted(
    found: list[Stored], sort: tuple[str, bool] | None, known: Mapping[str, dict[str, Any]]
) -> list[Stored]:
    """By one property (ties by id, objects without a value last), else by id."""
    if sort is None:
        return found
    name, descending = sort
    key = _comparable(known[name]["type"])
    keyed = [(key(s.properties.get(name)), s) for s in found]
    present = [pair for pair in keyed if pair[0] is not None]
    present.sort(key=lambda pair: pair[0], reverse=descending)
    return [s for _, s in present] + [s for value, s in keyed if value is None]


def _new_property(body: dict[str, Any], groups: Mapping[str, Any]) -> dict[str, Any]:
    """A property definition from a create request, checked as HubSpot checks it."""
    for required in ("name", "label", "type", "fieldType", "groupName"):
        if not body.get(required):
            raise Refused(400, f"{required} is required to create a property.")
    name, kind, field_type = body["name"], body["type"], body["fieldType"]
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise Refused(400, f"A property name is lowercase letters, digits and _: {name!r}.")
    if kind not in _FIELD_TYPES:
        raise Refused(400, f"type {kind!r} is not one of {sorted(_FIELD_TYPES)}.")
    if field_type not in _FIELD_TYPES.get(kind, ()):
        raise Refused(
            400, f"fieldType {field_type!r} is not valid for a property of type {kind!r}."
        )
    if body["groupName"] not in groups:
        raise Refused(400, f"Property group {body['groupName']} does not exist.")
    options = _new_options(kind, body.get("options"))
    stamp = _iso(_now_ms())
    definition = _definition(
        (name, str(body["label"]), kind, field_type, (), False), body["groupName"]
    )
    definition.update(
        options=options,
        description=str(body.get("description") or ""),
        hasUniqueValue=bool(body.get("hasUniqueValue")),
        hidden=bool(body.get("hidden")),
        formField=bool(body.get("formField")),
        displayOrder=int(body.get("displayOrder", -1)),
        hubspotDefined=False,
        createdAt=stamp,
        updatedAt=stamp,
        createdUserId="0",
        updatedUserId="0",
    )
    definition["modificationMetadata"].update(archivable=True, readOnlyDefinition=False)
    return definition


def _new_options(kind: str, options: object) -> list[dict[str, Any]]:
    if kind == "bool" and not options:
        return _options(_BOOL_OPTIONS)
    if kind not in ("enumeration", "bool"):
        return []
    if not isinstance(options, list) or not options:
        raise Refused(400, f"A property of type {kind} needs at least one option.")
    if not all(isinstance(o, dict) and o.get("label") and o.get("value") for o in options):
        raise Refused(400, "Every option needs a label and a value.")
    values = [str(o["value"]) for o in options]
    if len(set(values)) != len(values):
        raise Refused(400, f"Option values must be unique: {values}.")
    return [
        {
            **_option(str(o["value"]), str(o["label"]), int(o.get("displayOrder", i))),
            "description": str(o.get("description") or ""),
            "hidden": bool(o.get("hidden")),
        }
        for i, o in enumerate(options)
    ]


# -- routing ---------------------------------------------------------------------------------

_T = r"(?P<type>[^/]+)"
_ROUTES: list[tuple[str, re.Pattern[str], Callable[[FakeHubSpot, Call], Answer]]] = [
    ("GET", re.compile(r"/crm/v3/owners/?"), FakeHubSpot._owners_page),
    ("GET", re.compile(r"/crm/v3/owners/(?P<id>\d+)"), FakeHubSpot._owner_by_id),
    ("GET", re.compile(rf"/crm/v3/objects/{_T}"), FakeHubSpot._list),
    ("GET", re.compile(rf"/crm/v3/objects/{_T}/(?P<id>\d+)"), FakeHubSpot._get_one),
    ("POST", re.compile(rf"/crm/v3/objects/{_T}/batch/read"), FakeHubSpot._batch_read),
    ("POST", re.compile(rf"/crm/v3/objects/{_T}/batch/update"), FakeHubSpot._batch_update),
    ("POST", re.compile(rf"/crm/v3/objects/{_T}/search"), FakeHubSpot._search),
    (
        "POST",
        re.compile(r"/crm/v4/associations/(?P<from>[^/]+)/(?P<to>[^/]+)/batch/read"),
        FakeHubSpot._association_read,
    ),
    ("GET", re.compile(rf"/crm/v3/pipelines/{_T}"), FakeHubSpot._all_pipelines),
    ("GET", re.compile(rf"/crm/v3/properties/{_T}/groups"), FakeHubSpot._all_groups),
    ("GET", re.compile(rf"/crm/v3/properties/{_T}/groups/(?P<name>[^/]+)"), FakeHubSpot._get_group),
    ("POST", re.compile(rf"/crm/v3/properties/{_T}/groups"), FakeHubSpot._create_group),
    ("GET", re.compile(rf"/crm/v3/properties/{_T}"), FakeHubSpot._all_properties),
    ("GET", re.compile(rf"/crm/v3/properties/{_T}/(?P<name>[^/]+)"), FakeHubSpot._get_property),
    ("POST", re.compile(rf"/crm/v3/properties/{_T}"), FakeHubSpot._create_property),
]


def _dispatch(
    fake: FakeHubSpot, method: str, path: str, query: dict[str, list[str]], body: Json
) -> Answer:
    """The route for a method and path: 405 for a known path and another method, else 404."""
    known_path = False
    for verb, pattern, action in _ROUTES:
        match = pattern.fullmatch(path)
        if match and verb == method:
            return action(fake, Call(match.groupdict(), query, body))
        known_path = known_path or bool(match)
    if known_path:
        raise Refused(405, f"{method} is not allowed on {path}.", "METHOD_NOT_ALLOWED")
    raise Refused(404, f"No API route for {method} {path}.", "OBJECT_NOT_FOUND")


# -- control endpoints -----------------------------------------------------------------------


def _control(fake: FakeHubSpot, request: Request) -> Response:
    """`/_fake/...`: seeding, configuration and statistics for another process."""
    try:
        body = _json(request.body) or {}
        return Response(200, _control_answer(fake, request.method, request.path, body))
    except Refused as refused:
        return Response(refused.status, refused.body())
    except (KeyError, TypeError, ValueError) as exc:
        return Response(400, _error(f"Bad control request: {exc!r}", "VALIDATION_ERROR"))


def _control_answer(fake: FakeHubSpot, method: str, path: str, body: dict[str, Any]) -> Json:
    parts = path.strip("/").split("/")[1:]
    if (method, parts) == ("GET", ["stats"]):
        return fake.stats()
    if method == "GET" and len(parts) == 2 and parts[0] in OBJECT_TYPES:
        with fake._lock:
            stored = fake._objects[parts[0]].get(parts[1])
            if stored is None:
                raise Refused(404, f"No {_SINGULAR[parts[0]]} {parts[1]}.", "OBJECT_NOT_FOUND")
            return dict(stored.properties)
    if (method, parts) == ("POST", ["companies"]):
        return {"ids": _control_seed(fake, body)}
    if (method, parts) == ("POST", ["config"]):
        return _configure(fake, body)
    raise Refused(404, f"No control route {method} {path}.", "OBJECT_NOT_FOUND")


def _control_seed(fake: FakeHubSpot, body: dict[str, Any]) -> list[str]:
    """`{"count": n}` seeds n more companies (a new seed each time, so new domains);
    `{"properties": {...}}` adds one."""
    if "count" in body:
        with fake._lock:
            seed = fake._last_seed + 1
        return fake.seed_companies(int(body["count"]), seed=seed)
    return [fake.add_company(dict(body.get("properties") or {}), id=body.get("id"))]


def _configure(fake: FakeHubSpot, body: dict[str, Any]) -> dict[str, Any]:
    if "latency" in body:
        fake.latency = float(body["latency"])
    if "rate_limit" in body:
        limit = body["rate_limit"]
        fake.rate_limit = None if limit is None else (int(limit[0]), float(limit[1]))
    if "fail_next" in body:
        fault = body["fail_next"]
        fake.fail_next(
            int(fault["count"]),
            status=int(fault.get("status", 500)),
            path=fault.get("path"),
            retry_after=fault.get("retry_after"),
        )
    return {"latency": fake.latency, "rate_limit": fake.rate_limit}


# -- HTTP ------------------------------------------------------------------------------------


class _Server(TrackingServer):
    """Keeps its client connections, so that `stop` can end keep-alive ones and then
    wait for every handler thread (no thread or socket outlives the fake)."""

    def __init__(self, fake: FakeHubSpot) -> None:
        self.fake = fake
        super().__init__(_Handler)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as HubSpot's API; every answer has a length
    server_version = "FakeHubSpot/1.0"
    sys_version = ""
    # The whole answer leaves in one write: no Nagle and delayed-ACK stall per request.
    wbufsize = 1 << 16
    disable_nagle_algorithm = True
    timeout = 300  # an idle keep-alive connection is closed after this many seconds
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.server.track(self.connection, opened=True)

    def finish(self) -> None:
        try:
            super().finish()
        except OSError:
            pass  # the client went away mid-answer
        finally:
            self.server.track(self.connection, opened=False)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the recorded requests are the log."""

    def version_string(self) -> str:
        return self.server_version

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def do_PATCH(self) -> None:
        self._serve()

    def do_PUT(self) -> None:
        self._serve()

    def do_DELETE(self) -> None:
        self._serve()

    def _serve(self) -> None:
        parts = urlsplit(self.path)
        try:
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        except ValueError:
            self._send(Response(400, _error("Bad Content-Length.", "VALIDATION_ERROR")))
            return
        query = parse_qs(parts.query, keep_blank_values=True)
        request = Request(self.command, parts.path, query, raw, self.headers.get("Authorization"))
        self._send(self.server.fake._answer(request))

    def _send(self, response: Response) -> None:
        payload = orjson.dumps(response.body)
        try:
            self.send_response(response.status)
            self.send_header("Content-Type", "application/json;charset=utf-8")
            self.send_header("Content-Length", str(len(payload)))
            for name, value in response.headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)
            self.wfile.flush()
        except OSError:
            self.close_connection = True  # the client gave up waiting


# -- plausible data --------------------------------------------------------------------------

_PREFIXES = (
    "North",
    "Blue",
    "Bright",
    "Silver",
    "Iron",
    "Cedar",
    "Summit",
    "Harbor",
    "Pioneer",
    "Quantum",
    "Atlas",
    "Beacon",
    "Granite",
    "Lumen",
    "Vertex",
    "Evergreen",
    "Copper",
    "Falcon",
    "Orbit",
    "Maple",
)
_CORES = (
    "wind",
    "field",
    "stone",
    "bridge",
    "point",
    "path",
    "wave",
    "leaf",
    "gate",
    "forge",
    "line",
    "peak",
    "spring",
    "works",
    "light",
)
_SUFFIXES = (
    "Analytics",
    "Systems",
    "Labs",
    "Software",
    "Group",
    "Partners",
    "Health",
    "Logistics",
    "Capital",
    "Media",
    "Networks",
    "Robotics",
    "Foods",
    "Energy",
    "Consulting",
)
_PLACES = {
    "United States": (
        ("California", "San Francisco"),
        ("New York", "New York"),
        ("Texas", "Austin"),
        ("Massachusetts", "Boston"),
        ("Washington", "Seattle"),
        ("Illinois", "Chicago"),
    ),
    "United Kingdom": (("England", "London"), ("England", "Manchester"), ("Scotland", "Edinburgh")),
    "Germany": (("Berlin", "Berlin"), ("Bavaria", "Munich"), ("Hamburg", "Hamburg")),
    "Canada": (("Ontario", "Toronto"), ("British Columbia", "Vancouver")),
    "France": (("Île-de-France", "Paris"), ("Auvergne-Rhône-Alpes", "Lyon")),
    "Australia": (("New South Wales", "Sydney"), ("Victoria", "Melbourne")),
    "Netherlands": (("North Holland", "Amsterdam"),),
    "India": (("Karnataka", "Bengaluru"), ("Maharashtra", "Mumbai")),
}
_PLACE_ROWS = tuple(
    (country, state, city)
    for country, weight in (
        ("United States", 10),
        ("United Kingdom", 3),
        ("Germany", 2),
        ("Canada", 2),
        ("France", 1),
        ("Australia", 1),
        ("Netherlands", 1),
        ("India", 1),
    )
    for _ in range(weight)
    for state, city in _PLACES[country]
)
_EMPLOYEES = tuple(
    max(1, int(size * jitter))
    for size in (3, 8, 15, 25, 40, 60, 85, 120, 180, 250, 400, 650, 900, 1500, 3000, 7500, 20000)
    for jitter in (0.8, 0.9, 1.0, 1.1, 1.25)
)
_EMPLOYEE_TEXT = {n: str(n) for n in _EMPLOYEES}
_REVENUE_PER_EMPLOYEE = (*range(60_000, 320_000, 20_000), None)  # None: no revenue on record
_STAGES = (
    ("lead",) * 7
    + ("subscriber",) * 3
    + ("marketingqualifiedlead",) * 3
    + ("salesqualifiedlead",) * 2
    + ("opportunity",) * 2
    + ("customer",) * 2
    + ("other",)
)
_SEEDED_FROM = 1_514_764_800_000  # 2018-01-01
_SEEDED_UNTIL = 1_767_225_600_000  # 2026-01-01
_SEEDED_STEPS = 4096  # seeded dates fall on one of this many instants (about 17 h apart)


def _plausible_companies(n: int, seed: int) -> list[tuple[Properties, int]]:
    """(properties, modified ms) of `n` seeded companies.

    50,000 companies must seed in well under two seconds, so values are drawn
    a column at a time and every text but the domain is shared from a table
    or a cache (memory is much of the cost). Columns are drawn in blocks of a
    fixed size, so the first k companies of a seed are the same whatever `n`.
    """
    step = (_SEEDED_UNTIL - _SEEDED_FROM) // _SEEDED_STEPS
    moments = [_SEEDED_FROM + k * step for k in range(_SEEDED_STEPS)]
    stamps = [_iso(ms) for ms in moments]
    rng = random.Random(seed)
    techs = [";".join(rng.sample(_TECHNOLOGIES, rng.randint(1, 4))) for _ in range(256)]
    names: dict[tuple[str, str, str], str] = {}
    revenues: dict[tuple[int, int | None], str | None] = {}
    rows = []
    for i, (
        prefix,
        core,
        suffix,
        place,
        employees,
        per_head,
        industry,
        tech,
        stage,
        owner,
        one,
        other,
    ) in enumerate(_columns(n, seed, techs)):
        name = names.get((prefix, core, suffix))
        if name is None:
            name = names[prefix, core, suffix] = f"{prefix}{core} {suffix}"
        revenue = revenues.get((employees, per_head), "")
        if revenue == "":
            revenue = revenues[employees, per_head] = per_head and str(employees * per_head)
        created, modified = (one, other) if one <= other else (other, one)
        rows.append(
            (
                {
                    "name": name,
                    "domain": f"company{seed}-{i}.com",
                    "industry": industry,
                    "numberofemployees": _EMPLOYEE_TEXT[employees],
                    "annualrevenue": revenue,
                    "country": place[0],
                    "state": place[1],
                    "city": place[2],
                    "web_technologies": tech,
                    "lifecyclestage": stage,
                    "hubspot_owner_id": owner,
                    "createdate": stamps[created],
                    "hs_lastmodifieddate": stamps[modified],
                },
                moments[modified],
            )
        )
    return rows


_BLOCK = 1024


def _columns(n: int, seed: int, techs: list[str]) -> Iterator[tuple[Any, ...]]:
    """Rows of random choices, drawn a column and a block of `_BLOCK` rows at a time."""
    for start in range(0, n, _BLOCK):
        rng = random.Random(seed * 1_000_003 + start)
        columns = zip(
            *(
                rng.choices(values, k=_BLOCK)
                for values in (
                    _PREFIXES,
                    _CORES,
                    _SUFFIXES,
                    _PLACE_ROWS,
                    _EMPLOYEES,
                    _REVENUE_PER_EMPLOYEE,
                    _INDUSTRIES,
                    techs,
                    _STAGES,
                    _OWNERS,
                    range(_SEEDED_STEPS),
                    range(_SEEDED_STEPS),
                )
            ),
            strict=True,
        )
        yield from itertools.islice(columns, min(_BLOCK, n - start))


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    """No cyclic garbage collection while seeding: the collector has nothing to find in
    fresh records, yet would rescan the growing heap and double the time it takes."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


_FIRST_NAMES = (
    "Dana",
    "Sam",
    "Alex",
    "Priya",
    "Jonas",
    "Mei",
    "Omar",
    "Lena",
    "Carlos",
    "Ava",
    "Noah",
    "Fatima",
    "Lucas",
    "Yuki",
    "Grace",
)
_LAST_NAMES = (
    "Smith",
    "Patel",
    "Garcia",
    "Müller",
    "Chen",
    "Okafor",
    "Rossi",
    "Nguyen",
    "Johnson",
    "Kowalski",
    "Silva",
    "Dubois",
    "Kim",
    "Haddad",
    "Berg",
)
_TITLES = (
    ("VP of Sales", "vp"),
    ("Head of Revenue Operations", "director"),
    ("CEO", "executive"),
    ("Sales Development Representative", "entry"),
    ("Marketing Manager", "manager"),
    ("Account Executive", "senior"),
    ("Director of Sales", "director"),
    ("CTO", "executive"),
    ("Software Engineer", "senior"),
    ("Customer Success Manager", "manager"),
)
_FREE_MAIL = ("gmail.com", "outlook.com", "yahoo.com")


def _plausible_contact(rng: random.Random, i: int, domain: str | None) -> Properties:
    first, last = rng.choice(_FIRST_NAMES), rng.choice(_LAST_NAMES)
    title, seniority = rng.choice(_TITLES)
    if domain is None or rng.random() < 0.1:
        domain = rng.choice(_FREE_MAIL)
    local = f"{first}.{last}{i}".lower().replace("ü", "ue")
    return {
        "email": f"{local}@{domain}",
        "firstname": first,
        "lastname": last,
        "jobtitle": title,
        "hs_seniority": seniority,
        "lifecyclestage": rng.choice(_STAGES),
        "hs_analytics_source": rng.choice(_SOURCES),
    }


# -- running on its own ----------------------------------------------------------------------


def main(argv: list[str] | None = None) -> None:
    """Seed, print the URL, serve until stdin closes or SIGTERM."""
    parser = argparse.ArgumentParser(description="A fake HubSpot CRM API on 127.0.0.1.")
    parser.add_argument("--companies", type=int, default=0)
    parser.add_argument("--contacts", type=int, default=0)
    parser.add_argument("--rate-limit", type=int, default=190, help="0: no limit")
    parser.add_argument("--window", type=float, default=10.0)
    parser.add_argument("--latency", type=float, default=0.0)
    parser.add_argument("--token", default="test-token")
    args = parser.parse_args(argv)
    limit = (args.rate_limit, args.window) if args.rate_limit > 0 else None
    fake = FakeHubSpot(token=args.token, rate_limit=limit, latency=args.latency)
    companies = fake.seed_companies(args.companies)
    fake.seed_contacts(args.contacts, company_ids=companies)
    signal.signal(signal.SIGTERM, _exit)
    fake.start()
    try:
        sys.stdout.write(fake.url + "\n")
        sys.stdout.flush()
        sys.stdin.buffer.read()
    finally:
        fake.stop()


def _exit(*_: object) -> None:
    raise SystemExit(0)


if __name__ == "__main__":
    main()
