"""The fake HubSpot, driven by the real `hubspot-api-client` over HTTP.

Each test asserts what an adapter will meet against real HubSpot: the
answer shapes the SDK decodes, the requests HubSpot refuses, and the SDK's
own wire behaviour (how it encodes lists, how a 207 surfaces, when it
silently retries).
"""

from __future__ import annotations

import functools
import json
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import hubspot
import pytest
import urllib3
from hubspot.crm.associations.v4 import (
    BatchInputPublicFetchAssociationsBatchRequest,
    PublicFetchAssociationsBatchRequest,
)
from hubspot.crm.companies import (
    BatchInputSimplePublicObjectBatchInput,
    BatchReadInputSimplePublicObjectId,
    BatchResponseSimplePublicObject,
    BatchResponseSimplePublicObjectWithErrors,
    Filter,
    FilterGroup,
    PublicObjectSearchRequest,
    SimplePublicObjectBatchInput,
    SimplePublicObjectId,
)
from hubspot.crm.companies.exceptions import ApiException, ServiceException
from hubspot.crm.properties import OptionInput, PropertyCreate, PropertyGroupCreate
from hubspot.crm.properties.exceptions import ApiException as PropertiesApiException
from hubspot.crm.properties.exceptions import NotFoundException

from tests.fakes.hubspot import FakeHubSpot, cursor

ROOT = Path(__file__).resolve().parents[2]
NO_RETRY = urllib3.util.Retry(total=0, connect=0, read=0, status=0, redirect=0)


class Sdk:
    """The SDK pointed at a fake. Each `client.crm.x.y_api` access builds a new API client
    with its own connection pool, so API objects are made once per path, and closed."""

    def __init__(
        self, fake: FakeHubSpot, *, token: str | None = None, retry: Any = NO_RETRY
    ) -> None:
        options = {} if retry is None else {"retry": retry}
        self.client = hubspot.Client.create(
            access_token=token or fake.token, host=fake.url, **options
        )
        self._apis: dict[str, Any] = {}

    def __call__(self, path: str) -> Any:
        """`sdk("crm.companies.basic_api")`: one API object per path, reused."""
        if path not in self._apis:
            self._apis[path] = functools.reduce(getattr, path.split("."), self.client)
        return self._apis[path]

    def close(self) -> None:
        for api in self._apis.values():
            api.api_client.rest_client.pool_manager.clear()


@pytest.fixture
def fake() -> Iterator[FakeHubSpot]:
    with FakeHubSpot(rate_limit=None) as server:
        yield server


@pytest.fixture
def sdk(fake: FakeHubSpot) -> Iterator[Sdk]:
    client = Sdk(fake)
    yield client
    client.close()


@pytest.fixture
def make_sdk(fake: FakeHubSpot) -> Iterator[Callable[..., Sdk]]:
    made: list[Sdk] = []

    def make(**options: Any) -> Sdk:
        made.append(Sdk(fake, **options))
        return made[-1]

    yield make
    for client in made:
        client.close()


def raw(
    url: str, method: str, path: str, body: Any = None, *, token: str | None = None
) -> tuple[int, dict[str, str], Any]:
    """(status, headers, JSON) of a plain HTTP request; `token` "" sends no Authorization."""
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    data = body if isinstance(body, bytes) else None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url + path, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, dict(answer.headers), json.load(answer)
    except urllib.error.HTTPError as error:
        with error:
            return error.code, dict(error.headers), json.load(error)


