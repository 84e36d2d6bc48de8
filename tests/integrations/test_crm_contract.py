"""One contract for the CRM interface (`integrations.base.Crm`), run over every adapter.

Each test runs against HubSpot (the real SDK over HTTP to `FakeHubSpot`),
Salesforce (real simple-salesforce over TLS to `FakeSalesforce`) and a CSV
directory. A `Harness` hides how each CRM is seeded and inspected, and what
it legitimately does not do: a test that needs a capability an adapter
lacks is skipped for it, with the reason the harness states.

Where "write only what differs" lives: no adapter compares in
`write_scores` (it writes every update it is given). Live adapters read what
the CRM holds in icpbot's own fields into `CrmRecord.written`, in
`ScoreFields.comparable()` form, and the caller (`bot.sync.tagging`) sends
only the updates that differ from it. So the contract tested here is that
`written` tells the truth about the CRM, and that what a caller then sends
(nothing, or only what differs) is all that reaches the CRM.

Deals are seeded in each CRM's own words (HubSpot's `dealstage` ids, whose
closed and won flags the fake calculates; Salesforce's `StageName`, `IsWon`
and `IsClosed`; deals.csv's canonical stages) and read back as `DealStage`s.
Churn is a stage the contract's fields.yaml names: by label for HubSpot (its
stage id is looked up), by `StageName` for Salesforce.
"""

from __future__ import annotations

import abc
import contextlib
import csv
import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from integrations.base import Crm, LiveCrm, ScoreFields, ScoreUpdate
from integrations.csv import CsvCrm
from integrations.fieldmap import FieldMap, parse_field_map
from integrations.hubspot import HubSpotCrm, make_client
from integrations.hubspot import classify as hubspot_classify
from integrations.ratelimit import RateLimiter
from integrations.records import CrmRecord, RecordKind
from integrations.retries import CrmCaller, RetryPolicy
from integrations.salesforce import SalesforceCrm, token_connection
from integrations.salesforce import classify as salesforce_classify
from scoring.model import DealStage
from tests.fakes.hubspot import FakeHubSpot
from tests.fakes.salesforce import ID_PREFIX, FakeSalesforce, Field, case_safe

NOW = datetime(2026, 11, 20, 9, 30, tzinfo=UTC)
FAST = RetryPolicy(attempts=3, max_seconds=10, initial=0.01, max_backoff=0.05)
SCORE_KEYS = ("score", "tier", "profile", "reasons", "version", "persona_score")
NOTHING_HELD = dict.fromkeys(SCORE_KEYS, "")
# SPEC §4: HubSpot's property names, which scores.csv's columns share.
ICP_NAMES = {
    "score": "icp_score",
    "tier": "icp_tier",
    "profile": "icp_profile",
    "reasons": "icp_reasons",
    "version": "icp_version",
    "scored_at": "icp_scored_at",
    "persona_score": "icp_persona_score",
}

# The shipped defaults, plus Salesforce's custom technologies field (HubSpot maps its own),
# and each CRM's churn stage.
FIELDS_YAML = """
hubspot:
  deal:
    churned_stages: [Churned]
salesforce:
  account:
    technologies: Technologies__c
  opportunity:
    churned_stages: [Churned]
"""
WON, LOST, CHURNED, OPEN = (
    DealStage.CLOSED_WON,
    DealStage.CLOSED_LOST,
    DealStage.CHURNED,
    DealStage.OPEN,
)
CREATED = "2026-09-01"


def field_map() -> FieldMap:
    fields, problems = parse_field_map(FIELDS_YAML, source="contract fields.yaml")
    assert not problems
    return fields


# -- the harness: one per adapter ------------------------------------------------------------


