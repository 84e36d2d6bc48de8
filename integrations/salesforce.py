"""Salesforce through `simple-salesforce`: Accounts and Leads in, `ICP_*__c` fields out.

The only module that imports `simple_salesforce`. Reads are SOQL, paged
with `nextRecordsUrl`; writes are sObject Collections, 200 records a call.
Every call goes through one `CrmCaller` (pacing, retries on 5xx and
timeouts; `REQUEST_LIMIT_EXCEEDED` is the org's daily limit, not retried but
noted, so polling holds), and an expired session is renewed once by
logging in again when icpbot holds credentials rather than a bare token.

Every value that reaches SOQL goes through `quote` (or `like_pattern`):
text typed in Slack is a string literal, never query syntax.

What Salesforce already holds in the `ICP_*__c` fields is read with each
record, so a write-back sends only what differs: icpbot's own writes move
`SystemModstamp` and come back through the poll, where they compare equal
and cost a read, never a loop.

Deals are Opportunities, their account's domain its Account's `Website`:
`IsWon` and `IsClosed` tell won from lost; churn is a `StageName` the team
names in fields.yaml (Salesforce has no standard one).
"""

from __future__ import annotations

import contextvars
import logging
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from functools import lru_cache, partial
from typing import Any, NamedTuple, TypeVar

import jwt
import orjson
import requests
from requests.adapters import HTTPAdapter
from simple_salesforce.api import Salesforce
from simple_salesforce.exceptions import (
    SalesforceAuthenticationFailed,
    SalesforceError,
    SalesforceExpiredSession,
)
from simple_salesforce.login import SalesforceLogin, token_login

