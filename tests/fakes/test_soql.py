"""The SOQL parser behind the fake Salesforce: as strict as Salesforce, and right on records.

Tests of the Salesforce client lean on it to tell a quoted value from a spliced one, so
these check the refusals as closely as the answers.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from simple_salesforce.format import format_soql

from tests.fakes.soql import (
    BoolOp,
    Condition,
    Not,
    Order,
    Query,
    SoqlError,
    parse,
)

ACCOUNT_FIELDS = ("Id", "Name", "Website", "ICP_Score__c", "OwnerId", "Owner", "CreatedDate")


def columns(name: str) -> tuple[str, ...] | None:
    return {"account": ACCOUNT_FIELDS}.get(name.casefold())


def quote(text: str) -> str:
    """The least escaping SOQL needs: backslashes, then quotes."""
    return text.replace("\\", "\\\\").replace("'", "\\'")


def where(condition: str) -> Query:
    return parse(f"SELECT Id FROM Account WHERE {condition}")


def refused(text: str, code: str = "MALFORMED_QUERY") -> SoqlError:
    with pytest.raises(SoqlError) as caught:
        parse(text, columns=columns)
    assert caught.value.code == code, caught.value
    return caught.value


# Parsing


def test_parses_a_typical_query() -> None:
    query = parse(
        "SELECT Id, Name, Account.Website, ICP_Score__c FROM Account "
        "WHERE Name = 'Acme' AND ICP_Score__c >= 70 "
        "ORDER BY ICP_Score__c DESC, Name LIMIT 200 OFFSET 400"
    )
    assert query == Query(
        object="Account",
        fields=("Id", "Name", "Account.Website", "ICP_Score__c"),
        count=False,
        where=BoolOp("AND", (Condition("Name", "=", "Acme"), Condition("ICP_Score__c", ">=", 70))),
        order=(Order("ICP_Score__c", True, True), Order("Name", False, False)),
        limit=200,
        offset=400,
    )


def test_keywords_are_case_insensitive_and_names_kept_as_written() -> None:
    query = parse("select id, NAME from account where name like 'a%' order by NAME asc limit 5")
    assert (query.object, query.fields, query.limit) == ("account", ("id", "NAME"), 5)
    assert query.conditions() == [Condition("name", "LIKE", "a%")]
    assert query.order == (Order("NAME", False, False),)


def test_count() -> None:
    query = parse("SELECT COUNT() FROM Account WHERE Name != null LIMIT 10")
    assert (query.count, query.fields, query.limit) == (True, (), 10)
    assert query.conditions() == [Condition("Name", "!=", None)]
    assert parse("select count ( ) from Account").count


@pytest.mark.parametrize(
    ("literal", "value"),
    [
        ("5", 5),
        ("-1.5", -1.5),
        ("0.25", 0.25),
        ("true", True),
        ("FALSE", False),
        ("Null", None),
        ("2026-11-22T10:00:00Z", datetime(2026, 11, 22, 10, tzinfo=UTC)),
        ("2026-11-22T10:00:00.000Z", datetime(2026, 11, 22, 10, tzinfo=UTC)),
        ("2026-11-22T10:00:00+01:00", datetime(2026, 11, 22, 9, tzinfo=UTC)),
        (
            "2026-11-22T10:00:00.123-08:00",
            datetime(2026, 11, 22, 10, 0, 0, 123000, tzinfo=timezone(timedelta(hours=-8))),
        ),
        ("2026-11-22", date(2026, 11, 22)),
        ("'plain'", "plain"),
        ("''", ""),
        (r"""'a\'b\"c\\d\n\r\t\b\f'""", "a'b\"c\\d\n\r\t\b\f"),
        (r"'\N\R\T\B\F'", "\n\r\t\b\f"),
        (r"'50\% off\_now'", "50% off_now"),
        ("'\"double\" and ; -- /* inside'", '"double" and ; -- /* inside'),
    ],
)
def test_literals(literal: str, value: object) -> None:
    (condition,) = where(f"Name = {literal}").conditions()
    assert condition.value == value
    assert type(condition.value) is type(value)


def test_operators() -> None:
    query = where(
        "(a = 1 AND b != 2 AND c <> 3 AND d < 4 AND e <= 5 AND f > 6 AND g >= 7) "
        "OR h IN ('x', 2, null) OR i NOT IN ('y') OR NOT j LIKE 'z%' OR NOT (k = 1 AND l = 2)"
    )
    ops = [(c.field, c.op) for c in query.conditions()]
    assert ops == [
        ("a", "="),
        ("b", "!="),
        ("c", "!="),
        ("d", "<"),
        ("e", "<="),
        ("f", ">"),
        ("g", ">="),
        ("h", "IN"),
        ("i", "NOT IN"),
        ("j", "LIKE"),
        ("k", "="),
        ("l", "="),
    ]
    assert query.conditions()[7].value == ("x", 2, None)
    assert query.conditions()[8].value == ("y",)
    assert isinstance(query.where, BoolOp) and query.where.op == "OR"
    assert query.where.parts[3] == Not(Condition("j", "LIKE", "z%"))


def test_like_value_keeps_escaped_wildcards_and_backslashes() -> None:
    (condition,) = where(r"Name LIKE '50\%\_a\\b%_'").conditions()
    assert condition.value == r"50\%\_a\\b%_"
    (condition,) = where(r"Name IN ('50\%')").conditions()
    assert condition.value == ("50%",)


def test_datetime_from_simple_salesforce_parses() -> None:
    moment = datetime(2026, 11, 22, 10, 30, tzinfo=UTC)
    (condition,) = where(format_soql("CreatedDate > {}", moment)).conditions()
    assert condition.value == moment


# Refusals


@pytest.mark.parametrize(
    ("text", "token"),
    [
        ("SELECT Id FROM Account WHERE Name = 'x' OR", "<EOF>"),
        ("SELECT Id FROM Account WHERE Name = 'x'; DROP TABLE Account", ";"),
        ("SELECT Id FROM Account WHERE Name = 'x' Website = 'y'", "Website"),
        ("SELECT Id FROM Account WHERE Name = 'x' AND Website = 'y' OR Id = '1'", "OR"),
        ("SELECT Id FROM Account WHERE Name = 'x' OR Website = 'y' AND Id = '1'", "AND"),
        ("SELECT Id FROM Account WHERE Name = 'x' 'y'", "'y'"),
        ("SELECT Id FROM Account WHERE Name = x", "x"),
        ("SELECT Id FROM Account WHERE Name = Website", "Website"),
        ("SELECT Id FROM Account WHERE Name == 'x'", "="),
        ("SELECT Id FROM Account WHERE Name LIKE 5", "5"),
        ("SELECT Id FROM Account WHERE Name IN ()", ")"),
        ("SELECT Id FROM Account WHERE Name IN 'x'", "'x'"),
        ("SELECT Id FROM Account WHERE Name NOT LIKE 'x'", "LIKE"),
        ("SELECT Id FROM Account WHERE NOT NOT Name = 'x'", "NOT"),
        ("SELECT Id FROM Account WHERE (Name = 'x'", "<EOF>"),
        ("SELECT Id FROM Account WHERE Name = 'x')", ")"),
        ("SELECT Id FROM Account WHERE", "<EOF>"),
        ("SELECT Id FROM Account WHERE Name = TODAY", "TODAY"),
        ("SELECT Id FROM Account WHERE CreatedDate > 2026-11-22T10:00:00", "T10"),
        ("SELECT Id FROM Account WHERE CreatedDate > 2026-13-22", "2026-13-22"),
        ("SELECT Id FROM Account WHERE Name = :name", ":"),
        ('SELECT Id FROM Account WHERE Name = "x"', '"'),
        ("SELECT Id FROM Account WHERE Amount = 1e5", "e5"),
        ("SELECT Id FROM Account LIMIT -1", "-1"),
        ("SELECT Id FROM Account LIMIT 1.5", "1.5"),
        ("SELECT Id FROM Account LIMIT", "<EOF>"),
        ("SELECT Id FROM Account LIMIT \u0661", "\u0661"),
        ("SELECT Id FROM Account OFFSET 5 LIMIT 1", "LIMIT"),
        ("SELECT Id FROM Account ORDER Name", "Name"),
        ("SELECT Id FROM Account ORDER BY Name NULLS", "<EOF>"),
        ("SELECT COUNT() FROM Account ORDER BY Name", "ORDER"),
        ("SELECT COUNT(), Id FROM Account", ","),
        ("SELECT FROM Account", "FROM"),
        ("SELECT Id, FROM Account", "FROM"),
        ("SELECT Id Name FROM Account", "Name"),
        ("SELECT Id FROM Account.Owner", "Account.Owner"),
        ("SELECT Id FROM", "<EOF>"),
        ("SELECT Id, Limit FROM Account", "Limit"),
        ("SELECT Id FROM Account WHERE Name = 'x' GROUP BY Name", "GROUP"),
        ("SELECT Id FROM Account a", "a"),
        ("DELETE FROM Account", "DELETE"),
        ("", "<EOF>"),
    ],
)
def test_refuses_unexpected_tokens(text: str, token: str) -> None:
    error = refused(text)
    assert f"unexpected token: '{token}'" in error.message
    assert str(error).startswith("MALFORMED_QUERY: ")


@pytest.mark.parametrize(
    "text",
    [
        "SELECT Id FROM Account WHERE Name = 'it's'",
        "SELECT Id FROM Account WHERE Name = 'x",
        "SELECT Id FROM Account WHERE Name = '",
        "SELECT Id FROM Account WHERE Name = 'x\\'",
        r"SELECT Id FROM Account WHERE Name = 'a\qb'",
        r"SELECT Id FROM Account WHERE Name = 'a\u0041'",
        r"SELECT Id FROM Account WHERE Name = 'a\ b'",
    ],
)
def test_refuses_bad_strings(text: str) -> None:
    refused(text)


def test_error_points_at_the_token() -> None:
    error = refused("SELECT Id\nFROM Account\nWHERE Name = 'x' OR")
    assert error.message == "unexpected token: '<EOF>' at Row:3:Column:20"
    assert "'\\q'" in refused(r"SELECT Id FROM Account WHERE Name = '\q'").message


def test_offset_range() -> None:
    assert parse("SELECT Id FROM Account LIMIT 0 OFFSET 2000").offset == 2000
    error = refused("SELECT Id FROM Account OFFSET 2001", "NUMBER_OUTSIDE_VALID_RANGE")
    assert "2000" in error.message


def test_columns() -> None:
    query = parse(
        "SELECT id, owner.Name, Account.Website FROM account WHERE icp_score__c > 5 "
        "ORDER BY Owner.Email",
        columns=lambda name: [*ACCOUNT_FIELDS, "Account.Website"],
    )
    assert query.fields == ("id", "owner.Name", "Account.Website")
    error = refused("SELECT Id FROM Acount", "INVALID_TYPE")
    assert error.message.startswith("sObject type 'Acount' is not supported.")
    error = refused("SELECT Id, Nmae FROM Account", "INVALID_FIELD")
    assert error.message.startswith("No such column 'Nmae' on entity 'Account'.")
    assert (
        "'ICP_Score'"
        in refused("SELECT Id FROM Account WHERE ICP_Score > 1", "INVALID_FIELD").message
    )
    assert "'Rank'" in refused("SELECT Id FROM Account ORDER BY Rank", "INVALID_FIELD").message
    error = refused("SELECT Parent.Name FROM Account", "INVALID_FIELD")
    assert "relationship 'Parent'" in error.message


def test_syntax_is_checked_before_columns() -> None:
    refused("SELECT Nope FROM Nowhere WHERE", "MALFORMED_QUERY")


# Quoting and injection


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_quoted_text_round_trips(text: str) -> None:
    query = where(f"Name = '{quote(text)}'")
    assert query.conditions() == [Condition("Name", "=", text)]
    assert query.matches({"Name": text})


@settings(max_examples=300, deadline=None)
@given(st.text(), st.text())
def test_simple_salesforce_quoting_round_trips(text: str, other: str) -> None:
    query = where(format_soql("Name = {} AND Website IN {}", text, [text, other]))
    assert query.conditions() == [
        Condition("Name", "=", text),
        Condition("Website", "IN", (text, other)),
    ]


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_like_escaping_matches_only_the_literal_text(text: str) -> None:
    query = where(format_soql("Name LIKE '{:like}'", text))
    assert query.matches({"Name": text})
    assert not query.matches({"Name": text + "x"})
    assert where(format_soql("Name LIKE '%{:like}%'", text)).matches({"Name": f"a{text}b"})


def test_an_unescaped_splice_shows_up_as_another_condition() -> None:
    hostile = "x' OR Name LIKE '%"
    spliced = where(f"Name = '{hostile}'")
    assert spliced.conditions() == [Condition("Name", "=", "x"), Condition("Name", "LIKE", "%")]
    assert spliced.matches({"Name": "anyone"})
    quoted = where(f"Name = '{quote(hostile)}'")
    assert quoted.conditions() == [Condition("Name", "=", hostile)]
    assert not quoted.matches({"Name": "anyone"})


def test_an_escaped_like_value_is_one_condition() -> None:
    query = where(r"Website LIKE '%acme.com\' OR Name LIKE \'%'")
    assert query.conditions() == [Condition("Website", "LIKE", "%acme.com' OR Name LIKE '%")]
    assert query.matches({"Website": "www.acme.com' OR Name LIKE 'x"})
    assert not query.matches({"Website": "www.acme.com"})


def test_an_unescaped_quote_fails_to_parse() -> None:
    refused("SELECT Id FROM Account WHERE Name = 'O'Brien'")
    refused("SELECT Id FROM Account WHERE Name = 'x' OR Name = 'y")


def test_a_backslash_at_the_end_must_itself_be_escaped() -> None:
    refused("SELECT Id FROM Account WHERE Name = 'x\\' AND Id = '1'")
    assert where(f"Name = '{quote('x' + chr(92))}' AND Id = '1'").conditions() == [
        Condition("Name", "=", "x\\"),
        Condition("Id", "=", "1"),
    ]


# Evaluation


@pytest.mark.parametrize(
    ("pattern", "value", "expected"),
    [
        ("acme", "ACME", True),
        ("acme", "acme inc", False),
        ("acme%", "Acme Inc", True),
        ("%inc", "Acme Inc", True),
        ("%me%", "Acme Inc", True),
        ("%", "", True),
        ("_", "", False),
        ("a_c", "abc", True),
        ("a_c", "abbc", False),
        ("a%c", "a\nb\nc", True),
        (r"50\%", "50%", True),
        (r"50\%", "500", False),
        (r"a\_c", "a_c", True),
        (r"a\_c", "abc", False),
        (r"a\\b", "a\\b", True),
        ("a.c", "abc", False),
        ("(a)+[b]", "(A)+[B]", True),
        ("acme", None, False),
    ],
)
def test_like(pattern: str, value: str | None, expected: bool) -> None:
    query = where(f"Name LIKE '{pattern}'")
    assert query.matches({"Name": value}) is expected


def test_string_comparisons_ignore_case() -> None:
    record = {"Name": "Acme"}
    assert where("Name = 'ACME'").matches(record)
    assert not where("Name != 'acme'").matches(record)
    assert where("Name IN ('x', 'aCmE')").matches(record)
    assert not where("Name NOT IN ('ACME')").matches(record)
    assert where("Name > 'abc'").matches(record)
    assert where("Name < 'B'").matches(record)


def test_and_or_not_and_parentheses() -> None:
    query = where("Name = 'a' AND (ICP_Score__c > 50 OR NOT Website LIKE '%.com')")
    assert query.matches({"Name": "a", "ICP_Score__c": 80, "Website": "x.com"})
    assert query.matches({"Name": "a", "ICP_Score__c": 10, "Website": "x.org"})
    assert not query.matches({"Name": "a", "ICP_Score__c": 10, "Website": "x.com"})
    assert not query.matches({"Name": "b", "ICP_Score__c": 80, "Website": "x.org"})
    chained = where("A = 1 AND B = 2 AND C = 3")
    assert isinstance(chained.where, BoolOp) and len(chained.where.parts) == 3
    assert chained.matches({"A": 1, "B": 2, "C": 3})
    assert not chained.matches({"A": 1, "B": 2, "C": 4})
    assert where("(A = 1 AND B = 2) OR C = 3").matches({"C": 3})


def test_nulls() -> None:
    missing: dict[str, object] = {}
    empty = {"Name": None}
    named = {"Name": "x"}
    assert where("Name = null").matches(missing) and where("Name = null").matches(empty)
    assert not where("Name = null").matches(named)
    assert where("Name != null").matches(named) and not where("Name != null").matches(empty)
    for condition in ("Name = 'x'", "Name < 'x'", "Name > 'x'", "Name LIKE '%'"):
        assert not where(condition).matches(empty), condition
    # unlike SQL, SOQL treats null as a value: `!=` and `NOT IN` keep records where it is null
    assert where("Name != 'x'").matches(empty)
    assert not where("Name IN ('x')").matches(empty)
    assert where("Name NOT IN ('x')").matches(empty)
    assert where("Name IN ('x', null)").matches(empty)
    assert where("NOT Name = 'x'").matches(empty)


def test_numbers_compare_numerically() -> None:
    assert where("ICP_Score__c = 70").matches({"ICP_Score__c": 70.0})
    assert where("ICP_Score__c > 9").matches({"ICP_Score__c": 10})
    assert where("ICP_Score__c >= 9.5").matches({"ICP_Score__c": "10"})
    assert where("ICP_Score__c < -1.5").matches({"ICP_Score__c": -2})
    assert where("ICP_Score__c IN (1, 2.5)").matches({"ICP_Score__c": 2.5})
    assert not where("ICP_Score__c = 1").matches({"ICP_Score__c": True})
    assert not where("ICP_Score__c = 1").matches({"ICP_Score__c": "one"})


def test_booleans() -> None:
    assert where("IsActive = true").matches({"IsActive": True})
    assert where("IsActive = FALSE").matches({"IsActive": False})
    assert not where("IsActive = true").matches({"IsActive": False})
    assert where("IsActive != true").matches({"IsActive": "false"})
    assert where("IsActive = 'true'").matches({"IsActive": True})


@pytest.mark.parametrize(
    "stored",
    [
        "2026-11-22T10:00:00.000+0000",
        "2026-11-22T10:00:00Z",
        "2026-11-22T11:00:00.000+01:00",
        datetime(2026, 11, 22, 10, tzinfo=UTC),
        datetime(2026, 11, 22, 2, tzinfo=timezone(timedelta(hours=-8))),
        datetime(2026, 11, 22, 10),
    ],
)
def test_datetimes_compare_as_instants(stored: object) -> None:
    record = {"CreatedDate": stored}
    assert where("CreatedDate = 2026-11-22T10:00:00Z").matches(record)
    assert where("CreatedDate = 2026-11-22T11:00:00+01:00").matches(record)
    assert where("CreatedDate > 2026-11-22T09:59:59.999Z").matches(record)
    assert where("CreatedDate < 2026-11-22T10:00:00.001-00:00").matches(record)
    assert not where("CreatedDate > 2026-11-22T10:00:00.000Z").matches(record)
    assert where("CreatedDate >= 2026-11-22T05:00:00-05:00").matches(record)


def test_datetimes_unreadable_or_missing_match_nothing() -> None:
    for stored in ("yesterday", None, 5):
        record = {"CreatedDate": stored}
        assert not where("CreatedDate < 2030-01-01T00:00:00Z").matches(record)
        unequal = where("CreatedDate != 2030-01-01T00:00:00Z").matches(record)
        assert unequal is (stored is None)  # a null is unequal to anything; junk compares never


def test_dates() -> None:
    assert where("CloseDate = 2026-11-22").matches({"CloseDate": "2026-11-22"})
    assert where("CloseDate < 2026-11-23").matches({"CloseDate": date(2026, 11, 22)})
    assert not where("CloseDate > 2026-11-22").matches({"CloseDate": "2026-11-22"})


def test_a_quoted_datetime_is_only_text() -> None:
    (condition,) = where("CreatedDate = '2026-11-22T10:00:00Z'").conditions()
    assert condition.value == "2026-11-22T10:00:00Z"
    assert where("CreatedDate = '2026-11-22T10:00:00Z'").matches(
        {"CreatedDate": "2026-11-22T10:00:00Z"}
    )


def test_fields_are_looked_up_case_insensitively_and_through_relationships() -> None:
    record = {"NAME": "Acme", "Owner": {"Name": "Ada", "Manager": None}}
    assert where("name = 'acme'").matches(record)
    assert where("owner.name = 'Ada'").matches(record)
    assert where("Owner.Manager.Name = null").matches(record)
    assert where("Parent.Name = null").matches(record)
    assert not where("Parent.Name = 'x'").matches(record)
    assert where("Id = null").matches(record)


def test_no_where_matches_everything() -> None:
    assert parse("SELECT Id FROM Account").matches({})


def sorted_names(order_by: str, records: list[dict[str, object]]) -> list[object]:
    query = parse(f"SELECT Id FROM Account ORDER BY {order_by}")
    return [record["Id"] for record in query.sort(records)]


RECORDS: list[dict[str, object]] = [
    {"Id": 1, "Name": "beta", "Score": 5},
    {"Id": 2, "Name": None, "Score": 7},
    {"Id": 3, "Name": "Alpha", "Score": 5},
    {"Id": 4, "Score": None},
    {"Id": 5, "Name": "alpha", "Score": 9},
]


@pytest.mark.parametrize(
    ("order_by", "ids"),
    [
        ("Name", [2, 4, 3, 5, 1]),
        ("Name ASC", [2, 4, 3, 5, 1]),
        ("Name ASC NULLS LAST", [3, 5, 1, 2, 4]),
        ("Name DESC", [1, 3, 5, 2, 4]),
        ("Name DESC NULLS FIRST", [2, 4, 1, 3, 5]),
        ("Score", [4, 1, 3, 2, 5]),
        ("Score DESC, Name", [5, 2, 3, 1, 4]),
        ("Score DESC NULLS LAST, Name DESC", [5, 2, 1, 3, 4]),
        ("name asc nulls first, score desc", [2, 4, 5, 3, 1]),
    ],
)
def test_sort(order_by: str, ids: list[int]) -> None:
    assert sorted_names(order_by, RECORDS) == ids


def test_sort_datetimes_and_mixed_storage() -> None:
    records: list[dict[str, object]] = [
        {"Id": "late", "CreatedDate": datetime(2026, 11, 22, 12, tzinfo=UTC)},
        {"Id": "early", "CreatedDate": datetime(2026, 11, 22, 9, tzinfo=UTC)},
        {"Id": "naive", "CreatedDate": datetime(2026, 11, 22, 10)},
        {"Id": "none", "CreatedDate": None},
    ]
    assert sorted_names("CreatedDate", records) == ["none", "early", "naive", "late"]
    assert sorted_names("CreatedDate DESC", records) == ["late", "naive", "early", "none"]


def test_sort_without_order_keeps_records() -> None:
    assert parse("SELECT Id FROM Account").sort(RECORDS) == RECORDS
