"""The ICP as one SQL `SELECT` (SPEC §13): scoring where the rows already are.

A table with the canonical columns (list fields as `;`-separated text, as in
CSV) gets `icp_score`, `icp_tier`, `icp_profile`, `icp_coverage`,
`icp_disqualified_by` and one status column per criterion, with SPEC §2's
semantics exactly: a missing or unreadable value is unknown (never a miss),
coverage is the share of positive weight whose fields were known, negative
weights subtract, disqualifiers override, the best profile still in the
running wins and ties go to the first listed.

Each criterion compiles to a three-valued SQL expression: TRUE (matched),
FALSE (missed) or NULL (unknown), which is exactly SQL's own logic for
missing data. The SQL is written once, in DuckDB's dialect, and translated
to the others by sqlglot rather than by a template per dialect.

Pure: text in, text out. The per-record engine (`scoring.engine`) stays the
reference; a property test holds the two equal on random ICPs and records,
run on DuckDB. The table holds canonical values (countries as ISO codes, as
the CSV reader makes them); naive times are read in the session's time zone,
so run it in UTC as the engine does.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import sqlglot
from sqlglot import exp
from sqlglot.errors import ErrorLevel, UnsupportedError

from scoring.fields import FieldType
from scoring.model import Condition, Criterion, Disqualifier, Icp
from scoring.operators import FALSE_WORDS, TRUE_WORDS, as_text, day_of

DIALECTS = ("duckdb", "postgres", "snowflake", "bigquery")
# Translated, but not yet held equal to the engine on the service itself: Snowflake's
# REGEXP_LIKE matches the whole value and its REGEXP_REPLACE takes no flags, so the
# translation is refused rather than handed out unverified.
UNVERIFIED = {
    "snowflake": "regular expressions there match the whole value",
    "bigquery": "its regular expressions and time zones differ",
}


# Shapes a value must have before it is cast. Months and days are checked by range; a day
# a month lacks (02-30) still reaches the cast.
_NUMBER = r"^[+-]?([0-9]+[.]?[0-9]*|[.][0-9]+)([eE][+-]?[0-9]+)?$"
_DAY = r"^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$"
_TIME = (
    r"^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])[T ]([01][0-9]|2[0-3]):[0-5][0-9]"
    r"(:[0-5][0-9]([.][0-9]+)?)?(Z|[+-][0-9]{2}(:?[0-9]{2})?)?$"
)


_PG_BOUNDARY = {"b": "y", "B": "Y"}


class NotExpressible(ValueError):
    """A criterion SQL cannot state with the engine's meaning in this dialect; says which."""


def literal(value: str) -> str:
    """A SQL string literal, quotes doubled."""
    return exp.Literal.string(value).sql(dialect="duckdb")


def column(name: str) -> str:
    """A quoted column name: canonical names are safe, custom ones may not be."""
    return exp.to_identifier(name, quoted=True).sql(dialect="duckdb")


def _number(value: float) -> str:
    number = float(value)
    return repr(int(number)) if number.is_integer() else repr(number)


