"""HubSpot through `hubspot-api-client`: companies and contacts in, `icp_*` properties out.

The only module that imports `hubspot`. Every call goes through one
`CrmCaller`, so the whole process stays under the account's rolling
10-second limit, honours `Retry-After` and backs off on 5xx and timeouts.
The SDK's own silent retries are switched off (it would retry GETs behind
the limiter's back). Answers are read as raw JSON: the SDK's model objects
cost more to build than the scoring of the records they carry.

What HubSpot already holds in the `icp_*` properties is read with each
record, so a write-back sends only what differs from the CRM itself:
icpbot's own writes come back as property-change events and sweep hits,
and comparing with HubSpot is what makes those cost a read, never a loop.

Deals are read for calibration and win rates: a deal's account is its
primary associated company, whose domain is read 100 companies a call.
HubSpot says itself whether a deal is closed and won (`hs_is_closed`,
`hs_is_closed_won`); churn is a stage the team names in fields.yaml, by
internal id or by label (labels are looked up in the pipelines API).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
import urllib3
from hubspot import Client
from hubspot.crm.associations.v4 import (
    BatchInputPublicFetchAssociationsBatchRequest,
    PublicFetchAssociationsBatchRequest,
)
from hubspot.crm.companies import (
    BatchInputSimplePublicObjectBatchInput,
    BatchReadInputSimplePublicObjectId,
    Filter,
    FilterGroup,
    PublicObjectSearchRequest,
    SimplePublicObjectBatchInput,
    SimplePublicObjectId,
)
from hubspot.crm.properties import OptionInput, PropertyCreate, PropertyGroupCreate
from more_itertools import chunked

from integrations.base import (
    Deal,
    DealChange,
    LiveCrm,
    Owner,
    Page,
    RowError,
    ScoreFields,
    ScoreNames,
    ScoreUpdate,
    SetupReport,
    WriteReport,
)
from integrations.domains import normalize_domain
from integrations.fieldmap import FieldMap, stage_key
from integrations.ratelimit import Limiter, RateLimiter
from integrations.records import CrmRecord, RecordKind
from integrations.retries import CrmCaller, Failure, parse_retry_after
from scoring.model import DealStage

log = logging.getLogger(__name__)

BATCH = 100  # HubSpot's batch read and update limit, and the list API's page size
SEARCH_PAGE = 200  # the search API's page size limit
SEARCH_CAP = 10_000  # the search API returns at most this many results per query
# The search endpoints have a limit of their own, apart from the 10-second window: five
# requests a second per token. Searches (the sweep, /icp lookups, counts) keep to four.
SEARCH_RATE = (4, 1.0)
TIMEOUT = (5.0, 30.0)  # connect, read (seconds)
GROUP = "icp"
FIND_LIMIT = 10  # companies sharing one domain or name: a handful at most
TIERS = ("A", "B", "C", "D", "DQ")


@dataclass(frozen=True, slots=True)
class HubObject:
    """One HubSpot object type as icpbot uses it."""

    kind: RecordKind
    name: str  # the API's path segment
    field_object: str  # the fields.yaml object name
    type_id: str  # for record URLs
    modified: str  # the last-modified property the search API sorts on


COMPANIES = HubObject(RecordKind.ACCOUNT, "companies", "company", "0-2", "hs_lastmodifieddate")
CONTACTS = HubObject(RecordKind.CONTACT, "contacts", "contact", "0-1", "lastmodifieddate")
OBJECTS = {RecordKind.ACCOUNT: COMPANIES, RecordKind.CONTACT: CONTACTS}

DEALS = "deals"  # the API's path segment
DEAL_MODIFIED = "hs_lastmodifieddate"
# What a deal is read with: its name, stage (and pipeline), amount, dates, and HubSpot's
# own verdict on whether it is closed and won (calculated from the stage's settings).
DEAL_PROPERTIES = [
    "dealname",
    "dealstage",
    "pipeline",
    "amount",
    "createdate",
    "closedate",
    "hs_is_closed",
    "hs_is_closed_won",
]


# Property names of SPEC §4, the defaults; a portal may be given others.
SCORE_PROPERTIES = ScoreNames(
    score="icp_score",
    tier="icp_tier",
    profile="icp_profile",
    reasons="icp_reasons",
    version="icp_version",
    scored_at="icp_scored_at",
    persona_score="icp_persona_score",
)


def classify(exc: BaseException) -> Failure | None:
    """Which SDK errors are worth another try, and what HubSpot asked for."""
    if isinstance(exc, urllib3.exceptions.TimeoutError):
        return Failure("timeout", transient=True)
    if isinstance(exc, urllib3.exceptions.HTTPError):
        return Failure("server_error", transient=True)  # connection refused, reset, dropped
    if not is_api_error(exc):
        return None
    status = int(getattr(exc, "status", 0) or 0)
    headers = getattr(exc, "headers", None) or {}
    if status == 429:
        return Failure(
            "rate_limited", True, parse_retry_after(headers.get("Retry-After"), default=1)
        )
    if status >= 500 or status == 0:
        return Failure("server_error", True, parse_retry_after(headers.get("Retry-After")))
    return Failure("client_error", transient=False)


def is_api_error(exc: BaseException) -> bool:
    """An HTTP error answer, from any of the SDK's packages (each has its own exception class)."""
    return any(
        cls.__name__ == "ApiException" and cls.__module__.startswith("hubspot.")
        for cls in type(exc).__mro__
    )


