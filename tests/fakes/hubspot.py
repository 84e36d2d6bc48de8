"""A wire-level fake of HubSpot's CRM API, for the real `hubspot-api-client` to talk to.

It answers with HubSpot's shapes, refuses what HubSpot refuses (more than
100 inputs a batch, unknown properties, bad enumeration values, a wrong
token, the search API's 10,000-result cap), keeps a rolling-window rate
limit that answers 429 with `Retry-After`, records every request, and can
inject failures and latency. Binds 127.0.0.1 on a free port only.

    python -m tests.fakes.hubspot --companies 50000 --rate-limit 190
prints its URL and serves until stdin closes; `/_fake/...` lets another
process seed it and read its statistics.
"""

from __future__ import annotations

import argparse
import collections
import math
import random
import re
import signal
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import orjson

BATCH = 100
SEARCH_LIMIT = 200
SEARCH_CAP = 10_000
MODIFIED = {"companies": "hs_lastmodifieddate", "contacts": "lastmodifieddate"}
_BASE_PROPS = {
    "companies": [
        ("name", "string"), ("domain", "string"), ("industry", "string"),
        ("numberofemployees", "number"), ("annualrevenue", "number"), ("country", "string"),
        ("state", "string"), ("city", "string"), ("web_technologies", "string"),
        ("lifecyclestage", "string"), ("hubspot_owner_id", "string"), ("description", "string"),
        ("createdate", "datetime"), ("hs_lastmodifieddate", "datetime"), ("hs_object_id", "number"),
    ],
    "contacts": [
        ("email", "string"), ("firstname", "string"), ("lastname", "string"),
        ("jobtitle", "string"), ("hs_seniority", "string"), ("hs_analytics_source", "string"),
        ("lifecyclestage", "string"), ("hubspot_owner_id", "string"), ("company", "string"),
        ("createdate", "datetime"), ("lastmodifieddate", "datetime"),
        ("hs_lastmodifieddate", "datetime"), ("hs_object_id", "number"),
    ],
}  # fmt: skip
_FIELD_TYPES = {
    "number": {"number"}, "string": {"text", "textarea"}, "datetime": {"date"},
    "date": {"date"}, "enumeration": {"select", "radio", "checkbox"}, "bool": {"booleancheckbox"},
}  # fmt: skip


@dataclass
class Recorded:
    """One request as the fake saw it, and what it answered."""

    method: str
    path: str
    query: dict[str, list[str]]
    body: Any
    status: int
    at: float


@dataclass
class Fault:
    count: int
    status: int
    path: str | None
    retry_after: float | None


class Refused(Exception):
    """Answer with an error shaped like HubSpot's."""

    def __init__(self, status: int, message: str, category: str = "VALIDATION_ERROR") -> None:
        super().__init__(message)
        self.status = status
        self.category = category


@dataclass
class Store:
    objects: dict[str, dict[str, dict[str, Any]]] = field(
        default_factory=lambda: {"companies": {}, "contacts": {}}
    )
    associations: dict[str, list[str]] = field(default_factory=dict)  # contact → companies
    properties: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    groups: dict[str, dict[str, dict[str, Any]]] = field(
        default_factory=lambda: {"companies": {}, "contacts": {}}
    )
    first_tagged: dict[str, float] = field(default_factory=dict)
    next_id: int = 1000


def _iso(moment: float) -> str:
    text = datetime.fromtimestamp(moment, tz=UTC).isoformat(timespec="milliseconds")
    return text.replace("+00:00", "Z")


def _instant(value: object) -> float | None:
    if value is None or value == "":
        return None
    text = str(value)
    if text.isdigit():
        return int(text) / 1000
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def _property(name: str, kind: str, group: str = "companyinformation") -> dict[str, Any]:
    field_type = {"number": "number", "datetime": "date", "string": "text"}.get(kind, "text")
    now = _iso(time.time())
    return {
        "name": name, "label": name, "type": kind, "fieldType": field_type, "description": "",
        "groupName": group, "options": [], "displayOrder": -1, "calculated": False,
        "externalOptions": False, "hasUniqueValue": False, "hidden": False,
        "hubspotDefined": True, "formField": True, "createdAt": now, "updatedAt": now,
        "modificationMetadata": {
            "archivable": True, "readOnlyDefinition": True, "readOnlyValue": False,
        },
    }  # fmt: skip