class Harness(abc.ABC):
    """An adapter pointed at its CRM, and the adapter-neutral hooks the contract needs."""

    name: str
    crm: Crm
    # Capabilities this adapter does not have, each with the reason it legitimately lacks it.
    lacks: Mapping[str, str] = {}
    # How the CRM words its refusal of a write to a record it no longer has.
    refused_because: str = ""
    # The page size to ask for so that `pages()` yields more than one page of a few records.
    page_size: int = 2

    @property
    def person_kind(self) -> RecordKind:
        return self.crm.person_kind

    @property
    def live(self) -> LiveCrm:
        assert isinstance(self.crm, LiveCrm)
        return self.crm

    def require(self, capability: str) -> None:
        """Skip the test for an adapter that legitimately lacks `capability`."""
        if capability in self.lacks:
            pytest.skip(f"{self.name}: {self.lacks[capability]}")

    def add(self, kind: RecordKind, **fields: object) -> str:
        return self.add_person(**fields) if kind.is_person else self.add_account(**fields)

    def read(self, kind: RecordKind) -> list[CrmRecord]:
        """Every account, or every person, as the adapter streams them."""
        return list(self.crm.people() if kind.is_person else self.crm.accounts())

    @abc.abstractmethod
    def add_account(self, **fields: object) -> str:
        """An account with these canonical fields, as the CRM would hold them; returns what
        an error about its row says to name it (its id, or its line in a file)."""

    @abc.abstractmethod
    def add_person(self, **fields: object) -> str:
        """A contact or lead with these canonical fields, as the CRM would hold them; returns
        what an error about its row says to name it."""

    @abc.abstractmethod
    def add_deal(
        self,
        name: str,
        *,
        account: str | None,
        stage: DealStage,
        amount: float | None = None,
        created: str | None = CREATED,
        closed: str | None = None,
    ) -> str:
        """A deal of the account added with this `domain` (None: of no account), its stage
        in the CRM's own words, created on `created` (None: now); returns what an error
        about it says to name it."""

    def move_deal(self, deal: str, stage: DealStage, closed: str) -> None:
        """Someone moves a deal (as `add_deal` named it) to another stage in the CRM."""
        raise NotImplementedError(self.name)

    @abc.abstractmethod
    def held(self, kind: RecordKind, crm_id: str) -> dict[str, object]:
        """What the CRM holds in the score fields: `comparable()` text, and `scored_at`."""

    @abc.abstractmethod
    def sent(self) -> list[str]:
        """The ids of every record that a write so far sent to the CRM, in order."""

    @abc.abstractmethod
    def write_calls(self) -> int:
        """How many writes reached the CRM (requests; for a CSV, rows appended)."""

    def missing_id(self, kind: RecordKind) -> str:
        """An id of the CRM's own form that it does not hold: a record deleted there since
        it was read (neither fake can delete a record, so an id never used stands for one)."""
        raise NotImplementedError(self.name)

    def edit_tier(self, crm_id: str, tier: str) -> None:
        """Someone changes an account's ICP tier in the CRM itself."""
        raise NotImplementedError(self.name)

    def reformat_held(self, crm_id: str) -> None:
        """An account's held scores as the CRM itself hands values back (its number and
        line-end forms), the same values as icpbot wrote."""
        raise NotImplementedError(self.name)


def _text(value: object) -> str:
    """A held value as text: numbers without a needless `.0`, nothing as empty text."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).replace("\r\n", "\n")


def _moment(value: object) -> datetime | None:
    if value is None or value == "":
        return None
    text = str(value)
    if text.isdigit():
        return datetime.fromtimestamp(int(text) / 1000, tz=UTC)
    return datetime.fromisoformat(text.replace("Z", "+00:00").replace("+0000", "+00:00"))


def _wire(value: object) -> str:
    """A canonical seed value as a CRM's text property holds it: lists `;`-separated."""
    return ";".join(value) if isinstance(value, list) else str(value)


def _hs_date(day: str | None) -> str | None:
    """A date as HubSpot's datetime properties hold one: midnight UTC, in milliseconds."""
    return None if day is None else f"{day}T00:00:00.000Z"


def _held(values: Mapping[str, Any], names: Mapping[str, str]) -> dict[str, object]:
    held: dict[str, object] = {key: _text(values.get(names[key])) for key in SCORE_KEYS}
    held["scored_at"] = _moment(values.get(names["scored_at"]))
    return held


def _caller(crm: str, classify: Callable[[BaseException], Any]) -> CrmCaller:
    return CrmCaller(crm=crm, limiter=RateLimiter(1000, 10.0), classify=classify, policy=FAST)


class HubSpotHarness(Harness):
    name = "hubspot"
    refused_because = r"^HTTP 400: Could not update company objects .* may be deleted"
    COMPANY = {
        "domain": "domain",
        "name": "name",
        "industry": "industry",
        "employees": "numberofemployees",
        "annual_revenue": "annualrevenue",
        "country": "country",
        "technologies": "web_technologies",
    }
    CONTACT = {
        "email": "email",
        "first_name": "firstname",
        "last_name": "lastname",
        "job_title": "jobtitle",
    }
    SCORES = ICP_NAMES
    CHURNED_STAGE = "87654321"  # a stage of the team's own: fields.yaml names it by label
    STAGES = {WON: "closedwon", LOST: "closedlost", CHURNED: CHURNED_STAGE, OPEN: "qualifiedtobuy"}

    def __init__(self, fake: FakeHubSpot) -> None:
        self.fake = fake
        self.companies: dict[str, str] = {}  # id by the domain it was added with
        fake.add_deal_stage(self.CHURNED_STAGE, "Churned", probability=0.0, closed=True)
        self.crm = HubSpotCrm(
            client=make_client(access_token=fake.token, host=fake.url + "/"),
            caller=_caller("hubspot", hubspot_classify),
            field_map=field_map(),
            portal_id="4242",
            timeout=(2.0, 5.0),
        )
        self.crm.setup()  # the portal has the icp_* properties (`icpbot crm setup hubspot`)

    def add_account(self, **fields: object) -> str:
        company = self.fake.add_company({self.COMPANY[k]: _wire(v) for k, v in fields.items()})
        self.companies[str(fields.get("domain"))] = company
        return company

    def add_person(self, **fields: object) -> str:
        return self.fake.add_contact({self.CONTACT[k]: _wire(v) for k, v in fields.items()})

    def add_deal(
        self,
        name: str,
        *,
        account: str | None,
        stage: DealStage,
        amount: float | None = None,
        created: str | None = CREATED,
        closed: str | None = None,
    ) -> str:
        props = {"dealname": name, "dealstage": self.STAGES[stage], "createdate": created}
        props.update(amount=None if amount is None else f"{amount:g}", closedate=_hs_date(closed))
        company = self.companies[account] if account is not None else None
        return self.fake.add_deal(props, company_id=company)

    def move_deal(self, deal: str, stage: DealStage, closed: str) -> None:
        self.fake.update_deal(
            deal, {"dealstage": self.STAGES[stage], "closedate": _hs_date(closed)}
        )

    def held(self, kind: RecordKind, crm_id: str) -> dict[str, object]:
        props = self.fake.contact(crm_id) if kind.is_person else self.fake.company(crm_id)
        return _held(props, self.SCORES)

    def _writes(self) -> list[Any]:
        return [r for r in self.fake.requests if r.path.endswith("/batch/update")]

    def sent(self) -> list[str]:
        return [str(i["id"]) for r in self._writes() for i in r.body["inputs"]]

    def write_calls(self) -> int:
        return len(self._writes())

    def missing_id(self, kind: RecordKind) -> str:
        return "987654321"

    def edit_tier(self, crm_id: str, tier: str) -> None:
        self.fake.update_company(crm_id, {"icp_tier": tier})

    def reformat_held(self, crm_id: str) -> None:
        props = self.fake.company(crm_id)
        self.fake.update_company(
            crm_id,
            {
                "icp_score": f"{float(props['icp_score'] or 0):.1f}",
                "icp_version": f"{float(props['icp_version'] or 0):.1f}",
                "icp_reasons": (props["icp_reasons"] or "").replace("\n", "\r\n"),
            },
        )


