"""The fake Salesforce refuses what Salesforce refuses, with Salesforce's error shapes."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from tests.fakes.salesforce import VERSION, FakeSalesforce, case_safe
from tests.support import ROOT


@pytest.fixture
def fake() -> Iterator[FakeSalesforce]:
    with FakeSalesforce() as server:
        yield server


def call(
    fake: FakeSalesforce, method: str, path: str, *, token: str = "test-token", **kwargs: Any
) -> requests.Response:
    return requests.request(
        method,
        f"{fake.url}/services/data/v{VERSION}/{path}",
        verify=fake.ca_file,
        timeout=10,
        headers={"Authorization": f"Bearer {token}", **kwargs.pop("headers", {})},
        **kwargs,
    )


def error_code(answer: requests.Response) -> str:
    return str(answer.json()[0]["errorCode"])


def test_ids_are_case_safe_18_characters() -> None:
    assert case_safe("001000000000001") == "001000000000001AAA"
    assert case_safe("001Dn00000AbCdE")[-3:] == "IAV"  # bits of the capitals, per 5 characters


def test_a_wrong_or_expired_session_is_401(fake: FakeSalesforce) -> None:
    answer = call(fake, "GET", "query", params={"q": "SELECT Id FROM Account"}, token="nope")
    assert answer.status_code == 401 and error_code(answer) == "INVALID_SESSION_ID"
    fake.expire_sessions()
    assert call(fake, "GET", "limits").status_code == 401


def test_every_answer_says_the_api_usage(fake: FakeSalesforce) -> None:
    fake.set_api_usage(41, 15_000)
    answer = call(fake, "GET", "limits")
    assert answer.headers["Sforce-Limit-Info"] == "api-usage=42/15000"
    assert answer.json()["DailyApiRequests"] == {"Max": 15_000, "Remaining": 14_959}


@pytest.mark.parametrize(
    ("soql", "code"),
    [
        ("SELECT Id FROM Account WHERE Name = 'x' OR", "MALFORMED_QUERY"),
        ("SELECT Id FROM Account WHERE Name = 'O'Brien'", "MALFORMED_QUERY"),
        ("SELECT Nope__c FROM Account", "INVALID_FIELD"),
        ("SELECT Id FROM Widget__c", "INVALID_TYPE"),
    ],
)
def test_queries_salesforce_would_refuse(fake: FakeSalesforce, soql: str, code: str) -> None:
    answer = call(fake, "GET", "query", params={"q": soql})
    assert answer.status_code == 400 and error_code(answer) == code


def test_query_batches_are_200_to_2000_and_locators_page_on(fake: FakeSalesforce) -> None:
    for n in range(450):
        fake.add("Account", {"Name": f"C{n}", "Website": f"c{n}.com"})
    small = call(
        fake,
        "GET",
        "query",
        params={"q": "SELECT Id FROM Account ORDER BY Id"},
        headers={"Sforce-Query-Options": "batchSize=10"},
    ).json()
    assert (small["totalSize"], len(small["records"]), small["done"]) == (450, 200, False)
    more = requests.get(
        fake.url + small["nextRecordsUrl"],
        verify=fake.ca_file,
        timeout=10,
        headers={"Authorization": "Bearer test-token"},
    ).json()
    assert len(more["records"]) == 200 and "nextRecordsUrl" in more
    assert more["records"][0]["attributes"]["type"] == "Account"
    bad = call(fake, "GET", "query/01gnothing-200")
    assert bad.status_code == 400 and error_code(bad) == "INVALID_QUERY_LOCATOR"


def test_collections_validate_each_record(fake: FakeSalesforce) -> None:
    acme = fake.add("Account", {"Name": "Acme", "Website": "acme.com"})
    records = [
        {"attributes": {"type": "Account"}, "id": acme, "ICP_Tier__c": "Z"},
        {"attributes": {"type": "Account"}, "id": acme, "ICP_Score__c": 1000},
        {"attributes": {"type": "Account"}, "id": acme, "ICP_Profile__c": "x" * 256},
        {"attributes": {"type": "Account"}, "id": acme, "CreatedDate": "2026-01-01T00:00:00Z"},
        {"attributes": {"type": "Account"}, "id": "001000000000999AAA", "ICP_Tier__c": "A"},
        {"attributes": {"type": "Account"}, "id": acme, "ICP_Tier__c": "A", "ICP_Score__c": 91},
    ]
    body = {"allOrNone": False, "records": records}
    results = call(fake, "PATCH", "composite/sobjects", json=body).json()
    codes = [r["errors"][0]["statusCode"] if r["errors"] else "ok" for r in results]
    assert codes == [
        "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
        "NUMBER_OUTSIDE_VALID_RANGE",
        "STRING_TOO_LONG",
        "INVALID_FIELD_FOR_INSERT_UPDATE",
        "ENTITY_IS_DELETED",
        "ok",
    ]
    assert fake.row("Account", acme)["ICP_Score__c"] == 91


def test_all_or_none_rolls_every_record_back(fake: FakeSalesforce) -> None:
    acme = fake.add("Account", {"Name": "Acme", "Website": "acme.com"})
    records = [
        {"attributes": {"type": "Account"}, "id": acme, "ICP_Tier__c": "A"},
        {"attributes": {"type": "Account"}, "id": acme, "ICP_Tier__c": "Z"},
    ]
    results = call(
        fake, "PATCH", "composite/sobjects", json={"allOrNone": True, "records": records}
    ).json()
    assert [r["success"] for r in results] == [False, False]
    assert "ICP_Tier__c" not in fake.row("Account", acme)


def test_more_than_200_records_or_unknown_fields_refuse_the_call(fake: FakeSalesforce) -> None:
    acme = fake.add("Account", {"Name": "Acme", "Website": "acme.com"})
    one = {"attributes": {"type": "Account"}, "id": acme, "ICP_Tier__c": "A"}
    many = call(fake, "PATCH", "composite/sobjects", json={"records": [one] * 201})
    assert many.status_code == 400 and error_code(many) == "EXCEEDED_ID_LIMIT"
    unknown = call(fake, "PATCH", "composite/sobjects", json={"records": [{**one, "Nope__c": 1}]})
    assert unknown.status_code == 400 and error_code(unknown) == "INVALID_FIELD"
    text = call(
        fake, "PATCH", "composite/sobjects", json={"records": [{**one, "ICP_Score__c": "87"}]}
    )
    assert text.status_code == 400 and error_code(text) == "JSON_PARSER_ERROR"


# -- Change Data Capture selection (Tooling PlatformEventChannelMember) --------------------------

MEMBERS = "tooling/sobjects/PlatformEventChannelMember"


def member(entity: str, *, channel: str = "ChangeEvents", name: str = "") -> dict[str, Any]:
    """The body that selects `entity` for change events, as Salesforce's docs show it (a
    custom channel's `__` is one `_` in the name)."""
    event = f"{entity}ChangeEvent"
    return {
        "FullName": name or f"{channel.replace('__', '_')}_{event}",
        "Metadata": {"eventChannel": channel, "selectedEntity": event},
    }