from integrations.base import (
    CaptureRefusal,
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
from integrations.records import CrmRecord, PropertyCoercer, RecordKind
from integrations.retries import CrmCaller, Failure
from scoring.model import DealStage

log = logging.getLogger(__name__)
T = TypeVar("T")

QUERY_PAGE = 2000  # the most records Salesforce returns per query call
WRITE_BATCH = 200  # sObject Collections: records per call
WRITERS = 4  # sObject Collections calls in flight at once
ID_BATCH = 200  # ids per `Id IN (...)`: the SOQL text stays far under its 100,000-character cap
FIND_LIMIT = 50  # accounts whose website mentions a domain: a handful, filtered exactly here
TIMEOUT = (5.0, 60.0)  # connect, read (seconds)
TIERS = ("A", "B", "C", "D", "DQ")
JWT_LIFETIME = 180  # seconds: Salesforce accepts bearer assertions up to 3 minutes ahead
_ESCAPES = {
    "\\": "\\\\",
    "'": "\\'",
    '"': '\\"',
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\b": "\\b",
    "\f": "\\f",
}


@dataclass(frozen=True, slots=True)
class SfObject:
    """One sObject as icpbot uses it."""

    kind: RecordKind
    name: str  # the API name
    field_object: str  # the fields.yaml object name


ACCOUNTS = SfObject(RecordKind.ACCOUNT, "Account", "account")
LEADS = SfObject(RecordKind.LEAD, "Lead", "lead")
OBJECTS = {RecordKind.ACCOUNT: ACCOUNTS, RecordKind.LEAD: LEADS}
# What an Opportunity is read with (its Account's website gives the deal its domain).
DEAL_FIELDS = (
    "Id, Name, StageName, IsWon, IsClosed, Amount, CreatedDate, CloseDate, SystemModstamp, "
    "IsDeleted, AccountId, Account.Website"
)


# Custom field API names of SPEC §4, the defaults; an org may be given others.
SCORE_FIELDS = ScoreNames(
    score="ICP_Score__c",
    tier="ICP_Tier__c",
    profile="ICP_Profile__c",
    reasons="ICP_Reasons__c",
    version="ICP_Version__c",
    scored_at="ICP_Scored_At__c",
    persona_score="ICP_Persona_Score__c",
)


# -- SOQL literals ---------------------------------------------------------------------------


def quote(value: str) -> str:
    """A SOQL string literal: quotes, backslashes and control characters escaped."""
    return "'" + "".join(_ESCAPES.get(c, c) for c in value) + "'"


def like_pattern(value: str) -> str:
    """A LIKE literal matching `value` anywhere: its own `%` and `_` match only themselves."""
    escaped = "".join(_ESCAPES.get(c, c) for c in value)
    return "'%" + escaped.replace("%", "\\%").replace("_", "\\_") + "%'"


def _id_list(ids: Sequence[str]) -> str:
    return "(" + ", ".join(quote(i) for i in ids) + ")"


@lru_cache(maxsize=256)
def soql_datetime(moment: datetime) -> str:
    """A SOQL datetime literal (unquoted, UTC); remembered, as a backfill writes one moment
    into every record."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + (
        f"{moment.astimezone(UTC).microsecond // 1000:03d}Z"
    )


# -- errors ----------------------------------------------------------------------------------


def error_codes(exc: SalesforceError) -> list[str]:
    """Salesforce's `errorCode`s in an error answer (a list of `{errorCode, message}`)."""
    content = exc.content
    items = content if isinstance(content, list) else [content]
    return [str(i.get("errorCode")) for i in items if isinstance(i, Mapping) and "errorCode" in i]


def error_message(exc: SalesforceError) -> str:
    content = exc.content
    items = content if isinstance(content, list) else [content]
    messages = [
        f"{i.get('errorCode')}: {i.get('message')}" for i in items if isinstance(i, Mapping)
    ]
    return f"HTTP {exc.status}: " + ("; ".join(messages) or str(content)[:300])


class MissingFields(Exception):
    """The org lacks icpbot's own fields: `crm setup salesforce` has not run there."""


def classify(exc: BaseException) -> Failure | None:
    """Which errors are worth another try: timeouts, dropped connections, 5xx, 429.

    `REQUEST_LIMIT_EXCEEDED` is not: it means the org's daily API requests are
    spent, and another try minutes later is refused again until the day rolls
    over. The call fails at once (its work is retried later or parked) and the
    adapter notes it (`limit_refused`), so polling holds (`bot.sync.connect.ApiBudget`).
    """
    if isinstance(exc, MissingFields):
        return Failure("client_error", transient=False)
    if isinstance(exc, requests.Timeout):
        return Failure("timeout", transient=True)
    if isinstance(exc, requests.ConnectionError):
        return Failure("server_error", transient=True)
    if isinstance(exc, SalesforceAuthenticationFailed):
        return Failure("client_error", transient=False)
    if not isinstance(exc, SalesforceError):
        return None
    codes = error_codes(exc)
    if "REQUEST_LIMIT_EXCEEDED" in codes:
        return Failure("limit_exceeded", transient=False)
    if exc.status == 429:
        return Failure("rate_limited", transient=True)
    if exc.status >= 500 or "SERVER_UNAVAILABLE" in codes or "UNABLE_TO_LOCK_ROW" in codes:
        return Failure("server_error", transient=True)
    return Failure("client_error", transient=False)


def client_error(exc: BaseException) -> str | None:
    """Salesforce's own message for a request it refused, or None for any other error."""
    failure = classify(exc)
    if isinstance(exc, MissingFields):
        return str(exc)
    if failure is None or failure.transient or not isinstance(exc, SalesforceError):
        return None
    if isinstance(exc, SalesforceAuthenticationFailed):
        return f"login refused: {exc.code}: {exc.auth_message}"
    return error_message(exc)


# -- connecting ------------------------------------------------------------------------------

# Answers' JSON objects as the decoder makes them, plain dicts: simple-salesforce's default
# hook makes OrderedDicts, and even a hook of `dict` has the decoder build a list of pairs
# first, which doubles the time a 2,000-record query page takes to read.
PLAIN_OBJECTS = None

Connect = Callable[[], Salesforce]
LOGIN_TIMEOUT = (5.0, 15.0)  # connect, read (seconds); a login answers in one or two


class _TimeoutAdapter(HTTPAdapter):
    """Sends with a timeout when the caller gave none: simple-salesforce's logins give none,
    and a login host that accepts the connection but never answers held `serve` forever."""

    def __init__(self, timeout: tuple[float, float]) -> None:
        super().__init__()
        self.timeout = timeout

    def send(self, request: Any, *args: Any, **kwargs: Any) -> Any:
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self.timeout
        return super().send(request, *args, **kwargs)


# Every call says who makes it (`Sforce-Call-Options: client=icpbot`): Salesforce puts the
# name in the `changeOrigin` of the change events icpbot's own writes cause, so a listener
# can know them for its own without reading the record.
CLIENT_NAME = "icpbot"


def timed_session(timeout: tuple[float, float] = TIMEOUT) -> requests.Session:
    """A requests session whose calls time out after `timeout` unless they say otherwise,
    each naming icpbot as its client."""
    session = requests.Session()
    session.headers["Sforce-Call-Options"] = f"client={CLIENT_NAME}"
    adapter = _TimeoutAdapter(timeout)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session


def token_connection(
    *, instance_url: str, access_token: str, version: str, session: requests.Session | None = None
) -> Salesforce:
    """A client for an access token (OAuth, or a session id) and the org's instance URL."""
    return Salesforce(
        instance_url=instance_url,
        session_id=access_token,
        version=version,
        session=session or timed_session(),
        object_pairs_hook=PLAIN_OBJECTS,
    )


def password_connection(
    *,
    login_url: str,
    username: str,
    password: str,
    security_token: str | None,
    version: str,
    session: requests.Session | None = None,
) -> Salesforce:
    """Log in with username, password and security token (SOAP login) at `login_url`.

    `login_url` is login.salesforce.com, test.salesforce.com or a My Domain;
    without a security token the org must trust icpbot's IP range.
    """
    session_id, instance = SalesforceLogin(
        username=username,
        password=password,
        security_token=security_token or None,
        sf_version=version,
        session=session or timed_session(LOGIN_TIMEOUT),
        scratch_url=login_url.rstrip("/"),
    )
    return _client(instance, session_id, version, session or timed_session())


def jwt_connection(
    *,
    login_url: str,
    client_id: str,
    username: str,
    private_key: str,
    version: str,
    session: requests.Session | None = None,
) -> Salesforce:
    """OAuth 2.0 JWT bearer flow for a Connected App: no password, a signed assertion."""
    base = login_url.rstrip("/")
    claims = {
        "iss": client_id,
        "sub": username,
        "aud": base,
        "exp": int(datetime.now(UTC).timestamp()) + JWT_LIFETIME,
    }
    assertion = jwt.encode(claims, private_key, algorithm="RS256")
    grant = {"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer", "assertion": assertion}
    login = session or timed_session(LOGIN_TIMEOUT)
    access_token, instance = token_login(
        f"{base}/services/oauth2/token", grant, "login", client_id, None, None, login
    )
    return _client(
        str(instance).rstrip("/"), str(access_token), version, session or timed_session()
    )


def _client(instance: str, session_id: str, version: str, session: requests.Session) -> Salesforce:
    return Salesforce(
        instance=instance,
        session_id=session_id,
        version=version,
        session=session,
        object_pairs_hook=PLAIN_OBJECTS,
    )


# -- the custom fields ----------------------------------------------------------------------

# canonical name → (label, Tooling API metadata beyond the label), as `crm setup` creates them
# and as `config/salesforce` ships them for `sf project deploy start`.
FIELD_METADATA: dict[str, tuple[str, dict[str, Any]]] = {
    "score": ("ICP score", {"type": "Number", "precision": 3, "scale": 0}),
    "tier": (
        "ICP tier",
        {
            "type": "Picklist",
            "valueSet": {
                "restricted": True,
                "valueSetDefinition": {
                    "sorted": False,
                    "value": [{"fullName": t, "label": t, "default": False} for t in TIERS],
                },
            },
        },
    ),
    "profile": ("ICP profile", {"type": "Text", "length": 255}),
    "reasons": ("ICP reasons", {"type": "LongTextArea", "length": 32768, "visibleLines": 5}),
    "version": ("ICP version", {"type": "Number", "precision": 6, "scale": 0}),
    "scored_at": ("ICP scored at", {"type": "DateTime"}),
    "persona_score": ("ICP persona score", {"type": "Number", "precision": 3, "scale": 0}),
}
FIELD_HELP = {
    "score": "Fit with the Ideal Customer Profile, 0-100.",
    "tier": "A, B, C, D, or DQ (disqualified).",
    "profile": "The ICP profile that scored best.",
    "reasons": "Why it scored as it did, one a line.",
    "version": "The icp.yaml version behind the score.",
    "scored_at": "When icpbot last scored it.",
    "persona_score": "Buyer persona fit, 0-100.",
}


def field_metadata(name: str) -> dict[str, Any]:
    """The Tooling API `Metadata` of one score field."""
    label, metadata = FIELD_METADATA[name]
    return {
        "label": label,
        "description": f"{FIELD_HELP[name]} Written by icpbot.",
        "inlineHelpText": FIELD_HELP[name],
        **metadata,
    }


# -- Change Data Capture -------------------------------------------------------------------

# The standard channel: the selection Setup's Change Data Capture page shows and edits.
CAPTURE_CHANNEL = "ChangeEvents"
# What `crm setup` selects, in this order: the change listener reads Lead and Account, and
# Opportunity keeps deals current; an allocation with room for only some takes the first.
CAPTURE_OBJECTS = ("Lead", "Account", "Opportunity")
CAPTURE_MEMBERS = "tooling/sobjects/PlatformEventChannelMember"
CAPTURE_QUERY = (
    "SELECT Id, DeveloperName, EventChannel, SelectedEntity FROM PlatformEventChannelMember "
    f"WHERE EventChannel = {quote(CAPTURE_CHANNEL)}"
)
# The member (by name) or the object is on the channel already.
_CAPTURE_TAKEN = frozenset({"DUPLICATE_DEVELOPER_NAME", "DUPLICATE_VALUE"})
_AGAIN = "run `icpbot crm setup salesforce` again"
_BY_HAND = "Setup > Change Data Capture"
# Salesforce's answers when it will not select any object, by errorCode: the reason in words
# and what to do. The docs name the allocation (5 objects across all channels without the
# add-on) and the editions that have Change Data Capture (Enterprise, Performance, Unlimited,
# Developer) but not the codes they answer with: LIMIT_EXCEEDED and FUNCTIONALITY_NOT_ENABLED
# are modelled on Salesforce's StatusCode list; INVALID_TYPE and NOT_FOUND are how an org (or
# an API version before 47.0) without the Tooling object answers.
_CAPTURE_REFUSALS: tuple[tuple[frozenset[str], str, str], ...] = (
    (
        frozenset({"LIMIT_EXCEEDED"}),
        "the org's allocation is used up (5 objects across all channels without the add-on; "
        "other apps' selections count too)",
        f"deselect an object nothing uses in {_BY_HAND}, or buy the add-on; then {_AGAIN}",
    ),
    (
        frozenset({"FUNCTIONALITY_NOT_ENABLED", "INVALID_TYPE", "NOT_FOUND"}),
        "this org's edition has no Change Data Capture (Enterprise, Performance, Unlimited "
        "and Developer editions have it)",
        "nothing to do: the poll finds the changes",
    ),
    (
        frozenset({"INSUFFICIENT_ACCESS_OR_READONLY", "INSUFFICIENT_ACCESS"}),
        "the integration user may not select objects for Change Data Capture (that takes "
        "Customize Application; reading the selection, View Setup and Configuration)",
        f"grant those permissions and {_AGAIN}, or select it by hand in {_BY_HAND}",
    ),
)


def change_event(entity: str) -> str:
    """The change event of an object, as Salesforce names it: `Lead` → `LeadChangeEvent`,
    a custom `Deal__c` → `Deal__ChangeEvent`."""
    return (entity[:-1] if entity.endswith("__c") else entity) + "ChangeEvent"


def changed_entity(event: str) -> str:
    """The object a change event is about: `LeadChangeEvent` → `Lead`,
    `Deal__ChangeEvent` → `Deal__c`."""
    name = event.removesuffix("ChangeEvent")
    return f"{name}c" if name.endswith("__") else name


def capture_refusal(entity: str, exc: SalesforceError) -> tuple[CaptureRefusal, bool]:
    """Salesforce's no to selecting `entity`, in words with what to do, and whether it holds
    for the whole org (a full allocation, an edition without it, a missing permission), so
    the other objects need not be asked."""
    codes = set(error_codes(exc))
    for known, reason, step in _CAPTURE_REFUSALS:
        if codes & known:
            return CaptureRefusal(entity, reason, step), True
    reason = f"Salesforce refused it: {error_message(exc)}"
    step = f"select it by hand in {_BY_HAND}, or {_AGAIN} once the cause is fixed"
    return CaptureRefusal(entity, reason, step), False


def _transient(exc: BaseException) -> bool:
    failure = classify(exc)
    return failure is not None and failure.transient


# -- the adapter -----------------------------------------------------------------------------


class StreamSession(NamedTuple):
    """How the Pub/Sub API knows the caller: the REST session's token, the instance URL
    and the org's id."""

    access_token: str
    instance_url: str
    tenant_id: str


class SalesforceCrm(LiveCrm):
    """Accounts as accounts, Leads as people, `ICP_*__c` fields as the write-back."""

    name = "salesforce"
    person_kind = RecordKind.LEAD
    page_size = QUERY_PAGE

    def __init__(
        self,
        *,
        connect: Connect,
        caller: CrmCaller,
        field_map: FieldMap,
        names: ScoreNames = SCORE_FIELDS,
        renew: bool = False,
        timeout: tuple[float, float] = TIMEOUT,
    ) -> None:
        """`connect` logs in (at the first call); with `renew`, again when a session expires."""
        self.connect = connect
        self._sf: Salesforce | None = None
        self.renew = renew
        self.call = caller
        self.field_map = field_map
        self.score_names = names
        self.timeout = timeout
        self._errors: list[RowError] = []
        self._login_lock = threading.Lock()
        self._limit_refused = False  # REQUEST_LIMIT_EXCEEDED seen since the limits were read
        self._selects: dict[str, str] = {}  # per sObject, the fields the org has
        self._coercers: dict[str, PropertyCoercer] = {}  # per sObject, reading its rows
        self._writers = ThreadPoolExecutor(WRITERS, thread_name_prefix="salesforce-write")
        self._org_id: str | None = None  # the org's id, once read (`stream_session`)

    @property
    def sf(self) -> Salesforce:
        """The logged-in client; the login happens at first use, inside a retried call."""
        with self._login_lock:
            if self._sf is None:
                self._sf = self.connect()
            return self._sf

    def check(self, *, timeout: tuple[float, float] | None = None) -> tuple[int, int] | None:
        """Log in and read the org's limits; raises when Salesforce refuses icpbot.

        Returns (used, limit) of the daily API requests. Not retried: at
        start-up, and when a spent budget is re-read, an answer now is the point
        (at start-up, within a `timeout` shorter than the adapter's own).
        """
        limits = self.sf.limits(timeout=timeout or self.timeout)  # once: answers now
        self._limit_refused = False  # Salesforce answered: the org's limit lets calls through
        daily = (limits or {}).get("DailyApiRequests") or {}
        if "Max" in daily and "Remaining" in daily:
            return int(daily["Max"]) - int(daily["Remaining"]), int(daily["Max"])
        return self.api_usage()

    # -- reading ---------------------------------------------------------------------------

    def accounts(self) -> Iterator[CrmRecord]:
        for page in self.pages(RecordKind.ACCOUNT):
            yield from page.records

    def people(self) -> Iterator[CrmRecord]:
        for page in self.pages(RecordKind.LEAD):
            yield from page.records

    def pages(
        self, kind: RecordKind, *, after: str | None = None, size: int = QUERY_PAGE
    ) -> Iterator[Page]:
        """Every Account or Lead in Id order, a query batch a page; `after` is the last Id done.

        Within a run the pages follow `nextRecordsUrl`; a resumed run starts
        a fresh query after the last Id, because a query cursor expires.
        """
        obj = OBJECTS[self._kind(kind)]
        where = f" WHERE Id > {quote(after)}" if after else ""
        soql = f"SELECT {self._select(obj)} FROM {obj.name}{where} ORDER BY Id"
        for rows in self._query_pages(soql, size):
            if rows:
                after = str(rows[-1]["Id"])
            yield Page(self._records(obj, rows), after)

    def fetch(self, kind: RecordKind, ids: Sequence[str]) -> list[CrmRecord]:
        """These records by Id; deleted ones are simply absent."""
        obj = OBJECTS[self._kind(kind)]
        records: list[CrmRecord] = []
        for rows in self._rows_by_id(obj, self._select(obj), ids):
            records.extend(self._records(obj, rows))
        return records

    def removed(self, kind: RecordKind, ids: Sequence[str]) -> dict[str, str | None]:
        """Deleted ones, from the recycle bin (`queryAll`): a merged record names its master
        (`MasterRecordId`). An id not even there was purged; one there and not deleted is
        a record `fetch` could not key (no email, no website), not a removal."""
        obj = OBJECTS[self._kind(kind)]
        gone: dict[str, str | None] = dict.fromkeys(ids)
        fields = "Id, IsDeleted, MasterRecordId"
        for rows in self._rows_by_id(obj, fields, ids, deleted=True):
            for row in rows:
                if row.get("IsDeleted"):
                    gone[str(row["Id"])] = str(row.get("MasterRecordId") or "") or None
                else:
                    gone.pop(str(row["Id"]), None)
        return gone

    def _rows_by_id(
        self, obj: SfObject, fields: str, ids: Sequence[str], *, deleted: bool = False
    ) -> Iterator[list[dict[str, Any]]]:
        """`fields` of these records, `ID_BATCH` ids a query (each once), page by page; with
        `deleted`, the recycle bin's too."""
        unique = list(dict.fromkeys(ids))
        for start in range(0, len(unique), ID_BATCH):
            chunk = _id_list(unique[start : start + ID_BATCH])
            soql = f"SELECT {fields} FROM {obj.name} WHERE Id IN {chunk}"
            yield from self._query_pages(soql, deleted=deleted)

    def modified_since(self, kind: RecordKind, since: datetime) -> Iterator[tuple[str, datetime]]:
        """(Id, SystemModstamp) of records changed at or after `since`, oldest first; deleted
        ones too (`queryAll`: a deletion, a merge, moves it), which the pipeline then finds
        gone and removes: deletes reach the store without Change Data Capture too."""
        obj = OBJECTS[self._kind(kind)]
        soql = (
            f"SELECT Id, SystemModstamp FROM {obj.name} "
            f"WHERE SystemModstamp >= {soql_datetime(since)} ORDER BY SystemModstamp, Id"
        )
        for rows in self._query_pages(soql, deleted=True):
            for row in rows:
                yield str(row["Id"]), _instant(row.get("SystemModstamp")) or since

    def count(self, kind: RecordKind) -> int | None:
        obj = OBJECTS[self._kind(kind)]
        answer = self._call(lambda: self.sf.query(f"SELECT COUNT() FROM {obj.name}", **self._kw()))
        total = answer.get("totalSize")
        return int(total) if isinstance(total, int) else None

    def deals(self) -> Iterator[Deal]:
        """Every Opportunity, won, lost, churned or open, with its Account's website: the
        evidence for calibration. One without an Account or a website is named, not read."""
        churned = self.field_map.churned_stages("salesforce")
        for rows in self._query_pages(f"SELECT {DEAL_FIELDS} FROM Opportunity ORDER BY Id"):
            yield from (d for d in (self._deal(row, churned) for row in rows) if d is not None)

    def deals_modified_since(self, since: datetime) -> Iterator[DealChange]:
        """Opportunities whose `SystemModstamp` is at or after `since`, oldest first; deleted
        ones too (`queryAll`: a deletion moves it), as `Deal.deleted`."""
        churned = self.field_map.churned_stages("salesforce")
        soql = (
            f"SELECT {DEAL_FIELDS} FROM Opportunity "
            f"WHERE SystemModstamp >= {soql_datetime(since)} ORDER BY SystemModstamp, Id"
        )
        for rows in self._query_pages(soql, deleted=True):
            for row in rows:
                yield self._deal(row, churned), _instant(row.get("SystemModstamp")) or since

    def record_url(self, kind: RecordKind, crm_id: str) -> str | None:
        """The Lightning record page (the org's domain redirects to its Lightning host)."""
        obj = OBJECTS[self._kind(kind)]
        return f"https://{self.sf.sf_instance}/lightning/r/{obj.name}/{crm_id}/view"

    def errors(self) -> list[RowError]:
        return list(self._errors)

    # -- Change Data Capture's session ---------------------------------------------------------

    def stream_session(self) -> StreamSession:
        """What a Pub/Sub subscription presents: this adapter's session token, its instance,
        and the org's id (Salesforce's `tenantid`), read once with one query."""
        if self._org_id is None:
            rows = self._call(
                lambda: self.sf.query("SELECT Id FROM Organization LIMIT 1", **self._kw())
            )
            self._org_id = str(((rows or {}).get("records") or [{}])[0].get("Id") or "")
        client = self.sf
        return StreamSession(client.session_id, f"https://{client.sf_instance}", self._org_id)

    def session_expired(self) -> None:
        """The Pub/Sub API refused the session: the next use logs in again, where it can."""
        client = self._sf
        if self.renew and client is not None:
            self._forget(client)

    def limit_refused(self) -> bool:
        """Salesforce refused a call with REQUEST_LIMIT_EXCEEDED since the limits were last
        read (`check`): the org's daily API requests are spent."""
        return self._limit_refused

    def api_usage(self) -> tuple[int, int] | None:
        """(used, limit) of the org's daily API requests, from the last `Sforce-Limit-Info`.

        None before any answer: asking must never log in by itself.
        """
        client = self._sf
        usage = client.api_usage.get("api-usage") if client is not None else None
        if usage is None:
            return None
        return int(getattr(usage, "used", 0)), int(getattr(usage, "total", 0))

    # -- finding (text from Slack) ---------------------------------------------------------

    def find_accounts(
        self, *, domain: str | None = None, name: str | None = None
    ) -> list[CrmRecord]:
        """Accounts whose website's domain (or whose name) is exactly this.

        `Website` holds URLs as people type them, so the query asks for
        websites containing the domain and the answer is filtered on the
        normalised domain; the value is a quoted, LIKE-escaped literal.
        """
        if domain:
            condition = f"Website LIKE {like_pattern(domain)}"
        elif name:
            condition = f"Name = {quote(name)}"
        else:
            return []
        soql = (
            f"SELECT {self._select(ACCOUNTS)} FROM Account WHERE {condition} "
            f"ORDER BY CreatedDate LIMIT {FIND_LIMIT}"
        )
        answer = self._call(lambda: self.sf.query(soql, **self._kw()))
        records = self._records(ACCOUNTS, list(answer.get("records") or []))
        return [r for r in records if not domain or r.domain == domain]

    def owner(self, owner_id: str) -> Owner | None:
        """The User's name and email, None when Salesforce has no such User."""
        soql = f"SELECT Name, Email FROM User WHERE Id = {quote(owner_id)}"
        rows = self._call(lambda: self.sf.query(soql, **self._kw())).get("records") or []
        if not rows:
            return None
        name, email = rows[0].get("Name"), rows[0].get("Email")
        return Owner(owner_id, str(name) if name else None, str(email) if email else None)

    def owner_for_email(self, email: str) -> str | None:
        soql = (
            f"SELECT Id FROM User WHERE Email = {quote(email)} AND IsActive = true "
            "ORDER BY CreatedDate LIMIT 1"
        )
        rows = self._call(lambda: self.sf.query(soql, **self._kw())).get("records") or []
        return str(rows[0]["Id"]) if rows else None

    def set_owner(self, kind: RecordKind, crm_id: str, owner_id: str) -> None:
        """Set `OwnerId` (or the mapped owner field) of one record; raises when refused."""
        obj = OBJECTS[self._kind(kind)]
        field_name = self.field_map.property_for("salesforce", obj.field_object, "owner_id")
        if field_name is None:
            raise ValueError(f"fields.yaml maps no salesforce {obj.field_object} owner_id field")
        report = WriteReport()
        self._update(obj, [{"Id": crm_id, field_name: owner_id}], report)
        if report.failed:
            raise ValueError(f"Salesforce refused the owner change: {report.failed[crm_id]}")

    # -- writing ---------------------------------------------------------------------------

    def write_scores(self, updates: Sequence[ScoreUpdate]) -> WriteReport:
        """sObject Collections, 200 records a call, Accounts and Leads apart.

        A page's calls go out `WRITERS` at a time: each waits mostly on the
        network, and Salesforce takes concurrent updates of different records.
        """
        chunks: list[tuple[SfObject, list[dict[str, object]]]] = []
        for obj in OBJECTS.values():
            rows = [
                {"Id": u.crm_id, **self.wire_values(obj.kind, u.fields)}
                for u in updates
                if self._kind(u.kind) is obj.kind
            ]
            chunks += [(obj, rows[i : i + WRITE_BATCH]) for i in range(0, len(rows), WRITE_BATCH)]
        report = WriteReport()
        if len(chunks) == 1:
            self._update(*chunks[0], report)
            return report
        # Each in the caller's context: a background caller's writes stay background calls.
        contexts = [contextvars.copy_context() for _ in chunks]
        parts = self._writers.map(lambda c, part: c.run(self._update_chunk, part), contexts, chunks)
        for part in parts:
            report.written += part.written
            report.failed.update(part.failed)
        return report

    def _update_chunk(self, chunk: tuple[SfObject, list[dict[str, object]]]) -> WriteReport:
        report = WriteReport()
        self._update(*chunk, report)
        return report

    def wire_values(self, kind: RecordKind, score: ScoreFields) -> dict[str, object]:
        """The field values Salesforce gets: numbers as numbers, None clears a field."""
        values: dict[str, object] = {
            "score": score.score,
            "tier": score.tier,
            "profile": score.profile,
            "reasons": score.reasons or None,
            "version": score.version,
            "scored_at": soql_datetime(score.scored_at),
            "persona_score": score.persona_score,
        }
        return {api: values[name] for name, api in self.score_names.names(kind).items()}

    def setup(self) -> SetupReport:
        """Create the `ICP_*__c` fields on Account and Lead (Tooling API), those missing only;
        then select Lead, Account and Opportunity for Change Data Capture where the org allows.
        """
        report = SetupReport([], [])
        self._create_fields(report)
        self._select_for_capture(report)
        return report

    def _create_fields(self, report: SetupReport) -> None:
        for obj in OBJECTS.values():
            describe = self._call(partial(self._restful, f"sobjects/{obj.name}/describe"))
            present = {str(f["name"]).lower() for f in (describe or {}).get("fields") or []}
            for name, api in self.score_names.names(obj.kind).items():
                where = f"{obj.name}.{api}"
                if api.lower() in present:
                    report.existing.append(where)
                    continue
                body = {"FullName": where, "Metadata": field_metadata(name)}
                self._call(
                    partial(self._restful, "tooling/sobjects/CustomField", method="POST", json=body)
                )
                report.created.append(where)
        self._selects.clear()

    # -- Change Data Capture ---------------------------------------------------------------

    def cdc_entities(self) -> frozenset[str]:
        """The objects selected for Change Data Capture on the standard channel (`Lead`,
        `Account`, `Deal__c`), in one Tooling query.

        The change listener asks once per connection whether change events cover Lead and
        Account; the poll covers what they do not. An org whose edition has no Change Data
        Capture (no such Tooling object) has none selected.
        """
        try:
            answer = self._call(
                partial(self._restful, "tooling/query", params={"q": CAPTURE_QUERY})
            )
        except SalesforceError as exc:
            if not set(error_codes(exc)) & {"INVALID_TYPE", "NOT_FOUND"}:
                raise
            return frozenset()
        rows = (answer or {}).get("records") or []
        return frozenset(changed_entity(str(r["SelectedEntity"])) for r in rows)

    def _select_for_capture(self, report: SetupReport) -> None:
        """Select those of `CAPTURE_OBJECTS` not selected yet, and nothing else: what the org
        selected stays, as other apps' selections count against the same allocation.

        A refusal is a warning in the report, never an error: an object not selected is
        still found by the poll. Only a failure worth another try (after the retries) raises.
        """
        try:
            selected = self.cdc_entities()
        except SalesforceError as exc:
            if _transient(exc):
                raise
            refusal, _ = capture_refusal(CAPTURE_OBJECTS[0], exc)
            report.capture_refused.extend(replace(refusal, entity=e) for e in CAPTURE_OBJECTS)
            return
        org_wide: CaptureRefusal | None = None
        for entity in CAPTURE_OBJECTS:
            if entity in selected:
                report.capture_existing.append(entity)
            elif org_wide is not None:
                report.capture_refused.append(replace(org_wide, entity=entity))
            else:
                org_wide = self._select_entity(entity, report)

    def _select_entity(self, entity: str, report: SetupReport) -> CaptureRefusal | None:
        """One channel member created; the refusal when it holds for every object, else None.

        A duplicate (its name, or the object, on the channel) means it was selected since the
        channel was read, in Setup or by another run: it counts as already selected.
        """
        event = change_event(entity)
        body = {
            "FullName": f"{CAPTURE_CHANNEL}_{event}",
            "Metadata": {"eventChannel": CAPTURE_CHANNEL, "selectedEntity": event},
        }
        try:
            self._call(partial(self._restful, CAPTURE_MEMBERS, method="POST", json=body))
        except SalesforceError as exc:
            if _transient(exc):
                raise
            if set(error_codes(exc)) & _CAPTURE_TAKEN:
                report.capture_existing.append(entity)
                return None
            refusal, org_wide = capture_refusal(entity, exc)
            report.capture_refused.append(refusal)
            return refusal if org_wide else None
        report.capture_selected.append(entity)
        return None

    # -- the calls -------------------------------------------------------------------------

    def _kw(self) -> dict[str, Any]:
        return {"timeout": self.timeout}

    def _call(self, call: Callable[[], T]) -> T:
        """One API call through the caller; an expired session is renewed once, then retried."""

        def once() -> T:
            client = self.sf
            try:
                return call()
            except SalesforceExpiredSession:
                if not self.renew:
                    raise
                self._forget(client)
                return call()
            except SalesforceError as exc:
                if "REQUEST_LIMIT_EXCEEDED" in error_codes(exc):
                    self._limit_refused = True
                raise

        return self.call(once)

    def _forget(self, expired: Salesforce) -> None:
        """Drop an expired session; the next use logs in again (once, whatever the threads)."""
        with self._login_lock:
            if self._sf is expired:
                log.info("Salesforce session expired; logging in again")
                self._sf = None

    def _query_pages(
        self, soql: str, size: int = QUERY_PAGE, *, deleted: bool = False
    ) -> Iterator[list[dict[str, Any]]]:
        """A query's records a batch at a time, following `nextRecordsUrl`; with `deleted`,
        the recycle bin's too (`queryAll`)."""
        options = {"Sforce-Query-Options": f"batchSize={max(200, min(size, QUERY_PAGE))}"}
        answer = self._call(
            lambda: self.sf.query(soql, include_deleted=deleted, headers=options, **self._kw())
        )
        while True:
            yield list(answer.get("records") or [])
            next_url = answer.get("nextRecordsUrl")
            if answer.get("done", True) or not next_url:
                return
            answer = self._call(partial(self._more, str(next_url), options))

    def _restful(self, path: str, **kwargs: Any) -> Any:
        """A REST call on the session current when it runs (so a renewed one after expiry)."""
        return self.sf.restful(path, timeout=self.timeout, **kwargs)

    def _more(self, url: str, options: dict[str, str]) -> Any:
        return self.sf.query_more(url, identifier_is_url=True, headers=options, **self._kw())

    def _update(self, obj: SfObject, rows: list[dict[str, object]], report: WriteReport) -> None:
        """One sObject Collections PATCH; each record succeeds or fails on its own."""
        if not rows:
            return
        body = {
            "allOrNone": False,
            "records": [
                {
                    "attributes": {"type": obj.name},
                    **{k: v for k, v in row.items() if k != "Id"},
                    "id": row["Id"],
                }
                for row in rows
            ],
        }
        data = orjson.dumps(body)  # a tenth of the time `json=` takes; the client sends JSON
        results = self._call(
            lambda: self.sf.restful(
                "composite/sobjects", method="PATCH", data=data, timeout=self.timeout
            )
        )
        for row, result in zip(rows, results or [], strict=False):
            if result.get("success"):
                report.written += 1
            else:
                errors = result.get("errors") or [{}]
                first = errors[0]
                report.failed[str(row["Id"])] = (
                    f"{first.get('statusCode', 'ERROR')}: {first.get('message', 'refused')}"
                )

    def _select(self, obj: SfObject) -> str:
        """The SELECT list: mapped fields the org has (described once), and the score fields.

        A mapped field the org lacks is left out with a warning, so its
        criteria score as unknown instead of every query failing; a missing
        score field stops the work: nothing could be written back.
        """
        if obj.name not in self._selects:
            self._selects[obj.name] = self._described_select(obj)
        return self._selects[obj.name]

    def _described_select(self, obj: SfObject) -> str:
        describe = self._call(
            lambda: self.sf.restful(f"sobjects/{obj.name}/describe", timeout=self.timeout)
        )
        present = {str(f["name"]).lower() for f in (describe or {}).get("fields") or []}
        written = list(self.score_names.names(obj.kind).values())
        absent = [api for api in written if api.lower() not in present]
        if absent:
            raise MissingFields(
                f"Salesforce {obj.name} has no {', '.join(absent)}: run `icpbot crm setup "
                "salesforce` (or deploy config/salesforce) and grant the ICP_Fields permission set"
            )
        mapped = self.field_map.properties("salesforce", obj.field_object)
        unknown = [api for api in mapped if api.lower() not in present]
        if unknown:
            log.warning(
                "fields.yaml maps %s fields the org does not have (%s); they stay unknown",
                obj.name,
                ", ".join(unknown),
            )
        kept = [api for api in mapped if api.lower() in present]
        self._coercers[obj.name] = self.field_map.coercer("salesforce", obj.field_object, kept)
        return ", ".join(sorted({"Id", "SystemModstamp", *kept, *written}))

    def _kind(self, kind: RecordKind) -> RecordKind:
        """Leads are Salesforce's people: a caller asking for contacts means them."""
        return RecordKind.LEAD if kind.is_person else RecordKind.ACCOUNT

    # -- records ---------------------------------------------------------------------------

    def _records(self, obj: SfObject, rows: list[dict[str, Any]]) -> list[CrmRecord]:
        records = []
        for row in rows:
            record = self._record(obj, row)
            if record is not None:
                records.append(record)
        return records

    def _record(self, obj: SfObject, row: Mapping[str, Any]) -> CrmRecord | None:
        crm_id = str(row["Id"])
        coercer = self._coercers.get(obj.name)
        if coercer is None:
            coercer = self._coercers[obj.name] = self.field_map.coercer(
                "salesforce", obj.field_object
            )
        coerced = coercer(row)
        for problem in coerced.problems:
            log.debug("salesforce %s %s: %s (left unknown)", obj.name, crm_id, problem)
        record = CrmRecord(
            obj.kind,
            "salesforce",
            crm_id,
            coerced.fields,
            self.record_url(obj.kind, crm_id),
            written=self.score_names.held(obj.kind, row),
        )
        if record.key is None:
            what = "email address" if obj.kind.is_person else "website"
            self._note(RowError(f"salesforce {obj.name}", 0, f"{crm_id} has no {what}"))
            return None
        return record

    def _note(self, error: RowError) -> None:
        """Keep the latest skipped records for the report; a long backfill must not hoard."""
        self._errors.append(error)
        if len(self._errors) > 1000:
            del self._errors[:500]

    def _deal(self, row: Mapping[str, Any], churned: frozenset[str]) -> Deal | None:
        """An Opportunity as a deal; None (and named) when its account cannot be told."""
        if row.get("IsDeleted"):  # its account may be gone too: only its id matters now
            return Deal(
                str(row["Id"]),
                None,
                str(row.get("Name") or ""),
                _deal_stage(row, churned),
                None,
                None,
                None,
                deleted=True,
            )
        account = row.get("Account") or {}
        website = account.get("Website")
        domain = normalize_domain(str(website)) if website else None
        if domain is None:
            why = "its Account has no website" if row.get("AccountId") else "has no Account"
            self._note(RowError("salesforce Opportunity", 0, f"{row['Id']} {why}"))
            return None
        stage = _deal_stage(row, churned)
        amount = row.get("Amount")
        return Deal(
            crm_id=str(row["Id"]),
            domain=domain,
            name=str(row.get("Name") or ""),
            stage=stage,
            amount=float(amount) if isinstance(amount, int | float) else None,
            created_at=_instant(row.get("CreatedDate")),
            closed_at=None if stage is DealStage.OPEN else _instant(row.get("CloseDate")),
        )


def _deal_stage(row: Mapping[str, Any], churned: frozenset[str]) -> DealStage:
    """Churned when its `StageName` is one fields.yaml names; else `IsWon` and `IsClosed`."""
    if row.get("StageName") and stage_key(row["StageName"]) in churned:
        return DealStage.CHURNED
    if row.get("IsWon"):
        return DealStage.CLOSED_WON
    return DealStage.CLOSED_LOST if row.get("IsClosed") else DealStage.OPEN


def _instant(value: object) -> datetime | None:
    """Salesforce's datetimes (`2026-11-22T10:00:00.000+0000`) and dates, as aware datetimes."""
    if not isinstance(value, str) or not value:
        return None
    text = value.replace("Z", "+00:00")
    if len(text) == 10:
        return datetime.fromisoformat(text).replace(tzinfo=UTC)
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