def client_error(exc: BaseException) -> str | None:
    """HubSpot's own message for a request it refused, or None for any other error."""
    failure = classify(exc)
    if failure is None or failure.transient:
        return None
    body = getattr(exc, "body", None)
    try:
        message = orjson.loads(body).get("message") if body else None
    except (orjson.JSONDecodeError, AttributeError):
        message = None
    return f"HTTP {getattr(exc, 'status', '?')}: {message or getattr(exc, 'reason', exc)}"


def make_client(*, access_token: str, host: str) -> Client:
    """An SDK client for `host` with the SDK's own retries off: `CrmCaller` does them."""
    retry = urllib3.util.Retry(total=0, connect=0, read=0, status=0, redirect=0)
    return Client.create(access_token=access_token, host=host.rstrip("/"), retry=retry)


class HubSpotCrm(LiveCrm):
    """Companies as accounts, contacts as people, `icp_*` properties as the write-back."""

    name = "hubspot"
    page_size = BATCH

    def __init__(
        self,
        *,
        client: Client,
        caller: CrmCaller,
        field_map: FieldMap,
        properties: ScoreNames = SCORE_PROPERTIES,
        portal_id: str | None = None,
        timeout: tuple[float, float] = TIMEOUT,
        search_limiter: Limiter | None = None,
    ) -> None:
        self.client = client
        self.search_limiter = search_limiter or RateLimiter(*SEARCH_RATE)
        self.timeout = timeout
        self.call = caller
        self.field_map = field_map
        self.score_properties = properties
        self.portal_id = portal_id
        self._errors: list[RowError] = []
        self._coercers = {
            o.field_object: field_map.coercer("hubspot", o.field_object) for o in OBJECTS.values()
        }
        self._apis: dict[str, Any] = {
            "companies": client.crm.companies,
            "contacts": client.crm.contacts,
            DEALS: client.crm.deals,
        }

    # -- reading ---------------------------------------------------------------------------

    def accounts(self) -> Iterator[CrmRecord]:
        for page in self.pages(RecordKind.ACCOUNT):
            yield from page.records

    def people(self) -> Iterator[CrmRecord]:
        for page in self.pages(RecordKind.CONTACT):
            yield from page.records

    def deals(self) -> Iterator[Deal]:
        """Every deal, 100 a call with its company associations (list API), each page's
        companies' domains in one batch read; a deal without a company is named, not read."""
        churned: frozenset[str] | None = None
        for results, _ in self._list(DEALS, DEAL_PROPERTIES, ["companies"]):
            churned = self._churned_stages() if churned is None else churned
            yield from (d for d in self._deals(results, churned) if d is not None)

    def deals_modified_since(self, since: datetime) -> Iterator[DealChange]:
        """Deals whose `hs_lastmodifieddate` is at or after `since`, oldest first (search API,
        as `modified_since`); the search answers no associations, so they are read in one v4
        batch call per 100 deals, then their companies' domains in one batch read."""
        churned: frozenset[str] | None = None
        changed = self._changed(DEALS, DEAL_MODIFIED, since, [*DEAL_PROPERTIES, DEAL_MODIFIED])
        for batch in chunked(changed, BATCH):
            churned = self._churned_stages() if churned is None else churned
            results = [result for result, _ in batch]
            self._attach_companies(DEALS, results)
            deals = self._deals(results, churned)
            yield from zip(deals, (at for _, at in batch), strict=True)

    def pages(
        self, kind: RecordKind, *, after: str | None = None, size: int = BATCH
    ) -> Iterator[Page]:
        """Every company or contact, 100 a call, contacts with their company association."""
        obj = OBJECTS[kind]
        associations = ["companies"] if kind.is_person else None
        answers = self._list(obj.name, self._properties(obj), associations, after, size)
        for results, cursor in answers:
            yield Page(self._records(obj, results), cursor)

    def fetch(self, kind: RecordKind, ids: Sequence[str]) -> list[CrmRecord]:
        """These objects by id, 100 a call; deleted ones are simply absent."""
        obj = OBJECTS[kind]
        records: list[CrmRecord] = []
        for start in range(0, len(ids), BATCH):
            chunk = list(dict.fromkeys(ids[start : start + BATCH]))
            results = self._batch_read(obj, chunk)
            if kind.is_person:
                self._attach_companies(obj.name, results)
            records.extend(self._records(obj, results))
        return records

    def modified_since(self, kind: RecordKind, since: datetime) -> Iterator[tuple[str, datetime]]:
        """(id, modified at) of every object modified at or after `since`, oldest first.

        The search API stops at 10,000 results a query; past that the search
        starts again from the last modification time seen.
        """
        obj = OBJECTS[kind]
        for result, modified in self._changed(obj.name, obj.modified, since, [obj.modified]):
            yield str(result["id"]), modified

    def count(self, kind: RecordKind) -> int | None:
        """How many objects there are (one search call), for a progress bar's total."""
        obj = OBJECTS[kind]
        request = PublicObjectSearchRequest(filter_groups=[], properties=["hs_object_id"], limit=1)
        answer = self._search(obj.name, request)
        total = answer.get("total")
        return int(total) if isinstance(total, int) else None

    def record_url(self, kind: RecordKind, crm_id: str) -> str | None:
        if not self.portal_id:
            return None
        type_id = OBJECTS[RecordKind.CONTACT if kind.is_person else kind].type_id
        return f"https://app.hubspot.com/contacts/{self.portal_id}/record/{type_id}/{crm_id}"

    def errors(self) -> list[RowError]:
        return list(self._errors)

    # -- writing ---------------------------------------------------------------------------

    def write_scores(self, updates: Sequence[ScoreUpdate]) -> WriteReport:
        """Batch update, 100 a call; a batch HubSpot refuses is split to find the bad record."""
        report = WriteReport()
        for kind in (RecordKind.ACCOUNT, RecordKind.CONTACT):
            obj = OBJECTS[kind]
            inputs = [
                (u.crm_id, self.wire_values(kind, u.fields))
                for u in updates
                if (u.kind.is_person == kind.is_person)
            ]
            for start in range(0, len(inputs), BATCH):
                self._update(obj, inputs[start : start + BATCH], report)
        return report

    def wire_values(self, kind: RecordKind, score: ScoreFields) -> dict[str, str]:
        """The property values HubSpot gets for a score; empty text clears a property."""
        values = score.comparable()
        values["scored_at"] = score.scored_at.astimezone(UTC).isoformat(timespec="milliseconds")
        values["scored_at"] = values["scored_at"].replace("+00:00", "Z")
        names = self.score_properties.names(kind)
        return {prop: values[name] for name, prop in names.items()}

    def setup(self) -> SetupReport:
        """Create the `icp` group and every score property on companies and contacts, once."""
        report = SetupReport([], [])
        for kind, obj in OBJECTS.items():
            self._ensure_group(obj, report)
            for name, prop in self.score_properties.names(kind).items():
                self._ensure_property(obj, name, prop, report)
        return report

    def find_accounts(
        self, *, domain: str | None = None, name: str | None = None
    ) -> list[CrmRecord]:
        """Companies whose domain (or name) equals the text, through the search API.

        The text is a filter value in a JSON body, never query syntax; EQ
        compares whole values, case-insensitively, so nothing in it acts as
        a wildcard.
        """
        prop, value = ("domain", domain) if domain else ("name", name)
        if not value:
            return []
        request = PublicObjectSearchRequest(
            filter_groups=[
                FilterGroup(filters=[Filter(property_name=prop, operator="EQ", value=value)])
            ],
            properties=self._properties(COMPANIES),
            limit=FIND_LIMIT,
        )
        answer = self._search(COMPANIES.name, request)
        return self._records(COMPANIES, list(answer.get("results") or []))

    def owner(self, owner_id: str) -> Owner | None:
        """The owner's name and email (owners API), None when HubSpot has no such owner."""
        api = self.client.crm.owners.owners_api
        if not owner_id.isdigit():
            return None
        try:
            found = self._json(
                lambda: api.get_by_id(
                    owner_id=int(owner_id),
                    id_property="id",
                    archived=False,
                    _preload_content=False,
                    _request_timeout=self.timeout,
                )
            )
        except Exception as exc:
            if client_error(exc) is None:
                raise
            return None
        name = " ".join(str(found[k]) for k in ("firstName", "lastName") if found.get(k))
        email = found.get("email")
        return Owner(owner_id, name or None, str(email) if email else None)

    def owner_for_email(self, email: str) -> str | None:
        """The id of the active owner with this email, None when there is none."""
        api = self.client.crm.owners.owners_api
        answer = self._json(
            lambda: api.get_page(
                email=email,
                limit=1,
                archived=False,
                _preload_content=False,
                _request_timeout=self.timeout,
            )
        )
        results = answer.get("results") or []
        return str(results[0]["id"]) if results else None

    def set_owner(self, kind: RecordKind, crm_id: str, owner_id: str) -> None:
        """Set the mapped owner property (hubspot_owner_id by default) of one record."""
        obj = OBJECTS[kind]
        prop = self.field_map.property_for("hubspot", obj.field_object, "owner_id")
        if prop is None:
            raise ValueError(f"fields.yaml maps no hubspot {obj.field_object} property to owner_id")
        report = WriteReport()
        self._update(obj, [(crm_id, {prop: owner_id})], report)
        if report.failed:
            raise ValueError(f"HubSpot refused the owner change: {report.failed[crm_id]}")

    # -- the calls -------------------------------------------------------------------------

    def _json(self, call: Any) -> dict[str, Any]:
        """Run a `_preload_content=False` SDK call through the caller; its JSON body."""

        def once() -> dict[str, Any]:
            response = call()
            try:
                data = response.data
            finally:
                response.release_conn()
            return orjson.loads(data) if data else {}

        return self.call(once)

    def _properties(self, obj: HubObject) -> list[str]:
        mapped = self.field_map.properties("hubspot", obj.field_object)
        written = self.score_properties.names(obj.kind).values()
        return sorted({*mapped, *written})

    def _list(
        self,
        name: str,
        properties: list[str],
        associations: list[str] | None,
        after: str | None = None,
        size: int = BATCH,
    ) -> Iterator[tuple[list[dict[str, Any]], str | None]]:
        """Every object of a type in id order (list API, 100 a call at most): each page's
        results and the opaque cursor after it (None after the last)."""
        api = self._apis[name].basic_api
        while True:
            cursor = after
            answer = self._json(
                lambda cursor=cursor: api.get_page(
                    limit=min(size, BATCH),
                    after=cursor,
                    properties=properties,
                    associations=associations,
                    archived=False,
                    _preload_content=False,
                    _request_timeout=self.timeout,
                )
            )
            after = (((answer.get("paging") or {}).get("next")) or {}).get("after")
            yield list(answer.get("results") or []), after
            if not after:
                return

    def _batch_read(
        self, obj: HubObject, ids: list[str], properties: list[str] | None = None
    ) -> list[dict[str, Any]]:
        request = BatchReadInputSimplePublicObjectId(
            inputs=[SimplePublicObjectId(id=i) for i in ids],
            properties=self._properties(obj) if properties is None else properties,
            properties_with_history=[],
        )
        api = self._apis[obj.name].batch_api
        answer = self._json(
            lambda: api.read(
                batch_read_input_simple_public_object_id=request,
                archived=False,
                _preload_content=False,
                _request_timeout=self.timeout,
            )
        )
        return list(answer.get("results") or [])

    def _attach_companies(self, from_type: str, results: list[dict[str, Any]]) -> None:
        """Contacts' or deals' company associations (one v4 batch read), in the list API's
        answer shape: a primary one typed `<object>_to_company`, others `..._unlabeled`."""
        if not results:
            return
        request = BatchInputPublicFetchAssociationsBatchRequest(
            inputs=[PublicFetchAssociationsBatchRequest(id=r["id"]) for r in results]
        )
        api = self.client.crm.associations.v4.batch_api
        answer = self._json(
            lambda: api.get_page(
                from_object_type=from_type,
                to_object_type="companies",
                batch_input_public_fetch_associations_batch_request=request,
                _preload_content=False,
                _request_timeout=self.timeout,
            )
        )
        kind = f"{from_type.removesuffix('s')}_to_company"
        companies = {
            str(row["from"]["id"]): [
                {
                    "id": str(to["toObjectId"]),
                    "type": kind if _is_primary(to) else f"{kind}_unlabeled",
                }
                for to in row.get("to") or []
            ]
            for row in answer.get("results") or []
        }
        for result in results:
            found = companies.get(str(result["id"]), [])
            result["associations"] = {"companies": {"results": found}}

    def _changed(
        self, name: str, modified: str, since: datetime, properties: list[str]
    ) -> Iterator[tuple[dict[str, Any], datetime]]:
        """Every object of a type modified at or after `since`, oldest first, with when.

        The search API stops at 10,000 results a query; past that the search
        starts again from the last modification time seen.
        """
        while True:
            seen = 0
            last = since
            for result, at in self._search_modified(name, modified, since, properties):
                seen += 1
                last = at
                yield result, at
            if seen < SEARCH_CAP or last == since:
                return
            since = last

    def _search_modified(
        self, name: str, modified: str, since: datetime, properties: list[str]
    ) -> Iterator[tuple[dict[str, Any], datetime]]:
        millis = str(int(since.timestamp() * 1000))
        after: str | None = None  # HubSpot's cursor: opaque text, handed back as it came
        fetched = 0
        while True:
            request = PublicObjectSearchRequest(
                filter_groups=[
                    FilterGroup(
                        filters=[Filter(property_name=modified, operator="GTE", value=millis)]
                    )
                ],
                sorts=[{"propertyName": modified, "direction": "ASCENDING"}],
                properties=properties,
                limit=SEARCH_PAGE,
                after=after,
            )
            answer = self._search(name, request)
            results = answer.get("results") or []
            for result in results:
                at = _instant((result.get("properties") or {}).get(modified))
                yield result, at or since
            fetched += len(results)
            after = (((answer.get("paging") or {}).get("next")) or {}).get("after")
            if not after or fetched + SEARCH_PAGE > SEARCH_CAP:
                return  # past the cap the search refuses to page: `_changed` starts anew

    def _search(self, name: str, request: PublicObjectSearchRequest) -> dict[str, Any]:
        api = self._apis[name].search_api

        def paced() -> Any:  # each attempt takes a search slot as well as the portal's
            with self.search_limiter.slot():
                return api.do_search(
                    public_object_search_request=request,
                    _preload_content=False,
                    _request_timeout=self.timeout,
                )

        return self._json(paced)

    def _update(
        self, obj: HubObject, inputs: list[tuple[str, dict[str, str]]], report: WriteReport
    ) -> None:
        if not inputs:
            return
        request = BatchInputSimplePublicObjectBatchInput(
            inputs=[SimplePublicObjectBatchInput(id=i, properties=p) for i, p in inputs]
        )
        api = self._apis[obj.name].batch_api
        try:
            answer = self._json(
                lambda: api.update(
                    batch_input_simple_public_object_batch_input=request,
                    _preload_content=False,
                    _request_timeout=self.timeout,
                )
            )
        except Exception as exc:
            message = client_error(exc)
            if message is None:
                raise
            if len(inputs) == 1:
                report.failed[inputs[0][0]] = message
                return
            middle = len(inputs) // 2
            self._update(obj, inputs[:middle], report)
            self._update(obj, inputs[middle:], report)
            return
        sent = {object_id for object_id, _ in inputs}
        refused = {i: why for i, why in _batch_errors(answer).items() if i in sent}
        report.failed.update(refused)  # 207 Multi-Status: retried or parked, with its reason
        report.written += len(sent) - len(refused)

    def _ensure_group(self, obj: HubObject, report: SetupReport) -> None:
        api = self.client.crm.properties.groups_api
        group = PropertyGroupCreate(name=GROUP, label="ICP fit", display_order=-1)
        self._ensure(
            f"{obj.name} group {GROUP}",
            report,
            find=lambda: api.get_by_name(obj.name, GROUP, _request_timeout=self.timeout),
            create=lambda: api.create(
                obj.name, property_group_create=group, _request_timeout=self.timeout
            ),
        )

    def _ensure_property(self, obj: HubObject, name: str, prop: str, report: SetupReport) -> None:
        api = self.client.crm.properties.core_api
        definition = _property_definition(name, prop)
        self._ensure(
            f"{obj.name}.{prop}",
            report,
            find=lambda: api.get_by_name(obj.name, prop, _request_timeout=self.timeout),
            create=lambda: api.create(
                obj.name, property_create=definition, _request_timeout=self.timeout
            ),
        )

    def _ensure(
        self,
        where: str,
        report: SetupReport,
        *,
        find: Callable[[], object],
        create: Callable[[], object],
    ) -> None:
        """Create it unless HubSpot already has it (found, or a 404 says it has not)."""
        try:
            self.call(find)
        except Exception as exc:
            if not is_api_error(exc) or getattr(exc, "status", None) != 404:
                raise
            self.call(create)
            report.created.append(where)
            return
        report.existing.append(where)

    # -- deals -----------------------------------------------------------------------------

    def _deals(self, results: list[dict[str, Any]], churned: frozenset[str]) -> list[Deal | None]:
        """These deals read, each None where its account cannot be told (named in `errors()`);
        their companies' domains come from one batch read per 100 companies."""
        domains = self._company_domains(c for r in results if (c := _primary_company(r)))
        return [self._deal(result, domains, churned) for result in results]

    def _deal(
        self, result: Mapping[str, Any], domains: Mapping[str, str | None], churned: frozenset[str]
    ) -> Deal | None:
        crm_id = str(result["id"])
        company = _primary_company(result)
        domain = domains.get(company) if company else None
        if domain is None:
            self._note(RowError("hubspot deal", int(crm_id), _no_account(company, domains)))
            return None
        props: Mapping[str, Any] = result.get("properties") or {}
        stage = _deal_stage(props, churned)
        return Deal(
            crm_id=crm_id,
            domain=domain,
            name=str(props.get("dealname") or ""),
            stage=stage,
            amount=_amount(props.get("amount")),
            created_at=_instant(props.get("createdate")),
            closed_at=None if stage is DealStage.OPEN else _instant(props.get("closedate")),
        )

    def _company_domains(self, ids: Iterable[str]) -> dict[str, str | None]:
        """The domain of each of these companies that HubSpot has (None: it has none),
        read with the property fields.yaml maps to `domain`, 100 companies a call."""
        prop = self.field_map.property_for("hubspot", COMPANIES.field_object, "domain") or "domain"
        domains: dict[str, str | None] = {}
        for chunk in chunked(dict.fromkeys(ids), BATCH):
            for result in self._batch_read(COMPANIES, chunk, [prop]):
                value = (result.get("properties") or {}).get(prop)
                domains[str(result["id"])] = normalize_domain(str(value)) if value else None
        return domains

    def _churned_stages(self) -> frozenset[str]:
        """The stage ids fields.yaml names as churn, by id or by label (`stage_key`s).

        Labels are found in the deal pipelines (one call); a portal that
        refuses that read still has its stage ids matched.
        """
        wanted = self.field_map.churned_stages("hubspot")
        if not wanted:
            return frozenset()
        api = self.client.crm.pipelines.pipelines_api
        try:
            answer = self._json(
                lambda: api.get_all(
                    object_type=DEALS, _preload_content=False, _request_timeout=self.timeout
                )
            )
        except Exception as exc:
            message = client_error(exc)
            if message is None:
                raise
            log.warning("HubSpot refused the deal pipelines (%s): churn matches stage ids", message)
            return wanted
        stages = [s for p in answer.get("results") or [] for s in p.get("stages") or []]
        labelled = {stage_key(s["id"]) for s in stages if stage_key(s.get("label", "")) in wanted}
        return wanted | labelled

    # -- records ---------------------------------------------------------------------------

    def _records(self, obj: HubObject, results: list[dict[str, Any]]) -> list[CrmRecord]:
        records = []
        for result in results:
            record = self._record(obj, result)
            if record is not None:
                records.append(record)
        return records

    def _record(self, obj: HubObject, result: Mapping[str, Any]) -> CrmRecord | None:
        crm_id = str(result["id"])
        props: Mapping[str, Any] = result.get("properties") or {}
        coerced = self._coercers[obj.field_object](props)
        for problem in coerced.problems:
            log.debug("hubspot %s %s: %s (left unknown)", obj.field_object, crm_id, problem)
        record = CrmRecord(
            obj.kind,
            "hubspot",
            crm_id,
            coerced.fields,
            self.record_url(obj.kind, crm_id),
            company_id=_first_company(result),
            written=self.score_properties.held(obj.kind, props),
        )
        if record.key is None:
            what = "email address" if obj.kind.is_person else "domain"
            self._note(RowError(f"hubspot {obj.field_object}", int(crm_id), f"has no {what}"))
            return None
        return record

    def _note(self, error: RowError) -> None:
        """Keep the latest skipped records for the report; a long backfill must not hoard."""
        self._errors.append(error)
        if len(self._errors) > 1000:
            del self._errors[:500]