def api(fake: FakeHubSpot, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    status, _, answer = raw(fake.url, method, path, body, token=fake.token)
    return status, answer


def error_of(exc: Exception) -> dict[str, Any]:
    return json.loads(getattr(exc, "body", None) or "{}")


def companies(fake: FakeHubSpot, n: int) -> list[str]:
    return [fake.add_company({"domain": f"c{i}.com", "name": f"C{i}"}) for i in range(n)]


def batch_update(sdk: Sdk, changes: dict[str, dict[str, str]]) -> Any:
    inputs = [SimplePublicObjectBatchInput(id=i, properties=p) for i, p in changes.items()]
    request = BatchInputSimplePublicObjectBatchInput(inputs=inputs)
    return sdk("crm.companies.batch_api").update(request)


def search(sdk: Sdk, *groups: list[Filter], **options: Any) -> Any:
    request = PublicObjectSearchRequest(
        filter_groups=[FilterGroup(filters=g) for g in groups], **options
    )
    return sdk("crm.companies.search_api").do_search(public_object_search_request=request)


def millis(moment: datetime) -> str:
    return str(int(moment.timestamp() * 1000))


# -- objects ---------------------------------------------------------------------------------


def test_get_page_walks_250_companies_in_three_pages(fake: FakeHubSpot, sdk: Sdk) -> None:
    ids = companies(fake, 250)
    seen, after, pages = [], None, []
    while True:
        page = sdk("crm.companies.basic_api").get_page(
            limit=100, after=after, properties=["domain", "industry", "no_such"], archived=False
        )
        pages.append(len(page.results))
        seen += [r.id for r in page.results]
        if page.paging is None:
            break
        after = page.paging.next.after
    assert pages == [100, 100, 50]
    assert seen == ids
    first = fake.requests[0]
    assert first.query["properties"] == ["domain", "industry", "no_such"]  # the key repeated
    assert first.query["archived"] == ["False"]  # Python's spelling; HubSpot reads it
    assert fake.requests[1].query["after"] == [cursor(int(ids[99]))]  # opaque, as HubSpot's
    props = page.results[0].properties  # the known ones asked for (unset: None), and the three
    assert props == {  # HubSpot always adds; the unknown one is left out, as HubSpot does
        "domain": "c200.com",
        "industry": None,
        "createdate": props["createdate"],
        "hs_lastmodifieddate": props["hs_lastmodifieddate"],
        "hs_object_id": ids[200],
    }


def test_the_list_api_takes_comma_separated_properties_and_refuses_a_limit_over_100(
    fake: FakeHubSpot,
) -> None:
    fake.add_company({"domain": "acme.com", "name": "Acme", "city": "Oslo"})
    status, answer = api(fake, "GET", "/crm/v3/objects/companies?properties=domain,city")
    assert status == 200
    assert set(answer["results"][0]["properties"]) >= {"domain", "city"}
    assert "name" not in answer["results"][0]["properties"]
    status, answer = api(fake, "GET", "/crm/v3/objects/companies?limit=101")
    assert (status, answer["category"]) == (400, "VALIDATION_ERROR")


def test_a_company_is_read_by_id_with_defaults(fake: FakeHubSpot, sdk: Sdk) -> None:
    acme = fake.add_company({"domain": "acme.com", "name": "Acme", "city": "Oslo"})
    company = sdk("crm.companies.basic_api").get_by_id(acme)
    assert set(company.properties) == {
        "createdate",
        "domain",
        "hs_lastmodifieddate",
        "hs_object_id",
        "name",
    }
    assert company.properties["createdate"].endswith("Z")
    assert company.created_at == company.updated_at


def test_contacts_carry_their_company_in_v3_and_v4(fake: FakeHubSpot, sdk: Sdk) -> None:
    acme = fake.add_company({"domain": "acme.com"})
    dana = fake.add_contact({"email": "dana@acme.com"}, company_id=acme)
    sam = fake.add_contact({"email": "sam@gmail.com"})
    page = sdk("crm.contacts.basic_api").get_page(associations=["companies"], properties=["email"])
    by_id = {r.id: r for r in page.results}
    entries = by_id[dana].associations["companies"].results
    assert [(a.id, a.type) for a in entries] == [
        (acme, "contact_to_company"),
        (acme, "contact_to_company_unlabeled"),
    ]
    assert by_id[sam].associations is None
    assert fake.contact(dana)["associatedcompanyid"] == acme

    request = BatchInputPublicFetchAssociationsBatchRequest(
        inputs=[PublicFetchAssociationsBatchRequest(id=i) for i in (dana, sam)]
    )
    answer = sdk("crm.associations.v4.batch_api").get_page(
        from_object_type="contacts",
        to_object_type="companies",
        batch_input_public_fetch_associations_batch_request=request,
    )
    assert fake.requests[-1].status == 207  # the SDK decodes it as a result, no exception
    (row,) = answer.results
    assert (row._from.id, row.to[0].to_object_id) == (dana, acme)
    assert [t.type_id for t in row.to[0].association_types] == [1, 279]
    (error,) = answer.errors
    assert error.sub_category == "crm.associations.NO_ASSOCIATIONS_FOUND"
    assert error.context == {"fromObjectId": [sam]}


def test_batch_read_answers_207_with_the_found_and_names_the_missing(
    fake: FakeHubSpot, sdk: Sdk
) -> None:
    ids = companies(fake, 2)
    read = sdk("crm.companies.batch_api").read

    def request(wanted: list[str]) -> BatchReadInputSimplePublicObjectId:
        return BatchReadInputSimplePublicObjectId(
            inputs=[SimplePublicObjectId(id=i) for i in wanted],
            properties=["domain"],
            properties_with_history=[],
        )

    partial = read(request([*ids, "999999"]))
    assert isinstance(partial, BatchResponseSimplePublicObjectWithErrors)
    assert sorted(r.id for r in partial.results) == ids
    assert partial.num_errors == 1
    assert partial.errors[0].category == "OBJECT_NOT_FOUND"
    assert partial.errors[0].context == {"ids": ["999999"]}
    complete = read(request(ids))
    assert isinstance(complete, BatchResponseSimplePublicObject)
    assert complete.status == "COMPLETE"
    assert [r.status for r in fake.requests] == [207, 200]
    with pytest.raises(ApiException) as refused:
        read(request([str(n) for n in range(101)]))
    assert refused.value.status == 400


def test_batch_update_writes_and_moves_the_modification_time(fake: FakeHubSpot, sdk: Sdk) -> None:
    acme = fake.add_company({"domain": "acme.com"})
    created = fake.company(acme)["hs_lastmodifieddate"]
    answer = batch_update(sdk, {acme: {"numberofemployees": "250", "lifecyclestage": "customer"}})
    (result,) = answer.results
    assert result.properties["numberofemployees"] == "250"
    assert result.updated_at > result.created_at
    first = fake.company(acme)
    assert first["lifecyclestage"] == "customer"
    assert first["hs_lastmodifieddate"] > created
    batch_update(sdk, {acme: {"numberofemployees": "260"}})
    assert fake.company(acme)["hs_lastmodifieddate"] > first["hs_lastmodifieddate"]


@pytest.mark.parametrize(
    ("changes", "says"),
    [
        ({str(n): {"city": "Oslo"} for n in range(1000, 1101)}, "exceeds the limit of 100"),
        ({"1000": {"no_such": "x"}}, r"Property \"no_such\" does not exist"),
        ({"1000": {"lifecyclestage": "prospect"}}, "INVALID_OPTION"),
        ({"1000": {"web_technologies": "hubspot;abacus"}}, "INVALID_OPTION"),
        ({"1000": {"numberofemployees": "many"}}, "INVALID_NUMBER"),
        ({"1000": {"hs_lastmodifieddate": "2020-01-01"}}, "READ_ONLY_VALUE"),
        ({"1000": {"city": "Oslo"}, "404404": {"city": "Oslo"}}, "404404"),
    ],
)
def test_batch_update_refuses_the_whole_batch(
    fake: FakeHubSpot, sdk: Sdk, changes: dict[str, dict[str, str]], says: str
) -> None:
    acme = fake.add_company({"domain": "acme.com", "city": "Bergen"}, id="1000")
    with pytest.raises(ApiException) as refused:
        batch_update(sdk, changes)
    assert refused.value.status == 400
    assert says in error_of(refused.value)["message"]
    assert fake.company(acme)["city"] == "Bergen"


def test_batch_update_refuses_an_id_twice(fake: FakeHubSpot) -> None:
    acme = fake.add_company({"domain": "acme.com"})
    twice = {"inputs": [{"id": acme, "properties": {"city": c}} for c in ("Oslo", "Rome")]}
    status, answer = api(fake, "POST", "/crm/v3/objects/companies/batch/update", twice)
    assert status == 400
    assert "Duplicate IDs" in answer["message"]


def test_batch_read_gives_property_history_and_finds_contacts_by_email(
    fake: FakeHubSpot, sdk: Sdk
) -> None:
    acme = fake.add_company({"domain": "acme.com", "city": "Bergen"})
    batch_update(sdk, {acme: {"city": "Oslo"}})
    request = BatchReadInputSimplePublicObjectId(
        inputs=[SimplePublicObjectId(id=acme)], properties=[], properties_with_history=["city"]
    )
    (company,) = sdk("crm.companies.batch_api").read(request).results
    assert [h.value for h in company.properties_with_history["city"]] == ["Oslo", "Bergen"]
    assert "city" not in company.properties  # asked for none: only those always there
    dana = fake.add_contact({"email": "dana@acme.com"})
    by_email = {"idProperty": "email", "inputs": [{"id": "DANA@acme.com"}, {"id": "x@y.z"}]}
    status, answer = api(fake, "POST", "/crm/v3/objects/contacts/batch/read", by_email)
    assert (status, [r["id"] for r in answer["results"]]) == (207, [dana])


# -- deals -----------------------------------------------------------------------------------

DEAL_PROPERTIES = [
    "dealname",
    "dealstage",
    "amount",
    "closedate",
    "hs_is_closed",
    "hs_is_closed_won",
]


def test_deals_page_with_their_companies_and_hubspots_closed_flags(
    fake: FakeHubSpot, sdk: Sdk
) -> None:
    acme = fake.add_company({"domain": "acme.com"})
    initech = fake.add_company({"domain": "initech.com"})
    stages = ["closedwon", "closedlost", "qualifiedtobuy"]
    ids = [fake.add_deal({"dealname": f"D{n}", "dealstage": stages[n % 3]}) for n in range(150)]
    fake.associate_deal(ids[0], initech)
    fake.associate_deal(ids[0], acme)  # a second company: unlabeled, not the primary
    seen, after = [], None
    while True:
        page = sdk("crm.deals.basic_api").get_page(
            limit=100, after=after, properties=DEAL_PROPERTIES, associations=["companies"]
        )
        seen += page.results
        if page.paging is None:
            break
        after = page.paging.next.after
    assert [d.id for d in seen] == ids
    assert not after.isdigit()  # an opaque cursor, as for companies
    first = seen[0]
    assert [(a.id, a.type) for a in first.associations["companies"].results] == [
        (initech, "deal_to_company"),
        (initech, "deal_to_company_unlabeled"),
        (acme, "deal_to_company_unlabeled"),
    ]
    assert seen[1].associations is None  # no company: no `associations` at all
    flags = [(d.properties["hs_is_closed"], d.properties["hs_is_closed_won"]) for d in seen[:3]]
    assert flags == [("true", "true"), ("true", "false"), ("false", "false")]
    assert fake.requests[0].path == "/crm/v3/objects/deals"


def test_a_deal_read_by_id_has_the_specs_default_properties(fake: FakeHubSpot, sdk: Sdk) -> None:
    deal = fake.add_deal({"dealname": "Acme", "dealstage": "closedwon", "amount": "5000"})
    answer = sdk("crm.deals.basic_api").get_by_id(deal)
    # The deals spec: dealname, amount, closedate, pipeline, dealstage by default.
    assert set(answer.properties) == {
        "amount",
        "closedate",
        "createdate",
        "dealname",
        "dealstage",
        "hs_lastmodifieddate",
        "hs_object_id",
        "pipeline",
    }
    status, by_type_id = api(fake, "GET", f"/crm/v3/objects/0-3/{deal}")  # the spec's path
    assert (status, by_type_id["properties"]["dealname"]) == (200, "Acme")


def test_a_deal_moved_to_another_stage_is_recalculated_and_found_by_search(
    fake: FakeHubSpot, sdk: Sdk
) -> None:
    deal = fake.add_deal({"dealname": "Acme", "dealstage": "contractsent"})
    before = fake.deal(deal)
    assert (before["hs_is_closed"], before["hs_is_closed_won"]) == ("false", "false")
    time.sleep(0.002)
    since = datetime.now(UTC)
    fake.update_deal(deal, {"dealstage": "closedwon"})
    after = fake.deal(deal)
    assert (after["hs_is_closed"], after["hs_is_closed_won"]) == ("true", "true")
    assert after["hs_lastmodifieddate"] > before["hs_lastmodifieddate"]
    changed = Filter(property_name="hs_lastmodifieddate", operator="GTE", value=millis(since))
    request = PublicObjectSearchRequest(
        filter_groups=[FilterGroup(filters=[changed])], properties=DEAL_PROPERTIES, limit=200
    )
    found = sdk("crm.deals.search_api").do_search(public_object_search_request=request)
    assert [(d.id, d.properties["hs_is_closed_won"]) for d in found.results] == [(deal, "true")]
    lost = {"inputs": [{"id": deal, "properties": {"dealstage": "closedlost"}}]}
    assert api(fake, "POST", "/crm/v3/objects/deals/batch/update", lost)[0] == 200
    assert fake.deal(deal)["hs_is_closed_won"] == "false"
    won = {"inputs": [{"id": deal, "properties": {"hs_is_closed_won": "true"}}]}
    status, refused = api(fake, "POST", "/crm/v3/objects/deals/batch/update", won)
    assert status == 400 and "READ_ONLY_VALUE" in json.dumps(refused)


def test_deal_company_associations_in_v4_carry_the_primary_type(
    fake: FakeHubSpot, sdk: Sdk
) -> None:
    acme = fake.add_company({"domain": "acme.com"})
    initech = fake.add_company({"domain": "initech.com"})
    deal = fake.add_deal({"dealname": "Acme"}, company_id=acme)
    fake.associate_deal(deal, initech)
    alone = fake.add_deal({"dealname": "Alone"})
    request = BatchInputPublicFetchAssociationsBatchRequest(
        inputs=[PublicFetchAssociationsBatchRequest(id=i) for i in (deal, alone)]
    )
    answer = sdk("crm.associations.v4.batch_api").get_page(
        from_object_type="deals",
        to_object_type="companies",
        batch_input_public_fetch_associations_batch_request=request,
    )
    (row,) = answer.results
    assert [(t.to_object_id, [a.type_id for a in t.association_types]) for t in row.to] == [
        (acme, [5, 341]),
        (initech, [341]),
    ]
    assert row.to[0].association_types[0].label == "Primary"
    (error,) = answer.errors
    assert error.context == {"fromObjectId": [alone]}
    companies = sdk("crm.companies.basic_api").get_page(associations=["deals"])
    by_id = {c.id: c for c in companies.results}
    assert [a.type for a in by_id[acme].associations["deals"].results] == [
        "company_to_deal",
        "company_to_deal_unlabeled",
    ]


def test_deal_pipelines_list_their_stages_with_closed_and_probability(
    fake: FakeHubSpot, sdk: Sdk
) -> None:
    fake.add_deal_stage("87654321", "Churned", probability=0.0, closed=True)
    (pipeline,) = sdk("crm.pipelines.pipelines_api").get_all("deals").results
    assert (pipeline.id, pipeline.label) == ("default", "Sales Pipeline")
    stages = {s.id: (s.label, s.metadata) for s in pipeline.stages}
    assert stages["closedwon"] == ("Closed Won", {"isClosed": "true", "probability": "1.0"})
    assert stages["appointmentscheduled"][1] == {"isClosed": "false", "probability": "0.2"}
    assert stages["87654321"] == ("Churned", {"isClosed": "true", "probability": "0.0"})
    churned = fake.add_deal({"dealstage": "87654321"})
    assert (fake.deal(churned)["hs_is_closed"], fake.deal(churned)["hs_is_closed_won"]) == (
        "true",
        "false",
    )
    options = [o["value"] for o in fake.properties_of("deals")["dealstage"]["options"]]
    assert options[-1] == "87654321"
    assert api(fake, "GET", "/crm/v3/pipelines/companies")[0] == 400


# -- search ----------------------------------------------------------------------------------


def test_search_pages_changes_oldest_first(fake: FakeHubSpot, sdk: Sdk) -> None:
    companies(fake, 3)  # modified before `since`: outside the filter
    time.sleep(0.002)
    since = datetime.now(UTC)
    ids = companies(fake, 5)
    for company in reversed(ids):
        batch_update(sdk, {company: {"city": "Oslo"}})
        time.sleep(0.002)  # a millisecond apart: equal modification times sort by id
    changed = Filter(property_name="hs_lastmodifieddate", operator="GTE", value=millis(since))
    sort = [{"propertyName": "hs_lastmodifieddate", "direction": "ASCENDING"}]
    found, after, totals = [], None, set()
    while True:
        page = search(sdk, [changed], sorts=sort, properties=["city"], limit=2, after=after)
        totals.add(page.total)
        found += [r.id for r in page.results]
        if page.paging is None:
            break
        after = page.paging.next.after
    assert found == list(reversed(ids))
    assert totals == {5}
    assert [r.body.get("after") for r in fake.requests[-3:]] == [None, cursor(2), cursor(4)]
    iso = Filter(property_name="hs_lastmodifieddate", operator="GTE", value=since.isoformat())
    assert search(sdk, [iso], limit=10).total == 5


def test_search_stops_at_10000_results(fake: FakeHubSpot, sdk: Sdk) -> None:
    assert search(sdk, limit=200, after=cursor(9800)).total == 0
    with pytest.raises(ApiException) as refused:
        search(sdk, limit=200, after=cursor(9900))
    assert refused.value.status == 400
    assert error_of(refused.value)["category"] == "VALIDATION_ERROR"


def test_search_has_its_own_limit_of_five_a_second(fake: FakeHubSpot, sdk: Sdk) -> None:
    answers = []
    for _ in range(12):
        try:
            search(sdk, limit=1)
            answers.append(200)
        except ApiException as refused:
            answers.append(refused.status)
            assert json.loads(refused.body)["policyName"] == "SECONDLY"
    assert answers[:5] == [200] * 5 and 429 in answers  # a sixth within the second: refused
    sdk("crm.companies.basic_api").get_page(limit=1)  # other endpoints are not held back


def test_paging_cursors_are_opaque_and_a_number_is_refused(fake: FakeHubSpot, sdk: Sdk) -> None:
    companies(fake, 3)
    page = sdk("crm.companies.basic_api").get_page(limit=2)
    assert not page.paging.next.after.isdigit()
    with pytest.raises(ApiException) as refused:
        sdk("crm.companies.basic_api").get_page(limit=2, after="1001")
    assert refused.value.status == 400


@pytest.fixture
def three(fake: FakeHubSpot) -> dict[str, str]:
    return {
        "acme": fake.add_company(
            {
                "domain": "acme.com",
                "name": "Acme Corp",
                "numberofemployees": "50",
                "industry": "COMPUTER_SOFTWARE",
                "web_technologies": "hubspot;slack",
            }
        ),
        "initech": fake.add_company(
            {
                "domain": "initech.io",
                "name": "Initech",
                "numberofemployees": "400",
                "industry": "FINANCIAL_SERVICES",
                "web_technologies": "salesforce",
            }
        ),
        "globex": fake.add_company({"domain": "globex.com", "name": "Globex Corporation"}),
    }


def flt(name: str, operator: str, value: str | None = None, **options: Any) -> Filter:
    return Filter(property_name=name, operator=operator, value=value, **options)


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ([flt("domain", "EQ", "ACME.com")], ["acme"]),
        ([flt("industry", "NEQ", "COMPUTER_SOFTWARE")], ["initech", "globex"]),
        ([flt("numberofemployees", "GT", "100")], ["initech"]),
        ([flt("numberofemployees", "LTE", "50")], ["acme"]),
        (
            [flt("industry", "IN", values=["COMPUTER_SOFTWARE", "FINANCIAL_SERVICES"])],
            ["acme", "initech"],
        ),
        ([flt("numberofemployees", "HAS_PROPERTY")], ["acme", "initech"]),
        ([flt("numberofemployees", "NOT_HAS_PROPERTY")], ["globex"]),
        ([flt("name", "CONTAINS_TOKEN", "corp*")], ["acme", "globex"]),
        ([flt("domain", "CONTAINS_TOKEN", "acme")], ["acme"]),
        ([flt("numberofemployees", "BETWEEN", "10", high_value="100")], ["acme"]),
        ([flt("web_technologies", "EQ", "slack")], ["acme"]),
        (
            [flt("numberofemployees", "GTE", "10"), flt("domain", "CONTAINS_TOKEN", "io")],
            ["initech"],
        ),
    ],
)
def test_search_filters(
    sdk: Sdk, three: dict[str, str], filters: list[Filter], expected: list[str]
) -> None:
    names = {v: k for k, v in three.items()}
    assert [names[r.id] for r in search(sdk, filters).results] == expected


