"""A wire-level fake of Salesforce's REST API, for the real `simple-salesforce` to talk to.

simple-salesforce keeps only the host and port of an instance URL and always
speaks https, so the fake serves TLS with a throwaway certificate authority
(`trustme`); a test points `REQUESTS_CA_BUNDLE` at `fake.ca_file`.

What it answers, with Salesforce's shapes: SOQL queries (parsed and
evaluated by `tests.fakes.soql`, so a query spliced from untrusted text
fails or shows its extra clause), paged with `nextRecordsUrl` in batches
of `Sforce-Query-Options: batchSize` (200..2,000); sObject Collections
updates (200 records a call) and single-record updates, with per-record
results and Salesforce's validation (unknown or read-only fields, numbers
out of range, restricted picklists, text too long, bad references);
describe; `limits`; Tooling API custom field creation; the Change Data
Capture selection on the standard `ChangeEvents` channel (Tooling
`PlatformEventChannelMember`: queried, and created with Salesforce's
refusals: an unknown object, a name taken, a full allocation, an edition
without it); SOAP username-password login and the OAuth JWT bearer flow. Every answer
carries `Sforce-Limit-Info`. What it refuses: a missing or expired
session (401 `INVALID_SESSION_ID`), malformed SOQL (400), too many records.

Test hooks: every API request is recorded; `fail_next` injects errors,
`latency` delays answers, `expire_sessions` ends every session. Run alone,

    python -m tests.fakes.salesforce --accounts 50000 --latency 0.05

prints its URL and its CA file and serves until stdin closes or SIGTERM.
It binds 127.0.0.1 on a free port.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import random
import re
import signal
import ssl
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit
from xml.etree import ElementTree

import jwt
import orjson
import trustme

from tests.fakes import soql
from tests.fakes.server import TrackingServer

VERSION = "62.0"
BATCH_DEFAULT = 2000
BATCH_MIN, BATCH_MAX = 200, 2000
COLLECTION_LIMIT = 200
ID_PREFIX = {
    "Account": "001",
    "Lead": "00Q",
    "User": "005",
    "Opportunity": "006",
    "PermissionSet": "0PS",
    "FieldPermissions": "01k",
    "CustomField": "00N",
    "Organization": "00D",
}
ORG_ID = "00D000000000001AAA"  # the org's id: Pub/Sub's `tenantid`
_CHECKSUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
CDC_CHANNEL = "ChangeEvents"  # the standard channel, Setup's Change Data Capture page
CDC_ENTITY_LIMIT = 5  # objects selected across channels without the add-on (CDC allocations)
# Standard objects with change events (a subset of those the Winter '19 release notes list),
# and the fake's own objects.
CDC_ENTITIES = frozenset(
    {"Account", "Campaign", "Case", "Contact", "Lead", "Opportunity", "Order", "User"}
)
MEMBER_PREFIX = "0v8"  # a PlatformEventChannelMember id's key prefix (modelled)
# The fields a Tooling query on PlatformEventChannelMember may name (the fake's subset).
MEMBER_FIELDS = ("Id", "DeveloperName", "MasterLabel", "EventChannel", "SelectedEntity")


@dataclass(frozen=True, slots=True)
class Field:
    """One field as describe shows it, and what an update may put in it."""

    name: str
    type: str  # id, string, url, email, textarea, picklist, int, double, currency, boolean,
    # datetime, date, reference
    updateable: bool = True
    length: int = 255
    precision: int = 18
    scale: int = 0
    values: tuple[str, ...] = ()  # a restricted picklist's values
    references: str | None = None
    custom: bool = False


def _fields(*specs: Field) -> dict[str, Field]:
    return {f.name.lower(): f for f in specs}


_SYSTEM = (
    Field("Id", "id", updateable=False),
    Field("CreatedDate", "datetime", updateable=False),
    Field("LastModifiedDate", "datetime", updateable=False),
    Field("SystemModstamp", "datetime", updateable=False),
    Field("IsDeleted", "boolean", updateable=False),
    Field("OwnerId", "reference", references="User"),
)
SCHEMA: dict[str, dict[str, Field]] = {
    "Account": _fields(
        *_SYSTEM,
        Field("MasterRecordId", "reference", updateable=False, references="Account"),
        Field("Name", "string"),
        Field("Website", "url"),
        Field("Industry", "string"),
        Field("NumberOfEmployees", "int", precision=8),
        Field("AnnualRevenue", "currency"),
        Field("BillingCountry", "string", length=80),
        Field("BillingState", "string", length=80),
        Field("BillingCity", "string", length=40),
        Field("Type", "string"),
    ),
    "Lead": _fields(
        *_SYSTEM,
        Field("MasterRecordId", "reference", updateable=False, references="Lead"),
        Field("FirstName", "string", length=40),
        Field("LastName", "string", length=80),
        Field("Company", "string"),
        Field("Email", "email", length=80),
        Field("Title", "string"),
        Field("LeadSource", "string"),
        Field("Website", "url"),
        Field("Industry", "string"),
        Field("NumberOfEmployees", "int", precision=8),
        Field("AnnualRevenue", "currency"),
        Field("Country", "string", length=80),
        Field("State", "string", length=80),
        Field("City", "string", length=40),
        Field("Status", "string"),
    ),
    "User": _fields(
        Field("Id", "id", updateable=False),
        Field("Email", "email"),
        Field("Username", "string"),
        Field("Name", "string"),
        Field("IsActive", "boolean"),
        Field("CreatedDate", "datetime", updateable=False),
    ),
    "Opportunity": _fields(
        *_SYSTEM,
        Field("Name", "string"),
        Field("StageName", "string"),
        Field("IsWon", "boolean", updateable=False),
        Field("IsClosed", "boolean", updateable=False),
        Field("Amount", "currency"),
        Field("CloseDate", "date"),
        Field("AccountId", "reference", references="Account"),
    ),
    "Organization": _fields(Field("Id", "id", updateable=False), Field("Name", "string")),
}
RELATIONSHIPS = {("Opportunity", "account"): ("AccountId", "Account")}

_ICP_COMMON = (
    Field("ICP_Score__c", "double", precision=3, custom=True),
    Field("ICP_Tier__c", "picklist", values=("A", "B", "C", "D", "DQ"), custom=True),
    Field("ICP_Profile__c", "string", custom=True),
    Field("ICP_Reasons__c", "textarea", length=32768, custom=True),
    Field("ICP_Version__c", "double", precision=6, custom=True),
    Field("ICP_Scored_At__c", "datetime", custom=True),
)
ICP_FIELDS: dict[str, tuple[Field, ...]] = {
    "Account": _ICP_COMMON,
    "Lead": (*_ICP_COMMON, Field("ICP_Persona_Score__c", "double", precision=3, custom=True)),
}
# The custom Account fields the shipped config/fields.yaml maps, as an org following the
# README has them.
SHIPPED_CUSTOM: dict[str, tuple[Field, ...]] = {
    "Account": (
        Field("Technologies__c", "string", custom=True),
        Field("Funding_Stage__c", "string", custom=True),
        Field("Last_Funding_Date__c", "date", custom=True),
        Field("Sales_Motion__c", "string", custom=True),
        Field("Has_RevOps__c", "boolean", custom=True),
        Field("SDR_Count__c", "double", custom=True),
        Field("SDR_Hiring_Posted_At__c", "date", custom=True),
        Field("New_Exec_At__c", "date", custom=True),
    )
}
_TOOLING_TYPES = {
    "Number": "double",
    "Text": "string",
    "LongTextArea": "textarea",
    "Picklist": "picklist",
    "DateTime": "datetime",
}


def case_safe(id15: str) -> str:
    """Salesforce's 18-character id: the 15-character one and its case checksum."""
    suffix = ""
    for chunk in range(3):
        bits = sum(1 << i for i, c in enumerate(id15[chunk * 5 : chunk * 5 + 5]) if c.isupper())
        suffix += _CHECKSUM[bits]
    return id15 + suffix