class FakeHubSpot:
    """The fake; `with FakeHubSpot() as fake:` serves on `fake.url` for the block."""

    def __init__(
        self,
        *,
        token: str = "test-token",
        rate_limit: tuple[int, float] | None = (190, 10.0),
        latency: float = 0.0,
        retry_after: float = 1.0,
    ) -> None:
        self.token = token
        self.rate_limit = rate_limit
        self.latency = latency
        self.retry_after = retry_after
        self._lock = threading.RLock()
        self._store = Store()
        for object_type, props in _BASE_PROPS.items():
            self._store.properties[object_type] = {n: _property(n, k) for n, k in props}
        self._requests: list[Recorded] = []
        self._window: collections.deque[float] = collections.deque()
        self._max_in_window = 0
        self._rate_limited = 0
        self._injected = 0
        self._faults: list[Fault] = []
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.url = ""

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> FakeHubSpot:
        handler = type("Handler", (_Handler,), {"fake": self})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(5)

    def __enter__(self) -> FakeHubSpot:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- seeding and inspection ------------------------------------------------------------

    def add_company(self, properties: dict[str, str | None], *, id: str | None = None) -> str:
        return self._add("companies", properties, id)

    def add_contact(
        self,
        properties: dict[str, str | None],
        *,
        company_id: str | None = None,
        id: str | None = None,
    ) -> str:
        contact = self._add("contacts", properties, id)
        if company_id is not None:
            with self._lock:
                self._store.associations.setdefault(contact, []).append(company_id)
        return contact

    def seed_companies(self, n: int, *, seed: int = 1) -> list[str]:
        """`n` plausible companies, deterministic for a seed."""
        rng = random.Random(seed)
        industries = ["software", "saas", "internet", "fintech", "retail", "government"]
        countries = ["United States", "United Kingdom", "Germany", "Canada", "France"]
        tech = ["hubspot", "salesforce", "slack", "outreach", "gong", "zendesk"]
        ids = []
        for i in range(n):
            ids.append(
                self.add_company(
                    {
                        "name": f"Company {seed}-{i}",
                        "domain": f"company{seed}-{i}.com",
                        "industry": rng.choice(industries),
                        "numberofemployees": str(rng.choice([5, 40, 150, 300, 600, 2000])),
                        "annualrevenue": str(rng.randrange(1, 500) * 100_000),
                        "country": rng.choice(countries),
                        "city": "Springfield",
                        "web_technologies": ";".join(rng.sample(tech, 2)),
                        "lifecyclestage": rng.choice(["lead", "opportunity", "subscriber"]),
                    }
                )  # fmt: skip
            )
        return ids

    def company(self, id: str) -> dict[str, str | None]:
        with self._lock:
            return dict(self._store.objects["companies"][id]["properties"])

    def contact(self, id: str) -> dict[str, str | None]:
        with self._lock:
            return dict(self._store.objects["contacts"][id]["properties"])

    def properties_of(self, object_type: str) -> dict[str, dict[str, Any]]:
        with self._lock:
            return dict(self._store.properties[object_type])

    def groups_of(self, object_type: str) -> dict[str, dict[str, Any]]:
        with self._lock:
            return dict(self._store.groups[object_type])

    def fail_next(
        self,
        count: int,
        *,
        status: int = 500,
        path: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        """The next `count` API requests (under `path`) get `status`; count 0 clears all faults."""
        with self._lock:
            if count == 0:
                self._faults.clear()
            else:
                self._faults.append(Fault(count, status, path, retry_after))

    @property
    def requests(self) -> list[Recorded]:
        with self._lock:
            return list(self._requests)

    def stats(self) -> dict[str, Any]:
        with self._lock:
            objects = self._store.objects
            return {
                "requests": len(self._requests),
                "rate_limited": self._rate_limited,
                "injected": self._injected,
                "max_in_window": self._max_in_window,
                "tagged_companies": sum(
                    1 for o in objects["companies"].values() if o["properties"].get("icp_tier")
                ),
                "tagged_contacts": sum(
                    1 for o in objects["contacts"].values() if o["properties"].get("icp_tier")
                ),
                "first_tagged_at": dict(self._store.first_tagged),
            }

    # -- the API ---------------------------------------------------------------------------

    def _add(self, object_type: str, properties: dict[str, str | None], id: str | None) -> str:
        with self._lock:
            if id is None:
                id = str(self._store.next_id)
                self._store.next_id += 1
            stamp = _iso(time.time())
            props = {
                **properties, "hs_object_id": id, "createdate": stamp,
                MODIFIED[object_type]: stamp, "hs_lastmodifieddate": stamp,
            }  # fmt: skip
            self._store.objects[object_type][id] = {
                "id": id, "properties": props, "createdAt": stamp, "updatedAt": stamp,
            }  # fmt: skip
            return id

    def _admit(self, method: str, path: str) -> tuple[int, dict[str, str], Any] | None:
        """Rate limit and injected faults; an answer when the request must not go through."""
        with self._lock:
            now = time.monotonic()
            for fault in self._faults:
                if fault.path is None or path.startswith(fault.path):
                    fault.count -= 1
                    if fault.count <= 0:
                        self._faults.remove(fault)
                    self._injected += 1
                    headers = (
                        {"Retry-After": _seconds(fault.retry_after)} if fault.retry_after else {}
                    )
                    body = _error(fault.status, "injected failure", "INJECTED")
                    return fault.status, headers, body
            if self.rate_limit is None:
                return None
            limit, window = self.rate_limit
            while self._window and self._window[0] <= now - window:
                self._window.popleft()
            if len(self._window) >= limit:
                self._rate_limited += 1
                wait = self._window[0] + window - now
                body = {
                    "status": "error",
                    "message": "You have reached your ten_secondly_rolling limit.",
                    "errorType": "RATE_LIMIT", "correlationId": str(uuid.uuid4()),
                    "policyName": "TEN_SECONDLY_ROLLING",
                }  # fmt: skip
                return 429, {"Retry-After": _seconds(wait)}, body
            self._window.append(now)
            self._max_in_window = max(self._max_in_window, len(self._window))
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

    def handle(
        self, method: str, path: str, query: dict[str, list[str]], body: Any
    ) -> tuple[int, Any]:
        for pattern, verb, action in _ROUTES:
            match = pattern.fullmatch(path)
            if match and verb == method:
                return action(self, match, query, body)
        raise Refused(404, f"no route {method} {path}", "OBJECT_NOT_FOUND")

    def _object_type(self, name: str) -> str:
        if name not in self._store.objects:
            raise Refused(404, f"Unable to infer object type from: {name}", "OBJECT_NOT_FOUND")
        return name

    def _view(
        self, object_type: str, obj: dict[str, Any], props: list[str] | None
    ) -> dict[str, Any]:
        wanted = set(props or ["name", "domain"] if object_type == "companies" else props or [])
        wanted |= {"hs_object_id", "createdate", MODIFIED[object_type]}
        values = {k: v for k, v in obj["properties"].items() if k in wanted}
        return {
            "id": obj["id"], "properties": values, "createdAt": obj["createdAt"],
            "updatedAt": obj["updatedAt"], "archived": False,
        }  # fmt: skip

    def _list(
        self, match: re.Match[str], query: dict[str, list[str]], body: Any
    ) -> tuple[int, Any]:
        object_type = self._object_type(match["type"])
        limit = int((query.get("limit") or ["10"])[0])
        if limit > BATCH:
            raise Refused(400, f"limit must be at most {BATCH}")
        after = int((query.get("after") or ["0"])[0] or 0)
        props = _listed(query.get("properties"))
        associations = _listed(query.get("associations"))
        with self._lock:
            ids = sorted(int(i) for i in self._store.objects[object_type] if int(i) > after)
            page = ids[:limit]
            results = []
            for i in page:
                view = self._view(object_type, self._store.objects[object_type][str(i)], props)
                if "companies" in associations and object_type == "contacts":
                    linked = self._store.associations.get(str(i), [])
                    if linked:
                        view["associations"] = {
                            "companies": {
                                "results": [{"id": c, "type": "contact_to_company"} for c in linked]
                            }
                        }
                results.append(view)
        answer: dict[str, Any] = {"results": results}
        if len(ids) > limit:
            answer["paging"] = {"next": {"after": str(page[-1]), "link": "?after=" + str(page[-1])}}
        return 200, answer

    def _batch_read(
        self, match: re.Match[str], query: dict[str, list[str]], body: Any
    ) -> tuple[int, Any]:
        object_type = self._object_type(match["type"])
        inputs = _inputs(body)
        props = body.get("properties") or []
        with self._lock:
            found = [self._store.objects[object_type].get(str(i["id"])) for i in inputs]
            results = [self._view(object_type, o, props) for o in found if o is not None]
        missing = [str(i["id"]) for i, o in zip(inputs, found, strict=True) if o is None]
        answer = _batch_answer(results)
        if not missing:
            return 200, answer
        answer["numErrors"] = 1
        answer["errors"] = [
            {
                "status": "error", "category": "OBJECT_NOT_FOUND",
                "message": f"Could not get some {object_type[:-1].upper()} objects, they may be "
                "deleted or not exist. Check that ids are valid.",
                "context": {"ids": missing},
            }
        ]  # fmt: skip
        return 207, answer

    def _batch_update(
        self, match: re.Match[str], query: dict[str, list[str]], body: Any
    ) -> tuple[int, Any]:
        object_type = self._object_type(match["type"])
        inputs = _inputs(body)
        ids = [str(i.get("id")) for i in inputs]
        if len(set(ids)) != len(ids):
            raise Refused(400, "Duplicate IDs found in batch input")
        with self._lock:
            unknown = [i for i in ids if i not in self._store.objects[object_type]]
            if unknown:
                raise Refused(
                    400, f"Could not update objects with ids: {unknown}", "OBJECT_NOT_FOUND"
                )
            for item in inputs:
                self._check_values(object_type, item.get("properties") or {})
            stamp = time.time()
            results = []
            for item in inputs:
                obj = self._store.objects[object_type][str(item["id"])]
                obj["properties"].update(item.get("properties") or {})
                obj["properties"][MODIFIED[object_type]] = _iso(stamp)
                obj["properties"]["hs_lastmodifieddate"] = _iso(stamp)
                obj["updatedAt"] = _iso(stamp)
                if object_type == "companies" and obj["properties"].get("icp_tier"):
                    self._store.first_tagged.setdefault(obj["id"], stamp)
                results.append(self._view(object_type, obj, list(item.get("properties") or {})))
        return 200, _batch_answer(results)

    def _check_values(self, object_type: str, values: dict[str, Any]) -> None:
        known = self._store.properties[object_type]
        problems = []
        for name, value in values.items():
            definition = known.get(name)
            if definition is None:
                problems.append({
                    "isValid": False, "message": f'Property "{name}" does not exist',
                    "error": "PROPERTY_DOESNT_EXIST", "name": name,
                })  # fmt: skip
            elif value not in (None, "") and not _valid(definition, value):
                problems.append({
                    "isValid": False, "message": f"{value!r} was not a valid {definition['type']}",
                    "error": "INVALID_OPTION" if definition["type"] == "enumeration" else "INVALID",
                    "name": name,
                })  # fmt: skip
        if problems:
            raise Refused(400, "Property values were not valid: " + orjson.dumps(problems).decode())

    def _search(
        self, match: re.Match[str], query: dict[str, list[str]], body: Any
    ) -> tuple[int, Any]:
        object_type = self._object_type(match["type"])
        limit = int(body.get("limit") or 10)
        after = int(body.get("after") or 0)
        if limit > SEARCH_LIMIT:
            raise Refused(400, f"limit must be at most {SEARCH_LIMIT}")
        if after + limit > SEARCH_CAP:
            raise Refused(400, f"Paging is limited to {SEARCH_CAP} results")
        groups = body.get("filterGroups") or []
        if len(groups) > 5 or any(len(g.get("filters") or []) > 6 for g in groups):
            raise Refused(400, "at most 5 filterGroups of 6 filters")
        with self._lock:
            known = self._store.properties[object_type]
            for group in groups:
                for f in group.get("filters") or []:
                    if f.get("propertyName") not in known:
                        raise Refused(400, f"Property {f.get('propertyName')!r} does not exist")
            objects = [
                o for o in self._store.objects[object_type].values()
                if not groups or any(_passes(g, o, known) for g in groups)
            ]  # fmt: skip
            objects.sort(key=_sorter(body.get("sorts") or [], known))
            page = objects[after : after + limit]
            results = [self._view(object_type, o, body.get("properties")) for o in page]
        answer: dict[str, Any] = {"total": len(objects), "results": results}
        if after + limit < len(objects):
            answer["paging"] = {"next": {"after": str(after + limit)}}
        return 200, answer

    def _associations(
        self, match: re.Match[str], query: dict[str, list[str]], body: Any
    ) -> tuple[int, Any]:
        if match["from"] != "contacts" or match["to"] != "companies":
            raise Refused(400, "only contacts → companies here")
        inputs = body.get("inputs") if isinstance(body, dict) else None
        if not isinstance(inputs, list) or len(inputs) > 1000:
            raise Refused(400, "inputs must be a list of at most 1000")
        results, missing = [], []
        with self._lock:
            for item in inputs:
                linked = self._store.associations.get(str(item.get("id")), [])
                if not linked:
                    missing.append(str(item.get("id")))
                    continue
                results.append({
                    "from": {"id": str(item["id"])},
                    "to": [
                        {"toObjectId": int(c), "associationTypes": [
                            {"category": "HUBSPOT_DEFINED", "typeId": 279, "label": None}
                        ]}
                        for c in linked
                    ],
                })  # fmt: skip
        answer = _batch_answer(results)
        if not missing:
            return 200, answer
        answer["numErrors"] = len(missing)
        answer["errors"] = [
            {"status": "error", "category": "OBJECT_NOT_FOUND",
             "subCategory": "NO_ASSOCIATIONS_FOUND", "context": {"fromObjectId": [i]},
             "message": f"No company is associated with contact {i}."}
            for i in missing
        ]  # fmt: skip
        return 207, answer

    def _get_group(
        self, match: re.Match[str], query: dict[str, list[str]], body: Any
    ) -> tuple[int, Any]:
        object_type = self._object_type(match["type"])
        with self._lock:
            group = self._store.groups[object_type].get(match["name"])
        if group is None:
            raise Refused(404, f"group {match['name']} does not exist", "OBJECT_NOT_FOUND")
        return 200, group

    def _create_group(
        self, match: re.Match[str], query: dict[str, list[str]], body: Any
    ) -> tuple[int, Any]:
        object_type = self._object_type(match["type"])
        name, label = body.get("name"), body.get("label")
        if not name or not label:
            raise Refused(400, "name and label are required")
        with self._lock:
            if name in self._store.groups[object_type]:
                raise Refused(409, f"group {name} already exists", "OBJECT_ALREADY_EXISTS")
            group = {"name": name, "label": label, "displayOrder": body.get("displayOrder", -1),
                     "archived": False}  # fmt: skip
            self._store.groups[object_type][name] = group
        return 201, group

    def _all_properties(
        self, match: re.Match[str], query: dict[str, list[str]], body: Any
    ) -> tuple[int, Any]:
        object_type = self._object_type(match["type"])
        with self._lock:
            return 200, {"results": list(self._store.properties[object_type].values())}

    def _get_property(
        self, match: re.Match[str], query: dict[str, list[str]], body: Any
    ) -> tuple[int, Any]:
        object_type = self._object_type(match["type"])
        with self._lock:
            found = self._store.properties[object_type].get(match["name"])
        if found is None:
            raise Refused(404, f"property {match['name']} does not exist", "OBJECT_NOT_FOUND")
        return 200, found

    def _create_property(
        self, match: re.Match[str], query: dict[str, list[str]], body: Any
    ) -> tuple[int, Any]:
        object_type = self._object_type(match["type"])
        for required in ("name", "label", "type", "fieldType", "groupName"):
            if not body.get(required):
                raise Refused(400, f"{required} is required")
        kind, field_type = body["type"], body["fieldType"]
        if field_type not in _FIELD_TYPES.get(kind, set()):
            raise Refused(400, f"fieldType {field_type} does not fit type {kind}")
        if kind == "enumeration" and not body.get("options"):
            raise Refused(400, "an enumeration needs options")
        with self._lock:
            if body["groupName"] not in self._store.groups[object_type]:
                raise Refused(400, f"group {body['groupName']} does not exist")
            if body["name"] in self._store.properties[object_type]:
                raise Refused(
                    409, f"property {body['name']} already exists", "OBJECT_ALREADY_EXISTS"
                )
            created = {**_property(body["name"], kind, body["groupName"]), **body,
                       "hubspotDefined": False, "options": body.get("options") or []}  # fmt: skip
            self._store.properties[object_type][body["name"]] = created
        return 201, created


def _seconds(value: float | None) -> str:
    return f"{max(0.05, value or 0):.2f}".rstrip("0").rstrip(".")


def _error(status: int, message: str, category: str) -> dict[str, Any]:
    return {"status": "error", "message": message, "correlationId": str(uuid.uuid4()),
            "category": category}  # fmt: skip


def _listed(values: list[str] | None) -> list[str]:
    return [p for v in values or [] for p in v.split(",") if p]


def _inputs(body: Any) -> list[dict[str, Any]]:
    inputs = body.get("inputs") if isinstance(body, dict) else None
    if not isinstance(inputs, list) or not all(isinstance(i, dict) for i in inputs):
        raise Refused(400, "inputs must be a list of objects")
    if len(inputs) > BATCH:
        raise Refused(400, f"Batch input size {len(inputs)} exceeds the limit of {BATCH}")
    return inputs


def _batch_answer(results: list[Any]) -> dict[str, Any]:
    stamp = _iso(time.time())
    return {"status": "COMPLETE", "results": results, "startedAt": stamp, "completedAt": stamp}


def _valid(definition: dict[str, Any], value: object) -> bool:
    kind = definition["type"]
    if kind == "number":
        try:
            return math.isfinite(float(str(value)))
        except ValueError:
            return False
    if kind == "enumeration":
        return value in {o["value"] for o in definition.get("options") or []}
    if kind in ("datetime", "date"):
        return _instant(value) is not None
    return True


def _comparable(value: object, kind: str) -> object:
    if kind in ("datetime", "date"):
        return _instant(value)
    if kind == "number":
        try:
            return float(str(value))
        except ValueError:
            return None
    return str(value).lower() if value is not None else None


def _passes(group: dict[str, Any], obj: dict[str, Any], known: dict[str, dict[str, Any]]) -> bool:
    return all(_filter(f, obj, known) for f in group.get("filters") or [])


_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "EQ": lambda a, b: a == b, "NEQ": lambda a, b: a != b, "GT": lambda a, b: a > b,
    "GTE": lambda a, b: a >= b, "LT": lambda a, b: a < b, "LTE": lambda a, b: a <= b,
}  # fmt: skip