def test_filter_groups_are_or_ed_and_sorts_take_one_property(
    sdk: Sdk, three: dict[str, str]
) -> None:
    groups = [[flt("domain", "EQ", d)] for d in ("acme.com", "initech.io")]
    sort = [{"propertyName": "numberofemployees", "direction": "DESCENDING"}]
    found = search(sdk, *groups, sorts=sort).results
    assert [r.id for r in found] == [three["initech"], three["acme"]]


def test_the_free_text_query_matches_word_prefixes(fake: FakeHubSpot, sdk: Sdk) -> None:
    acme = fake.add_company({"domain": "acme.com", "name": "Acme Robotics"})
    fake.add_company({"domain": "initech.io", "name": "Initech"})
    assert [r.id for r in search(sdk, query="robot").results] == [acme]


def test_seeded_contacts_work_at_seeded_companies(fake: FakeHubSpot) -> None:
    employers = fake.seed_companies(2)
    contacts = fake.seed_contacts(20, company_ids=employers)
    people = [fake.contact(c) for c in contacts]
    assert {p["associatedcompanyid"] for p in people} == set(employers)
    at_work = [p for p in people if p["email"].endswith(("company1-0.com", "company1-1.com"))]
    assert len(at_work) >= 15  # one in ten, about, uses a free-mail address


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ({"filterGroups": [{"filters": []}] * 6}, "at most 5 filterGroups"),
        (
            {
                "filterGroups": [
                    {"filters": [{"propertyName": "name", "operator": "HAS_PROPERTY"}] * 11}
                ]
            },
            "of at most 10 filters",
        ),
        (
            {
                "filterGroups": [
                    {"filters": [{"propertyName": "no_such", "operator": "EQ", "value": "1"}]}
                ]
            },
            "PROPERTY_DOESNT_EXIST",
        ),
        ({"limit": 201}, "limit must be between 0 and 200"),
        ({"sorts": ["name", "domain"]}, "one property only"),
    ],
)
def test_search_refuses_what_hubspot_refuses(
    fake: FakeHubSpot, body: dict[str, Any], says: str
) -> None:
    status, answer = api(fake, "POST", "/crm/v3/objects/companies/search", body)
    assert status == 400
    assert says in answer["message"]


