"""The ICP as SQL equals the engine: random ICPs and CSV-like rows, run on DuckDB.

The engine scores each row as a CSV export is read (typed by `coerce`); the
SQL reads the same rows as text columns. Score, tier, profile, coverage,
the first disqualifier and every criterion's status must agree.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import duckdb
import pytest
import sqlglot
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from integrations.records import coerce
from scoring.engine import Scorer
from scoring.model import Icp
from scoring.problems import ConfigError
from scoring.sql import NotExpressible, select_sql, status_column
from tests.scoring.support import FIELDS, NOW, build_icp, one_criterion_icp
from tests.support import CONFIG

COLUMNS = (
    "industry",
    "employees",
    "country",
    "technologies",
    "last_funding_at",
    "lifecycle_stage",
    "has_revops",
    "job_title",
)
DAY = timedelta(days=1)

# Values as exports write them, blanks and unreadable ones included.
VALUES: Mapping[str, st.SearchStrategy[str]] = {
    "industry": st.sampled_from(["software", "SaaS", " Internet ", "government", "retail", ""]),
    "employees": st.sampled_from(["10", "200", "1,200", "800", "$5000", "abc", "", "799.5"]),
    "country": st.sampled_from(["US", "GB", "DE", "", "ca"]),
    "technologies": st.sampled_from(
        ["hubspot", "HubSpot; slack", "salesforce;gong", ";", "", "slack ;  zoominfo"]
    ),
    "last_funding_at": st.sampled_from(
        [
            (NOW - 10 * DAY).date().isoformat(),
            (NOW - 400 * DAY).date().isoformat(),
            (NOW - 365 * DAY).date().isoformat(),
            (NOW - 366 * DAY).date().isoformat(),
            (NOW - 365 * DAY + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
            (NOW - 365 * DAY - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S+00:00"),
            # No zone: UTC, as the engine reads it, whatever the session's time zone.
            (NOW - 365 * DAY + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%S"),
            (NOW - 365 * DAY - timedelta(hours=2)).strftime("%Y-%m-%d %H:%M"),
            "2026-13-01",
            "",
        ]
    ),
    "lifecycle_stage": st.sampled_from(["lead", "customer", "Customer", ""]),
    "has_revops": st.sampled_from(["yes", "no", "true", "0", "maybe", ""]),
    "job_title": st.sampled_from(["VP Sales", "Head of Growth", "intern", "", "SDR"]),
}

# Criteria a random ICP draws from: every operator, on every kind of field.
RULES = [
    ("industry", "in: [software, saas, internet]"),
    ("industry", "not_in: [government, education]"),
    ("industry", "equals: retail"),
    ("employees", "between: [200, 800]"),
    ("employees", "gte: 1000"),
    ("employees", "lte: 50"),
    ("employees", "in: [200, 800]"),
    ("country", "in: [US, CA, GB]"),
    ("technologies", "contains_any: [hubspot, zoominfo]"),
    ("technologies", "contains_all: [salesforce, gong]"),
    ("technologies", "matches: '^(hub|sales)'"),
    ("last_funding_at", "within_days: 365"),
    ("last_funding_at", "exists: true"),
    ("has_revops", "equals: true"),
    ("lifecycle_stage", "exists: false"),
    ("job_title", "matches: '(?i)\\b(vp|head)\\b'"),
]


def icp_text(profiles: Sequence[Sequence[tuple[int, int]]], dq: Sequence[int]) -> str:
    lines = ["version: 1", "reviewed_on: 2026-09-01", "tiers: {A: 70, B: 50, C: 30}", "profiles:"]
    for p, criteria in enumerate(profiles):
        lines += [f"  - id: p{p}", f"    name: Profile {p}", "    criteria:"]
        for c, (rule, weight) in enumerate(criteria):
            field, operator = RULES[rule]
            layer = "negative" if weight < 0 else "firmographic"
            lines += [
                f"      - id: c{c}",
                f"        layer: {layer}",
                f"        field: {field}",
                f"        {operator}",
                f"        weight: {weight}",
                "        why: Under test.",
            ]
        if p == 1:
            lines += [
                "    disqualify:",
                "      - id: small",
                "        field: employees",
                "        lte: 20",
                "        why: Too small.",
            ]
    if dq:
        lines.append("disqualify:")
        for d in dq:
            field, operator = RULES[d]
            lines += [f"  - id: d{d}", f"    field: {field}", f"    {operator}", "    why: Out."]
    return "\n".join(lines) + "\n"


criteria = st.lists(
    st.tuples(st.integers(0, len(RULES) - 1), st.sampled_from([5, 10, 20, 30, -10, -30])),
    min_size=1,
    max_size=6,
    unique_by=lambda pair: pair[0],
).filter(lambda cs: any(w > 0 for _, w in cs))


def valid_icp(profiles: Sequence[Sequence[tuple[int, int]]], dq: Sequence[int]) -> Icp | None:
    """The ICP, or None when `check` would refuse it (e.g. tier A out of reach)."""
    try:
        return build_icp(icp_text(profiles, dq))
    except ConfigError:
        return None


icps = st.builds(
    valid_icp,
    st.lists(criteria, min_size=1, max_size=3),
    st.lists(st.sampled_from([6, 14, 12]), max_size=2, unique=True),
).filter(lambda icp: icp is not None)
rows = st.lists(
    st.fixed_dictionaries({name: VALUES[name] for name in COLUMNS}), min_size=1, max_size=25
)


def engine_rows(icp: Icp, raw_rows: Sequence[Mapping[str, str]]) -> list[dict[str, Any] | None]:
    """What the engine says of each row as the CSV reader types it; None for a row it skips."""
    scorer = Scorer(icp)
    found: list[dict[str, Any] | None] = []
    for raw in raw_rows:
        typed = coerce(raw, FIELDS)
        if typed.problems:
            found.append(None)
            continue
        score = scorer.score_account(typed.fields, NOW)
        statuses = {
            status_column(p.profile_id, c.id): c.status.value
            for p in score.profiles
            for c in p.criteria
        }
        profiles = {}
        for p in score.profiles:
            prefix = f"icp_{p.profile_id}"
            profiles[f"{prefix}_score"] = p.score
            profiles[f"{prefix}_coverage"] = round(p.coverage, 9)
            profiles[f"{prefix}_out"] = bool(p.disqualified_by)
        found.append(
            {
                **profiles,
                "icp_score": score.score,
                "icp_tier": score.tier.value,
                "icp_profile": score.profile_id,
                "icp_coverage": round(score.coverage, 9),
                "icp_disqualified_by": score.disqualifier_id,
                **statuses,
            }
        )
    return found


SESSION_ZONE = "America/New_York"  # not UTC: a time without a zone must still be read as UTC


def sql_rows(
    icp: Icp, raw_rows: Sequence[Mapping[str, str]], dialect: str = "duckdb"
) -> list[dict[str, Any]]:
    """The SQL run on DuckDB; for another dialect, its translation read back into DuckDB's
    by sqlglot, so what it says there (as sqlglot understands that dialect) is run."""
    db = duckdb.connect()
    db.execute(f"SET TimeZone = '{SESSION_ZONE}'")
    db.execute(
        "CREATE TABLE accounts (n INTEGER, " + ", ".join(f"{c} VARCHAR" for c in COLUMNS) + ")"
    )
    db.executemany(
        f"INSERT INTO accounts VALUES ({', '.join('?' * (len(COLUMNS) + 1))})",
        [[n, *(raw[c] for c in COLUMNS)] for n, raw in enumerate(raw_rows)],
    )
    sql = select_sql(icp, FIELDS, now=NOW, dialect=dialect)
    if dialect != "duckdb":
        sql = sqlglot.transpile(sql, read=dialect, write="duckdb")[0]
    cursor = db.execute(sql + " ORDER BY n")
    names = [d[0] for d in cursor.description]
    out = []
    for values in cursor.fetchall():
        row = dict(zip(names, values, strict=True))
        row = {k: round(v, 9) if k.endswith("coverage") else v for k, v in row.items()}
        out.append(
            {k: v for k, v in row.items() if k.startswith("icp_") and "disqualify__" not in k}
        )
    return out


def assert_as_the_engine(
    icp: Icp, raw_rows: Sequence[Mapping[str, str]], found: Sequence[Mapping[str, Any]]
) -> None:
    """Every row the engine scores (the CSV reader skips none of them) scored alike."""
    expected = engine_rows(icp, raw_rows)
    for raw, want, got in zip(raw_rows, expected, found, strict=True):
        if want is not None:
            assert got == want, json.dumps(raw)


def expressible(icp: Icp, dialect: str) -> bool:
    """False where `icpbot sql` refuses the ICP in this dialect, as it says it does."""
    try:
        select_sql(icp, FIELDS, now=NOW, dialect=dialect)
    except NotExpressible:
        return False
    return True


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(icp=icps, raw_rows=rows)
def test_the_sql_scores_every_row_as_the_engine_does(
    icp: Icp, raw_rows: list[dict[str, str]]
) -> None:
    assert_as_the_engine(icp, raw_rows, sql_rows(icp, raw_rows))


def canonical_text(value: object) -> str:
    """A typed value as a warehouse table with canonical columns holds it, as text."""
    if isinstance(value, list):
        return ";".join(str(v) for v in value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.isoformat()
    return str(getattr(value, "isoformat", lambda: value)())


def test_the_shipped_icp_as_sql_on_the_sample() -> None:
    """The shipped ICP on every sample company, as a table of canonical values (countries as
    codes, as the CSV reader makes them): the SQL and the engine agree row by row."""
    import csv

    from tests.support import ROOT

    with (ROOT / "config" / "sample" / "companies.csv").open(encoding="utf-8") as handle:
        raw_rows = list(csv.DictReader(handle))
    scorer, types = Scorer(CONFIG.icp), CONFIG.fields.types
    names = list(raw_rows[0])
    typed_rows = [coerce(raw, types) for raw in raw_rows]
    assert not any(t.problems for t in typed_rows)
    db = duckdb.connect()
    db.execute("SET TimeZone = 'UTC'")
    db.execute("CREATE TABLE accounts (" + ", ".join(f'"{n}" VARCHAR' for n in names) + ")")
    db.executemany(
        f"INSERT INTO accounts VALUES ({', '.join('?' * len(names))})",
        [
            [canonical_text(t.fields[n]) if n in t.fields else None for n in names]
            for t in typed_rows
        ],
    )
    cursor = db.execute(select_sql(CONFIG.icp, types, now=NOW))
    columns = [d[0] for d in cursor.description]
    got = {
        row[columns.index("domain")]: dict(zip(columns, row, strict=True))
        for row in cursor.fetchall()
    }
    assert len(got) == len(raw_rows) == 500
    for typed in typed_rows:
        score = scorer.score_account(typed.fields, NOW)
        row = got[str(typed.fields["domain"])]
        assert (row["icp_score"], row["icp_tier"], row["icp_profile"]) == (
            score.score,
            score.tier.value,
            score.profile_id,
        ), typed.fields["domain"]
        assert row["icp_disqualified_by"] == score.disqualifier_id
        assert round(float(row["icp_coverage"]), 9) == round(score.coverage, 9)
        for result in score.criteria:
            assert row[status_column(score.profile_id or "", result.id)] == result.status.value


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(icp=icps, raw_rows=rows, dialect=st.sampled_from(["snowflake", "bigquery"]))
def test_the_warehouse_dialects_say_what_the_engine_does(
    icp: Icp, raw_rows: list[dict[str, str]], dialect: str
) -> None:
    """No Snowflake or BigQuery here: their translation is read back by sqlglot, which knows
    what their functions mean (REGEXP_LIKE matches the whole value, REGEXP_REPLACE every
    match), and run on DuckDB. A translation that changed the meaning fails here."""
    assume(expressible(icp, dialect))  # not `matches` on Snowflake, or on a list field
    assert_as_the_engine(icp, raw_rows, sql_rows(icp, raw_rows, dialect))


def test_snowflake_refuses_a_pattern_it_would_read_otherwise_and_says_what_to_do() -> None:
    icp = one_criterion_icp("industry", "matches: '^soft'")
    with pytest.raises(NotExpressible) as refused:
        select_sql(icp, FIELDS, dialect="snowflake")
    said = str(refused.value)
    assert "`matches: ^soft` on industry" in said and "POSIX" in said
    assert "--dialect duckdb, postgres or bigquery" in said
    assert "REGEXP_CONTAINS" in select_sql(icp, FIELDS, dialect="bigquery")


@pytest.mark.parametrize("dialect", ["snowflake", "bigquery"])
def test_no_flag_is_passed_where_a_dialect_reads_a_position(dialect: str) -> None:
    """DuckDB's `regexp_replace(..., 'g')`: Snowflake's fourth argument is a position."""
    sql = select_sql(CONFIG.icp, CONFIG.fields.types, dialect=dialect, pretty=False)
    assert "REGEXP_REPLACE" in sql and ", 'g')" not in sql


@pytest.mark.parametrize("dialect", ["duckdb", "postgres", "snowflake", "bigquery"])
def test_every_dialect_gets_one_select(dialect: str) -> None:
    sql = select_sql(
        CONFIG.icp, CONFIG.fields.types, now=datetime(2026, 11, 20, tzinfo=UTC), dialect=dialect
    )
    assert sql.splitlines()[1].startswith("WITH statuses AS (") and "FROM profiles" in sql
    assert "icp_score" in sql and "icp_midmarket_saas__industry" in sql


def postgres_rows(
    engine: Any, icp: Icp, raw_rows: Sequence[Mapping[str, str]]
) -> list[dict[str, Any]]:
    """The PostgreSQL translation run on PostgreSQL, over the same rows as text columns."""
    columns = ", ".join(f"{c} TEXT" for c in COLUMNS)
    with engine.begin() as connection:
        connection.exec_driver_sql(f"SET TIME ZONE '{SESSION_ZONE}'")
        connection.exec_driver_sql("DROP TABLE IF EXISTS accounts")
        connection.exec_driver_sql(f"CREATE TABLE accounts (n INTEGER, {columns})")
        connection.exec_driver_sql(
            f"INSERT INTO accounts VALUES ({', '.join(['%s'] * (len(COLUMNS) + 1))})",
            [(n, *(raw[c] for c in COLUMNS)) for n, raw in enumerate(raw_rows)],
        )
        result = connection.exec_driver_sql(
            select_sql(icp, FIELDS, now=NOW, dialect="postgres").replace("%", "%%") + " ORDER BY n"
        )
        names = list(result.keys())
        out = []
        for values in result.fetchall():
            row = dict(zip(names, values, strict=True))
            row = {k: round(float(v), 9) if k.endswith("coverage") else v for k, v in row.items()}
            out.append(
                {k: v for k, v in row.items() if k.startswith("icp_") and "disqualify__" not in k}
            )
        return out


@pytest.mark.db
@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(icp=icps, raw_rows=rows)
def test_the_postgres_sql_scores_every_row_as_the_engine_does(
    db_engine: Any, icp: Icp, raw_rows: list[dict[str, str]]
) -> None:
    if db_engine.dialect.name != "postgresql":
        pytest.skip("the PostgreSQL translation runs on PostgreSQL")
    assume(expressible(icp, "postgres"))  # not `matches` on a list field
    assert_as_the_engine(icp, raw_rows, postgres_rows(db_engine, icp, raw_rows))