class SalesforceHarness(Harness):
    name = "salesforce"
    refused_because = r"^ENTITY_IS_DELETED: "
    page_size = 200  # Salesforce answers queries 200 records a batch at the least
    ACCOUNT = {
        "domain": "Website",
        "name": "Name",
        "industry": "Industry",
        "employees": "NumberOfEmployees",
        "annual_revenue": "AnnualRevenue",
        "country": "BillingCountry",
        "technologies": "Technologies__c",
    }
    LEAD = {
        "email": "Email",
        "first_name": "FirstName",
        "last_name": "LastName",
        "job_title": "Title",
    }
    SCORES = {
        "score": "ICP_Score__c",
        "tier": "ICP_Tier__c",
        "profile": "ICP_Profile__c",
        "reasons": "ICP_Reasons__c",
        "version": "ICP_Version__c",
        "scored_at": "ICP_Scored_At__c",
        "persona_score": "ICP_Persona_Score__c",
    }
    NUMBERS = {"NumberOfEmployees", "AnnualRevenue"}
    # StageName, IsWon, IsClosed; the org's own Churned stage counts as won, as some do.
    STAGES = {
        WON: ("Closed Won", True, True),
        LOST: ("Closed Lost", False, True),
        CHURNED: ("Churned", True, True),
        OPEN: ("Prospecting", False, False),
    }

    def __init__(self, fake: FakeSalesforce) -> None:
        self.fake = fake
        self.accounts: dict[str, str] = {}  # id by the domain it was added with
        self.crm = SalesforceCrm(
            connect=lambda: token_connection(
                instance_url=fake.url, access_token="test-token", version="62.0"
            ),
            caller=_caller("salesforce", salesforce_classify),
            field_map=field_map(),
            timeout=(2.0, 5.0),
        )

    def _values(self, names: Mapping[str, str], fields: Mapping[str, object]) -> dict[str, object]:
        """Salesforce holds numbers as JSON numbers and everything else as text."""
        values = {names[k]: v for k, v in fields.items()}
        return {k: v if k in self.NUMBERS else _wire(v) for k, v in values.items()}

    def add_account(self, **fields: object) -> str:
        account = self.fake.add("Account", self._values(self.ACCOUNT, fields))
        self.accounts[str(fields.get("domain"))] = account
        return account

    def add_person(self, **fields: object) -> str:
        return self.fake.add("Lead", self._values(self.LEAD, fields))

    def add_deal(
        self,
        name: str,
        *,
        account: str | None,
        stage: DealStage,
        amount: float | None = None,
        created: str | None = CREATED,
        closed: str | None = None,
    ) -> str:
        values: dict[str, object] = {"Name": name, "Amount": amount, "CloseDate": closed}
        values.update(self._stage(stage))
        if account is not None:
            values["AccountId"] = self.accounts[account]
        moment = None if created is None else datetime.fromisoformat(created).replace(tzinfo=UTC)
        return self.fake.add("Opportunity", values, created=moment)

    def move_deal(self, deal: str, stage: DealStage, closed: str) -> None:
        self.fake.touch("Opportunity", deal, CloseDate=closed, **self._stage(stage))

    def _stage(self, stage: DealStage) -> dict[str, object]:
        name, won, closed = self.STAGES[stage]
        return {"StageName": name, "IsWon": won, "IsClosed": closed}

    def held(self, kind: RecordKind, crm_id: str) -> dict[str, object]:
        return _held(self.fake.row("Lead" if kind.is_person else "Account", crm_id), self.SCORES)

    def _writes(self) -> list[Any]:
        return [r for r in self.fake.requests() if r.method == "PATCH" and "/sobjects" in r.path]

    def sent(self) -> list[str]:
        return [str(rec["id"]) for r in self._writes() for rec in r.body["records"]]

    def write_calls(self) -> int:
        return len(self._writes())

    def missing_id(self, kind: RecordKind) -> str:
        return case_safe(ID_PREFIX["Lead" if kind.is_person else "Account"] + "9" * 12)

    def edit_tier(self, crm_id: str, tier: str) -> None:
        self.fake.touch("Account", crm_id, ICP_Tier__c=tier)

    def reformat_held(self, crm_id: str) -> None:
        row = self.fake.row("Account", crm_id)
        self.fake.touch(
            "Account",
            crm_id,
            ICP_Score__c=float(row["ICP_Score__c"]),
            ICP_Version__c=float(row["ICP_Version__c"]),
            ICP_Reasons__c=str(row["ICP_Reasons__c"]).replace("\n", "\r\n"),
        )