# -- authentication, limits, faults ----------------------------------------------------------


def test_a_wrong_token_gets_401_and_is_recorded(
    fake: FakeHubSpot, make_sdk: Callable[..., Sdk]
) -> None:
    with pytest.raises(ApiException) as refused:
        make_sdk(token="wrong")("crm.companies.basic_api").get_page()
    assert refused.value.status == 401
    assert error_of(refused.value)["category"] == "INVALID_AUTHENTICATION"
    status, _, answer = raw(fake.url, "GET", "/crm/v3/objects/companies", token="")
    assert status == 401
    assert answer["message"].startswith("Authentication credentials not found.")
    assert [r.status for r in fake.requests] == [401, 401]


def test_the_rate_limit_answers_429_with_retry_after(fake: FakeHubSpot, sdk: Sdk) -> None:
    fake.rate_limit = (5, 2.0)
    get_page = sdk("crm.companies.basic_api").get_page
    remaining = []
    for _ in range(5):
        answer = get_page(_preload_content=False)  # urllib3's response, headers and all
        assert answer.data  # read before release_conn, or the pooled connection is spoilt
        answer.release_conn()
        remaining.append(answer.headers["X-HubSpot-RateLimit-Remaining"])
    assert remaining == ["4", "3", "2", "1", "0"]
    with pytest.raises(ApiException) as limited:
        get_page()
    headers = limited.value.headers
    assert limited.value.status == 429
    assert headers["Retry-After"] == "2"  # the oldest slot frees in 1.9 s or so: rounded up
    assert headers["X-HubSpot-RateLimit-Max"] == "5"
    assert headers["X-HubSpot-RateLimit-Remaining"] == "0"
    assert headers["X-HubSpot-RateLimit-Interval-Milliseconds"] == "2000"
    body = error_of(limited.value)
    assert (body["errorType"], body["policyName"]) == ("RATE_LIMIT", "TEN_SECONDLY_ROLLING")
    fake.rate_limit = (6, 2.0)  # settable at runtime; the 429 took no slot
    assert get_page().results == []
    stats = fake.stats()
    assert (stats["rate_limited"], stats["max_in_window"], stats["requests"]) == (1, 7, 7)