def stamp(moment: datetime | None = None) -> str:
    """Salesforce's datetime form: `2026-11-22T10:00:00.000+0000`."""
    moment = (moment or datetime.now(UTC)).astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}+0000"


# -- requests and answers --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Recorded:
    method: str
    path: str
    query: dict[str, list[str]]
    body: Any
    status: int
    at: float
    soql: str | None = None
    client: str | None = None  # the caller's name, from `Sforce-Call-Options: client=...`


@dataclass(slots=True)
class Fault:
    count: int
    status: int
    path: str | None
    code: str


@dataclass(frozen=True, slots=True)
class Change:
    """One committed change to a record, as Change Data Capture reports it."""

    obj: str
    id: str
    kind: str  # CREATE, UPDATE, DELETE
    fields: dict[str, Any]  # the values it set (all of them, on CREATE)
    client: str | None  # `Sforce-Call-Options: client=` of the call that made it; None in the UI


@dataclass(slots=True)
class Answer:
    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)
    raw: bytes | None = None  # XML answers (the SOAP login)


class Refused(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.answer = Answer(status, [{"message": message, "errorCode": code}])


_FAULT_CODES = {
    500: "UNKNOWN_EXCEPTION",
    503: "SERVER_UNAVAILABLE",
    403: "REQUEST_LIMIT_EXCEEDED",
    400: "MALFORMED_QUERY",
}


# -- the fake --------------------------------------------------------------------------------


class FakeSalesforce:
    """The fake; `with FakeSalesforce() as fake:` serves on `fake.url` for the block."""

    def __init__(
        self,
        *,
        token: str = "test-token",
        latency: float = 0.0,
        icp_fields: bool = True,
        api_limit: int = 100_000,
        username: str = "icpbot@example.com",
        password: str = "secret",
        security_token: str = "TOKEN",
        client_id: str = "icpbot-connected-app",
        public_key: bytes | None = None,
        custom_fields: Mapping[str, tuple[Field, ...]] | None = None,
        cdc_available: bool = True,
        cdc_entity_limit: int = CDC_ENTITY_LIMIT,
        cdc_selected: Iterable[str] = (),
    ) -> None:
        """`custom_fields`: the org's own fields by sObject, beyond the standard ones.

        Change Data Capture: `cdc_available` False is an edition without it (Professional);
        `cdc_entity_limit` the objects the org may select (5, more with the add-on);
        `cdc_selected` the objects selected already (by the org, or other apps).
        """
        self.latency = latency
        self.url = ""
        self.ca = trustme.CA()
        self._cert = self.ca.issue_cert("127.0.0.1", "localhost")
        self._ca_dir = tempfile.TemporaryDirectory(prefix="fake-salesforce-")
        self.ca_file = str(Path(self._ca_dir.name) / "ca.pem")
        self.ca.cert_pem.write_to_path(self.ca_file)
        self.logins = {username: password + security_token}
        self.client_id = client_id
        self.public_key = public_key
        self.api_used, self.api_limit = 0, api_limit
        self._tokens = {token}
        self._lock = threading.RLock()
        self._schema = {obj: dict(fields) for obj, fields in SCHEMA.items()}
        for fields in (ICP_FIELDS if icp_fields else {}), custom_fields or {}:
            for obj, extra in fields.items():
                self._schema[obj].update({f.name.lower(): f for f in extra})
        self._rows: dict[str, dict[str, dict[str, Any]]] = {obj: {} for obj in ID_PREFIX}
        self._rows["Organization"][ORG_ID] = {"Id": ORG_ID, "Name": "Acme Fake Org"}
        self._counter = itertools.count(1)
        # The recycle bin: deleted rows (IsDeleted, and MasterRecordId when merged away),
        # which only `queryAll` reads.
        self._bin: dict[str, dict[str, dict[str, Any]]] = {obj: {} for obj in ID_PREFIX}
        self._cursors: dict[str, tuple[soql.Query, str, list[str], int, bool]] = {}
        self._requests: list[Recorded] = []
        self._faults: list[Fault] = []
        self._written = 0
        self._listeners: list[Callable[[Change], None]] = []
        self._client: str | None = None  # the client named by the call being answered
        self.cdc_available = cdc_available
        self.cdc_entity_limit = cdc_entity_limit
        self._members: dict[str, dict[str, Any]] = {}  # channel members by DeveloperName, folded
        for entity in cdc_selected:
            self._add_member(f"{entity}ChangeEvent", f"{CDC_CHANNEL}_{entity}ChangeEvent")
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> FakeSalesforce:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self._cert.configure_cert(context)
        self._server = _Server(self, context)
        self.url = f"https://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.01,), name="fake-salesforce", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is not None:
            server.shutdown()
            server.close_connections()
            server.server_close()
        if thread is not None:
            thread.join(5)
        self._ca_dir.cleanup()

    def __enter__(self) -> FakeSalesforce:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- seeding and reading ---------------------------------------------------------------

    def add(self, obj: str, values: Mapping[str, Any], *, created: datetime | None = None) -> str:
        """A record of `obj`, created (and last modified) now unless `created` says."""
        with self._lock:
            id18 = case_safe(f"{ID_PREFIX[obj]}{next(self._counter):012d}")
            at = stamp(created)
            row: dict[str, Any] = {"Id": id18}
            if "CreatedDate" in {f.name for f in self._schema.get(obj, {}).values()}:
                row.update(CreatedDate=at, LastModifiedDate=at, SystemModstamp=at, IsDeleted=False)
            row.update(values)
            self._rows[obj][id18] = row
            self._changed(Change(obj, id18, "CREATE", dict(row), None))
            return id18

    def add_user(self, email: str, *, active: bool = True, name: str = "") -> str:
        return self.add(
            "User",
            {
                "Email": email,
                "Username": email,
                "IsActive": active,
                "Name": name or email.split("@")[0],
            },
        )

    def seed_accounts(self, n: int, *, seed: int = 1) -> None:
        """Plausible accounts, quickly: what a backfill benchmark reads."""
        rng = random.Random(seed)
        industries = ("Software", "Internet", "Retail", "Banking", "Education", "Government")
        for i in range(n):
            employees = rng.choice((8, 40, 120, 250, 400, 650, 900, 3000, 20000))
            self.add(
                "Account",
                {
                    "Name": f"Company {i}",
                    "Website": f"https://www.company{i}.com",
                    "Industry": rng.choice(industries),
                    "NumberOfEmployees": employees,
                    "AnnualRevenue": employees * 150_000.0,
                    "BillingCountry": "United States",
                    "BillingState": "California",
                    "BillingCity": "San Francisco",
                },
            )

    def row(self, obj: str, id: str) -> dict[str, Any]:
        with self._lock:
            return dict(self._rows[obj][id])

    def rows(self, obj: str) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(r) for r in self._rows[obj].values()]

    def touch(self, obj: str, id: str, **values: Any) -> None:
        """A change made in Salesforce by someone else: values set, SystemModstamp moved."""
        with self._lock:
            now = stamp()
            self._rows[obj][id].update(values, LastModifiedDate=now, SystemModstamp=now)
            self._changed(Change(obj, id, "UPDATE", dict(values), None))

    def merge(self, obj: str, master: str, *losers: str, **values: Any) -> None:
        """Records merged in the UI: `master` keeps (and takes `values`), the others go to
        the recycle bin naming it (`MasterRecordId`). Heard as Salesforce tells it: an
        UPDATE of the master, a DELETE of each merged record."""
        with self._lock:
            self.touch(obj, master, **values)
            for loser in losers:
                self._to_bin(obj, loser, master=master, client=None)

    def deleted(self, obj: str) -> list[str]:
        """The ids in the recycle bin."""
        with self._lock:
            return list(self._bin[obj])

    def listen(self, listener: Callable[[Change], None]) -> None:
        """Call `listener` with every change committed from now on, in commit order (under
        the fake's lock: it must not call back into the fake)."""
        with self._lock:
            self._listeners.append(listener)

    def _changed(self, change: Change) -> None:
        for listener in self._listeners:
            listener(change)

    def fields(self, obj: str) -> list[Field]:
        """`obj`'s fields as describe lists them, in order."""
        with self._lock:
            return list(self._schema[obj].values())

    def knows_token(self, token: str) -> bool:
        with self._lock:
            return token in self._tokens

    @property
    def certificate(self) -> trustme.LeafCert:
        """The TLS certificate it serves (127.0.0.1), issued by `ca`: other fake services of
        the same org (its Pub/Sub API) serve it too."""
        return self._cert

    def cdc_selected(self) -> frozenset[str]:
        """The objects selected for Change Data Capture on the standard channel (`Lead`):
        those whose changes Salesforce publishes as change events."""
        with self._lock:
            return frozenset(
                str(m["SelectedEntity"]).removesuffix("ChangeEvent")
                for m in self._members.values()
                if m["EventChannel"] == CDC_CHANNEL
            )

    def has_field(self, obj: str, name: str) -> bool:
        return name.lower() in self._schema[obj]

    def requests(self) -> list[Recorded]:
        with self._lock:
            return list(self._requests)

    def queries(self) -> list[str]:
        """Every SOQL text received, in order."""
        return [r.soql for r in self.requests() if r.soql is not None]

    def stats(self) -> dict[str, Any]:
        with self._lock:
            tagged = sum(1 for r in self._rows["Account"].values() if r.get("ICP_Tier__c"))
            return {
                "requests": len(self._requests),
                "written": self._written,
                "tagged_accounts": tagged,
                "accounts": len(self._rows["Account"]),
                "api_used": self.api_used,
                "api_limit": self.api_limit,
            }

    # -- faults ----------------------------------------------------------------------------

    def fail_next(
        self, count: int, *, status: int = 500, path: str | None = None, code: str | None = None
    ) -> None:
        """The next `count` API requests (under `path`, when given) get `status` and `code`."""
        with self._lock:
            self._faults.append(Fault(count, status, path, code or _FAULT_CODES.get(status, "")))

    def expire_sessions(self) -> None:
        """Every session ends, as after a timeout or a password reset."""
        with self._lock:
            self._tokens.clear()

    def set_api_usage(self, used: int, limit: int | None = None) -> None:
        with self._lock:
            self.api_used = used
            self.api_limit = limit or self.api_limit

    # -- answering -------------------------------------------------------------------------

    def answer(self, method: str, target: str, headers: Mapping[str, str], raw: bytes) -> Answer:
        parts = urlsplit(target)
        query = parse_qs(parts.query, keep_blank_values=True)
        path = parts.path
        if path.startswith("/services/Soap/u/"):
            return self._soap_login(raw)
        if path == "/services/oauth2/token":
            return self._jwt_login(raw)
        if self.latency:
            time.sleep(self.latency)
        body = orjson.loads(raw) if raw else None
        text = (query.get("q") or [None])[0]
        with self._lock:
            self._client = _client_name(headers.get("sforce-call-options"))
            try:
                answer = self._api(method, path, query, headers, body)
            except Refused as refused:
                answer = refused.answer
            except (orjson.JSONDecodeError, TypeError, ValueError) as exc:
                answer = Refused(400, "JSON_PARSER_ERROR", str(exc)).answer
            self._requests.append(
                Recorded(
                    method,
                    path,
                    query,
                    body,
                    answer.status,
                    time.monotonic(),
                    text,
                    self._client,
                )
            )
            if answer.status != 401:
                self.api_used += 1
            answer.headers["Sforce-Limit-Info"] = f"api-usage={self.api_used}/{self.api_limit}"
            return answer

    def _api(
        self,
        method: str,
        path: str,
        query: dict[str, list[str]],
        headers: Mapping[str, str],
        body: Any,
    ) -> Answer:
        auth = headers.get("authorization") or ""
        if not auth.startswith("Bearer ") or auth[7:] not in self._tokens:
            raise Refused(401, "INVALID_SESSION_ID", "Session expired or invalid")
        fault = self._fault(path)
        if fault is not None:
            raise Refused(fault.status, fault.code, "injected failure")
        prefix = f"/services/data/v{VERSION}/"
        if not path.startswith(prefix):
            raise Refused(404, "NOT_FOUND", "The requested resource does not exist")
        rest = path[len(prefix) :].rstrip("/")
        route = (method, *rest.split("/"))
        return self._route(route, query, headers, body)

    def _route(
        self,
        route: tuple[str, ...],
        query: dict[str, list[str]],
        headers: Mapping[str, str],
        body: Any,
    ) -> Answer:
        match route:
            case ("GET", "query"):
                return self._query((query.get("q") or [""])[0], headers)
            case ("GET", "query", locator):
                return self._more(locator)
            case ("GET", "queryAll"):
                return self._query((query.get("q") or [""])[0], headers, deleted=True)
            case ("GET", "queryAll", locator):
                return self._more(locator)
            case ("GET", "limits"):
                remaining = max(0, self.api_limit - self.api_used)
                return Answer(
                    200, {"DailyApiRequests": {"Max": self.api_limit, "Remaining": remaining}}
                )
            case ("PATCH", "composite", "sobjects"):
                return self._collection(body)
            case ("PATCH", "sobjects", obj, id):
                return self._patch_one(obj, id, body)
            case ("POST", "sobjects", obj) if obj in ("Account", "Lead", "Opportunity"):
                return self._create(obj, body)
            case ("DELETE", "sobjects", obj, id) if obj in ("Account", "Lead", "Opportunity"):
                return self._delete(obj, id)
            case ("GET", "sobjects", obj, "describe"):
                return self._describe(obj)
            case ("POST", "tooling", "sobjects", "CustomField"):
                return self._custom_field(body)
            case ("GET", "tooling", "query"):
                return self._tooling_query((query.get("q") or [""])[0])
            case ("POST", "tooling", "sobjects", "PlatformEventChannelMember"):
                return self._channel_member(body)
        raise Refused(404, "NOT_FOUND", "The requested resource does not exist")

    def _fault(self, path: str) -> Fault | None:
        for fault in self._faults:
            if fault.path is None or fault.path in path:
                fault.count -= 1
                if fault.count <= 0:
                    self._faults.remove(fault)
                return fault
        return None

    # -- SOQL ------------------------------------------------------------------------------

    def _columns(self, obj: str) -> list[str] | None:
        schema = self._schema.get(_canonical_object(obj))
        if schema is None:
            return None
        names = [f.name for f in schema.values()]
        return names + [rel for (o, rel) in RELATIONSHIPS if o == _canonical_object(obj)]

    def _query(self, text: str, headers: Mapping[str, str], *, deleted: bool = False) -> Answer:
        """`query`, or with `deleted` `queryAll`: the recycle bin's rows too."""
        try:
            parsed = soql.parse(text, columns=self._columns)
        except soql.SoqlError as exc:
            raise Refused(400, exc.code, exc.message) from exc
        obj = _canonical_object(parsed.object)
        view = self._view if any(o == obj for o, _ in RELATIONSHIPS) else _plain
        pool = self._with_bin(obj) if deleted else self._rows[obj]
        rows = [r for r in pool.values() if parsed.matches(view(obj, r))]
        by_id = [o.field.lower() for o in parsed.order] == ["id"] and not parsed.order[0].descending
        if parsed.order and not by_id:  # rows are kept in Id order already
            rows = parsed.sort([view(obj, r) for r in rows])
        ordered = rows
        ids = [str(r["Id"]) for r in ordered]
        ids = ids[parsed.offset or 0 :]
        if parsed.limit is not None:
            ids = ids[: parsed.limit]
        if parsed.count:
            return Answer(200, {"totalSize": len(ids), "done": True, "records": []})
        batch = _batch_size(headers.get("sforce-query-options"))
        locator = "01g" + uuid.uuid4().hex[:15]
        self._cursors[locator] = (parsed, obj, ids, batch, deleted)
        return self._page(locator, 0)

    def _more(self, locator: str) -> Answer:
        name, _, start = locator.partition("-")
        if name not in self._cursors or not start.isdigit():
            raise Refused(400, "INVALID_QUERY_LOCATOR", "invalid query locator")
        return self._page(name, int(start))

    def _page(self, locator: str, start: int) -> Answer:
        parsed, obj, ids, batch, deleted = self._cursors[locator]
        rows = self._with_bin(obj) if deleted else self._rows[obj]
        chunk = ids[start : start + batch]
        records = [self._selected(obj, parsed, rows[i]) for i in chunk if i in rows]
        done = start + batch >= len(ids)
        body: dict[str, Any] = {"totalSize": len(ids), "done": done, "records": records}
        if done:
            del self._cursors[locator]
        else:
            # `query` even for a queryAll: "Although the nextRecordsUrl has query in the URL,
            # it still provides remaining results from the initial QueryAll request" (REST
            # API guide, Execute a SOQL Query that Includes Deleted Items).
            body["nextRecordsUrl"] = f"/services/data/v{VERSION}/query/{locator}-{start + batch}"
        return Answer(200, body)

    def _with_bin(self, obj: str) -> dict[str, dict[str, Any]]:
        """Every row of `obj`, deleted or not, in Id order, as `queryAll` reads them."""
        if not self._bin[obj]:
            return self._rows[obj]
        return dict(sorted({**self._rows[obj], **self._bin[obj]}.items()))

    def _view(self, obj: str, row: dict[str, Any]) -> dict[str, Any]:
        """The row as a query sees it: relationship fields resolved to their records."""
        view = dict(row)
        for (owner, rel), (key, target) in RELATIONSHIPS.items():
            if owner == obj:
                view[rel.capitalize()] = self._rows[target].get(str(row.get(key) or ""))
        return view

    def _selected(self, obj: str, parsed: soql.Query, row: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {"attributes": _attributes(obj, str(row["Id"]))}
        view = self._view(obj, row)
        for name in parsed.fields:
            head, _, tail = name.partition(".")
            if tail:
                related = view.get(head.capitalize())
                rel_obj = RELATIONSHIPS[(obj, head.lower())][1]
                out[head.capitalize()] = (
                    None
                    if related is None
                    else {
                        "attributes": _attributes(rel_obj, str(related["Id"])),
                        self._schema[rel_obj][tail.lower()].name: related.get(
                            self._schema[rel_obj][tail.lower()].name
                        ),
                    }
                )
                continue
            canonical = self._schema[obj][name.lower()].name
            out[canonical] = row.get(canonical)
        return out

    # -- writes ----------------------------------------------------------------------------

    def _collection(self, body: Any) -> Answer:
        if not isinstance(body, dict) or not isinstance(body.get("records"), list):
            raise Refused(400, "JSON_PARSER_ERROR", "records: a list is required")
        records = body["records"]
        if len(records) > COLLECTION_LIMIT:
            message = "record limit reached. cannot submit more than 200 records into this call"
            raise Refused(400, "EXCEEDED_ID_LIMIT", message)
        checked = [self._check(r) for r in records]
        if body.get("allOrNone") and any(errors for _, _, _, errors in checked):
            return Answer(200, [_result(None, [_rolled_back()]) for _ in checked])
        results = []
        for obj, id, values, errors in checked:
            if not errors:
                self._apply(obj, id, values)
            results.append(_result(id, errors))
        return Answer(200, results)

    def _check(self, record: Any) -> tuple[str, str, dict[str, Any], list[dict[str, Any]]]:
        if not isinstance(record, dict):
            raise Refused(400, "JSON_PARSER_ERROR", "each record is an object")
        obj = str((record.get("attributes") or {}).get("type") or "")
        if obj not in ("Account", "Lead", "Opportunity"):
            raise Refused(400, "INVALID_TYPE", f"sObject type '{obj}' is not supported.")
        id = str(record.get("id") or record.get("Id") or "")
        values = {k: v for k, v in record.items() if k not in ("attributes", "id", "Id")}
        errors = self._validate(obj, values)
        if id not in self._rows[obj]:
            errors.insert(0, _error("ENTITY_IS_DELETED", "entity is deleted", []))
        return obj, id, values, errors

    def _validate(self, obj: str, values: dict[str, Any]) -> list[dict[str, Any]]:
        errors = []
        for name, value in values.items():
            spec = self._schema[obj].get(name.lower())
            if spec is None:
                raise Refused(
                    400, "INVALID_FIELD", f"No such column '{name}' on sobject of type {obj}"
                )
            problem = _invalid(spec, value, self._rows)
            if problem is not None:
                errors.append(_error(problem[0], problem[1], [spec.name]))
        return errors

    def _apply(self, obj: str, id: str, values: dict[str, Any]) -> None:
        now = stamp()
        row = self._rows[obj][id]
        for name, value in values.items():
            row[self._schema[obj][name.lower()].name] = value
        row.update(LastModifiedDate=now, SystemModstamp=now)
        self._written += 1
        self._changed(Change(obj, id, "UPDATE", dict(values), self._client))

    def _patch_one(self, obj: str, id: str, body: Any) -> Answer:
        if obj not in ("Account", "Lead") or not isinstance(body, dict):
            raise Refused(404, "NOT_FOUND", "The requested resource does not exist")
        if id not in self._rows[obj]:
            raise Refused(
                404, "NOT_FOUND", "Provided external ID field does not exist or is not accessible"
            )
        errors = self._validate(obj, body)
        if errors:
            first = errors[0]
            raise Refused(400, first["statusCode"], first["message"])
        self._apply(obj, id, body)
        return Answer(204, None)

    def _create(self, obj: str, body: Any) -> Answer:
        """`POST /sobjects/{obj}`: a record created through the API (a form, an import)."""
        if not isinstance(body, dict):
            raise Refused(400, "JSON_PARSER_ERROR", "the body is an object")
        errors = self._validate(obj, body)
        if errors:
            first = errors[0]
            raise Refused(400, first["statusCode"], first["message"])
        id18 = case_safe(f"{ID_PREFIX[obj]}{next(self._counter):012d}")
        now = stamp()
        row: dict[str, Any] = {"Id": id18, "CreatedDate": now, "IsDeleted": False}
        row.update({self._schema[obj][k.lower()].name: v for k, v in body.items()})
        row.update(LastModifiedDate=now, SystemModstamp=now)
        self._rows[obj][id18] = row
        self._changed(Change(obj, id18, "CREATE", dict(row), self._client))
        return Answer(201, {"id": id18, "success": True, "errors": []})

    def _delete(self, obj: str, id: str) -> Answer:
        if id not in self._rows[obj]:
            raise Refused(404, "ENTITY_IS_DELETED", "entity is deleted")
        self._to_bin(obj, id, master=None, client=self._client)
        return Answer(204, None)

    def _to_bin(self, obj: str, id: str, *, master: str | None, client: str | None) -> None:
        """A record deleted (merged into `master`): into the recycle bin, and heard."""
        row = self._rows[obj].pop(id)
        now = stamp()
        row.update(IsDeleted=True, MasterRecordId=master, LastModifiedDate=now, SystemModstamp=now)
        self._bin[obj][id] = row
        self._changed(Change(obj, id, "DELETE", {}, client))

    # -- describe and metadata -------------------------------------------------------------

    def _describe(self, obj: str) -> Answer:
        schema = self._schema.get(obj)
        if schema is None:
            raise Refused(404, "NOT_FOUND", "The requested resource does not exist")
        fields = [
            {
                "name": f.name,
                "type": f.type,
                "updateable": f.updateable,
                "custom": f.custom,
                "length": f.length,
                "precision": f.precision,
                "scale": f.scale,
                "picklistValues": [{"value": v, "active": True} for v in f.values],
            }
            for f in schema.values()
        ]
        return Answer(200, {"name": obj, "custom": False, "fields": fields})

    def _custom_field(self, body: Any) -> Answer:
        full = str((body or {}).get("FullName") or "")
        meta = (body or {}).get("Metadata") or {}
        obj, _, name = full.partition(".")
        if obj not in self._schema or not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*__c", name):
            raise Refused(400, "INVALID_FIELD", f"invalid FullName: {full!r}")
        if name.lower() in self._schema[obj]:
            message = "duplicate value found: <unknown> duplicates value on record"
            raise Refused(400, "DUPLICATE_DEVELOPER_NAME", message)
        kind = _TOOLING_TYPES.get(str(meta.get("type")))
        if kind is None or not meta.get("label"):
            raise Refused(400, "FIELD_INTEGRITY_EXCEPTION", f"unsupported field: {meta!r}")
        values = tuple(
            v["fullName"]
            for v in (
                ((meta.get("valueSet") or {}).get("valueSetDefinition") or {}).get("value") or []
            )
        )
        if kind == "picklist" and not values:
            raise Refused(400, "FIELD_INTEGRITY_EXCEPTION", "a picklist needs values")
        self._schema[obj][name.lower()] = Field(
            name,
            kind,
            length=int(meta.get("length") or 255),
            precision=int(meta.get("precision") or 18),
            scale=int(meta.get("scale") or 0),
            values=values,
            custom=True,
        )
        id = case_safe(f"00N{next(self._counter):012d}")
        return Answer(201, {"id": id, "success": True, "errors": []})

    # -- Change Data Capture selection ------------------------------------------------------

    def _tooling_query(self, text: str) -> Answer:
        """A Tooling query on PlatformEventChannelMember, in one page (an org has a handful)."""
        columns = {"platformeventchannelmember": MEMBER_FIELDS}
        try:
            parsed = soql.parse(text, columns=lambda obj: columns.get(obj.lower()))
        except soql.SoqlError as exc:
            raise Refused(400, exc.code, exc.message) from exc
        rows = parsed.sort(m for m in self._members.values() if parsed.matches(m))
        rows = rows[parsed.offset or 0 :][: parsed.limit]
        records = [] if parsed.count else [_member_record(parsed, m) for m in rows]
        body = {
            "size": len(rows),
            "totalSize": len(rows),
            "done": True,
            "queryLocator": None,
            "entityTypeName": "PlatformEventChannelMember",
            "records": records,
        }
        return Answer(200, body)

    def _channel_member(self, body: Any) -> Answer:
        """`POST tooling/sobjects/PlatformEventChannelMember`: an object selected for change
        events, refused as Salesforce refuses it. Salesforce documents the allocation and the
        editions, not the error codes: LIMIT_EXCEEDED, FUNCTIONALITY_NOT_ENABLED,
        FIELD_INTEGRITY_EXCEPTION and DUPLICATE_VALUE here are modelled on its StatusCode list.
        """
        full = str((body or {}).get("FullName") or "")
        meta = (body or {}).get("Metadata") or {}
        channel, event = str(meta.get("eventChannel") or ""), str(meta.get("selectedEntity") or "")
        if not re.fullmatch(r"[A-Za-z](?!.*__)[A-Za-z0-9_]*(?<!_)", full) or not event:
            raise Refused(400, "REQUIRED_FIELD_MISSING", f"FullName and selectedEntity: {body!r}")
        if not self.cdc_available:
            message = "Change Data Capture isn't available in this organization's edition."
            raise Refused(400, "FUNCTIONALITY_NOT_ENABLED", message)
        self._check_member(full, channel, event)
        id = self._add_member(event, full)
        return Answer(201, {"id": id, "success": True, "errors": [], "warnings": [], "infos": []})

    def _check_member(self, full: str, channel: str, event: str) -> None:
        """Refuse a member Salesforce would: another channel, an object without change events,
        a name or an object already on the channel, the allocation used up."""
        if channel != CDC_CHANNEL:
            raise Refused(
                400, "FIELD_INTEGRITY_EXCEPTION", f"eventChannel: no such channel: {channel}"
            )
        entity = event.removesuffix("ChangeEvent")
        if entity == event or entity not in CDC_ENTITIES:
            message = f"selectedEntity: {event} isn't an entity that supports change events"
            raise Refused(400, "FIELD_INTEGRITY_EXCEPTION", message)
        taken = self._members.get(full.lower())
        if taken is not None:
            message = (
                "duplicate value found: DeveloperName duplicates value on record with id: "
                f"{taken['Id']}"
            )
            raise Refused(400, "DUPLICATE_DEVELOPER_NAME", message)
        if entity in self.cdc_selected():
            raise Refused(400, "DUPLICATE_VALUE", f"selectedEntity: {event} is already selected")
        if len(self._members) >= self.cdc_entity_limit:
            message = (
                f"You can select up to {self.cdc_entity_limit} entities for Change Data Capture. "
                "To select more, deselect an entity or purchase the add-on license."
            )
            raise Refused(400, "LIMIT_EXCEEDED", message)

    def _add_member(self, event: str, developer_name: str) -> str:
        id = case_safe(f"{MEMBER_PREFIX}{next(self._counter):012d}")
        self._members[developer_name.lower()] = {
            "Id": id,
            "DeveloperName": developer_name,
            "MasterLabel": event,
            "EventChannel": CDC_CHANNEL,
            "SelectedEntity": event,
        }
        return id

    # -- logins ----------------------------------------------------------------------------

    def _new_session(self) -> str:
        token = "00D" + uuid.uuid4().hex
        with self._lock:
            self._tokens.add(token)
        return token

    def _soap_login(self, raw: bytes) -> Answer:
        try:
            tree = ElementTree.fromstring(raw)
        except ElementTree.ParseError:
            return _soap_fault("INVALID_LOGIN", "Invalid request")
        values = {el.tag.rsplit("}", 1)[-1]: (el.text or "") for el in tree.iter()}
        expected = self.logins.get(values.get("username", ""))
        if expected is None or values.get("password") != expected:
            return _soap_fault(
                "INVALID_LOGIN", "Invalid username, password, security token; or user locked out."
            )
        session = self._new_session()
        server = f"{self.url}/services/Soap/u/{VERSION}/00D000000000001"
        xml = (
            '<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv='
            '"http://schemas.xmlsoap.org/soap/envelope/" xmlns="urn:partner.soap.sforce.com">'
            f"<soapenv:Body><loginResponse><result><serverUrl>{server}</serverUrl>"
            f"<sessionId>{session}</sessionId></result></loginResponse></soapenv:Body>"
            "</soapenv:Envelope>"
        )
        return Answer(200, None, {"Content-Type": "text/xml"}, xml.encode())

    def _jwt_login(self, raw: bytes) -> Answer:
        form = {k: v[0] for k, v in parse_qs(raw.decode()).items()}
        if form.get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer":
            return Answer(
                400,
                {
                    "error": "unsupported_grant_type",
                    "error_description": "grant type not supported",
                },
            )
        try:
            claims = jwt.decode(
                form.get("assertion", ""),
                self.public_key or b"",
                algorithms=["RS256"],
                audience=self.url,
            )
        except jwt.PyJWTError as exc:
            return Answer(400, {"error": "invalid_grant", "error_description": str(exc)})
        if claims.get("iss") != self.client_id:
            return Answer(
                400,
                {"error": "invalid_client_id", "error_description": "client identifier invalid"},
            )
        if claims.get("sub") not in self.logins:
            return Answer(400, {"error": "invalid_grant", "error_description": "user not found"})
        session = self._new_session()
        return Answer(
            200,
            {
                "access_token": session,
                "instance_url": self.url,
                "token_type": "Bearer",
                "scope": "api",
            },
        )


def _member_record(parsed: soql.Query, member: Mapping[str, Any]) -> dict[str, Any]:
    """A channel member as a Tooling query answers it: the fields asked for, by their names."""
    by_name = {name.lower(): name for name in member}
    out: dict[str, Any] = {
        "attributes": {
            "type": "PlatformEventChannelMember",
            "url": f"/services/data/v{VERSION}/tooling/sobjects/PlatformEventChannelMember/"
            f"{member['Id']}",
        }
    }
    for name in parsed.fields:
        canonical = by_name[name.lower()]
        out[canonical] = member[canonical]
    return out


def _plain(obj: str, row: dict[str, Any]) -> dict[str, Any]:
    return row


def _canonical_object(name: str) -> str:
    return next((o for o in SCHEMA if o.lower() == name.lower()), name)


def _batch_size(header: str | None) -> int:
    match = re.search(r"batchSize=(\d+)", header or "")
    return max(BATCH_MIN, min(int(match[1]), BATCH_MAX)) if match else BATCH_DEFAULT


def _attributes(obj: str, id: str) -> dict[str, str]:
    return {"type": obj, "url": f"/services/data/v{VERSION}/sobjects/{obj}/{id}"}


def _error(code: str, message: str, fields: list[str]) -> dict[str, Any]:
    return {"statusCode": code, "message": message, "fields": fields}


def _rolled_back() -> dict[str, Any]:
    return _error(
        "ALL_OR_NONE_OPERATION_ROLLED_BACK",
        "Record rolled back because not all "
        "records were valid and the request was using AllOrNone header",
        [],
    )


def _result(id: str | None, errors: list[dict[str, Any]]) -> dict[str, Any]:
    if errors:
        return {"success": False, "errors": errors}
    return {"id": id, "success": True, "errors": []}


def _invalid(
    spec: Field, value: Any, rows: Mapping[str, Mapping[str, Any]]
) -> tuple[str, str] | None:
    """Salesforce's complaint about putting `value` in the field, or None."""
    if not spec.updateable:
        return "INVALID_FIELD_FOR_INSERT_UPDATE", f"Unable to create/update fields: {spec.name}."
    if value is None:
        return None
    if spec.type in ("int", "double", "currency"):
        if isinstance(value, bool) or not isinstance(value, int | float):
            message = f"Cannot deserialize instance of double from VALUE_STRING: {value!r}"
            raise Refused(400, "JSON_PARSER_ERROR", message)
        if abs(value) >= 10 ** (spec.precision - spec.scale):
            return "NUMBER_OUTSIDE_VALID_RANGE", f"{spec.name}: value outside of valid range"
        return None
    if spec.type == "datetime":
        try:
            datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        except ValueError as exc:
            raise Refused(
                400, "JSON_PARSER_ERROR", f"Cannot deserialize datetime: {value!r}"
            ) from exc
        return None
    if spec.type == "picklist":
        if value not in spec.values:
            return (
                "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                f"{spec.name}: bad value for restricted picklist field: {value}",
            )
        return None
    if spec.type == "reference":
        if not (isinstance(value, str) and value in rows.get(spec.references or "", {})):
            return (
                "INVALID_CROSS_REFERENCE_KEY",
                f"{spec.name}: id value of incorrect type: {value}",
            )
        return None
    if not isinstance(value, str):
        raise Refused(400, "JSON_PARSER_ERROR", f"{spec.name}: a string is required")
    if len(value) > spec.length:
        return "STRING_TOO_LONG", f"{spec.name}: data value too large: {value[:40]}"
    return None


def _soap_fault(code: str, message: str) -> Answer:
    xml = (
        '<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv='
        '"http://schemas.xmlsoap.org/soap/envelope/" xmlns:sf="urn:fault.partner.soap.sforce.com">'
        f"<soapenv:Body><soapenv:Fault><faultcode>sf:{code}</faultcode><faultstring>{code}: "
        f"{message}</faultstring><detail><sf:LoginFault><sf:exceptionCode>{code}"
        f"</sf:exceptionCode><sf:exceptionMessage>{message}</sf:exceptionMessage>"
        "</sf:LoginFault></detail></soapenv:Fault></soapenv:Body></soapenv:Envelope>"
    )
    return Answer(500, None, {"Content-Type": "text/xml"}, xml.encode())


# -- serving ---------------------------------------------------------------------------------


class _Server(TrackingServer):
    """TLS per connection, in the connection's own thread; every connection closed on stop."""

    def __init__(self, fake: FakeSalesforce, context: ssl.SSLContext) -> None:
        self.fake = fake
        self.context = context
        super().__init__(_Handler)

    def finish_request(self, request: Any, client_address: Any) -> None:
        try:
            request = self.context.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError):
            return
        self.track(request, opened=True)
        try:
            super().finish_request(request, client_address)
        finally:
            self.track(request, opened=False)
            with contextlib.suppress(OSError):
                request.close()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "FakeSalesforce/1.0"
    sys_version = ""
    wbufsize = 1 << 16
    disable_nagle_algorithm = True
    timeout = 120
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the recorded requests are the log."""

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def do_PATCH(self) -> None:
        self._serve()

    def do_DELETE(self) -> None:
        self._serve()

    def _serve(self) -> None:
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        headers = {k.lower(): v for k, v in self.headers.items()}
        try:
            answer = self.server.fake.answer(self.command, self.path, headers, raw)
        except Exception as exc:  # a fake's own bug must show, not hang the client
            answer = Answer(500, [{"message": repr(exc), "errorCode": "FAKE_BUG"}])
        payload = (
            answer.raw
            if answer.raw is not None
            else (b"" if answer.status == 204 else orjson.dumps(answer.body))
        )
        try:
            self.send_response(answer.status)
            self.send_header(
                "Content-Type", answer.headers.pop("Content-Type", "application/json;charset=UTF-8")
            )
            self.send_header("Content-Length", str(len(payload)))
            for name, value in answer.headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)
            self.wfile.flush()
        except OSError:
            self.close_connection = True


# -- standalone ------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> None:
    """Seed, print the URL and the CA file, serve until stdin closes or SIGTERM."""
    parser = argparse.ArgumentParser(description="A fake Salesforce REST API on 127.0.0.1.")
    parser.add_argument("--accounts", type=int, default=0)
    parser.add_argument("--latency", type=float, default=0.0)
    parser.add_argument("--token", default="test-token")
    args = parser.parse_args(argv)
    fake = FakeSalesforce(token=args.token, latency=args.latency)
    fake.seed_accounts(args.accounts)
    signal.signal(signal.SIGTERM, _exit)
    fake.start()
    try:
        sys.stdout.write(f"{fake.url} {fake.ca_file}\n")
        sys.stdout.flush()
        sys.stdin.buffer.read()
        sys.stdout.write(orjson.dumps(fake.stats()).decode() + "\n")
    finally:
        fake.stop()


def _exit(*_: object) -> None:
    raise SystemExit(0)


def iter_written(fake: FakeSalesforce, obj: str) -> Iterator[dict[str, Any]]:
    """Rows that carry an ICP tier: what a write-back reached."""
    return (r for r in fake.rows(obj) if r.get("ICP_Tier__c"))


def _client_name(options: str | None) -> str | None:
    """`client=icpbot` (among other `name=value` options, comma-separated) → `icpbot`."""
    for option in (options or "").split(","):
        name, _, value = option.strip().partition("=")
        if name.strip().lower() == "client" and value.strip():
            return value.strip()
    return None


if __name__ == "__main__":
    main()