@dataclass(frozen=True, slots=True)
class _Field:
    """The SQL for one column's value in each form the operators read."""

    name: str
    kind: FieldType

    @property
    def text(self) -> str:
        """Trimmed text, NULL when missing or blank: whatever the column's own type."""
        return f"NULLIF(TRIM(CAST({column(self.name)} AS VARCHAR)), '')"

    @property
    def number(self) -> str:
        """A number as the engine reads one: `1,200`, `$5000`, `1_000`; NULL otherwise."""
        cleaned = f"TRIM(REPLACE(REPLACE(LTRIM({self.text}, '$'), ',', ''), '_', ''))"
        # Cast only what reads as a finite number: a failed cast stops the whole query on
        # databases without TRY_CAST, and `inf` or `nan` is no headcount.
        readable = f"regexp_matches({cleaned}, {literal(_NUMBER)})"
        return f"(CASE WHEN {readable} THEN CAST({cleaned} AS DOUBLE) END)"

    @property
    def lower(self) -> str:
        return f"LOWER({self.text})"

    @property
    def items(self) -> str:
        """`;a;b;`: lower-case items between separators, blanks around them removed."""
        joined = f"REGEXP_REPLACE({self.lower}, '\\s*;\\s*', ';', 'g')"
        return f"(';' || {joined} || ';')"

    def holds(self, keys: Sequence[str], *, every: bool) -> str:
        """The list holds any (or every) of these lower-case items; FALSE for none asked."""
        parts = [f"(STRPOS({self.items}, {literal(';' + key + ';')}) > 0)" for key in keys]
        return "(" + (" AND " if every else " OR ").join(parts) + ")" if parts else "FALSE"

    @property
    def has_items(self) -> str:
        """The list holds at least one non-blank item (`;` alone is an empty list)."""
        return f"(REGEXP_REPLACE({self.text}, '[;\\s]', '', 'g') <> '')"

    @property
    def known(self) -> str:
        """The value is present: a list needs an item, anything else a non-blank text."""
        if self.kind is FieldType.LIST:
            return f"({self.text} IS NOT NULL AND {self.has_items})"
        return f"({self.text} IS NOT NULL)"


def _moment_parts(field: _Field) -> tuple[str, str]:
    """A calendar date (`2026-03-01`) and a time (ISO, `T` or space, optional zone), each
    NULL otherwise; cast only when its shape is right, as a failed cast stops the query."""
    text = field.text
    day = f"(CASE WHEN regexp_matches({text}, {literal(_DAY)}) THEN CAST({text} AS DATE) END)"
    time = (
        f"(CASE WHEN regexp_matches({text}, {literal(_TIME)}) THEN CAST({text} AS TIMESTAMPTZ) END)"
    )
    return day, time