def test_the_sdk_silently_retries_a_get_asked_to_wait(
    fake: FakeHubSpot, make_sdk: Callable[..., Sdk]
) -> None:
    """What a client adapter must know: without `retry=Retry(0)`, urllib3 retries a GET
    answered 429/503 with `Retry-After` behind the caller's back (not a POST), and a
    decimal `Retry-After` makes it raise `InvalidHeader` instead of an ApiException."""
    default = make_sdk(retry=None)
    fake.fail_next(1, status=503, retry_after=0)
    assert default("crm.companies.basic_api").get_page().results == []
    fake.fail_next(1, status=503, retry_after=0)
    with pytest.raises(ServiceException):
        default("crm.companies.search_api").do_search(
            public_object_search_request=PublicObjectSearchRequest(limit=1)
        )
    fake.fail_next(1, status=429, retry_after=0.5)
    with pytest.raises(urllib3.exceptions.InvalidHeader):
        default("crm.companies.basic_api").get_page()
    assert [r.status for r in fake.requests] == [503, 200, 503, 429]


def test_injected_faults_hit_their_path_then_clear(fake: FakeHubSpot, sdk: Sdk) -> None:
    acme = fake.add_company({"domain": "acme.com"})
    fake.fail_next(1, status=503, path="/crm/v3/objects/companies/batch")
    assert sdk("crm.companies.basic_api").get_by_id(acme).id == acme  # not the batch path
    with pytest.raises(ServiceException) as failed:
        batch_update(sdk, {acme: {"city": "Oslo"}})
    assert failed.value.status == 503
    assert error_of(failed.value)["category"] == "INTERNAL_ERROR"
    assert fake.company(acme).get("city") is None
    assert batch_update(sdk, {acme: {"city": "Oslo"}}).results[0].id == acme
    assert [r.status for r in fake.requests] == [200, 503, 200]
    fake.fail_next(5, status=500)
    fake.fail_next(0)
    assert sdk("crm.companies.basic_api").get_by_id(acme).id == acme
    assert fake.stats()["injected"] == 1


