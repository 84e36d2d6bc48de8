"""The HubSpot adapter through the real SDK, against the wire-level fake HubSpot."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from hubspot.crm.companies.exceptions import ApiException

from integrations.base import ScoreFields, ScoreUpdate
from integrations.fieldmap import FieldMap, default_field_map, parse_field_map
from integrations.hubspot import DEAL_PROPERTIES, HubSpotCrm, classify, make_client
from integrations.ratelimit import RateLimiter
from integrations.records import RecordKind
from integrations.retries import CrmCaller, RetryPolicy
from tests.fakes.hubspot import FakeHubSpot

NOW = datetime(2026, 11, 20, 9, 30, tzinfo=UTC)
FAST = RetryPolicy(attempts=4, max_seconds=20, initial=0.01, max_backoff=0.05)


@pytest.fixture
def fake() -> Iterator[FakeHubSpot]:
    with FakeHubSpot(rate_limit=None) as server:
        yield server


@pytest.fixture
def portal(fake: FakeHubSpot) -> FakeHubSpot:
    """A portal where `crm setup hubspot` has run: the icp_* properties exist."""
    adapter(fake).setup()
    return fake


def adapter(
    fake: FakeHubSpot,
    *,
    policy: RetryPolicy = FAST,
    limit: int = 1000,
    window: float = 10.0,
    timeout: tuple[float, float] = (2.0, 5.0),
    field_map: FieldMap | None = None,
) -> HubSpotCrm:
    caller = CrmCaller(
        crm="hubspot", limiter=RateLimiter(limit, window), classify=classify, policy=policy
    )
    return HubSpotCrm(
        client=make_client(access_token=fake.token, host=fake.url + "/"),
        caller=caller,
        field_map=field_map or default_field_map(),
        portal_id="4242",
        timeout=timeout,
    )


def company(fake: FakeHubSpot, domain: str, **props: str) -> str:
    return fake.add_company({"domain": domain, "name": domain.split(".")[0].title(), **props})


def fields(score: int = 87, tier: str = "A") -> ScoreFields:
    return ScoreFields(score, tier, "midmarket-saas", "SaaS\nHubSpot user", 7, NOW)


def api_calls(fake: FakeHubSpot, fragment: str) -> list:
    return [r for r in fake.requests if fragment in r.path]


def test_pages_stream_every_company_100_a_call_in_canonical_form(fake: FakeHubSpot) -> None:
    ids = [
        company(fake, f"https://www.c{n}.com/about", numberofemployees="1,200") for n in range(250)
    ]
    pages = list(adapter(fake).pages(RecordKind.ACCOUNT))
    records = [r for page in pages for r in page.records]
    assert [len(p.records) for p in pages] == [100, 100, 50]
    assert pages[-1].after is None
    assert [r.crm_id for r in records] == ids
    first = records[0]
    assert first.domain == "c0.com"
    assert first.fields["employees"] == 1200
    assert first.url == f"https://app.hubspot.com/contacts/4242/record/0-2/{ids[0]}"
    assert first.written == {
        "score": "",
        "tier": "",
        "profile": "",
        "reasons": "",
        "version": "",
        "persona_score": "",
    }
    assert len(api_calls(fake, "/crm/v3/objects/companies")) == 3


def test_pages_resume_from_a_cursor(fake: FakeHubSpot) -> None:
    for n in range(150):
        company(fake, f"c{n}.com")
    crm = adapter(fake)
    first = next(crm.pages(RecordKind.ACCOUNT))
    rest = [
        r.crm_id for page in crm.pages(RecordKind.ACCOUNT, after=first.after) for r in page.records
    ]
    assert len(rest) == 50
    assert not {r.crm_id for r in first.records} & set(rest)


def test_companies_without_a_domain_are_reported_not_tagged(fake: FakeHubSpot) -> None:
    company(fake, "acme.com")
    nameless = fake.add_company({"name": "No Website Ltd"})
    crm = adapter(fake)
    assert [r.domain for r in crm.accounts()] == ["acme.com"]
    assert [str(e) for e in crm.errors()] == [f"hubspot company row {nameless}: has no domain"]


def test_fetch_reads_100_a_call_and_skips_deleted_ids(fake: FakeHubSpot) -> None:
    ids = [company(fake, f"c{n}.com") for n in range(150)]
    records = adapter(fake).fetch(RecordKind.ACCOUNT, [*ids, "999999"])
    assert sorted(r.crm_id for r in records) == sorted(ids)
    reads = api_calls(fake, "/batch/read")
    assert [len(r.body["inputs"]) for r in reads] == [100, 51]


def test_contacts_come_with_their_company(fake: FakeHubSpot) -> None:
    acme = company(fake, "acme.com")
    linked = fake.add_contact({"email": "dana@gmail.com", "jobtitle": "VP Sales"}, company_id=acme)
    alone = fake.add_contact({"email": "sam@initech.com"})
    crm = adapter(fake)
    by_id = {r.crm_id: r for r in crm.fetch(RecordKind.CONTACT, [linked, alone])}
    assert by_id[linked].company_id == acme
    assert by_id[alone].company_id is None
    assert by_id[linked].fields["job_title"] == "VP Sales"
    listed = {r.crm_id: r for r in crm.people()}
    assert listed[linked].company_id == acme


def test_write_scores_batches_100_a_call_and_sets_the_properties(portal: FakeHubSpot) -> None:
    ids = [company(portal, f"c{n}.com") for n in range(150)]
    contact = portal.add_contact({"email": "dana@c1.example.com"})
    updates = [ScoreUpdate(RecordKind.ACCOUNT, i, fields()) for i in ids]
    persona = ScoreFields(87, "A", "midmarket-saas", "SaaS", 7, NOW, persona_score=60)
    updates.append(ScoreUpdate(RecordKind.CONTACT, contact, persona))
    report = adapter(portal).write_scores(updates)
    assert report.written == 151 and not report.failed
    writes = api_calls(portal, "/batch/update")
    assert [len(w.body["inputs"]) for w in writes] == [100, 50, 1]
    props = portal.company(ids[0])
    assert props["icp_score"] == "87"
    assert props["icp_tier"] == "A"
    assert props["icp_reasons"] == "SaaS\nHubSpot user"
    assert props["icp_scored_at"] == "2026-11-20T09:30:00.000Z"
    assert "icp_persona_score" not in writes[0].body["inputs"][0]["properties"]
    assert portal.contact(contact)["icp_persona_score"] == "60"


def test_what_was_written_reads_back_equal(portal: FakeHubSpot) -> None:
    acme = company(portal, "acme.com")
    crm = adapter(portal)
    crm.write_scores([ScoreUpdate(RecordKind.ACCOUNT, acme, fields())])
    (record,) = crm.fetch(RecordKind.ACCOUNT, [acme])
    assert record.written == fields().comparable()


def test_a_record_hubspot_refuses_is_isolated_and_the_rest_written(portal: FakeHubSpot) -> None:
    ids = [company(portal, f"c{n}.com") for n in range(10)]
    updates = [ScoreUpdate(RecordKind.ACCOUNT, i, fields()) for i in [*ids[:5], "404404", *ids[5:]]]
    report = adapter(portal).write_scores(updates)
    assert report.written == 10
    assert list(report.failed) == ["404404"]
    assert report.failed["404404"].startswith("HTTP 400")
    assert all(portal.company(i)["icp_tier"] == "A" for i in ids)


def test_records_a_207_names_are_reported_with_hubspots_message(portal: FakeHubSpot) -> None:
    ids = [company(portal, f"c{n}.com") for n in range(4)]
    portal.refuse_updates({ids[1]: "Property values were not valid: icp_tier"})
    report = adapter(portal).write_scores(
        [ScoreUpdate(RecordKind.ACCOUNT, i, fields()) for i in ids]
    )
    assert report.failed == {ids[1]: "Property values were not valid: icp_tier"}
    assert report.written == 3
    assert [portal.company(i).get("icp_tier") for i in ids] == ["A", None, "A", "A"]


def test_429_waits_what_hubspot_asks_and_succeeds(fake: FakeHubSpot) -> None:
    acme = company(fake, "acme.com")
    fake.fail_next(2, status=429, retry_after=0.2)
    started = datetime.now(UTC)
    records = adapter(fake).fetch(RecordKind.ACCOUNT, [acme])
    waited = (datetime.now(UTC) - started).total_seconds()
    assert [r.crm_id for r in records] == [acme]
    assert waited >= 0.35
    assert [r.status for r in fake.requests] == [429, 429, 200]


def test_5xx_and_dropped_answers_are_retried(portal: FakeHubSpot) -> None:
    acme = company(portal, "acme.com")
    portal.fail_next(2, status=503)
    crm = adapter(portal)
    assert crm.write_scores([ScoreUpdate(RecordKind.ACCOUNT, acme, fields())]).written == 1
    assert [r.status for r in api_calls(portal, "/batch/update")] == [503, 503, 200]


def test_a_slow_answer_times_out_and_is_retried(fake: FakeHubSpot) -> None:
    acme = company(fake, "acme.com")
    fake.latency = 1.0
    threading.Timer(0.5, lambda: setattr(fake, "latency", 0.0)).start()
    records = adapter(fake, timeout=(1.0, 0.3)).fetch(RecordKind.ACCOUNT, [acme])
    assert [r.crm_id for r in records] == [acme]


def test_an_outage_longer_than_the_retries_raises_the_last_error(fake: FakeHubSpot) -> None:
    acme = company(fake, "acme.com")
    fake.fail_next(10, status=500)
    with pytest.raises(ApiException) as caught:
        adapter(fake, policy=RetryPolicy(attempts=3, initial=0.01, max_backoff=0.02)).fetch(
            RecordKind.ACCOUNT, [acme]
        )
    assert caught.value.status == 500
    assert len(fake.requests) == 3


def test_a_bad_token_is_not_retried(fake: FakeHubSpot) -> None:
    crm = HubSpotCrm(
        client=make_client(access_token="wrong", host=fake.url),
        caller=adapter(fake).call,
        field_map=default_field_map(),
    )
    with pytest.raises(ApiException) as caught:
        list(crm.accounts())
    assert caught.value.status == 401
    assert len(fake.requests) == 1


def test_the_limiter_keeps_calls_under_the_fakes_limit(fake: FakeHubSpot) -> None:
    fake.rate_limit = (5, 1.0)
    ids = [company(fake, f"c{n}.com") for n in range(8)]
    crm = adapter(fake, limit=5, window=1.0)
    for company_id in ids:
        crm.fetch(RecordKind.ACCOUNT, [company_id])
    assert fake.stats()["rate_limited"] == 0
    assert fake.stats()["max_in_window"] <= 5


def test_modified_since_lists_changes_oldest_first(portal: FakeHubSpot) -> None:
    ids = [company(portal, f"c{n}.com") for n in range(5)]
    crm = adapter(portal)
    since = datetime.now(UTC) - timedelta(seconds=1)
    crm.write_scores([ScoreUpdate(RecordKind.ACCOUNT, ids[3], fields())])
    changed = list(crm.modified_since(RecordKind.ACCOUNT, since))
    assert {i for i, _ in changed} == set(ids)
    assert changed[-1][0] == ids[3]
    assert [m for _, m in changed] == sorted(m for _, m in changed)
    later = list(crm.modified_since(RecordKind.ACCOUNT, changed[-1][1]))
    assert [i for i, _ in later] == [ids[3]]


def test_modified_since_pages_through_opaque_cursors(portal: FakeHubSpot) -> None:
    ids = portal.seed_companies(450)  # three search pages of 200
    since = datetime(2000, 1, 1, tzinfo=UTC)
    changed = [i for i, _ in adapter(portal).modified_since(RecordKind.ACCOUNT, since)]
    assert sorted(changed) == sorted(ids)
    cursors = [r.body.get("after") for r in portal.requests if r.path.endswith("/search")]
    assert len(cursors) == 3 and all(c is None or not c.isdigit() for c in cursors)


def test_count_asks_the_search_api_once(fake: FakeHubSpot) -> None:
    for n in range(7):
        company(fake, f"c{n}.com")
    assert adapter(fake).count(RecordKind.ACCOUNT) == 7
    assert len(api_calls(fake, "/search")) == 1


def test_searches_keep_to_the_search_apis_own_limit(fake: FakeHubSpot) -> None:
    """Five searches a second per token, apart from the 10-second window: a burst of
    lookups (an /icp flurry, a sweep) is paced, never refused."""
    crm = adapter(fake)
    for _ in range(10):
        crm.count(RecordKind.ACCOUNT)
    stats = fake.stats()
    assert stats["rate_limited"] == 0
    assert stats["max_searches_in_a_second"] <= 5


def test_setup_creates_the_group_and_properties_once(fake: FakeHubSpot) -> None:
    crm = adapter(fake)
    first = crm.setup()
    assert "companies group icp" in first.created
    assert "companies.icp_tier" in first.created
    assert "contacts.icp_persona_score" in first.created
    assert "companies.icp_persona_score" not in first.created + first.existing
    assert not first.existing
    tier = fake.properties_of("companies")["icp_tier"]
    assert tier["type"] == "enumeration"
    assert [o["value"] for o in tier["options"]] == ["A", "B", "C", "D", "DQ"]
    second = crm.setup()
    assert not second.created
    assert sorted(second.existing) == sorted(first.created)


# -- deals -----------------------------------------------------------------------------------


def deals_adapter(fake: FakeHubSpot, fields_yaml: str) -> HubSpotCrm:
    field_map, problems = parse_field_map(fields_yaml, source="fields.yaml")
    assert not problems
    return adapter(fake, field_map=field_map)


def test_deals_are_read_100_a_call_with_one_company_read_per_page(fake: FakeHubSpot) -> None:
    companies = [company(fake, f"c{n}.com") for n in range(5)]
    for n in range(250):
        fake.add_deal({"dealname": f"D{n}", "dealstage": "closedwon"}, company_id=companies[n % 5])
    deals = list(adapter(fake).deals())
    assert len(deals) == 250
    assert {d.domain for d in deals} == {f"c{n}.com" for n in range(5)}
    lists = api_calls(fake, "/crm/v3/objects/deals")
    assert len(lists) == 3 and all(r.method == "GET" for r in lists)
    assert lists[0].query["limit"] == ["100"]
    assert lists[0].query["associations"] == ["companies"]
    assert lists[0].query["properties"] == DEAL_PROPERTIES  # the names HubSpot's deals use
    reads = api_calls(fake, "/crm/v3/objects/companies/batch/read")
    assert len(reads) == 3  # one per page of deals, never one per deal
    assert all(r.body["properties"] == ["domain"] for r in reads)
    assert not api_calls(fake, "/crm/v3/pipelines")  # no churn stage named: nothing to look up


def test_a_deals_account_is_its_primary_company(fake: FakeHubSpot) -> None:
    acme = company(fake, "acme.com")
    initech = company(fake, "initech.com")
    deal = fake.add_deal({"dealname": "Initech", "dealstage": "closedwon"}, company_id=initech)
    fake.associate_deal(deal, acme)  # a lower id, but not the primary one
    (found,) = adapter(fake).deals()
    assert found.domain == "initech.com"


def test_a_deal_whose_company_has_no_domain_is_named(fake: FakeHubSpot) -> None:
    nameless = fake.add_company({"name": "No Website Ltd"})
    deal = fake.add_deal({"dealname": "X", "dealstage": "closedwon"}, company_id=nameless)
    crm = adapter(fake)
    assert list(crm.deals()) == []
    assert [str(e) for e in crm.errors()] == [
        f"hubspot deal row {deal}: its company {nameless} has no domain"
    ]


def test_churn_is_a_stage_named_by_internal_id_or_by_label(fake: FakeHubSpot) -> None:
    fake.add_deal_stage("87654321", "Churned", probability=0.0, closed=True)
    fake.add_deal_stage("99887766", "Lost At Renewal", probability=1.0, closed=True)
    acme = company(fake, "acme.com")
    for stage in ("87654321", "99887766", "closedwon", "closedlost", "contractsent"):
        fake.add_deal({"dealname": stage, "dealstage": stage}, company_id=acme)
    churn = "hubspot:\n  deal:\n    churned_stages: [87654321, lost at renewal]\n"
    deals = {d.name: d.stage for d in deals_adapter(fake, churn).deals()}
    assert deals == {
        "87654321": "churned",  # by id (unquoted in YAML: a number, read as text)
        "99887766": "churned",  # by label, in any case, though HubSpot counts it as won
        "closedwon": "closed_won",
        "closedlost": "closed_lost",
        "contractsent": "open",
    }
    assert len(api_calls(fake, "/crm/v3/pipelines/deals")) == 1  # looked up once a read


def test_a_portal_that_refuses_the_pipelines_still_has_churn_by_stage_id(
    fake: FakeHubSpot, caplog: pytest.LogCaptureFixture
) -> None:
    fake.add_deal_stage("87654321", "Churned", probability=0.0, closed=True)
    acme = company(fake, "acme.com")
    fake.add_deal({"dealname": "by id", "dealstage": "87654321"}, company_id=acme)
    fake.fail_next(1, status=403, path="/crm/v3/pipelines")
    churn = "hubspot:\n  deal:\n    churned_stages: ['87654321', Churned]\n"
    assert [d.stage for d in deals_adapter(fake, churn).deals()] == ["churned"]
    assert "HubSpot refused the deal pipelines (HTTP 403" in caplog.text


def test_deals_modified_since_reads_associations_and_companies_in_batches(
    fake: FakeHubSpot,
) -> None:
    acme = company(fake, "acme.com")
    ids = [fake.add_deal({"dealname": f"D{n}", "dealstage": "closedlost"}) for n in range(150)]
    for deal in ids:
        fake.associate_deal(deal, acme)
    since = datetime.now(UTC)
    for deal in reversed(ids):
        fake.update_deal(deal, {"dealstage": "closedwon"})
    changed = list(adapter(fake).deals_modified_since(since))
    assert sorted(d.crm_id for d, _ in changed if d) == ids
    assert [at for _, at in changed] == sorted(at for _, at in changed)  # oldest change first
    assert {(d.domain, d.stage) for d, _ in changed if d} == {("acme.com", "closed_won")}
    (search,) = api_calls(fake, "/crm/v3/objects/deals/search")
    assert search.body["filterGroups"][0]["filters"][0]["propertyName"] == "hs_lastmodifieddate"
    assert set(DEAL_PROPERTIES) <= set(search.body["properties"])
    associations = api_calls(fake, "/crm/v4/associations/deals/companies/batch/read")
    assert [len(r.body["inputs"]) for r in associations] == [100, 50]
    assert len(api_calls(fake, "/crm/v3/objects/companies/batch/read")) == 2


def test_deal_reads_keep_under_the_portals_limit(fake: FakeHubSpot) -> None:
    fake.rate_limit = (3, 0.5)
    companies = [company(fake, f"c{n}.com") for n in range(3)]
    for n in range(250):
        fake.add_deal({"dealname": f"D{n}", "dealstage": "open"}, company_id=companies[n % 3])
    assert len(list(adapter(fake, limit=3, window=0.5).deals())) == 250
    assert fake.stats()["rate_limited"] == 0
    assert fake.stats()["max_in_window"] <= 3