def _filter(f: dict[str, Any], obj: dict[str, Any], known: dict[str, dict[str, Any]]) -> bool:
    name, operator = f["propertyName"], f.get("operator", "EQ")
    kind = known[name]["type"]
    raw = obj["properties"].get(name)
    if operator == "HAS_PROPERTY":
        return raw not in (None, "")
    if operator == "NOT_HAS_PROPERTY":
        return raw in (None, "")
    value = _comparable(raw, kind)
    if operator == "IN":
        return value in {_comparable(v, kind) for v in f.get("values") or []}
    if operator == "CONTAINS_TOKEN":
        token = str(f.get("value", "")).lower().strip("*")
        return token in str(value or "")
    target = _comparable(f.get("value"), kind)
    if value is None or target is None:
        return False
    return _COMPARE[operator](value, target)


def _sorter(sorts: list[Any], known: dict[str, dict[str, Any]]) -> Callable[[dict[str, Any]], Any]:
    if not sorts:
        return lambda o: int(o["id"])
    first = sorts[0]
    name = first.get("propertyName") if isinstance(first, dict) else str(first).lstrip("-")
    kind = known.get(name, {}).get("type", "string")

    def key(o: dict[str, Any]) -> Any:
        value = _comparable(o["properties"].get(name), kind)
        return (value is None, value if value is not None else 0, int(o["id"]))

    return key