def selection(fake: FakeSalesforce, where: str = "WHERE EventChannel = 'ChangeEvents'") -> Any:
    soql = f"SELECT Id, DeveloperName, SelectedEntity FROM PlatformEventChannelMember {where}"
    return call(fake, "GET", "tooling/query", params={"q": soql}).json()


def test_a_selection_is_created_then_queried_through_the_tooling_api() -> None:
    with FakeSalesforce(cdc_selected=("Contact",)) as fake:
        created = call(fake, "POST", MEMBERS, json=member("Lead"))
        assert created.status_code == 201 and created.json()["success"] is True
        answer = selection(fake)
        assert answer["done"] is True and answer["totalSize"] == 2
        assert {r["SelectedEntity"] for r in answer["records"]} == {
            "ContactChangeEvent",
            "LeadChangeEvent",
        }
        assert {r["DeveloperName"] for r in answer["records"]} >= {"ChangeEvents_LeadChangeEvent"}
        assert fake.cdc_selected() == {"Contact", "Lead"}
        assert selection(fake, "WHERE EventChannel = 'Other__chn'")["records"] == []


def test_tooling_queries_are_checked_like_soql(fake: FakeSalesforce) -> None:
    bad = call(
        fake, "GET", "tooling/query", params={"q": "SELECT Nope FROM PlatformEventChannelMember"}
    )
    assert bad.status_code == 400 and error_code(bad) == "INVALID_FIELD"
    other = call(fake, "GET", "tooling/query", params={"q": "SELECT Id FROM Widget"})
    assert other.status_code == 400 and error_code(other) == "INVALID_TYPE"


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (member("Widget"), "FIELD_INTEGRITY_EXCEPTION"),  # no change events for it
        (member("Lead", channel="Mine__chn"), "FIELD_INTEGRITY_EXCEPTION"),  # no such channel
        (member("Contact"), "DUPLICATE_DEVELOPER_NAME"),
        (member("Contact", name="Contact_again"), "DUPLICATE_VALUE"),
        ({"FullName": "", "Metadata": {}}, "REQUIRED_FIELD_MISSING"),
    ],
)
def test_selections_salesforce_would_refuse(body: dict[str, Any], code: str) -> None:
    with FakeSalesforce(cdc_selected=("Contact",)) as fake:
        answer = call(fake, "POST", MEMBERS, json=body)
        assert answer.status_code == 400 and error_code(answer) == code
        assert fake.cdc_selected() == {"Contact"}


