"""SPEC §2 operators, one table row per rule, each scored through the Scorer.

Each row is a one-criterion ICP (`field`, operator line) and a field value;
the criterion must come out matched, missed or unknown. `ABSENT` means the
record has no such field at all.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from scoring.engine import Scorer
from scoring.result import Status
from tests.scoring.support import NOW, evaluate, one_criterion_icp

MATCHED, MISSED, UNKNOWN = Status.MATCHED, Status.MISSED, Status.UNKNOWN
ABSENT = object()
TODAY = NOW.date()

# Where the code disagrees with SPEC §2 (or the decisions taken where it is silent).


def row(field: str, rule: str, value: object, expected: Status, id: str, **kw: object):
    return pytest.param(field, rule, value, expected, id=id, **kw)


def check(field: str, rule: str, value: object, expected: Status) -> None:
    record = {} if value is ABSENT else {field: value}
    result = evaluate(field, rule, record)
    assert result.status is expected, f"{field} {rule} on {value!r}"


EQUALS = [
    row("industry", "equals: software", "software", MATCHED, "equals: same text"),
    row("industry", "equals: software", "SoftWare", MATCHED, "equals: case-insensitive"),
    row("industry", "equals: Software", "software", MATCHED, "equals: operand case ignored"),
    row("industry", "equals: software", "  software ", MATCHED, "equals: surrounding spaces"),
    row("industry", "equals: software", "fintech", MISSED, "equals: other text is a miss"),
    row("industry", "equals: software", "software house", MISSED, "equals: not a substring"),
    row("industry", "equals: software", "", UNKNOWN, "equals: empty text is unknown"),
    row("industry", "equals: software", "   ", UNKNOWN, "equals: blank text is unknown"),
    row("industry", "equals: software", None, UNKNOWN, "equals: None is unknown"),
    row("industry", "equals: software", ABSENT, UNKNOWN, "equals: missing field is unknown"),
    row("employees", "equals: 450", 450, MATCHED, "equals: number"),
    row("employees", "equals: 450", "450", MATCHED, "equals: number given as text"),
    row("employees", "equals: 450", 450.0, MATCHED, "equals: 450.0 is 450"),
    row("employees", "equals: 450", "450.0", MATCHED, "equals: '450.0' is 450"),
    row("employees", "equals: 1200", "1,200", MATCHED, "equals: '1,200' is 1200"),
    row("employees", "equals: 450", 451, MISSED, "equals: other number is a miss"),
    row(
        "employees",
        "equals: 450",
        "abc",
        UNKNOWN,
        "equals: unreadable number is unknown",
    ),
    row("has_revops", "equals: true", True, MATCHED, "equals true: True"),
    row("has_revops", "equals: true", "true", MATCHED, "equals true: 'true'"),
    row("has_revops", "equals: true", "TRUE", MATCHED, "equals true: 'TRUE'"),
    row("has_revops", "equals: true", "yes", MATCHED, "equals true: 'yes'"),
    row("has_revops", "equals: true", "Yes", MATCHED, "equals true: 'Yes'"),
    row("has_revops", "equals: true", "1", MATCHED, "equals true: '1'"),
    row("has_revops", "equals: true", False, MISSED, "equals true: False is a miss"),
    row("has_revops", "equals: true", "no", MISSED, "equals true: 'no' is a miss"),
    row("has_revops", "equals: true", "false", MISSED, "equals true: 'false' is a miss"),
    row("has_revops", "equals: false", "no", MATCHED, "equals false: 'no'"),
    row("has_revops", "equals: false", False, MATCHED, "equals false: False"),
    row("has_revops", "equals: true", "maybe", UNKNOWN, "equals true: 'maybe' is unknown"),
    row("has_revops", "equals: true", ABSENT, UNKNOWN, "equals true: missing is unknown"),
    row("last_funding_at", "equals: 2026-03-01", date(2026, 3, 1), MATCHED, "equals: date"),
    row("last_funding_at", "equals: 2026-03-01", "2026-03-01", MATCHED, "equals: date as text"),
    row("last_funding_at", "equals: 2026-03-01", date(2026, 3, 2), MISSED, "equals: other date"),
]

IN = [
    row("industry", "in: [software, saas]", "saas", MATCHED, "in: listed value"),
    row("industry", "in: [software, saas]", "SaaS", MATCHED, "in: case-insensitive"),
    row("industry", "in: [Software, SaaS]", "saas", MATCHED, "in: operand case ignored"),
    row("industry", "in: [software, saas]", "fintech", MISSED, "in: unlisted value is a miss"),
    row("industry", "in: [software, saas]", "", UNKNOWN, "in: empty is unknown"),
    row("industry", "in: [software, saas]", ABSENT, UNKNOWN, "in: missing is unknown"),
    row("industry", "in: [software, saas]", ["fintech", "saas"], MATCHED, "in: any of a list"),
    row("country", "in: [US, CA, GB]", "us", MATCHED, "in: country code, case-insensitive"),
    row("country", "in: [SE, NO, DK]", "NO", MATCHED, "in: NO stays the country Norway"),
    row("employees", "in: [100, 450]", "450", MATCHED, "in: numbers given as text"),
    row("employees", "in: [100, 450]", 450.0, MATCHED, "in: 450.0 is 450"),
    row("employees", "in: [100, 1200]", "1,200", MATCHED, "in: '1,200' is 1200"),
    row("employees", "in: [100, 450]", 451, MISSED, "in: other number is a miss"),
    row(
        "employees",
        "in: [100, 450]",
        "abc",
        UNKNOWN,
        "in: unreadable number is unknown",
    ),
]

NOT_IN = [
    row("industry", "not_in: [government, education]", "software", MATCHED, "not_in: other"),
    row("industry", "not_in: [government, education]", "Government", MISSED, "not_in: listed"),
    row("industry", "not_in: [government, education]", "", UNKNOWN, "not_in: empty is unknown"),
    row("industry", "not_in: [government]", ABSENT, UNKNOWN, "not_in: missing is unknown"),
    row("employees", "not_in: [0, 1]", "1", MISSED, "not_in: number given as text"),
    row("employees", "not_in: [0, 1]", 5, MATCHED, "not_in: other number"),
    row(
        "employees",
        "not_in: [0, 1]",
        "abc",
        UNKNOWN,
        "not_in: unreadable number is unknown, not a match",
    ),
]

BETWEEN = [
    row("employees", "between: [200, 800]", 450, MATCHED, "between: inside"),
    row("employees", "between: [200, 800]", 200, MATCHED, "between: low end is inclusive"),
    row("employees", "between: [200, 800]", 800, MATCHED, "between: high end is inclusive"),
    row("employees", "between: [200, 800]", 199, MISSED, "between: just below"),
    row("employees", "between: [200, 800]", 801, MISSED, "between: just above"),
    row("employees", "between: [200, 800]", 800.5, MISSED, "between: fraction above"),
    row("employees", "between: [200, 800]", "450", MATCHED, "between: '450' as text"),
    row("employees", "between: [200, 800]", " 450 ", MATCHED, "between: text with spaces"),
    row("employees", "between: [200, 800]", 450.0, MATCHED, "between: 450.0"),
    row("employees", "between: [200, 800]", "800.0", MATCHED, "between: '800.0' at the end"),
    row("employees", "between: [1000, 2000]", "1,200", MATCHED, "between: '1,200' is 1200"),
    row("employees", "between: [200, 800]", "12,000", MISSED, "between: '12,000' is 12000"),
    row("employees", "between: [200, 800]", "abc", UNKNOWN, "between: 'abc' is unknown"),
    row("employees", "between: [200, 800]", "5M", UNKNOWN, "between: '5M' is unknown"),
    row("employees", "between: [200, 800]", True, UNKNOWN, "between: a boolean is unknown"),
    row(
        "employees",
        "between: [200, 800]",
        "NaN",
        UNKNOWN,
        "between: 'NaN' is unknown",
    ),
    row("employees", "between: [200, 800]", "", UNKNOWN, "between: empty is unknown"),
    row("employees", "between: [200, 800]", ABSENT, UNKNOWN, "between: missing is unknown"),
    row("annual_revenue", "between: [5000000, 50000000]", "20,000,000", MATCHED, "between: big"),
]

GTE_LTE = [
    row("employees", "gte: 1000", 1000, MATCHED, "gte: equal is a match"),
    row("employees", "gte: 1000", 999, MISSED, "gte: one below is a miss"),
    row("employees", "gte: 1000", "1,200", MATCHED, "gte: '1,200' as text"),
    row("employees", "gte: 1000", "999.9", MISSED, "gte: '999.9' as text"),
    row("employees", "gte: 1000", "lots", UNKNOWN, "gte: 'lots' is unknown"),
    row("employees", "gte: 1000", ABSENT, UNKNOWN, "gte: missing is unknown"),
    row("employees", "lte: 20", 20, MATCHED, "lte: equal is a match"),
    row("employees", "lte: 20", 21, MISSED, "lte: one above is a miss"),
    row("employees", "lte: 20", "20.0", MATCHED, "lte: '20.0' as text"),
    row("employees", "lte: 20", 0, MATCHED, "lte: zero is a known value"),
    row("employees", "lte: 20", "n/a", UNKNOWN, "lte: 'n/a' is unknown"),
    row("employees", "lte: 20", ABSENT, UNKNOWN, "lte: missing is unknown"),
]

CONTAINS = [
    row("technologies", "contains_any: [hubspot]", ["HubSpot", "Slack"], MATCHED, "any: list"),
    row("technologies", "contains_any: [hubspot]", "slack;HubSpot", MATCHED, "any: 'a;b' text"),
    row("technologies", "contains_any: [hubspot]", " slack ; hubspot ", MATCHED, "any: spaces"),
    row("technologies", "contains_any: [HubSpot]", ["hubspot"], MATCHED, "any: operand case"),
    row("technologies", "contains_any: [hubspot]", "hubspot", MATCHED, "any: single item text"),
    row(
        "technologies",
        "contains_any: [hubspot, salesforce]",
        ["salesforce"],
        MATCHED,
        "any: one of several",
    ),
    row("technologies", "contains_any: [hubspot]", ["slack", "zoom"], MISSED, "any: none"),
    row("technologies", "contains_any: [hubspot]", "slack;zoom", MISSED, "any: none in text"),
    row("technologies", "contains_any: [hubspot]", ["hubspot crm"], MISSED, "any: whole items"),
    row("technologies", "contains_any: [hubspot]", [], UNKNOWN, "any: empty list is unknown"),
    row("technologies", "contains_any: [hubspot]", "", UNKNOWN, "any: empty text is unknown"),
    row("technologies", "contains_any: [hubspot]", ";", UNKNOWN, "any: only separators"),
    row("technologies", "contains_any: [hubspot]", ["", " "], UNKNOWN, "any: blank items"),
    row("technologies", "contains_any: [hubspot]", ABSENT, UNKNOWN, "any: missing is unknown"),
    row(
        "technologies",
        "contains_all: [hubspot, slack]",
        ["Slack", "HubSpot", "Zoom"],
        MATCHED,
        "all: list holding every item",
    ),
    row(
        "technologies",
        "contains_all: [hubspot, slack]",
        "zoom;slack;hubspot",
        MATCHED,
        "all: 'a;b;c' text holding every item",
    ),
    row("technologies", "contains_all: [hubspot, slack]", ["hubspot"], MISSED, "all: only one"),
    row("technologies", "contains_all: [hubspot, slack]", "hubspot", MISSED, "all: one as text"),
    row("technologies", "contains_all: [hubspot, slack]", [], UNKNOWN, "all: empty is unknown"),
    row("technologies", "contains_all: [hubspot]", ABSENT, UNKNOWN, "all: missing is unknown"),
]

VP_SALES = r"""matches: '(?i)\b(vp|head)\b.*\bsales\b'"""
MATCHES = [
    row("job_title", VP_SALES, "VP of Sales", MATCHED, "matches: (?i) pattern"),
    row("job_title", VP_SALES, "Head of Sales EMEA", MATCHED, "matches: (?i) text after"),
    row("job_title", VP_SALES, "Sales Intern", MISSED, "matches: (?i) no match"),
    row("job_title", "matches: 'Sales'", "Head of Sales EMEA", MATCHED, "matches: anywhere"),
    row("job_title", "matches: 'Sales'", "head of sales", MISSED, "matches: case-sensitive"),
    row("job_title", "matches: '(?i)Sales'", "head of sales", MATCHED, "matches: (?i) any case"),
    row("job_title", "matches: '^Sales$'", "Head of Sales", MISSED, "matches: ^...$ anchored"),
    row("job_title", "matches: '^Sales$'", "Sales", MATCHED, "matches: ^...$ whole value"),
    row("job_title", "matches: '^Head'", "Head of Sales", MATCHED, "matches: ^ at the start"),
    row("job_title", "matches: 'Sales$'", "Sales Manager", MISSED, "matches: $ at the end"),
    row("job_title", "matches: 'Sales'", "", UNKNOWN, "matches: empty is unknown"),
    row("job_title", "matches: '^$'", "", UNKNOWN, "matches: empty is unknown even for ^$"),
    row("job_title", "matches: 'None'", None, UNKNOWN, "matches: None is unknown"),
    row("job_title", "matches: 'Sales'", ABSENT, UNKNOWN, "matches: missing is unknown"),
    row("job_title", "matches: '.*'", ABSENT, UNKNOWN, "matches: .* on missing is unknown"),
    row("technologies", "matches: '^hub'", ["slack", "hubspot"], MATCHED, "matches: list item"),
    row("technologies", "matches: '^hubspot$'", ["slack", "hubspot"], MATCHED, "matches: item"),
    row("technologies", "matches: '^zoom$'", ["slack", "hubspot"], MISSED, "matches: no item"),
    row(
        "technologies",
        "matches: '^hubspot$'",
        "slack;hubspot",
        MATCHED,
        "matches: each item of an 'a;b' list text",
    ),
]

DAY = timedelta(days=1)
PLUS_TWO = timezone(timedelta(hours=2))
WITHIN = [
    row("last_funding_at", "within_days: 365", NOW - 10 * DAY, MATCHED, "within: recent"),
    row("last_funding_at", "within_days: 365", NOW - 365 * DAY, MATCHED, "within: exactly N days"),
    row(
        "last_funding_at",
        "within_days: 365",
        NOW - 365 * DAY - timedelta(seconds=1),
        MISSED,
        "within: N days and a second",
    ),
    row("last_funding_at", "within_days: 365", NOW - 366 * DAY, MISSED, "within: N+1 days"),
    row(
        "last_funding_at",
        "within_days: 365",
        (NOW - 365 * DAY).replace(tzinfo=None),
        MATCHED,
        "within: naive datetime exactly N days (read as UTC)",
    ),
    row(
        "last_funding_at",
        "within_days: 365",
        (NOW - 366 * DAY).replace(tzinfo=None),
        MISSED,
        "within: naive datetime N+1 days",
    ),
    row(
        "last_funding_at",
        "within_days: 365",
        (NOW - 365 * DAY).astimezone(PLUS_TWO),
        MATCHED,
        "within: aware +02:00 datetime exactly N days",
    ),
    row(
        "last_funding_at",
        "within_days: 365",
        (NOW - 366 * DAY).astimezone(PLUS_TWO),
        MISSED,
        "within: aware +02:00 datetime N+1 days",
    ),
    row("last_funding_at", "within_days: 365", TODAY, MATCHED, "within: date today"),
    row("last_funding_at", "within_days: 365", TODAY - 10 * DAY, MATCHED, "within: date recent"),
    row(
        "last_funding_at",
        "within_days: 365",
        TODAY - 365 * DAY,
        MATCHED,
        "within: date exactly N days ago",
    ),
    row("last_funding_at", "within_days: 365", TODAY - 366 * DAY, MISSED, "within: date N+1"),
    row("last_funding_at", "within_days: 90", TODAY + 30 * DAY, MATCHED, "within: future date"),
    row("last_funding_at", "within_days: 90", NOW + 400 * DAY, MATCHED, "within: future dt"),
    row("last_funding_at", "within_days: 90", "2026-09-01", MATCHED, "within: date as text"),
    row("last_funding_at", "within_days: 90", "2026-01-01", MISSED, "within: old date text"),
    row(
        "last_funding_at",
        "within_days: 90",
        "2026-09-01T08:30:00Z",
        MATCHED,
        "within: ISO datetime text",
    ),
    row("last_funding_at", "within_days: 90", "last spring", UNKNOWN, "within: unreadable"),
    row("last_funding_at", "within_days: 90", "2026-13-45", UNKNOWN, "within: impossible date"),
    row("last_funding_at", "within_days: 90", "", UNKNOWN, "within: empty is unknown"),
    row("last_funding_at", "within_days: 90", ABSENT, UNKNOWN, "within: missing is unknown"),
]

EXISTS = [
    row("funding_stage", "exists: true", "Series B", MATCHED, "exists: present"),
    row("employees", "exists: true", 0, MATCHED, "exists: zero is present"),
    row("has_revops", "exists: true", False, MATCHED, "exists: False is present"),
    row("technologies", "exists: true", ["hubspot"], MATCHED, "exists: non-empty list"),
    row("funding_stage", "exists: true", "", MISSED, "exists: empty text is a miss"),
    row("funding_stage", "exists: true", "  ", MISSED, "exists: blank text is a miss"),
    row("technologies", "exists: true", [], MISSED, "exists: empty list is a miss"),
    row("funding_stage", "exists: true", None, MISSED, "exists: None is a miss"),
    row("funding_stage", "exists: true", ABSENT, MISSED, "exists: missing is a miss, not unknown"),
    row("funding_stage", "exists: false", ABSENT, MATCHED, "exists false: missing matches"),
    row("funding_stage", "exists: false", "", MATCHED, "exists false: empty matches"),
    row("funding_stage", "exists: false", "Seed", MISSED, "exists false: present is a miss"),
]


@pytest.mark.parametrize(("field", "rule", "value", "expected"), EQUALS)
def test_equals(field: str, rule: str, value: object, expected: Status) -> None:
    check(field, rule, value, expected)


@pytest.mark.parametrize(("field", "rule", "value", "expected"), IN)
def test_in(field: str, rule: str, value: object, expected: Status) -> None:
    check(field, rule, value, expected)


@pytest.mark.parametrize(("field", "rule", "value", "expected"), NOT_IN)
def test_not_in(field: str, rule: str, value: object, expected: Status) -> None:
    check(field, rule, value, expected)


@pytest.mark.parametrize(("field", "rule", "value", "expected"), BETWEEN)
def test_between(field: str, rule: str, value: object, expected: Status) -> None:
    check(field, rule, value, expected)


@pytest.mark.parametrize(("field", "rule", "value", "expected"), GTE_LTE)
def test_gte_lte(field: str, rule: str, value: object, expected: Status) -> None:
    check(field, rule, value, expected)


@pytest.mark.parametrize(("field", "rule", "value", "expected"), CONTAINS)
def test_contains(field: str, rule: str, value: object, expected: Status) -> None:
    check(field, rule, value, expected)


@pytest.mark.parametrize(("field", "rule", "value", "expected"), MATCHES)
def test_matches(field: str, rule: str, value: object, expected: Status) -> None:
    check(field, rule, value, expected)


@pytest.mark.parametrize(("field", "rule", "value", "expected"), WITHIN)
def test_within_days(field: str, rule: str, value: object, expected: Status) -> None:
    check(field, rule, value, expected)


@pytest.mark.parametrize(("field", "rule", "value", "expected"), EXISTS)
def test_exists(field: str, rule: str, value: object, expected: Status) -> None:
    check(field, rule, value, expected)


@pytest.mark.parametrize(
    ("value", "expected_points"),
    [
        pytest.param("450", 100.0, id="matched earns its share"),
        pytest.param("9", 0.0, id="missed earns nothing"),
        pytest.param("abc", 0.0, id="unknown earns nothing"),
    ],
)
def test_points_of_a_single_criterion(value: str, expected_points: float) -> None:
    result = evaluate("employees", "between: [200, 800]", {"employees": value})
    assert result.points == expected_points


def test_unknown_value_is_kept_for_the_explanation() -> None:
    result = evaluate("employees", "between: [200, 800]", {"employees": "abc"})
    assert (result.status, result.value) == (UNKNOWN, "abc")


def test_now_is_taken_from_the_caller_not_the_clock() -> None:
    funded = {"last_funding_at": datetime(2020, 1, 1, tzinfo=UTC)}
    engine = Scorer(one_criterion_icp("last_funding_at", "within_days: 30"))
    then = datetime(2020, 1, 15, tzinfo=UTC)
    assert engine.score_account(funded, then).criteria[0].status is MATCHED
    assert engine.score_account(funded, NOW).criteria[0].status is MISSED