class CsvHarness(Harness):
    name = "csv"
    lacks = {
        "live": "CsvCrm is a file, not a LiveCrm: nothing is fetched by id or changes by time",
        "held_scores": "CsvCrm reads no score fields back (CrmRecord.written is None): its "
        "caller compares with the scores it stored, and write_scores appends what it is given",
        "refusal": "scores.csv takes every row it is given: no CSV record can refuse a write",
        "links": "a CSV has no UI to link to: record_url is Crm's default, None",
    }
    SCORES = ICP_NAMES

    def __init__(self, directory: Path) -> None:
        directory.mkdir()
        self.directory = directory
        self.rows: dict[str, list[dict[str, object]]] = {
            "companies.csv": [],
            "contacts.csv": [],
            "deals.csv": [],
        }
        self.crm = CsvCrm(directory, types=field_map().types)

    def _add(self, filename: str, key: str, fields: Mapping[str, object]) -> str:
        """The file rewritten with one more row; its line number names it (the header is 1)."""
        rows = self.rows[filename]
        rows.append(dict(fields))
        header = list(dict.fromkeys([key, *(name for row in rows for name in row)]))
        with (self.directory / filename).open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(header)
            writer.writerows([_wire(row.get(k, "")) for k in header] for row in rows)
        return f"row {len(rows) + 1}:"

    def add_account(self, **fields: object) -> str:
        return self._add("companies.csv", "domain", fields)

    def add_person(self, **fields: object) -> str:
        return self._add("contacts.csv", "email", fields)

    def add_deal(
        self,
        name: str,
        *,
        account: str | None,
        stage: DealStage,
        amount: float | None = None,
        created: str | None = CREATED,
        closed: str | None = None,
    ) -> str:
        row = {
            "deal_id": f"deal-{len(self.rows['deals.csv']) + 1}",
            "domain": account or "",
            "name": name,
            "stage": stage.value,
            "amount": "" if amount is None else amount,
            "created_at": created or NOW.date().isoformat(),
            "closed_at": closed or "",
        }
        return self._add("deals.csv", "deal_id", row)

    def _scores(self) -> list[dict[str, str]]:
        path = self.directory / "scores.csv"
        if not path.exists():
            return []
        with path.open(newline="", encoding="utf-8") as handle:
            return list(csv.DictReader(handle))

    def held(self, kind: RecordKind, crm_id: str) -> dict[str, object]:
        rows = [r for r in self._scores() if (r["kind"], r["id"]) == (kind.value, crm_id)]
        return _held(rows[-1] if rows else {}, self.SCORES)

    def sent(self) -> list[str]:
        return [row["id"] for row in self._scores()]

    def write_calls(self) -> int:
        return len(self._scores())


@contextlib.contextmanager
def _hubspot(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Harness]:
    with FakeHubSpot(rate_limit=None) as fake:
        yield HubSpotHarness(fake)


@contextlib.contextmanager
def _salesforce(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Harness]:
    technologies = Field("Technologies__c", "string", custom=True)
    with FakeSalesforce(custom_fields={"Account": (technologies,)}) as fake:
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", fake.ca_file)
        yield SalesforceHarness(fake)


@contextlib.contextmanager
def _csv(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Harness]:
    yield CsvHarness(tmp_path / "crm")


HARNESSES = {"hubspot": _hubspot, "salesforce": _salesforce, "csv": _csv}


@pytest.fixture(params=list(HARNESSES))
def h(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Harness]:
    with HARNESSES[request.param](tmp_path, monkeypatch) as harness:
        yield harness


# -- helpers ---------------------------------------------------------------------------------


def score(value: int = 87, tier: str = "A", *, at: datetime = NOW) -> ScoreFields:
    return ScoreFields(value, tier, "midmarket-saas", "SaaS\nHubSpot user", 7, at)


def persona(value: int = 60, *, at: datetime = NOW) -> ScoreFields:
    return ScoreFields(87, "A", "midmarket-saas", "VP Sales", 7, at, persona_score=value)


def expected(fields: ScoreFields) -> dict[str, object]:
    return {**fields.comparable(), "scored_at": fields.scored_at}


def keys(records: Iterable[CrmRecord]) -> list[str]:
    """The records' keys, in order; every record read has one."""
    out = []
    for record in records:
        assert record.key is not None
        out.append(record.key)
    return out


def by_key(records: Iterable[CrmRecord]) -> dict[str, CrmRecord]:
    out: dict[str, CrmRecord] = {}
    for record in records:
        assert record.key is not None and record.key not in out
        out[record.key] = record
    return out