class _Compiler:
    """Conditions into three-valued SQL: TRUE matched, FALSE missed, NULL unknown."""

    def __init__(self, types: Mapping[str, FieldType], now: datetime | None, dialect: str) -> None:
        self.types = types
        self.now = now
        self.dialect = dialect

    def field(self, name: str) -> _Field:
        return _Field(name, self.types.get(name, FieldType.STRING))

    def condition(self, condition: Condition) -> str:
        field = self.field(condition.field)
        operator, operand = condition.operator, condition.operand
        if operator == "exists":
            return field.known if operand else f"(NOT {field.known})"
        test = self._test(field, condition, operator, operand)
        return f"(CASE WHEN {field.known} THEN {test} END)"

    def _test(self, field: _Field, condition: Condition, operator: str, operand: object) -> str:
        if operator in ("in", "not_in"):
            assert isinstance(operand, list | tuple)
            found = self._member(field, list(operand), list_field=condition.list_field)
            return f"(NOT {found})" if operator == "not_in" and found != "NULL" else found
        if operator == "equals":
            return self._equals(field, operand, list_field=condition.list_field)
        if operator in ("between", "gte", "lte"):
            return self._bounds(field, operator, operand)
        if operator in ("contains_any", "contains_all"):
            assert isinstance(operand, list | tuple)
            keys = [as_text(v) for v in operand]
            return field.holds(keys, every=operator == "contains_all")
        if operator == "matches":
            return self._matches(field, str(operand), list_field=condition.list_field)
        if operator == "within_days":
            return self._within(field, int(operand))  # type: ignore[call-overload]
        raise NotExpressible(f"operator {operator!r} has no SQL form")

    def _member(self, field: _Field, values: list[object], *, list_field: bool) -> str:
        numeric = all(isinstance(v, int | float) and not isinstance(v, bool) for v in values)
        if numeric and not list_field:
            numbers = ", ".join(_number(float(v)) for v in values)  # type: ignore[arg-type]
            return f"({field.number} IN ({numbers}))" if values else "FALSE"
        keys = [as_text(float(v)) if numeric else as_text(v) for v in values]  # type: ignore[arg-type]
        if list_field:
            return field.holds(keys, every=False)
        listed = ", ".join(literal(k) for k in keys)
        return f"({field.lower} IN ({listed}))" if keys else "FALSE"

    def _equals(self, field: _Field, operand: object, *, list_field: bool) -> str:
        if isinstance(operand, bool):
            truth = ", ".join(literal(t) for t in sorted(TRUE_WORDS))
            falsity = ", ".join(literal(f) for f in sorted(FALSE_WORDS))
            value = (
                f"(CASE WHEN {field.lower} IN ({truth}) THEN TRUE "
                f"WHEN {field.lower} IN ({falsity}) THEN FALSE END)"
            )
            return f"({value} = {'TRUE' if operand else 'FALSE'})"
        if isinstance(operand, date):
            day, time = _moment_parts(field)
            wanted = f"DATE {literal(day_of(operand).isoformat())}"
            as_day = f"CAST({time} AS DATE)"  # the day in the session's zone: run in UTC
            return f"(COALESCE({day}, {as_day}) = {wanted})"
        return self._member(field, [operand], list_field=list_field)

    def _bounds(self, field: _Field, operator: str, operand: object) -> str:
        number = field.number
        if operator == "between":
            assert isinstance(operand, list | tuple)
            low, high = (float(v) for v in operand)
            return f"({number} BETWEEN {_number(low)} AND {_number(high)})"
        bound = _number(float(operand))  # type: ignore[arg-type]
        return f"({number} >= {bound})" if operator == "gte" else f"({number} <= {bound})"

    def _matches(self, field: _Field, pattern: str, *, list_field: bool) -> str:
        """Searched anywhere in the value; on a list field, in each item (DuckDB only)."""
        pattern = self._regex(pattern)
        if list_field:
            if self.dialect != "duckdb":
                raise NotExpressible(
                    f"`matches` on the list field {field.name} has no portable SQL form "
                    f"in {self.dialect}: use contains_any, or --dialect duckdb"
                )
            test = f"TRIM(item) <> '' AND regexp_matches(TRIM(item), {literal(pattern)})"
            each = f"list_filter(string_split({field.text}, ';'), item -> {test})"
            return f"(len({each}) > 0)"
        return f"regexp_matches({field.text}, {literal(pattern)})"

    def _regex(self, pattern: str) -> str:
        """PostgreSQL spells a word boundary `\\y` (its `\\b` is a backspace)."""
        if self.dialect == "postgres":
            return re.sub(
                r"(?<!\\)\\([bB])", lambda m: "\\y" if m.group(1) == "b" else "\\Y", pattern
            )
        return pattern

    def _within(self, field: _Field, days: int) -> str:
        day, time = _moment_parts(field)
        if self.now is not None:
            cutoff = self.now.astimezone(UTC) - timedelta(days=days)
            first_day = f"DATE {literal(day_of(cutoff).isoformat())}"
            moment = f"TIMESTAMPTZ {literal(cutoff.isoformat())}"
        else:
            moment = f"(CURRENT_TIMESTAMP - INTERVAL {days} DAY)"
            first_day = f"CAST({moment} AS DATE)"
        return f"COALESCE({day} >= {first_day}, {time} >= {moment})"


def status_column(scope: str, criterion_id: str) -> str:
    """`icp_midmarket_saas__industry`: one status column per criterion, a plain identifier."""
    return "icp_" + re.sub(r"\W", "_", f"{scope}__{criterion_id}").lower()


def _scope(name: str) -> str:
    return re.sub(r"\W", "_", name).lower()


def _status(condition_sql: str, name: str) -> str:
    """TRUE, FALSE, NULL as the words a status column holds."""
    return (
        f"(CASE {condition_sql} WHEN TRUE THEN 'matched' WHEN FALSE THEN 'missed' "
        f"ELSE 'unknown' END) AS {name}"
    )