def test_the_allocation_counts_every_selection_of_the_org() -> None:
    with FakeSalesforce(cdc_entity_limit=2, cdc_selected=("Contact",)) as fake:
        assert call(fake, "POST", MEMBERS, json=member("Lead")).status_code == 201
        full = call(fake, "POST", MEMBERS, json=member("Account"))
        assert full.status_code == 400 and error_code(full) == "LIMIT_EXCEEDED"
        assert "deselect" in full.json()[0]["message"]
        assert fake.cdc_selected() == {"Contact", "Lead"}


def test_an_edition_without_change_data_capture_refuses_every_selection() -> None:
    with FakeSalesforce(cdc_available=False) as fake:
        answer = call(fake, "POST", MEMBERS, json=member("Lead"))
        assert answer.status_code == 400 and error_code(answer) == "FUNCTIONALITY_NOT_ENABLED"
        assert selection(fake)["records"] == [] and fake.cdc_selected() == frozenset()


def test_query_all_reads_the_recycle_bin_and_its_next_pages_say_query(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with FakeSalesforce() as fake:
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", fake.ca_file)
        ids = [fake.add("Lead", {"LastName": f"L{i}", "Company": "Acme"}) for i in range(250)]
        fake.merge("Lead", ids[0], ids[1])
        session = requests.Session()
        session.headers["Authorization"] = "Bearer test-token"
        session.headers["Sforce-Query-Options"] = "batchSize=200"
        base = f"{fake.url}/services/data/v62.0"
        soql = "SELECT Id, IsDeleted, MasterRecordId FROM Lead"
        plain = session.get(f"{base}/query", params={"q": soql}, timeout=10).json()
        every = session.get(f"{base}/queryAll", params={"q": soql}, timeout=10).json()
        assert (plain["totalSize"], every["totalSize"]) == (249, 250)
        assert every["nextRecordsUrl"].startswith("/services/data/v62.0/query/01g")
        rest = session.get(fake.url + every["nextRecordsUrl"], timeout=10).json()
        records = every["records"] + rest["records"]
        merged = [r for r in records if r["IsDeleted"]]
        assert [(r["Id"], r["MasterRecordId"]) for r in merged] == [(ids[1], ids[0])]


def test_it_serves_as_a_process_of_its_own() -> None:
    """`python -m tests.fakes.salesforce`, as the backfill benchmark runs it: a call naming
    its client is answered, and closing stdin prints the stats and stops it."""
    fake = subprocess.Popen(
        [sys.executable, "-m", "tests.fakes.salesforce", "--accounts", "3"],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert fake.stdin is not None and fake.stdout is not None
    try:
        url, ca_file = fake.stdout.readline().split()
        answer = requests.get(
            f"{url}/services/data/v{VERSION}/query",
            params={"q": "SELECT Id FROM Account"},
            headers={"Authorization": "Bearer test-token", "Sforce-Call-Options": "client=icpbot"},
            verify=ca_file,
            timeout=10,
        )
        assert answer.status_code == 200, answer.text
        assert answer.json()["totalSize"] == 3
        fake.stdin.close()
        assert json.loads(fake.stdout.read())["requests"] == 1
        assert fake.wait(10) == 0
    finally:
        fake.kill()
        fake.wait(10)
        fake.stdout.close()