def differing(records: Iterable[CrmRecord], scores: Mapping[str, ScoreFields]) -> list[ScoreUpdate]:
    """What a caller sends back: the updates whose fields differ from what the CRM holds.

    This is the protocol of `CrmRecord.written` (bot.sync.tagging follows it).
    """
    return [
        ScoreUpdate(r.kind, r.crm_id, scores[r.crm_id])
        for r in records
        if r.crm_id in scores and r.written != scores[r.crm_id].comparable()
    ]


def seed_accounts(h: Harness, *domains: str) -> dict[str, str]:
    """Accounts on these domains; their crm_id by domain, as the CRM reads them."""
    for domain in domains:
        h.add_account(domain=domain, name=domain.split(".")[0].title())
    return {key: r.crm_id for key, r in by_key(h.crm.accounts()).items()}


# -- reading ---------------------------------------------------------------------------------


def test_accounts_are_canonical_records(h: Harness) -> None:
    h.add_account(
        domain="https://www.Acme.co.uk/pricing",
        name="Acme",
        employees=1200,
        annual_revenue=12_500_000,
        technologies=["hubspot", "slack"],
        country="United Kingdom",
    )
    h.add_account(domain="initech.com", name="Initech", employees=45)
    records = by_key(h.crm.accounts())
    assert sorted(records) == ["acme.co.uk", "initech.com"]
    acme = records["acme.co.uk"]
    assert acme.kind is RecordKind.ACCOUNT
    assert acme.crm == h.name
    assert acme.domain == "acme.co.uk"
    wanted = {"domain": "acme.co.uk", "name": "Acme", "employees": 1200}
    assert {name: acme.fields.get(name) for name in wanted} == wanted
    assert acme.fields["annual_revenue"] == 12_500_000
    assert type(acme.fields["employees"]) is int
    assert acme.fields["technologies"] == ["hubspot", "slack"]
    assert acme.fields["country"] == "GB"
    assert records["initech.com"].fields["employees"] == 45
    assert h.crm.errors() == []


def test_people_are_canonical_records(h: Harness) -> None:
    h.add_person(
        email="Dana.Ng@Acme.CO.UK", first_name="Dana", last_name="Ng", job_title="VP Sales"
    )
    h.add_person(email=" sam@gmail.com ", last_name="Sam")
    records = by_key(h.crm.people())
    assert sorted(records) == ["dana.ng@acme.co.uk", "sam@gmail.com"]
    dana = records["dana.ng@acme.co.uk"]
    assert dana.kind is h.person_kind
    assert dana.kind.is_person
    assert dana.fields["email"] == "dana.ng@acme.co.uk"
    assert dana.fields["job_title"] == "VP Sales"
    assert dana.domain == "acme.co.uk"  # the email finds its account
    assert records["sam@gmail.com"].domain is None  # free mail belongs to no account
    assert h.crm.errors() == []


@pytest.mark.parametrize(
    ("kind", "key", "good", "keyless"),
    [
        (RecordKind.ACCOUNT, "domain", ["acme.com", "initech.com"], {"name": "No Website Ltd"}),
        (
            RecordKind.CONTACT,
            "email",
            ["dana@acme.com", "sam@initech.com"],
            {"first_name": "No", "last_name": "Email"},
        ),
    ],
    ids=["account", "person"],
)
def test_a_record_without_a_key_is_reported_by_row_and_the_rest_read(
    h: Harness, kind: RecordKind, key: str, good: list[str], keyless: dict[str, str]
) -> None:
    h.add(kind, **{key: good[0]})
    missing = h.add(kind, **keyless)
    h.add(kind, **{key: good[1]})
    assert sorted(by_key(h.read(kind))) == good
    (error,) = h.crm.errors()
    assert missing in str(error)


def test_pages_resume_after_a_cursor(h: Harness) -> None:
    domains = [f"c{n}.com" for n in range(h.page_size + 1)]
    for domain in domains:
        h.add_account(domain=domain)
    pages = list(h.crm.pages(RecordKind.ACCOUNT, size=h.page_size))
    paged = keys(r for page in pages for r in page.records)
    assert sorted(paged) == sorted(domains)
    assert paged == keys(h.crm.accounts())  # the pages hold what the stream holds
    assert len([p for p in pages if p.records]) >= 2
    done = 0
    for page in pages:
        done += len(page.records)
        if page.after is None:  # None: it was the last
            assert done == len(paged)
            continue
        resumed = h.crm.pages(RecordKind.ACCOUNT, after=page.after, size=h.page_size)
        assert keys(r for p in resumed for r in p.records) == paged[done:]


def test_people_page_and_resume_too(h: Harness) -> None:
    emails = [f"p{n}@acme.com" for n in range(3)]
    for email in emails:
        h.add_person(email=email)
    first = next(h.crm.pages(h.person_kind, size=1))
    assert first.after is not None
    rest = keys(r for p in h.crm.pages(h.person_kind, after=first.after) for r in p.records)
    assert keys(first.records) + rest == keys(h.crm.people())
    assert sorted(keys(first.records) + rest) == emails


# -- keys ------------------------------------------------------------------------------------