def _weighted(parts: Sequence[tuple[str, int]], status: str) -> str:
    """Σ weight of the criteria (status columns) whose status is `status`."""
    if not parts:
        return "0"
    terms = [f"(CASE WHEN {name} = '{status}' THEN {w} ELSE 0 END)" for name, w in parts]
    return "(" + " + ".join(terms) + ")"


def _score_and_coverage(criteria: Sequence[tuple[str, int]]) -> tuple[str, str]:
    """Score and coverage of weighted criteria from their status columns, as `Scorer` does."""
    positive = [(name, w) for name, w in criteria if w > 0]
    negative = [(name, w) for name, w in criteria if w < 0]
    total = sum(w for _, w in positive)
    penalty = _weighted(negative, "matched")
    if not total:
        return f"GREATEST(0, {penalty})", "1.0"
    base = f"FLOOR(CAST(100 * {_weighted(positive, 'matched')} AS DOUBLE) / {total} + 0.5)"
    score = f"CAST(GREATEST(0, LEAST(100, {base} + {penalty})) AS INTEGER)"
    coverage = f"(CAST({total} - {_weighted(positive, 'unknown')} AS DOUBLE) / {total})"
    return score, coverage


def _any_matched(names: Sequence[str]) -> str:
    return "(" + " OR ".join(f"{n} = 'matched'" for n in names) + ")" if names else "FALSE"


def _first_matched(parts: Sequence[tuple[str, str]]) -> str:
    """The id of the first disqualifier that matched, NULL when none did."""
    if not parts:
        return "CAST(NULL AS VARCHAR)"
    cases = " ".join(f"WHEN {name} = 'matched' THEN {literal(id_)}" for name, id_ in parts)
    return f"(CASE {cases} END)"


def select_sql(
    icp: Icp,
    types: Mapping[str, FieldType],
    *,
    table: str = "accounts",
    now: datetime | None = None,
    dialect: str = "duckdb",
    pretty: bool = True,
) -> str:
    """One `SELECT` over `table`: every column of it, then the ICP's verdict on each row.

    Three steps, each a CTE a reader can follow: `statuses` (each criterion
    and disqualifier matched, missed or unknown), `profiles` (each profile's
    score, coverage and whether it is out), then the verdict. `now` fixes the
    moment `within_days` is judged from (`--as-of`); without it the query
    uses the database's current time, so a scheduled model ages its scores as
    the daily job does.
    """
    if dialect not in DIALECTS:
        raise NotExpressible(f"dialect {dialect!r}: use one of {', '.join(DIALECTS)}")
    if dialect in UNVERIFIED:
        raise NotExpressible(
            f"{dialect}: not available yet, as the translation is not yet checked against "
            f"{dialect} itself ({UNVERIFIED[dialect]}). Use --dialect duckdb or postgres."
        )
    compiler = _Compiler(types, now, dialect)
    statuses: list[str] = []

    def status(condition: Condition, scope: str, item_id: str) -> str:
        name = status_column(scope, item_id)
        statuses.append(_status(compiler.condition(condition), name))
        return name

    top = [(status(d.condition, "disqualify", d.id), d.id) for d in icp.disqualify]
    per_profile = []
    profile_columns: list[str] = []
    for profile in icp.profiles:
        criteria = [(status(c.condition, profile.id, c.id), c.weight) for c in profile.criteria]
        outs = [
            (status(d.condition, f"{profile.id}__disqualify", d.id), d.id)
            for d in profile.disqualify
        ]
        score, coverage = _score_and_coverage(criteria)
        prefix = f"icp_{_scope(profile.id)}"
        profile_columns += [
            f"{score} AS {prefix}_score",
            f"{coverage} AS {prefix}_coverage",
            f"{_any_matched([n for n, _ in outs])} AS {prefix}_out",
        ]
        per_profile.append((profile.id, prefix, outs))
    verdict = _verdict(icp, top, per_profile)
    sql = (
        f"WITH statuses AS (SELECT *, {', '.join(statuses)} FROM {_table(table)}), "
        f"profiles AS (SELECT *, {', '.join(profile_columns)} FROM statuses) "
        f"SELECT *, {', '.join(verdict)} FROM profiles"
    )
    # BigQuery's REGEXP_REPLACE replaces every match without DuckDB's 'g' flag: the flag
    # sqlglot reports as unsupported there is the default, so nothing is lost.
    level = ErrorLevel.IGNORE if dialect == "bigquery" else ErrorLevel.RAISE
    reads = sorted({c.condition.field for c in _rules(icp)})
    head = (
        f"-- icpbot: ICP v{icp.version} as SQL ({dialect}). Reads the columns "
        f"{', '.join(reads)} of {table}: canonical values, list fields ';'-separated, "
        "a missing column is an error (add it as NULL).\n"
    )
    try:
        return (
            head
            + sqlglot.transpile(
                sql, read="duckdb", write=dialect, pretty=pretty, unsupported_level=level
            )[0]
        )
    except UnsupportedError as exc:
        raise NotExpressible(f"{dialect} cannot state this ICP as SQL: {exc}") from exc