def test_an_injected_429_sends_the_retry_after_it_was_given(fake: FakeHubSpot) -> None:
    fake.fail_next(1, status=429, retry_after=0.25)
    status, headers, answer = raw(fake.url, "GET", "/crm/v3/objects/companies", token=fake.token)
    assert (status, headers["Retry-After"], answer["errorType"]) == (429, "0.25", "RATE_LIMIT")
    assert fake.stats()["rate_limited"] == 0


def test_latency_delays_every_answer(fake: FakeHubSpot, sdk: Sdk) -> None:
    fake.latency = 0.2
    started = time.monotonic()
    sdk("crm.companies.basic_api").get_page()
    assert time.monotonic() - started >= 0.2
    fake.latency = 0.0


def test_stop_ends_keep_alive_connections() -> None:
    other = FakeHubSpot(rate_limit=None).start()
    client = Sdk(other)
    try:
        client("crm.companies.basic_api").get_page()  # leaves a pooled connection open
        started = time.monotonic()
        other.stop()
        assert time.monotonic() - started < 1.0
    finally:
        client.close()
        other.stop()


# -- properties ------------------------------------------------------------------------------


def icp_tier() -> PropertyCreate:
    return PropertyCreate(
        name="icp_tier",
        label="ICP tier",
        type="enumeration",
        field_type="select",
        group_name="icp",
        description="A to DQ.",
        options=[
            OptionInput(label=t, value=t, display_order=i, hidden=False)
            for i, t in enumerate(["A", "B", "C", "D", "DQ"])
        ],
    )