def test_the_same_record_read_twice_has_the_same_id_and_key(h: Harness) -> None:
    for n in range(3):
        h.add_account(domain=f"https://www.c{n}.com/", name=f"C{n}")
        h.add_person(email=f"P{n}@C{n}.com")
    for read in (h.crm.accounts, h.crm.people):
        first = [(r.crm_id, r.key) for r in read()]
        second = [(r.crm_id, r.key) for r in read()]
        assert len(first) == 3
        assert sorted(first) == sorted(second)
        assert len({crm_id for crm_id, _ in first}) == 3


def test_records_carry_their_record_url(h: Harness) -> None:
    h.add_account(domain="acme.com")
    h.add_person(email="dana@acme.com")
    for record in [*h.crm.accounts(), *h.crm.people()]:
        assert record.url == h.crm.record_url(record.kind, record.crm_id)


# -- fetch (live CRMs) -----------------------------------------------------------------------


def test_fetch_returns_the_records_asked_for_and_omits_unknown_ids(h: Harness) -> None:
    h.require("live")
    ids = seed_accounts(h, "acme.com", "initech.com", "globex.com")
    wanted = [ids["acme.com"], h.missing_id(RecordKind.ACCOUNT), ids["globex.com"]]
    fetched = h.live.fetch(RecordKind.ACCOUNT, wanted)
    assert sorted((r.crm_id, r.key) for r in fetched) == sorted(
        [(ids["acme.com"], "acme.com"), (ids["globex.com"], "globex.com")]
    )
    h.add_person(email="Dana@Acme.com")
    (dana,) = h.crm.people()
    (again,) = h.live.fetch(h.person_kind, [h.missing_id(h.person_kind), dana.crm_id])
    assert (again.kind, again.crm_id, again.key) == (dana.kind, dana.crm_id, "dana@acme.com")
    assert h.live.fetch(RecordKind.ACCOUNT, [h.missing_id(RecordKind.ACCOUNT)]) == []


def test_modified_since_lists_what_changed_at_or_after_oldest_first(h: Harness) -> None:
    h.require("live")
    ids = seed_accounts(h, "acme.com", "initech.com", "globex.com")
    time.sleep(0.01)
    since = datetime.now(UTC)
    for domain in ("globex.com", "acme.com"):  # written in this order: globex changed first
        time.sleep(0.005)
        h.crm.write_scores([ScoreUpdate(RecordKind.ACCOUNT, ids[domain], score())])
    changed = list(h.live.modified_since(RecordKind.ACCOUNT, since))
    assert [crm_id for crm_id, _ in changed] == [ids["globex.com"], ids["acme.com"]]
    assert all(at >= since - timedelta(milliseconds=1) for _, at in changed)
    assert changed[0][1] <= changed[1][1]
    last = changed[-1][1]
    assert [i for i, _ in h.live.modified_since(RecordKind.ACCOUNT, last)] == [ids["acme.com"]]


def test_find_accounts_by_exact_domain_or_name(h: Harness) -> None:
    h.require("live")
    ids = seed_accounts(h, "acme.com", "notacme.com", "initech.com")
    assert [r.crm_id for r in h.live.find_accounts(domain="acme.com")] == [ids["acme.com"]]
    assert [r.crm_id for r in h.live.find_accounts(name="Initech")] == [ids["initech.com"]]
    assert h.live.find_accounts(domain="acme") == []
    assert h.live.find_accounts(name="Acme' OR Name != '") == []
    assert h.live.count(RecordKind.ACCOUNT) in (3, None)  # a total for a progress bar, if cheap


HUBSPOT_FINDS_THE_PROPERTY_TEXT = pytest.mark.xfail(
    strict=True,
    reason="HubSpotCrm.find_accounts searches `domain` EQ the text, so a company whose domain "
    "property holds a URL (read by accounts() as acme.com) is not found by domain acme.com",
)


@pytest.mark.parametrize(
    "h",
    [pytest.param("hubspot", marks=HUBSPOT_FINDS_THE_PROPERTY_TEXT), "salesforce", "csv"],
    indirect=True,
)
def test_find_accounts_finds_the_domain_a_record_reads_with(h: Harness) -> None:
    h.require("live")
    h.add_account(domain="https://www.Acme.com/pricing", name="Acme")
    h.add_account(domain="https://notacme.com", name="Not Acme")
    ids = {key: r.crm_id for key, r in by_key(h.crm.accounts()).items()}
    assert [r.crm_id for r in h.live.find_accounts(domain="acme.com")] == [ids["acme.com"]]


# -- write-back ------------------------------------------------------------------------------


def test_write_scores_sets_the_score_fields(h: Harness) -> None:
    ids = seed_accounts(h, "acme.com", "initech.com")
    h.add_person(email="dana@acme.com")
    (dana,) = h.crm.people()
    updates = [
        ScoreUpdate(RecordKind.ACCOUNT, ids["acme.com"], score(87, "A")),
        ScoreUpdate(RecordKind.ACCOUNT, ids["initech.com"], score(41, "C")),
        ScoreUpdate(dana.kind, dana.crm_id, persona(60)),
    ]
    report = h.crm.write_scores(updates)
    assert (report.written, report.failed) == (3, {})
    assert h.held(RecordKind.ACCOUNT, ids["acme.com"]) == expected(score(87, "A"))
    assert h.held(RecordKind.ACCOUNT, ids["initech.com"]) == expected(score(41, "C"))
    assert h.held(dana.kind, dana.crm_id) == expected(persona(60))
    assert sorted(h.sent()) == sorted(u.crm_id for u in updates)