def _verdict(
    icp: Icp,
    top: Sequence[tuple[str, str]],
    profiles: Sequence[tuple[str, str, Sequence[tuple[str, str]]]],
) -> list[str]:
    """icp_score, icp_tier, icp_profile, icp_coverage, icp_disqualified_by from the profiles."""
    keys = [
        f"({prefix}_score + CASE WHEN {prefix}_out THEN 0 ELSE 1000 END)"
        for _, prefix, _ in profiles
    ]
    winner = _winner(len(profiles), keys)
    score = _pick(winner, [f"{prefix}_score" for _, prefix, _ in profiles])
    every_out = "(" + " AND ".join(f"{prefix}_out" for _, prefix, _ in profiles) + ")"
    disqualified = f"({_any_matched([n for n, _ in top])} OR {every_out})"
    tiers = icp.tiers
    tier = (
        f"(CASE WHEN {disqualified} THEN 'DQ' WHEN {score} >= {tiers.a} THEN 'A' "
        f"WHEN {score} >= {tiers.b} THEN 'B' WHEN {score} >= {tiers.c} THEN 'C' ELSE 'D' END)"
    )
    first_out = _first_matched([*top, *(pair for _, _, outs in profiles for pair in outs)])
    return [
        f"{score} AS icp_score",
        f"{tier} AS icp_tier",
        f"{_pick(winner, [literal(pid) for pid, _, _ in profiles])} AS icp_profile",
        f"{_pick(winner, [f'{prefix}_coverage' for _, prefix, _ in profiles])} AS icp_coverage",
        f"(CASE WHEN {disqualified} THEN {first_out} END) AS icp_disqualified_by",
    ]


def _rules(icp: Icp) -> list[Criterion | Disqualifier]:
    """Every criterion and disqualifier the account verdict reads (not the persona)."""
    rules: list[Criterion | Disqualifier] = [*icp.disqualify]
    for profile in icp.profiles:
        rules += [*profile.criteria, *profile.disqualify]
    return rules


def _table(name: str) -> str:
    """A table name as given, each dotted part quoted: `analytics.accounts`."""
    return ".".join(column(part) for part in name.split("."))


def _winner(count: int, keys: Sequence[str]) -> str:
    """The 0-based index of the highest key; ties go to the first listed."""
    if count <= 1:
        return "0"
    cases = []
    for index in range(count - 1):
        rest = ", ".join(keys[index + 1 :])
        best = rest if count - index - 1 == 1 else f"GREATEST({rest})"
        cases.append(f"WHEN {keys[index]} >= {best} THEN {index}")
    return f"(CASE {' '.join(cases)} ELSE {count - 1} END)"


def _pick(winner: str, values: Sequence[str]) -> str:
    if len(values) == 1:
        return values[0]
    cases = " ".join(f"WHEN {winner} = {i} THEN {v}" for i, v in enumerate(values))
    return f"(CASE {cases} END)"
