"""The fake Salesforce refuses what Salesforce refuses, with Salesforce's error shapes."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests

from tests.fakes.salesforce import VERSION, FakeSalesforce, case_safe


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