def _first_company(result: Mapping[str, Any]) -> str | None:
    associations = (result.get("associations") or {}).get("companies") or {}
    ids = [str(a["id"]) for a in associations.get("results") or [] if a.get("id")]
    return min(ids, key=int) if ids else None


def _primary_company(result: Mapping[str, Any]) -> str | None:
    """The company a deal belongs to: its primary association (typed `deal_to_company`; the
    others are `..._unlabeled`), else the lowest of its companies' ids."""
    associations = (result.get("associations") or {}).get("companies") or {}
    entries = [a for a in associations.get("results") or [] if a.get("id")]
    primary = [str(a["id"]) for a in entries if not str(a.get("type", "")).endswith("_unlabeled")]
    ids = primary or [str(a["id"]) for a in entries]
    return min(ids, key=int) if ids else None


def _is_primary(to: Mapping[str, Any]) -> bool:
    """A v4 association entry carrying HubSpot's `Primary` label among its types."""
    return any(t.get("label") == "Primary" for t in to.get("associationTypes") or [])


def _no_account(company: str | None, domains: Mapping[str, str | None]) -> str:
    """Why a deal's account cannot be told, for the skipped-rows report."""
    if company is None:
        return "has no associated company"
    if company not in domains:
        return f"its company {company} is not found"
    return f"its company {company} has no domain"