def test_a_person_whose_company_is_unknown_gets_only_the_persona_fit(h: Harness) -> None:
    h.add_person(email="sam@gmail.com")
    (sam,) = h.crm.people()
    only_persona = ScoreFields(None, None, None, "", 7, NOW, persona_score=40)
    report = h.crm.write_scores([ScoreUpdate(sam.kind, sam.crm_id, only_persona)])
    assert (report.written, report.failed) == (1, {})
    assert h.held(sam.kind, sam.crm_id) == expected(only_persona)


def test_a_field_that_becomes_empty_is_cleared(h: Harness) -> None:
    ids = seed_accounts(h, "acme.com")
    h.crm.write_scores([ScoreUpdate(RecordKind.ACCOUNT, ids["acme.com"], score())])
    disqualified = ScoreFields(0, "DQ", None, "", 8, NOW + timedelta(hours=1))
    h.crm.write_scores([ScoreUpdate(RecordKind.ACCOUNT, ids["acme.com"], disqualified)])
    held = h.held(RecordKind.ACCOUNT, ids["acme.com"])
    assert held == expected(disqualified)
    assert (held["profile"], held["reasons"]) == ("", "")


def test_nothing_to_write_makes_no_write(h: Harness) -> None:
    seed_accounts(h, "acme.com")
    report = h.crm.write_scores([])
    assert (report.written, report.failed) == (0, {})
    assert h.write_calls() == 0 and h.sent() == []


def test_what_was_written_reads_back_as_what_the_crm_holds(h: Harness) -> None:
    h.require("held_scores")
    ids = seed_accounts(h, "acme.com", "initech.com")
    h.add_person(email="dana@acme.com")
    assert all(r.written == NOTHING_HELD for r in [*h.crm.accounts(), *h.crm.people()])
    (dana,) = h.crm.people()
    h.crm.write_scores(
        [
            ScoreUpdate(RecordKind.ACCOUNT, ids["acme.com"], score(87, "A")),
            ScoreUpdate(dana.kind, dana.crm_id, persona(60)),
        ]
    )
    accounts = by_key(h.crm.accounts())
    assert accounts["acme.com"].written == score(87, "A").comparable()
    assert accounts["initech.com"].written == NOTHING_HELD
    (dana,) = h.crm.people()
    assert dana.written == persona(60).comparable()


def test_writing_what_the_crm_already_holds_makes_no_write_call(h: Harness) -> None:
    h.require("held_scores")
    ids = seed_accounts(h, "acme.com", "initech.com")
    h.add_person(email="dana@acme.com")
    (dana,) = h.crm.people()
    first = {
        ids["acme.com"]: score(87, "A"),
        ids["initech.com"]: score(41, "C"),
        dana.crm_id: persona(60),
    }
    updates = differing([*h.crm.accounts(), *h.crm.people()], first)
    assert h.crm.write_scores(updates).written == 3
    calls = h.write_calls()
    # The same results a day later: only `scored_at` moved, which is not worth a write.
    later = {crm_id: _later(fields) for crm_id, fields in first.items()}
    again = differing([*h.crm.accounts(), *h.crm.people()], later)
    assert again == []
    report = h.crm.write_scores(again)
    assert (report.written, report.failed) == (0, {})
    assert h.write_calls() == calls


def _later(fields: ScoreFields) -> ScoreFields:
    return ScoreFields(
        fields.score,
        fields.tier,
        fields.profile,
        fields.reasons,
        fields.version,
        fields.scored_at + timedelta(days=1),
        fields.persona_score,
    )


def test_only_what_differs_from_the_crm_is_written(h: Harness) -> None:
    h.require("held_scores")
    ids = seed_accounts(h, "acme.com", "initech.com", "globex.com")
    scores = dict.fromkeys(ids.values(), score(87, "A"))
    h.crm.write_scores(differing(h.crm.accounts(), scores))
    before = len(h.sent())
    scores[ids["initech.com"]] = score(55, "B")  # re-scored: the result changed
    h.edit_tier(ids["globex.com"], "D")  # someone changed the tier in the CRM itself
    updates = differing(h.crm.accounts(), scores)
    report = h.crm.write_scores(updates)
    assert (report.written, report.failed) == (2, {})
    assert sorted(h.sent()[before:]) == sorted([ids["initech.com"], ids["globex.com"]])
    assert h.held(RecordKind.ACCOUNT, ids["initech.com"]) == expected(score(55, "B"))
    assert h.held(RecordKind.ACCOUNT, ids["globex.com"]) == expected(score(87, "A"))
    assert differing(h.crm.accounts(), scores) == []


def test_values_in_the_crms_own_forms_compare_equal_to_what_was_written(h: Harness) -> None:
    h.require("held_scores")
    ids = seed_accounts(h, "acme.com")
    scores = {ids["acme.com"]: score()}
    h.crm.write_scores(differing(h.crm.accounts(), scores))
    h.reformat_held(ids["acme.com"])  # 87.0 for 87, CRLF line ends
    assert differing(h.crm.accounts(), scores) == []