def test_groups_and_properties_are_created_once(fake: FakeHubSpot, sdk: Sdk) -> None:
    groups, core = sdk("crm.properties.groups_api"), sdk("crm.properties.core_api")
    with pytest.raises(NotFoundException):
        groups.get_by_name("companies", "icp")
    group = PropertyGroupCreate(name="icp", label="ICP fit", display_order=-1)
    assert groups.create("companies", property_group_create=group).name == "icp"
    with pytest.raises(PropertiesApiException) as again:
        groups.create("companies", property_group_create=group)
    assert again.value.status == 409
    assert groups.get_by_name("companies", "icp").label == "ICP fit"

    with pytest.raises(NotFoundException):
        core.get_by_name("companies", "icp_tier")
    created = core.create("companies", property_create=icp_tier())
    assert [o.value for o in created.options] == ["A", "B", "C", "D", "DQ"]
    with pytest.raises(PropertiesApiException) as twice:
        core.create("companies", property_create=icp_tier())
    assert (twice.value.status, error_of(twice.value)["category"]) == (409, "OBJECT_ALREADY_EXISTS")
    assert core.get_by_name("companies", "icp_tier").group_name == "icp"
    assert {"icp_tier", "domain", "name"} <= {p.name for p in core.get_all("companies").results}
    assert fake.properties_of("companies")["icp_tier"]["type"] == "enumeration"
    assert "icp" in fake.groups_of("companies")