def _deal_stage(props: Mapping[str, Any], churned: frozenset[str]) -> DealStage:
    """Churned when its stage is one fields.yaml names; else HubSpot's own verdict."""
    if props.get("dealstage") and stage_key(props["dealstage"]) in churned:
        return DealStage.CHURNED
    if _true(props.get("hs_is_closed_won")):
        return DealStage.CLOSED_WON
    if _true(props.get("hs_is_closed")):
        return DealStage.CLOSED_LOST
    return DealStage.OPEN


def _true(value: object) -> bool:
    """A HubSpot boolean property's value ("true"/"false" text)."""
    return str(value).strip().lower() == "true"


def _amount(value: object) -> float | None:
    """A number property's text as a number; None when empty or not a number."""
    try:
        return float(str(value)) if value not in (None, "") else None
    except ValueError:
        return None


def _batch_errors(answer: dict[str, Any]) -> dict[str, str]:
    """The records a 207 Multi-Status answer names in its `errors`, with HubSpot's message."""
    refused: dict[str, str] = {}
    for error in answer.get("errors") or []:
        message = str(error.get("message") or error.get("category") or "refused")
        for object_id in (error.get("context") or {}).get("ids") or []:
            refused[str(object_id)] = message
    return refused


def _instant(value: object) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    if value.isdigit():
        return datetime.fromtimestamp(int(value) / 1000, tz=UTC)
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


_LABELS = {
    "score": ("ICP score", "number", "number", "Fit with the Ideal Customer Profile, 0-100."),
    "tier": ("ICP tier", "enumeration", "select", "A, B, C, D, or DQ (disqualified)."),
    "profile": ("ICP profile", "string", "text", "The ICP profile that scored best."),
    "reasons": ("ICP reasons", "string", "textarea", "Why it scored as it did, one a line."),
    "version": ("ICP version", "number", "number", "The icp.yaml version behind the score."),
    "scored_at": ("ICP scored at", "datetime", "date", "When icpbot last scored it."),
    "persona_score": ("ICP persona score", "number", "number", "Buyer persona fit, 0-100."),
}


def _property_definition(name: str, prop: str) -> PropertyCreate:
    label, kind, field_type, description = _LABELS[name]
    options = (
        [OptionInput(label=t, value=t, display_order=i, hidden=False) for i, t in enumerate(TIERS)]
        if kind == "enumeration"
        else None
    )
    return PropertyCreate(
        name=prop,
        label=label,
        type=kind,
        field_type=field_type,
        group_name=GROUP,
        description=f"{description} Written by icpbot.",
        options=options,
        form_field=False,
        has_unique_value=False,
        hidden=False,
    )
