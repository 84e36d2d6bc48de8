"""records.coerce: each canonical field read as its type once, bad values reported by name."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from integrations.records import Coerced, RowCoercer, coerce
from scoring.fields import FieldType, known_fields

TYPES = known_fields(
    {"has_revops": FieldType.BOOLEAN, "sdr_count": FieldType.NUMBER, "new_exec_at": FieldType.DATE}
)


@pytest.mark.parametrize(
    ("field", "raw", "expected"),
    [
        pytest.param("name", "  Acme Inc ", "Acme Inc", id="string: trimmed"),
        pytest.param("industry", "Software", "Software", id="string: case kept"),
        pytest.param("employees", 450, 450, id="number: int"),
        pytest.param("employees", 450.0, 450, id="number: 450.0 is 450"),
        pytest.param("employees", "450", 450, id="number: '450'"),
        pytest.param("employees", "1,200", 1200, id="number: '1,200'"),
        pytest.param("employees", " 1,200 ", 1200, id="number: spaced"),
        pytest.param("annual_revenue", "20,000,000", 20_000_000, id="number: millions"),
        pytest.param("annual_revenue", "$5,000", 5000, id="number: dollar sign"),
        pytest.param("annual_revenue", "1250000.50", 1250000.5, id="number: fraction kept"),
        pytest.param("sdr_count", "12", 12, id="number: custom field"),
        pytest.param("has_revops", True, True, id="boolean: True"),
        pytest.param("has_revops", "true", True, id="boolean: 'true'"),
        pytest.param("has_revops", "Yes", True, id="boolean: 'Yes'"),
        pytest.param("has_revops", "1", True, id="boolean: '1'"),
        pytest.param("has_revops", "FALSE", False, id="boolean: 'FALSE'"),
        pytest.param("has_revops", "no", False, id="boolean: 'no'"),
        pytest.param("last_funding_at", "2026-03-01", date(2026, 3, 1), id="date: ISO date"),
        pytest.param("last_funding_at", date(2026, 3, 1), date(2026, 3, 1), id="date: date object"),
        pytest.param(
            "last_funding_at",
            "2026-03-01T10:00:00",
            datetime(2026, 3, 1, 10, tzinfo=UTC),
            id="date: naive ISO datetime read as UTC",
        ),
        pytest.param(
            "last_funding_at",
            "2026-03-01T10:00:00Z",
            datetime(2026, 3, 1, 10, tzinfo=UTC),
            id="date: Z suffix",
        ),
        pytest.param(
            "last_funding_at",
            "2026-03-01T10:00:00+02:00",
            datetime(2026, 3, 1, 10, tzinfo=timezone(timedelta(hours=2))),
            id="date: offset kept",
        ),
        pytest.param(
            "last_funding_at",
            datetime(2026, 3, 1, 10),
            datetime(2026, 3, 1, 10, tzinfo=UTC),
            id="date: naive datetime object read as UTC",
        ),
        pytest.param(
            "new_exec_at",
            "1772323200000",
            datetime(2026, 3, 1, tzinfo=UTC),
            id="date: HubSpot epoch milliseconds",
        ),
        pytest.param(
            "technologies", "HubSpot; Slack", ["HubSpot", "Slack"], id="list: 'a; b' text"
        ),
        pytest.param("technologies", ["hubspot", "", " slack "], ["hubspot", "slack"], id="list"),
        pytest.param("technologies", "hubspot", ["hubspot"], id="list: one item"),
        pytest.param("domain", "https://www.Acme.co.uk/pricing", "acme.co.uk", id="domain: URL"),
        pytest.param("email", " Jane@Acme.COM ", "jane@acme.com", id="email: lower-cased"),
        pytest.param("country", "United Kingdom", "GB", id="country: name to ISO code"),
        pytest.param("country", "usa", "US", id="country: alias"),
        pytest.param("country", "Narnia", "Narnia", id="country: unknown kept"),
    ],
)
def test_coerce_reads_each_field_as_its_type(field: str, raw: object, expected: object) -> None:
    result = coerce({field: raw}, TYPES)
    assert result.problems == []
    assert result.fields == {field: expected}
    assert type(result.fields[field]) is type(expected)


@pytest.mark.parametrize(
    ("field", "raw", "fragment"),
    [
        pytest.param("employees", "abc", "not a number", id="number: 'abc'"),
        pytest.param("employees", "5M", "not a number", id="number: '5M'"),
        pytest.param("employees", True, "not a number", id="number: a boolean"),
        pytest.param("employees", "NaN", "not a number", id="number: 'NaN'"),
        pytest.param("employees", "inf", "not a number", id="number: 'inf'"),
        pytest.param("has_revops", "maybe", "not true or false", id="boolean: 'maybe'"),
        pytest.param("last_funding_at", "03/01/2026", "YYYY-MM-DD", id="date: US format"),
        pytest.param("last_funding_at", "2026-13-45", "YYYY-MM-DD", id="date: impossible"),
        pytest.param("last_funding_at", "last spring", "YYYY-MM-DD", id="date: words"),
        pytest.param("domain", "Acme Inc", "not a domain", id="domain: a company name"),
        pytest.param("email", "jane at acme", "not an email", id="email: no @"),
    ],
)
def test_coerce_reports_bad_values_by_field_name(field: str, raw: object, fragment: str) -> None:
    result = coerce({field: raw, "name": "Acme"}, TYPES)
    assert result.fields == {"name": "Acme"}, "the rest of the record is kept"
    (problem,) = result.problems
    assert (problem.field, problem.value) == (field, raw)
    assert fragment in problem.message
    assert str(problem).startswith(f"{field} {raw!r}: ")


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param({"employees": ""}, id="empty text dropped"),
        pytest.param({"employees": "   "}, id="blank text dropped"),
        pytest.param({"employees": None}, id="None dropped"),
        pytest.param({"technologies": []}, id="empty list dropped"),
        pytest.param({"hs_object_id": "123"}, id="non-canonical field dropped"),
    ],
)
def test_coerce_drops_empty_and_unknown_fields(raw: dict[str, object]) -> None:
    result = coerce(raw, TYPES)
    assert (result.fields, result.problems) == ({}, [])


def test_coerce_reports_every_bad_field_and_keeps_the_good_ones() -> None:
    raw = {
        "domain": "acme.com",
        "employees": "lots",
        "has_revops": "perhaps",
        "last_funding_at": "soon",
        "industry": "SaaS",
    }
    result = coerce(raw, TYPES)
    assert result.fields == {"domain": "acme.com", "industry": "SaaS"}
    assert [p.field for p in result.problems] == ["employees", "has_revops", "last_funding_at"]


@pytest.mark.parametrize("field", ["employees", "annual_revenue"])
def test_a_negative_headcount_or_revenue_is_named_not_taken(field: str) -> None:
    result = coerce({"domain": "acme.com", field: "-40"}, TYPES)
    assert field not in result.fields
    assert [str(p) for p in result.problems] == [f"{field} '-40': cannot be negative"]
    assert coerce({"domain": "acme.com", field: "0"}, TYPES).fields[field] == 0


def _typed(coerced: Coerced) -> tuple[object, ...]:
    """The values with their types (1 == 1.0 == True), and the problems as said."""
    return (
        {name: (type(value), value) for name, value in coerced.fields.items()},
        [str(p) for p in coerced.problems],
    )


CELL_FIELDS = ["name", "employees", "annual_revenue", "sdr_count", "last_funding_at", "new_exec_at"]
CELLS = [
    "1506",
    "0007",
    " 1506",
    "1506 ",
    "1,200",
    "$5,000",
    "1250000.50",
    "-40",
    "0",
    "123456789012345",
    "1234567890123456",
    "99999999999999999999",
    "١٥٠٦",
    "²",
    "1e3",
    "nan",
    "inf",
    "lots",
    "2026-03-01",
    " 2026-03-01 ",
    "20260301",
    " 20260301 ",
    "2026-03-01T10:00:00Z",
    "2026-W09-1",
    "1772323200000",
    "2026-3-1",
]


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("field", CELL_FIELDS)
def test_a_csv_cell_is_read_as_coerce_reads_the_same_text(field: str, cell: str) -> None:
    """RowCoercer takes shorter paths for text cells (whole numbers, ten-character dates);
    the values, their types and the problems are `coerce`'s."""
    assert _typed(RowCoercer([field], TYPES)([cell])) == _typed(coerce({field: cell}, TYPES))


@settings(max_examples=500, deadline=None)
@given(
    field=st.sampled_from(CELL_FIELDS),
    cell=st.text(alphabet=st.sampled_from("0123456789 ,.$-+_:TZe١²"), max_size=20)
    | st.sampled_from(CELLS),
)
def test_any_numeric_or_date_cell_is_read_as_coerce_reads_it(field: str, cell: str) -> None:
    assert _typed(RowCoercer([field], TYPES)([cell])) == _typed(coerce({field: cell}, TYPES))


@pytest.mark.parametrize("cell", ["99999999999999999999", "67770000000000000000"])
def test_epoch_milliseconds_past_any_date_are_a_problem_named_not_a_crash(cell: str) -> None:
    result = coerce({"domain": "acme.com", "last_funding_at": cell}, TYPES)
    assert result.fields == {"domain": "acme.com"}
    assert [str(p) for p in result.problems] == [
        f"last_funding_at '{cell}': not a date (use YYYY-MM-DD)"
    ]