def test_a_new_enumeration_takes_only_its_options_and_counts_as_tagged(
    fake: FakeHubSpot, sdk: Sdk
) -> None:
    group = PropertyGroupCreate(name="icp", label="ICP fit")
    sdk("crm.properties.groups_api").create("companies", property_group_create=group)
    sdk("crm.properties.core_api").create("companies", property_create=icp_tier())
    acme = fake.add_company({"domain": "acme.com"})
    with pytest.raises(ApiException) as refused:
        batch_update(sdk, {acme: {"icp_tier": "E"}})
    assert (
        "E was not one of the allowed options: [A, B, C, D, DQ]"
        in error_of(refused.value)["message"]
    )
    assert fake.stats()["tagged_companies"] == 0
    batch_update(sdk, {acme: {"icp_tier": "A"}})
    stats = fake.stats()
    assert stats["tagged_companies"] == 1
    assert list(stats["first_tagged_at"]) == [acme]


@pytest.mark.parametrize(
    ("changes", "says"),
    [
        ({"type": "number", "fieldType": "text"}, "not valid for a property of type"),
        ({"options": []}, "at least one option"),
        ({"groupName": "nowhere"}, "group nowhere does not exist"),
        ({"name": "ICP Tier"}, "lowercase letters"),
    ],
)
def test_property_definitions_are_checked(
    fake: FakeHubSpot, changes: dict[str, Any], says: str
) -> None:
    body = {
        "name": "icp_tier",
        "label": "ICP tier",
        "type": "enumeration",
        "fieldType": "select",
        "groupName": "companyinformation",
        "options": [{"label": "A", "value": "A"}],
        **changes,
    }
    status, answer = api(fake, "POST", "/crm/v3/properties/companies", body)
    assert status == 400
    assert says in answer["message"]


# -- plumbing --------------------------------------------------------------------------------


def test_unknown_routes_wrong_methods_and_bad_json(fake: FakeHubSpot) -> None:
    assert api(fake, "GET", "/crm/v3/nothing")[0] == 404
    assert api(fake, "GET", "/crm/v3/objects/companies/search")[0] == 405
    assert api(fake, "GET", "/crm/v3/objects/widgets")[0] == 400
    status, answer = api(fake, "POST", "/crm/v3/objects/companies/search", b"{nope")
    assert (status, answer["category"]) == (400, "VALIDATION_ERROR")
    assert answer["message"].startswith("Invalid input JSON")
    assert [(r.status, r.body) for r in fake.requests][-1] == (400, None)


def test_control_endpoints_need_no_token_and_are_not_recorded(fake: FakeHubSpot) -> None:
    status, _, made = raw(fake.url, "POST", "/_fake/companies", {"properties": {"name": "Acme"}})
    assert status == 200
    (acme,) = made["ids"]
    assert raw(fake.url, "GET", f"/_fake/companies/{acme}")[2]["name"] == "Acme"
    assert raw(fake.url, "GET", "/_fake/companies/999")[0] == 404
    config = {"latency": 0.0, "rate_limit": [3, 1.0], "fail_next": {"count": 1, "status": 502}}
    assert raw(fake.url, "POST", "/_fake/config", config)[0] == 200
    assert fake.rate_limit == (3, 1.0)
    assert api(fake, "GET", "/crm/v3/objects/companies")[0] == 502
    assert raw(fake.url, "GET", "/_fake/stats")[2]["requests"] == 1


def test_seed_companies_makes_50000_plausible_companies() -> None:
    """Plausible and deterministic; not timed (a loaded CI machine is no stopwatch)."""
    fake = FakeHubSpot()
    ids = fake.seed_companies(50_000)
    assert (len(ids), ids[0], ids[-1]) == (50_000, "1000", "50999")
    again = FakeHubSpot()
    assert [again.company(i) for i in again.seed_companies(3)] == [fake.company(i) for i in ids[:3]]
    definitions = fake.properties_of("companies")
    for company in (fake.company(i) for i in ids[:500]):
        assert company["domain"].startswith("company1-")
        assert company["createdate"] <= company["hs_lastmodifieddate"]
        for name in ("industry", "lifecyclestage", "web_technologies", "hubspot_owner_id"):
            options = {o["value"] for o in definitions[name]["options"]}
            assert set(company[name].split(";")) <= options
        assert int(company["numberofemployees"]) > 0


def run_fake(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.fakes.hubspot", *args],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )


def test_the_fake_runs_in_its_own_process_until_stdin_closes() -> None:
    with run_fake("--companies", "300", "--contacts", "10", "--token", "t") as process:
        assert process.stdout is not None and process.stdin is not None
        url = process.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:")
        status, _, answer = raw(
            url, "GET", "/crm/v3/objects/contacts?associations=companies", token="t"
        )
        assert status == 200
        assert answer["results"][0]["associations"]["companies"]["results"][0]["id"] == "1000"
        ids = raw(url, "POST", "/_fake/companies", {"count": 2})[2]["ids"]
        assert ids == ["1310", "1311"]
        assert raw(url, "GET", f"/_fake/companies/{ids[0]}")[2]["domain"] == "company2-0.com"
        assert raw(url, "GET", "/_fake/stats")[2]["requests"] == 1
        process.stdin.close()
        assert process.wait(timeout=10) == 0


def test_the_fake_process_stops_on_sigterm() -> None:
    with run_fake("--rate-limit", "0") as process:
        assert process.stdout is not None
        assert process.stdout.readline().startswith("http://127.0.0.1:")
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
