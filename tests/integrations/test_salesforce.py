"""The Salesforce adapter through the real simple-salesforce, against the TLS fake Salesforce."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from simple_salesforce.exceptions import SalesforceAuthenticationFailed, SalesforceError

from bot.config import load_config
from bot.sync.connect import ApiBudget
from integrations import salesforce_metadata
from integrations.base import Owner, ScoreFields, ScoreUpdate
from integrations.fieldmap import default_field_map, parse_field_map
from integrations.ratelimit import RateLimiter
from integrations.records import RecordKind
from integrations.retries import CrmCaller, RetryPolicy
from integrations.salesforce import (
    CLIENT_NAME,
    MissingFields,
    SalesforceCrm,
    classify,
    client_error,
    jwt_connection,
    like_pattern,
    password_connection,
    quote,
    timed_session,
    token_connection,
)
from tests.fakes import soql
from tests.fakes.salesforce import FakeSalesforce
from tests.fakes.unreachable import Silent

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 11, 20, 9, 30, tzinfo=UTC)
FAST = RetryPolicy(attempts=4, max_seconds=20, initial=0.01, max_backoff=0.05)


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeSalesforce]:
    with FakeSalesforce() as server:
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", server.ca_file)
        yield server


def caller(policy: RetryPolicy = FAST) -> CrmCaller:
    return CrmCaller(
        crm="salesforce", limiter=RateLimiter(1000, 1.0), classify=classify, policy=policy
    )


def adapter(
    fake: FakeSalesforce, *, policy: RetryPolicy = FAST, **options: object
) -> SalesforceCrm:
    def connect() -> object:
        return token_connection(instance_url=fake.url, access_token="test-token", version="62.0")

    options.setdefault("field_map", default_field_map())
    return SalesforceCrm(
        connect=connect,
        caller=caller(policy),
        **options,  # type: ignore[arg-type]
    )


def password_adapter(fake: FakeSalesforce, password: str = "secret") -> SalesforceCrm:
    def connect() -> object:
        return password_connection(
            login_url=fake.url,
            username="icpbot@example.com",
            password=password,
            security_token="TOKEN",
            version="62.0",
        )

    return SalesforceCrm(
        connect=connect,
        caller=caller(),
        field_map=default_field_map(),
        renew=True,  # type: ignore[arg-type]
    )


def account(fake: FakeSalesforce, website: str, **values: object) -> str:
    name = website.split("//")[-1].removeprefix("www.").split(".")[0].title()
    return fake.add("Account", {"Name": name, "Website": website, **values})


def fields(score: int = 87, tier: str = "A", persona: int | None = None) -> ScoreFields:
    return ScoreFields(score, tier, "midmarket-saas", "SaaS\nHubSpot user", 7, NOW, persona)


def calls(fake: FakeSalesforce, fragment: str) -> list:
    return [r for r in fake.requests() if fragment in r.path]


# -- reading ---------------------------------------------------------------------------------


def test_pages_follow_next_records_url_and_resume_after_the_last_id(fake: FakeSalesforce) -> None:
    ids = [account(fake, f"https://www.c{n}.com/about", NumberOfEmployees=1200) for n in range(450)]
    crm = adapter(fake)
    pages = list(crm.pages(RecordKind.ACCOUNT, size=200))
    assert [len(p.records) for p in pages] == [200, 200, 50]
    assert [r.crm_id for p in pages for r in p.records] == ids
    assert len(calls(fake, "/query/01g")) == 2  # the later pages came from nextRecordsUrl
    first = pages[0].records[0]
    assert first.domain == "c0.com"
    assert first.fields["employees"] == 1200
    assert first.url == f"{fake.url}/lightning/r/Account/{ids[0]}/view"
    resumed = list(crm.pages(RecordKind.ACCOUNT, after=pages[1].after, size=200))
    assert [r.crm_id for p in resumed for r in p.records] == ids[400:]
    assert f"WHERE Id > '{ids[399]}' ORDER BY Id" in fake.queries()[-1]


def test_fetch_reads_by_id_and_deleted_records_are_absent(fake: FakeSalesforce) -> None:
    acme = account(fake, "acme.com", Industry="Software")
    records = adapter(fake).fetch(RecordKind.ACCOUNT, [acme, "001000000000999AAA", acme])
    assert [r.crm_id for r in records] == [acme]
    assert records[0].fields["industry"] == "Software"


def test_leads_are_people_whose_email_finds_their_account(fake: FakeSalesforce) -> None:
    lead = fake.add(
        "Lead", {"LastName": "Ng", "Email": "dana@acme.com", "Company": "Acme", "Title": "VP Sales"}
    )
    records = adapter(fake).fetch(RecordKind.CONTACT, [lead])  # contacts mean leads here
    assert records[0].kind is RecordKind.LEAD
    assert records[0].domain == "acme.com"
    assert records[0].fields["job_title"] == "VP Sales"


def test_modified_since_pages_by_system_modstamp(fake: FakeSalesforce) -> None:
    old = account(fake, "old.com")
    fake.touch("Account", old)
    crm = adapter(fake)
    seen = list(crm.modified_since(RecordKind.ACCOUNT, datetime.now(UTC) - timedelta(minutes=1)))
    assert [object_id for object_id, _ in seen] == [old]
    assert (
        list(crm.modified_since(RecordKind.ACCOUNT, datetime.now(UTC) + timedelta(hours=1))) == []
    )


def opportunity(fake: FakeSalesforce, name: str, stage: str, **values: object) -> str:
    won, closed = stage == "Closed Won", stage.startswith("Closed")
    body = {"Name": name, "StageName": stage, "IsWon": won, "IsClosed": closed, **values}
    return fake.add("Opportunity", body)


def test_opportunities_are_deals_with_their_account_domain_and_outcome(
    fake: FakeSalesforce,
) -> None:
    acme = account(fake, "https://acme.com")
    opportunity(fake, "Won", "Closed Won", Amount=5000.0, CloseDate="2026-10-01", AccountId=acme)
    opportunity(fake, "Lost", "Closed Lost", CloseDate="2026-10-02", AccountId=acme)
    opportunity(fake, "Open", "Prospecting", CloseDate="2027-01-31", AccountId=acme)
    deals = [(d.name, d.domain, d.stage, d.amount, d.closed_at) for d in adapter(fake).deals()]
    assert deals == [
        ("Won", "acme.com", "closed_won", 5000.0, datetime(2026, 10, 1, tzinfo=UTC)),
        ("Lost", "acme.com", "closed_lost", None, datetime(2026, 10, 2, tzinfo=UTC)),
        ("Open", "acme.com", "open", None, None),  # its CloseDate is only a forecast
    ]
    (query,) = fake.queries()
    assert "Account.Website FROM Opportunity ORDER BY Id" in query  # one query, no lookups


def test_a_stage_fields_yaml_names_is_churn_whatever_salesforce_says(
    fake: FakeSalesforce,
) -> None:
    churn = "salesforce:\n  opportunity:\n    churned_stages: ['Closed - Churned']\n"
    field_map, _ = parse_field_map(churn, source="fields.yaml")
    acme = account(fake, "https://acme.com")
    opportunity(fake, "Left us", "closed - churned", IsWon=True, IsClosed=True, AccountId=acme)
    opportunity(fake, "Still here", "Closed Won", AccountId=acme)
    crm = adapter(fake, field_map=field_map)
    assert [(d.name, d.stage) for d in crm.deals()] == [
        ("Left us", "churned"),  # StageName compared in any case
        ("Still here", "closed_won"),
    ]
    assert [d.stage for d in adapter(fake).deals()] == ["closed_won", "closed_won"]  # default


def test_an_opportunity_without_an_account_website_is_named(fake: FakeSalesforce) -> None:
    bare = fake.add("Account", {"Name": "No Website Inc"})
    no_site = opportunity(fake, "A", "Closed Won", AccountId=bare)
    no_account = opportunity(fake, "B", "Closed Won")
    crm = adapter(fake)
    assert list(crm.deals()) == []
    assert [str(e) for e in crm.errors()] == [
        f"salesforce Opportunity row 0: {no_site} its Account has no website",
        f"salesforce Opportunity row 0: {no_account} has no Account",
    ]


def test_deals_modified_since_asks_by_system_modstamp(fake: FakeSalesforce) -> None:
    acme = account(fake, "https://acme.com")
    earlier = datetime.now(UTC) - timedelta(days=30)
    old = fake.add(
        "Opportunity",
        {"Name": "Old", "StageName": "Closed Lost", "IsClosed": True, "AccountId": acme},
        created=earlier,
    )
    deal = opportunity(fake, "New", "Prospecting", AccountId=acme)
    since = datetime.now(UTC) - timedelta(minutes=1)
    fake.touch("Opportunity", deal, StageName="Closed Won", IsWon=True, IsClosed=True)
    changed = list(adapter(fake).deals_modified_since(since))
    assert [(d.crm_id, d.stage) for d, _ in changed if d] == [(deal, "closed_won")]
    assert old not in {d.crm_id for d, _ in changed if d}
    (query,) = fake.queries()
    assert "WHERE SystemModstamp >= " in query and "ORDER BY SystemModstamp, Id" in query


# -- writing ---------------------------------------------------------------------------------


def test_scores_are_written_200_a_call_and_read_back_equal(fake: FakeSalesforce) -> None:
    ids = [account(fake, f"c{n}.com") for n in range(450)]
    crm = adapter(fake)
    report = crm.write_scores([ScoreUpdate(RecordKind.ACCOUNT, i, fields()) for i in ids])
    assert (report.written, report.failed) == (450, {})
    batches = [len(r.body["records"]) for r in calls(fake, "/composite/sobjects")]
    assert sorted(batches) == [50, 200, 200]  # sent side by side, in any order
    row = fake.row("Account", ids[0])
    assert (row["ICP_Score__c"], row["ICP_Tier__c"], row["ICP_Version__c"]) == (87, "A", 7)
    assert row["ICP_Reasons__c"] == "SaaS\nHubSpot user"
    assert "ICP_Persona_Score__c" not in row  # leads only
    back = crm.fetch(RecordKind.ACCOUNT, ids[:1])[0]
    assert back.written == fields().comparable()


def test_every_call_names_icpbot_as_its_client(fake: FakeSalesforce) -> None:
    """Salesforce names the client in the change events a write causes: icpbot's own are
    known by it, with no read (SOAP and OAuth logins are not API calls)."""
    crm = adapter(fake)
    crm.write_scores([ScoreUpdate(RecordKind.ACCOUNT, account(fake, "acme.com"), fields())])
    crm.fetch(RecordKind.ACCOUNT, [])
    made = fake.requests()
    assert made and {r.client for r in made} == {CLIENT_NAME} == {"icpbot"}


def test_a_lead_gets_its_persona_score(fake: FakeSalesforce) -> None:
    lead = fake.add("Lead", {"LastName": "Ng", "Email": "dana@acme.com", "Company": "Acme"})
    crm = adapter(fake)
    crm.write_scores([ScoreUpdate(RecordKind.LEAD, lead, fields(persona=60))])
    assert fake.row("Lead", lead)["ICP_Persona_Score__c"] == 60
    assert crm.fetch(RecordKind.LEAD, [lead])[0].written == fields(persona=60).comparable()


def test_a_refused_record_fails_alone(fake: FakeSalesforce) -> None:
    good, gone = account(fake, "good.com"), "001000000000999AAA"
    updates = [ScoreUpdate(RecordKind.ACCOUNT, i, fields()) for i in (good, gone)]
    report = adapter(fake).write_scores(updates)
    assert report.written == 1
    assert report.failed[gone].startswith("ENTITY_IS_DELETED")
    assert fake.row("Account", good)["ICP_Tier__c"] == "A"


def test_set_owner_sets_owner_id_and_finds_users_by_email(fake: FakeSalesforce) -> None:
    acme = account(fake, "acme.com")
    dana = fake.add_user("dana@example.com", name="Dana Reyes")
    fake.add_user("old@example.com", active=False)
    crm = adapter(fake)
    assert crm.owner_for_email("dana@example.com") == dana
    assert crm.owner_for_email("old@example.com") is None
    crm.set_owner(RecordKind.ACCOUNT, acme, dana)
    assert fake.row("Account", acme)["OwnerId"] == dana
    assert crm.owner_email(dana) == "dana@example.com"
    assert crm.owner(dana) == Owner(dana, "Dana Reyes", "dana@example.com")
    assert crm.owner("005000000000999AAA") is None
    with pytest.raises(ValueError, match="INVALID_CROSS_REFERENCE_KEY"):
        crm.set_owner(RecordKind.ACCOUNT, acme, "005000000000999AAA")


# -- text from Slack reaches SOQL --------------------------------------------------------------


def _last_conditions(fake: FakeSalesforce) -> list[soql.Condition]:
    return soql.parse(fake.queries()[-1]).conditions()


@pytest.mark.parametrize(
    "text",
    [
        "acme.com' OR Name LIKE '%",
        "acme.com\\' OR Name != '",
        "x' OR Id != null OR Name = 'y",
        "a%b_c\\",
        "new\nline\t'quoted\"",
    ],
)
def test_injection_attempts_stay_one_quoted_value(fake: FakeSalesforce, text: str) -> None:
    account(fake, "acme.com")
    crm = adapter(fake)
    assert crm.find_accounts(name=text) == []
    assert _last_conditions(fake) == [soql.Condition("Name", "=", text)]
    assert crm.find_accounts(domain=text) == []
    query = soql.parse(fake.queries()[-1])
    (condition,) = query.conditions()
    assert (condition.field, condition.op) == ("Website", "LIKE")
    assert query.matches({"Website": f"https://{text}/about"})
    assert not query.matches({"Website": "https://acme.com"})


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.text(max_size=40))
def test_any_company_name_is_one_equality_condition(fake: FakeSalesforce, text: str) -> None:
    adapter(fake).find_accounts(name=text or "x")
    assert _last_conditions(fake) == [soql.Condition("Name", "=", text or "x")]


def test_quote_escapes_what_soql_needs() -> None:
    assert quote("O'Brien \\ co") == "'O\\'Brien \\\\ co'"
    assert like_pattern("50%_off") == "'%50\\%\\_off%'"


def test_a_domain_finds_accounts_by_website_whatever_its_form(fake: FakeSalesforce) -> None:
    acme = account(fake, "https://www.acme.com/pricing")
    account(fake, "https://notacme.com")
    found = adapter(fake).find_accounts(domain="acme.com")
    assert [r.crm_id for r in found] == [acme]


# -- failures ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "code"),
    [(500, "UNKNOWN_EXCEPTION"), (503, "SERVER_UNAVAILABLE"), (429, "")],
)
def test_passing_failures_are_retried_and_nothing_is_lost(
    fake: FakeSalesforce, status: int, code: str
) -> None:
    ids = [account(fake, f"c{n}.com") for n in range(3)]
    fake.fail_next(2, status=status, code=code)
    report = adapter(fake).write_scores([ScoreUpdate(RecordKind.ACCOUNT, i, fields()) for i in ids])
    assert report.written == 3
    assert all(fake.row("Account", i)["ICP_Tier__c"] == "A" for i in ids)
    assert [r.status for r in fake.requests()][:3] == [status, status, 200]


def test_the_daily_limit_is_not_retried_but_noted(fake: FakeSalesforce) -> None:
    """REQUEST_LIMIT_EXCEEDED: the org's requests for the day are spent; minutes of retries
    would be refused the same, so the call fails at once and the adapter remembers it."""
    crm = adapter(fake)
    fake.fail_next(1, status=403, code="REQUEST_LIMIT_EXCEEDED")
    with pytest.raises(Exception) as raised:
        crm.fetch(RecordKind.ACCOUNT, ["001000000000001AAA"])
    assert client_error(raised.value) == "HTTP 403: REQUEST_LIMIT_EXCEEDED: injected failure"
    assert len(fake.requests()) == 1 and crm.limit_refused()
    crm.check()  # the limits read again, answered
    assert not crm.limit_refused()


def test_a_malformed_request_is_not_retried(fake: FakeSalesforce) -> None:
    fake.fail_next(1, status=400, code="MALFORMED_QUERY")
    with pytest.raises(Exception) as raised:
        adapter(fake).fetch(RecordKind.ACCOUNT, ["001000000000001AAA"])
    assert client_error(raised.value) == "HTTP 400: MALFORMED_QUERY: injected failure"
    assert len(fake.requests()) == 1


def test_timeouts_are_passing_failures() -> None:
    failure = classify(requests.ReadTimeout())
    assert failure is not None and failure.transient and failure.outcome == "timeout"


def test_a_slow_answer_times_out_and_is_retried(fake: FakeSalesforce) -> None:
    acme = account(fake, "acme.com")
    fake.latency = 0.5
    crm = adapter(fake, policy=RetryPolicy(attempts=2, initial=0.01), timeout=(2.0, 0.1))
    with pytest.raises(requests.ReadTimeout):
        crm.fetch(RecordKind.ACCOUNT, [acme])
    fake.latency = 0.0
    assert [r.crm_id for r in crm.fetch(RecordKind.ACCOUNT, [acme])] == [acme]


# -- logins ------------------------------------------------------------------------------------


def test_password_login_and_a_renewed_session(fake: FakeSalesforce) -> None:
    acme = account(fake, "acme.com")
    crm = password_adapter(fake)
    assert [r.crm_id for r in crm.fetch(RecordKind.ACCOUNT, [acme])] == [acme]
    fake.expire_sessions()
    assert [r.crm_id for r in crm.fetch(RecordKind.ACCOUNT, [acme])] == [acme]
    assert [r.status for r in fake.requests()][-3:] == [200, 401, 200]


def test_a_refused_login_says_why(fake: FakeSalesforce) -> None:
    with pytest.raises(SalesforceAuthenticationFailed) as raised:
        password_adapter(fake, password="wrong").count(RecordKind.ACCOUNT)
    assert client_error(raised.value) == (
        "login refused: INVALID_LOGIN: Invalid username, password, security token; "
        "or user locked out."
    )


def test_jwt_bearer_login(fake: FakeSalesforce) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    fake.public_key = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    client = jwt_connection(
        login_url=fake.url,
        client_id="icpbot-connected-app",
        username="icpbot@example.com",
        private_key=private,
        version="62.0",
    )
    assert client.query("SELECT COUNT() FROM Account")["totalSize"] == 0
    with pytest.raises(SalesforceAuthenticationFailed):
        jwt_connection(
            login_url=fake.url,
            client_id="someone-else",
            username="icpbot@example.com",
            private_key=private,
            version="62.0",
        )


def test_a_login_host_that_never_answers_is_given_up_on() -> None:
    """simple-salesforce's logins pass no timeout; the session's own applies."""
    with Silent() as server:
        started = time.monotonic()
        with pytest.raises(requests.Timeout):
            password_connection(
                login_url=server.url,
                username="icpbot@example.com",
                password="secret",
                security_token=None,
                version="62.0",
                session=timed_session((1.0, 1.0)),
            )
        assert time.monotonic() - started < 4
        assert server.accepted == 1


# -- limits ------------------------------------------------------------------------------------


def test_the_daily_api_budget_holds_polling(fake: FakeSalesforce) -> None:
    crm = adapter(fake)
    budget = ApiBudget(crm, 0.8, recheck=0.0)
    crm.count(RecordKind.ACCOUNT)
    assert crm.api_usage() == (1, 100_000)
    assert budget.exceeded() is None
    fake.set_api_usage(85_000)
    crm.count(RecordKind.ACCOUNT)
    assert budget.exceeded() == "85,001 of 100,000 daily API requests used (budget 80%)"
    fake.set_api_usage(10)  # a new day: the limits are read again while polling holds
    assert budget.exceeded() is None


# -- setup -------------------------------------------------------------------------------------


def test_setup_creates_the_fields_once(monkeypatch: pytest.MonkeyPatch) -> None:
    with FakeSalesforce(icp_fields=False) as fake:
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", fake.ca_file)
        crm = adapter(fake)
        first = crm.setup()
        assert len(first.created) == 13 and first.existing == []
        assert "Lead.ICP_Persona_Score__c" in first.created
        assert fake.has_field("Account", "ICP_Tier__c")
        again = crm.setup()
        assert again.created == [] and len(again.existing) == 13
        acme = account(fake, "acme.com")
        assert crm.write_scores([ScoreUpdate(RecordKind.ACCOUNT, acme, fields())]).written == 1


def test_setup_selects_lead_account_and_opportunity_for_change_data_capture_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with FakeSalesforce(cdc_selected=("Contact",)) as fake:
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", fake.ca_file)
        crm = adapter(fake)
        assert crm.cdc_entities() == {"Contact"}
        first = crm.setup()
        assert first.capture_selected == ["Lead", "Account", "Opportunity"]
        assert first.capture_existing == [] and first.capture_refused == []
        assert fake.cdc_selected() == {"Contact", "Lead", "Account", "Opportunity"}  # kept
        again = crm.setup()
        assert again.capture_selected == [] and again.capture_refused == []
        assert again.capture_existing == ["Lead", "Account", "Opportunity"]
        assert crm.cdc_entities() == {"Contact", "Lead", "Account", "Opportunity"}


def test_a_full_allocation_refuses_the_rest_with_what_to_do(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with FakeSalesforce(cdc_selected=("Contact", "Case", "Order", "Lead")) as fake:
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", fake.ca_file)
        report = adapter(fake).setup()
        assert report.created == [] and len(report.existing) == 13  # the fields are there
        assert report.capture_existing == ["Lead"] and report.capture_selected == ["Account"]
        (refused,) = report.capture_refused
        assert refused.entity == "Opportunity" and "allocation is used up" in refused.reason
        assert "deselect" in refused.next_step and "add-on" in refused.next_step
        assert fake.cdc_selected() == {"Contact", "Case", "Order", "Lead", "Account"}


def test_an_edition_without_change_data_capture_is_asked_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with FakeSalesforce(cdc_available=False) as fake:
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", fake.ca_file)
        report = adapter(fake).setup()
        assert [r.entity for r in report.capture_refused] == ["Lead", "Account", "Opportunity"]
        assert all("edition has no Change Data Capture" in r.reason for r in report.capture_refused)
        posts = [r for r in fake.requests() if r.path.endswith("PlatformEventChannelMember")]
        assert len(posts) == 1  # the org's answer holds for every object


def test_a_selection_made_meanwhile_counts_as_already_selected(fake: FakeSalesforce) -> None:
    crm = adapter(fake)
    crm.cdc_entities()  # a session is open; the channel is read next by setup
    fake.fail_next(
        1, status=400, path="PlatformEventChannelMember", code="DUPLICATE_DEVELOPER_NAME"
    )
    report = crm.setup()
    assert report.capture_existing == ["Lead"]
    assert report.capture_selected == ["Account", "Opportunity"]


def test_a_refusal_of_one_object_leaves_the_others_asked(fake: FakeSalesforce) -> None:
    fake.fail_next(
        1, status=400, path="PlatformEventChannelMember", code="FIELD_INTEGRITY_EXCEPTION"
    )
    report = adapter(fake).setup()
    (refused,) = report.capture_refused
    assert refused.entity == "Lead" and "FIELD_INTEGRITY_EXCEPTION" in refused.reason
    assert "Setup > Change Data Capture" in refused.next_step
    assert report.capture_selected == ["Account", "Opportunity"]


def test_without_permission_to_read_the_selection_every_object_is_refused(
    fake: FakeSalesforce,
) -> None:
    fake.fail_next(1, status=403, path="tooling/query", code="INSUFFICIENT_ACCESS")
    report = adapter(fake).setup()
    assert [r.entity for r in report.capture_refused] == ["Lead", "Account", "Opportunity"]
    assert "Customize Application" in report.capture_refused[0].reason
    assert fake.cdc_selected() == frozenset()


def test_a_channel_salesforce_cannot_read_for_now_fails_after_the_retries(
    fake: FakeSalesforce,
) -> None:
    fake.fail_next(10, status=503, path="tooling/query")
    with pytest.raises(SalesforceError):
        adapter(fake, policy=RetryPolicy(attempts=2, initial=0.01, max_backoff=0.01)).setup()


def test_without_setup_the_work_stops_with_what_to_do(monkeypatch: pytest.MonkeyPatch) -> None:
    with FakeSalesforce(icp_fields=False) as fake:
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", fake.ca_file)
        with pytest.raises(MissingFields) as raised:
            list(adapter(fake).pages(RecordKind.ACCOUNT))
    message = client_error(raised.value)
    assert message is not None and "run `icpbot crm setup salesforce`" in message


def test_mapped_fields_the_org_lacks_stay_unknown(
    fake: FakeSalesforce, caplog: pytest.LogCaptureFixture
) -> None:
    acme = account(fake, "acme.com", Industry="Software")
    field_map = load_config(ROOT / "config", today=NOW.date()).fields  # maps Technologies__c...
    crm = SalesforceCrm(
        connect=lambda: token_connection(
            instance_url=fake.url, access_token="test-token", version="62.0"
        ),
        caller=caller(),
        field_map=field_map,
    )
    (record,) = crm.fetch(RecordKind.ACCOUNT, [acme])
    assert record.fields["industry"] == "Software"
    assert "technologies" not in record.fields
    assert "Technologies__c" in caplog.text and "stay unknown" in caplog.text
    assert "Technologies__c" not in fake.queries()[-1]


def test_the_shipped_metadata_matches_the_field_definitions() -> None:
    shipped = ROOT / "config" / "salesforce"
    for relative, text in salesforce_metadata.render().items():
        assert (shipped / relative).read_text() == text, relative