_ROUTES: list[tuple[re.Pattern[str], str, Callable[..., tuple[int, Any]]]] = [
    (re.compile(r"/crm/v3/objects/(?P<type>\w+)"), "GET", FakeHubSpot._list),
    (re.compile(r"/crm/v3/objects/(?P<type>\w+)/batch/read"), "POST", FakeHubSpot._batch_read),
    (re.compile(r"/crm/v3/objects/(?P<type>\w+)/batch/update"), "POST", FakeHubSpot._batch_update),
    (re.compile(r"/crm/v3/objects/(?P<type>\w+)/search"), "POST", FakeHubSpot._search),
    (re.compile(r"/crm/v4/associations/(?P<from>\w+)/(?P<to>\w+)/batch/read"), "POST",
     FakeHubSpot._associations),
    (re.compile(r"/crm/v3/properties/(?P<type>\w+)/groups/(?P<name>[\w-]+)"), "GET",
     FakeHubSpot._get_group),
    (re.compile(r"/crm/v3/properties/(?P<type>\w+)/groups"), "POST", FakeHubSpot._create_group),
    (re.compile(r"/crm/v3/properties/(?P<type>\w+)"), "GET", FakeHubSpot._all_properties),
    (re.compile(r"/crm/v3/properties/(?P<type>\w+)/(?P<name>[\w-]+)"), "GET",
     FakeHubSpot._get_property),
    (re.compile(r"/crm/v3/properties/(?P<type>\w+)"), "POST", FakeHubSpot._create_property),
]  # fmt: skip


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # One write per answer, sent at once: no 40 ms Nagle/delayed-ACK stall per request.
    wbufsize = 1 << 16
    disable_nagle_algorithm = True
    fake: FakeHubSpot

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def do_PATCH(self) -> None:
        self._serve("PATCH")

    def _serve(self, method: str) -> None:
        parts = urlsplit(self.path)
        query = parse_qs(parts.query)
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if parts.path.startswith("/_fake/"):
            self._send(*_control(self.fake, method, parts.path, raw))
            return
        status, headers, answer = self._api(method, parts.path, query, raw)
        self._send(status, answer, headers)

    def _api(
        self, method: str, path: str, query: dict[str, list[str]], raw: bytes
    ) -> tuple[int, dict[str, str], Any]:
        fake = self.fake
        try:
            body = orjson.loads(raw) if raw else None
        except orjson.JSONDecodeError:
            body, status, answer = None, 400, _error(400, "Invalid JSON", "VALIDATION_ERROR")
            self._record(method, path, query, None, status)
            return status, {}, answer
        if self.headers.get("Authorization") != f"Bearer {fake.token}":
            answer = _error(
                401, "Authentication credentials not found. This API supports OAuth 2.0 "
                "authentication.", "INVALID_AUTHENTICATION",
            )  # fmt: skip
            self._record(method, path, query, body, 401)
            return 401, {}, answer
        refused = fake._admit(method, path)
        if refused is not None:
            status, headers, answer = refused
        else:
            if fake.latency:
                time.sleep(fake.latency)
            headers = {}
            try:
                status, answer = fake.handle(method, path, query, body)
            except Refused as exc:
                status, answer = exc.status, _error(exc.status, str(exc), exc.category)
        with fake._lock:
            headers = {**headers, **fake._rate_headers()}
        self._record(method, path, query, body, status)
        return status, headers, answer

    def _record(
        self, method: str, path: str, query: dict[str, list[str]], body: Any, status: int
    ) -> None:
        with self.fake._lock:
            self.fake._requests.append(
                Recorded(method, path, query, body, status, time.monotonic())
            )

    def _send(self, status: int, answer: Any, headers: dict[str, str] | None = None) -> None:
        payload = orjson.dumps(answer)
        self.send_response(status)
        self.send_header("Content-Type", "application/json;charset=utf-8")
        self.send_header("Content-Length", str(len(payload)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)
        self.wfile.flush()


def _control(fake: FakeHubSpot, method: str, path: str, raw: bytes) -> tuple[int, Any]:
    """`/_fake/...`: seeding and statistics for a fake running in another process."""
    body = orjson.loads(raw) if raw else {}
    if path == "/_fake/stats":
        return 200, fake.stats()
    if path.startswith("/_fake/companies/") and method == "GET":
        return 200, fake.company(path.rsplit("/", 1)[1])
    if path == "/_fake/companies" and method == "POST":
        if "count" in body:
            seed = int(time.monotonic_ns() % 1_000_000)
            return 200, {"ids": fake.seed_companies(int(body["count"]), seed=seed)}
        return 200, {"ids": [fake.add_company(body.get("properties") or {})]}
    if path == "/_fake/config" and method == "POST":
        if "latency" in body:
            fake.latency = float(body["latency"])
        if "rate_limit" in body:
            fake.rate_limit = tuple(body["rate_limit"]) if body["rate_limit"] else None  # type: ignore[assignment]
        if "fail_next" in body:
            fake.fail_next(**body["fail_next"])
        return 200, {"ok": True}
    return 404, {"error": f"no control route {path}"}


def main() -> None:
    parser = argparse.ArgumentParser(description="A fake HubSpot CRM API on 127.0.0.1.")
    parser.add_argument("--companies", type=int, default=0)
    parser.add_argument("--contacts", type=int, default=0)
    parser.add_argument("--rate-limit", type=int, default=190)
    parser.add_argument("--window", type=float, default=10.0)
    parser.add_argument("--latency", type=float, default=0.0)
    parser.add_argument("--token", default="test-token")
    args = parser.parse_args()
    limit = (args.rate_limit, args.window) if args.rate_limit > 0 else None
    fake = FakeHubSpot(token=args.token, rate_limit=limit, latency=args.latency)
    fake.seed_companies(args.companies)
    for n in range(args.contacts):
        fake.add_contact({"email": f"person{n}@company1-{n % max(1, args.companies)}.com"})
    fake.start()
    signal.signal(signal.SIGTERM, _exit)
    sys.stdout.write(fake.url + "\n")
    sys.stdout.flush()
    try:
        sys.stdin.read()
    except (ValueError, OSError):
        pass
    finally:
        fake.stop()


def _exit(*_: object) -> None:
    raise SystemExit(0)


if __name__ == "__main__":
    main()