def test_a_refused_record_is_named_with_the_crms_reason_and_the_rest_written(
    h: Harness,
) -> None:
    h.require("refusal")
    ids = seed_accounts(h, "acme.com", "initech.com", "globex.com")
    gone = h.missing_id(RecordKind.ACCOUNT)  # deleted in the CRM since it was read
    order = [ids["acme.com"], gone, ids["initech.com"], ids["globex.com"]]
    report = h.crm.write_scores([ScoreUpdate(RecordKind.ACCOUNT, i, score()) for i in order])
    assert report.written == 3
    assert list(report.failed) == [gone]
    assert re.search(h.refused_because, report.failed[gone]), report.failed[gone]
    for crm_id in ids.values():
        assert h.held(RecordKind.ACCOUNT, crm_id) == expected(score())


# -- links -----------------------------------------------------------------------------------


def test_record_url_links_to_the_record_in_the_crm(h: Harness) -> None:
    h.require("links")
    ids = seed_accounts(h, "acme.com", "initech.com")
    h.add_person(email="dana@acme.com")
    (dana,) = h.crm.people()
    urls = [h.crm.record_url(RecordKind.ACCOUNT, i) for i in ids.values()]
    urls.append(h.crm.record_url(dana.kind, dana.crm_id))
    for url, crm_id in zip(urls, [*ids.values(), dana.crm_id], strict=True):
        assert url is not None and url.startswith("https://") and crm_id in url
    assert len(set(urls)) == 3


# -- deals -----------------------------------------------------------------------------------


def test_deals_are_read_with_their_outcome_and_their_accounts_domain(h: Harness) -> None:
    h.add_account(domain="https://www.Acme.com/", name="Acme")
    h.add_account(domain="initech.com", name="Initech")
    acme = "https://www.Acme.com/"
    h.add_deal("Acme won", account=acme, stage=WON, amount=5000, closed="2026-10-01")
    h.add_deal("Initech lost", account="initech.com", stage=LOST, closed="2026-10-02")
    h.add_deal("Acme churned", account=acme, stage=CHURNED, closed="2026-06-30")
    h.add_deal("Initech open", account="initech.com", stage=OPEN, closed="2027-01-31")
    deals = {d.name: d for d in h.crm.deals()}
    assert {name: (d.domain, d.stage) for name, d in deals.items()} == {
        "Acme won": ("acme.com", WON),
        "Initech lost": ("initech.com", LOST),
        "Acme churned": ("acme.com", CHURNED),  # the stage fields.yaml names as churn
        "Initech open": ("initech.com", OPEN),
    }
    won = deals["Acme won"]
    assert (won.amount, deals["Initech lost"].amount) == (5000.0, None)
    assert won.created_at == datetime(2026, 9, 1, tzinfo=UTC)
    assert won.closed_at == datetime(2026, 10, 1, tzinfo=UTC)
    assert deals["Acme churned"].closed_at == datetime(2026, 6, 30, tzinfo=UTC)
    assert deals["Initech open"].closed_at is None  # an open deal's close date is a forecast
    ids = sorted(d.crm_id for d in deals.values())
    assert len(set(ids)) == 4
    assert sorted(d.crm_id for d in h.crm.deals()) == ids  # read again: the same ids
    assert h.crm.errors() == []


def test_a_deal_without_an_account_is_skipped_and_named_and_the_rest_read(h: Harness) -> None:
    h.add_account(domain="acme.com", name="Acme")
    h.add_deal("Acme", account="acme.com", stage=WON, closed="2026-10-01")
    orphan = h.add_deal("Nobody's", account=None, stage=WON, closed="2026-10-01")
    h.add_deal("Acme again", account="acme.com", stage=LOST, closed="2026-10-02")
    assert sorted(d.name for d in h.crm.deals()) == ["Acme", "Acme again"]
    (error,) = h.crm.errors()
    assert orphan in str(error)


def test_deals_modified_since_lists_a_deal_closed_since_with_its_new_outcome(
    h: Harness,
) -> None:
    h.require("live")
    h.add_account(domain="acme.com", name="Acme")
    h.add_deal("Old", account="acme.com", stage=LOST, closed="2026-03-01")
    deal = h.add_deal("Acme", account="acme.com", stage=OPEN, closed="2027-01-31")
    time.sleep(0.01)
    since = datetime.now(UTC)
    time.sleep(0.005)
    h.move_deal(deal, WON, closed="2026-11-19")
    time.sleep(0.005)
    orphan = h.add_deal("Nobody's", account=None, stage=LOST, created=None, closed="2026-11-19")
    changed = list(h.live.deals_modified_since(since))
    assert [(d.name, d.stage) if d else None for d, _ in changed] == [("Acme", WON), None]
    first = changed[0][0]
    assert first is not None and first.closed_at == datetime(2026, 11, 19, tzinfo=UTC)
    assert all(at >= since - timedelta(milliseconds=1) for _, at in changed)
    assert changed[0][1] <= changed[1][1]  # oldest first
    (error,) = h.crm.errors()  # the one it could not give an account is named
    assert orphan in str(error)
