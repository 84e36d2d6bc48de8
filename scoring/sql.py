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
run on DuckDB and PostgreSQL. The table holds canonical values (countries as
ISO codes, as the CSV reader makes them); a time without a zone is UTC, as
the engine reads it, whatever the session's time zone.

Where a dialect's functions mean something else than DuckDB's, the
difference is dealt with here, not left to the translation: Snowflake's
REGEXP_LIKE matches the whole value (only anchored patterns are used, and a
`matches` criterion is refused there, its POSIX patterns not being the
engine's), and REGEXP_REPLACE replaces every match there and in BigQuery
without DuckDB's `'g'` flag, which sqlglot would pass on as a position.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import sqlglot
from sqlglot import exp
from sqlglot.errors import ErrorLevel, UnsupportedError

from scoring.explain import MAX_REASONS, REASON_VALUE_LIMIT
from scoring.fields import FieldType
from scoring.model import Condition, Criterion, Disqualifier, Icp, Profile
from scoring.operators import FALSE_WORDS, TRUE_WORDS, as_text, day_of

DIALECTS = ("duckdb", "postgres", "snowflake", "bigquery")
# Dialects whose REGEXP_REPLACE replaces every match unasked.
_GLOBAL_REPLACE = frozenset({"snowflake", "bigquery"})


# Shapes a value must have before it is cast. Months and days are checked by range; a day
# a month lacks (02-30) still reaches the cast.
_NUMBER = r"^[+-]?([0-9]+[.]?[0-9]*|[.][0-9]+)([eE][+-]?[0-9]+)?$"
_DAY = r"^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$"
_TIME = (
    r"^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])[T ]([01][0-9]|2[0-3]):[0-5][0-9]"
    r"(:[0-5][0-9]([.][0-9]+)?)?(Z|[+-][0-9]{2}(:?[0-9]{2})?)?$"
)
# A `_TIME` that names its zone. Anchored at both ends, as every pattern here is, so that
# a whole-value match (Snowflake's REGEXP_LIKE) and a search mean the same.
_ZONED = r"^.*(Z|[+-][0-9]{2}(:?[0-9]{2})?)$"


class NotExpressible(ValueError):
    """A criterion SQL cannot state with the engine's meaning in this dialect; says which."""


def literal(value: str) -> str:
    """A SQL string literal, quotes doubled (standard SQL: a backslash is itself)."""
    return "'" + value.replace("'", "''") + "'"


def column(name: str) -> str:
    """A quoted column name: canonical names are safe, custom ones may not be."""
    return exp.to_identifier(name, quoted=True).sql(dialect="duckdb")


def _number(value: float) -> str:
    number = float(value)
    return repr(int(number)) if number.is_integer() else repr(number)


@dataclass(frozen=True, slots=True)
class _Field:
    """The SQL for one column's value in each form the operators read.

    `typed`: the column already holds the canonical value as the columnar
    path makes it (numbers as DOUBLE, text trimmed, a list's items trimmed and
    `;`-joined, NULL when missing), so nothing is trimmed, split or parsed per
    criterion. Otherwise the column is whatever a warehouse table holds, read
    as text.
    """

    name: str
    kind: FieldType
    typed: bool = False

    @property
    def text(self) -> str:
        """Trimmed text, NULL when missing or blank: whatever the column's own type."""
        if self.typed and self.kind is FieldType.NUMBER:
            # As the engine writes a number as text: integral values without `.0`.
            value = column(self.name)
            return (
                f"(CASE WHEN {value} = FLOOR({value}) AND ABS({value}) < 1e15 "
                f"THEN CAST(CAST({value} AS BIGINT) AS VARCHAR) ELSE CAST({value} AS VARCHAR) END)"
            )
        if self.typed:
            return column(self.name)
        return f"NULLIF(TRIM(CAST({column(self.name)} AS VARCHAR)), '')"

    @property
    def number(self) -> str:
        """A number as the engine reads one: `1,200`, `$5000`, `1_000`; NULL otherwise."""
        if self.typed and self.kind is FieldType.NUMBER:
            return column(self.name)
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
        if self.typed and self.kind is FieldType.LIST:
            return f"(';' || {self.lower} || ';')"
        # POSIX classes, which every dialect's regular expressions read alike.
        joined = f"REGEXP_REPLACE({self.lower}, '[[:space:]]*;[[:space:]]*', ';', 'g')"
        return f"(';' || {joined} || ';')"

    def holds(self, keys: Sequence[str], *, every: bool) -> str:
        """The list holds any (or every) of these lower-case items; FALSE for none asked."""
        parts = [f"(STRPOS({self.items}, {literal(';' + key + ';')}) > 0)" for key in keys]
        return "(" + (" AND " if every else " OR ").join(parts) + ")" if parts else "FALSE"

    @property
    def has_items(self) -> str:
        """The list holds at least one non-blank item (`;` alone is an empty list)."""
        return f"(REGEXP_REPLACE({self.text}, '[;[:space:]]', '', 'g') <> '')"

    @property
    def known(self) -> str:
        """The value is present: a list needs an item, anything else a non-blank text."""
        if self.typed:
            return f"({column(self.name)} IS NOT NULL)"
        if self.kind is FieldType.LIST:
            return f"({self.text} IS NOT NULL AND {self.has_items})"
        return f"({self.text} IS NOT NULL)"


def _moment_parts(field: _Field) -> tuple[str, str]:
    """A calendar date (`2026-03-01`) and a time (ISO, `T` or space, optional zone), each
    NULL otherwise; cast only when its shape is right, as a failed cast stops the query."""
    text = field.text
    day = f"(CASE WHEN regexp_matches({text}, {literal(_DAY)}) THEN CAST({text} AS DATE) END)"
    # A time without a zone is UTC, as the engine reads it, not the session's time zone.
    zoned = (
        f"(CASE WHEN regexp_matches({text}, {literal(_ZONED)}) THEN {text} "
        f"ELSE {text} || '+00:00' END)"
    )
    is_time = f"regexp_matches({text}, {literal(_TIME)})"
    time = f"(CASE WHEN {is_time} THEN CAST({zoned} AS TIMESTAMPTZ) END)"
    return day, time


class _Compiler:
    """Conditions into three-valued SQL: TRUE matched, FALSE missed, NULL unknown."""

    def __init__(
        self,
        types: Mapping[str, FieldType],
        now: datetime | None,
        dialect: str,
        *,
        typed: bool = False,
    ) -> None:
        self.types = types
        self.now = now
        self.dialect = dialect
        self.typed = typed

    def field(self, name: str) -> _Field:
        return _Field(name, self.types.get(name, FieldType.STRING), self.typed)

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
        if self.dialect == "snowflake":
            raise NotExpressible(
                f"`matches: {pattern}` on {field.name}: Snowflake's regular expressions are "
                "POSIX and REGEXP_LIKE matches the whole value, so the pattern would not mean "
                "there what it means to icpbot. State the criterion with in or contains_any, "
                "or use --dialect duckdb, postgres or bigquery"
            )
        if list_field:
            if self.dialect != "duckdb":
                raise NotExpressible(
                    f"`matches` on the list field {field.name} has no portable SQL form "
                    f"in {self.dialect}: use contains_any, or --dialect duckdb"
                )
            test = f"TRIM(item) <> '' AND regexp_matches(TRIM(item), {literal(pattern)})"
            each = f"list_filter(string_split({field.text}, ';'), lambda item: {test})"
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


@dataclass(frozen=True, slots=True)
class _Statuses:
    """How status columns hold a rule's outcome: words (`matched`, `missed`, `unknown`) for
    `icpbot sql`, whose reader sees them, or TRUE / FALSE / NULL on the columnar path,
    where words would cost a string per rule and row only to be compared again."""

    words: bool

    def column(self, condition_sql: str, name: str) -> str:
        if not self.words:
            return f"{condition_sql} AS {name}"
        return (
            f"(CASE {condition_sql} WHEN TRUE THEN 'matched' WHEN FALSE THEN 'missed' "
            f"ELSE 'unknown' END) AS {name}"
        )

    def matched(self, name: str) -> str:
        return f"{name} = 'matched'" if self.words else f"{name} IS TRUE"

    def unknown(self, name: str) -> str:
        return f"{name} = 'unknown'" if self.words else f"{name} IS NULL"

    def word(self, name: str) -> str:
        """The status in words, whichever form the column holds."""
        if self.words:
            return name
        return f"(CASE {name} WHEN TRUE THEN 'matched' WHEN FALSE THEN 'missed' ELSE 'unknown' END)"

    def weighted(self, parts: Sequence[tuple[str, int]], *, unknown: bool = False) -> str:
        """Σ weight of the criteria (status columns) matched, or unknown."""
        if not parts:
            return "0"
        test = self.unknown if unknown else self.matched
        return (
            "(" + " + ".join(f"(CASE WHEN {test(n)} THEN {w} ELSE 0 END)" for n, w in parts) + ")"
        )

    def score_and_coverage(self, criteria: Sequence[tuple[str, int]]) -> tuple[str, str]:
        """Score and coverage of weighted criteria from their status columns, as `Scorer`
        does."""
        positive = [(name, w) for name, w in criteria if w > 0]
        negative = [(name, w) for name, w in criteria if w < 0]
        total = sum(w for _, w in positive)
        penalty = self.weighted(negative)
        if not total:
            return f"GREATEST(0, {penalty})", "1.0"
        base = f"FLOOR(CAST(100 * {self.weighted(positive)} AS DOUBLE) / {total} + 0.5)"
        score = f"CAST(GREATEST(0, LEAST(100, {base} + {penalty})) AS INTEGER)"
        coverage = f"(CAST({total} - {self.weighted(positive, unknown=True)} AS DOUBLE) / {total})"
        return score, coverage

    def any_matched(self, names: Sequence[str]) -> str:
        return "(" + " OR ".join(self.matched(n) for n in names) + ")" if names else "FALSE"

    def count_matched(self, names: Sequence[str]) -> str:
        if not names:
            return "0"
        return "(" + " + ".join(f"CAST({self.matched(n)} AS INTEGER)" for n in names) + ")"

    def first_matched(self, parts: Sequence[tuple[str, str]]) -> str:
        """The id of the first disqualifier that matched, NULL when none did."""
        if not parts:
            return "CAST(NULL AS VARCHAR)"
        cases = " ".join(f"WHEN {self.matched(n)} THEN {literal(id_)}" for n, id_ in parts)
        return f"(CASE {cases} END)"


@dataclass(slots=True)
class _Plan:
    """The ICP as SQL pieces: each rule's status column, each profile's score, the verdict."""

    form: _Statuses
    statuses: list[str]
    profile_columns: list[str]
    top: list[tuple[str, str]]  # (status column, disqualifier id)
    profiles: list[_ProfilePlan]


@dataclass(frozen=True, slots=True)
class _ProfilePlan:
    profile: Profile
    prefix: str
    criteria: list[tuple[str, Criterion]]  # (status column, criterion)
    outs: list[tuple[str, str]]  # (status column, disqualifier id)

    @property
    def positive_weight(self) -> int:
        """Σ positive weights: what a score and coverage are shares of."""
        return sum(c.weight for _, c in self.criteria if c.weight > 0)


def _plan(icp: Icp, compiler: _Compiler, form: _Statuses) -> _Plan:
    statuses: list[str] = []

    def status(condition: Condition, scope: str, item_id: str) -> str:
        name = status_column(scope, item_id)
        statuses.append(form.column(compiler.condition(condition), name))
        return name

    top = [(status(d.condition, "disqualify", d.id), d.id) for d in icp.disqualify]
    profiles = []
    profile_columns: list[str] = []
    for profile in icp.profiles:
        criteria = [(status(c.condition, profile.id, c.id), c) for c in profile.criteria]
        outs = [
            (status(d.condition, f"{profile.id}__disqualify", d.id), d.id)
            for d in profile.disqualify
        ]
        score, coverage = form.score_and_coverage([(n, c.weight) for n, c in criteria])
        prefix = f"icp_{_scope(profile.id)}"
        profile_columns += [
            f"{score} AS {prefix}_score",
            f"{coverage} AS {prefix}_coverage",
            f"{form.any_matched([n for n, _ in outs])} AS {prefix}_out",
        ]
        profiles.append(_ProfilePlan(profile, prefix, criteria, outs))
    return _Plan(form, statuses, profile_columns, top, profiles)


def _check_dialect(dialect: str) -> None:
    if dialect not in DIALECTS:
        raise NotExpressible(f"dialect {dialect!r}: use one of {', '.join(DIALECTS)}")


def _query(
    plan: _Plan,
    table: str,
    verdict: Sequence[str],
    layers: Sequence[tuple[str, Sequence[str]]] = (),
) -> str:
    """`statuses`, then `profiles`, then each of `layers` (name, columns it adds), each a
    CTE over the one before; the verdict over the last."""
    ctes = [
        f"statuses AS (SELECT *, {', '.join(plan.statuses)} FROM {_table(table)})",
        f"profiles AS (SELECT *, {', '.join(plan.profile_columns)} FROM statuses)",
    ]
    below = "profiles"
    for name, columns in layers:
        ctes.append(f"{name} AS (SELECT *, {', '.join(columns)} FROM {below})")
        below = name
    return f"WITH {', '.join(ctes)} SELECT *, {', '.join(verdict)} FROM {below}"


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
    _check_dialect(dialect)
    plan = _plan(icp, _Compiler(types, now, dialect), _Statuses(words=True))
    sql = _query(plan, table, _verdict(icp, plan))
    reads = sorted({c.condition.field for c in _rules(icp)})
    head = (
        f"-- icpbot: ICP v{icp.version} as SQL ({dialect}). Reads the columns "
        f"{', '.join(reads)} of {table}: canonical values, list fields ';'-separated, "
        "a missing column is an error (add it as NULL).\n"
    )
    tree = sqlglot.parse_one(sql, read="duckdb")
    if dialect in _GLOBAL_REPLACE:
        tree = tree.transform(_replace_every_match)
    try:
        return head + tree.sql(dialect=dialect, pretty=pretty, unsupported_level=ErrorLevel.RAISE)
    except UnsupportedError as exc:
        raise NotExpressible(f"{dialect} cannot state this ICP as SQL: {exc}") from exc


def _replace_every_match(node: exp.Expression) -> exp.Expression:
    """DuckDB's `regexp_replace(..., 'g')` as a dialect that replaces every match unasked
    says it: without the flag (which sqlglot would write there as a position)."""
    if isinstance(node, exp.RegexpReplace) and node.args.get("modifiers") is not None:
        flags = node.args["modifiers"]
        if isinstance(flags, exp.Literal) and flags.this == "g":
            node = node.copy()
            node.set("modifiers", None)
            node.set("single_replace", None)
    return node


def list_sql(icp: Icp, types: Mapping[str, FieldType], *, table: str, now: datetime) -> str:
    """The columnar path's query (DuckDB): `select_sql`'s verdict over a table of typed
    canonical columns, plus what a scored list shows beside it: `icp_reasons` (the
    engine's top reasons, as `score -o` writes them) and `icp_criteria` (the winning
    profile's `{id, status, points}`, as `score --json` prints them).

    The reasons are the engine's `top_reasons` stated in SQL: their order is fixed by
    the ICP (disqualifiers, then penalties worst first, then wins biggest first, then
    what is unknown), so only which lines appear depends on the row.
    """
    form = _Statuses(words=False)
    plan = _plan(icp, _Compiler(types, now, "duckdb", typed=True), form)
    every_out = _every_out(plan)
    dq_lines = [
        f"CASE WHEN {form.matched(name)} THEN {literal(f'DQ {id_}: {rule.why}')} END"
        for (name, id_), rule in zip(plan.top, icp.disqualify, strict=True)
    ]
    dq_count = form.count_matched([n for n, _ in plan.top])
    for p in plan.profiles:
        for (name, id_), rule in zip(p.outs, p.profile.disqualify, strict=True):
            line = literal(f"DQ {id_} ({p.profile.id}): {rule.why}")
            dq_lines.append(f"CASE WHEN {every_out} AND {form.matched(name)} THEN {line} END")
        outs = form.count_matched([n for n, _ in p.outs])
        dq_count += f" + (CASE WHEN {every_out} THEN {outs} ELSE 0 END)"
    shown = _shown_values(plan, types)
    reasons = [_reasons(p, shown.columns, dq_lines) for p in plan.profiles]
    criteria = [_criteria_json(p) for p in plan.profiles]
    # The winner and the room left for win lines, once a row, for every column below.
    winner = "icp_winner"
    ranks = [
        f"{_winner_of(plan)} AS icp_winner",
        f"({MAX_REASONS} - ({dq_count})) AS icp_room",
        *(_stake(p) for p in plan.profiles),
    ]
    verdict = [
        *_verdict(icp, plan, winner),
        f"NULLIF({_pick(winner, reasons)}, '') AS icp_reasons",
        f"{_pick(winner, criteria)} AS icp_criteria",
        f"{_pick(winner, [_shown_coverage(p, 3) for p in plan.profiles])} AS icp_coverage_shown",
        f"{_pick(winner, [_shown_coverage(p, None) for p in plan.profiles])} "
        "AS icp_coverage_percent",
    ]
    return _query(
        plan, table, verdict, [("ranked", ranks), ("texts", shown.texts), ("shown", shown.shown)]
    )


@dataclass(frozen=True, slots=True)
class _ShownValues:
    """The value each reason line shows, one column per field (`columns`: field → column),
    computed once a row in two layers: its text (`texts`), only on rows where a criterion
    reading the field matched, then that text cut to the reasons' limit (`shown`)."""

    columns: dict[str, str]
    texts: list[str]
    shown: list[str]


def _shown_values(plan: _Plan, types: Mapping[str, FieldType]) -> _ShownValues:
    form = _Statuses(words=False)
    readers: dict[str, list[str]] = {}  # field → the status columns of criteria showing it
    for p in plan.profiles:
        total = p.positive_weight
        for name, c in p.criteria:
            if _points(c.weight, total):
                readers.setdefault(c.condition.field, []).append(name)
    columns: dict[str, str] = {}
    texts: list[str] = []
    shown: list[str] = []
    limit = REASON_VALUE_LIMIT
    for index, (field, names) in enumerate(readers.items()):
        text, column_name = f"icp_text_{index}", f"icp_shown_{index}"
        texts.append(
            f"CASE WHEN {form.any_matched(names)} THEN {_text(field, types)} END AS {text}"
        )
        limited = (
            f"CASE WHEN LENGTH({text}) <= {limit} THEN {text} "
            f"ELSE SUBSTR({text}, 1, {limit - 1}) || '…' END"
        )
        shown.append(f"COALESCE({limited}, 'None') AS {column_name}")
        columns[field] = column_name
    return _ShownValues(columns, texts, shown)


def _shown_coverage(p: _ProfilePlan, digits: int | None) -> str:
    """Coverage as Python rounds it for showing: to `digits` places, or as a whole percent.

    SQL's ROUND is not Python's (ties, and values just off a tie in binary), so the
    rounded values are computed here, one for each weight the unknown criteria can sum
    to, and the row only looks its sum up.
    """
    form = _Statuses(words=False)
    weights = [c.weight for _, c in p.criteria if c.weight > 0]
    total = sum(weights)
    if not total:
        return "1.0" if digits is not None else "100"
    sums = {0}
    for weight in weights:
        sums |= {s + weight for s in sums}
    unknown = form.weighted([(n, c.weight) for n, c in p.criteria if c.weight > 0], unknown=True)
    if total <= _LOOKUP_LIMIT:  # a list indexed by the sum: one step, where a CASE tries each
        items = [
            _rounded((total - s) / total, digits) if s in sums else "NULL" for s in range(total + 1)
        ]
        return f"([{', '.join(items)}][{unknown} + 1])"
    cases = " ".join(f"WHEN {s} THEN {_rounded((total - s) / total, digits)}" for s in sorted(sums))
    return f"(CASE {unknown} {cases} END)"


_LOOKUP_LIMIT = 1000  # positive weight, summed, up to which coverage is looked up in a list


def _rounded(coverage: float, digits: int | None) -> str:
    if digits is None:
        return str(round(coverage * 100))
    return f"CAST({round(coverage, digits)!r} AS DOUBLE)"


def _points(weight: int, positive_weight: int) -> float:
    """What a match earns, as the engine's `_CriteriaSet` rounds it."""
    return round(100 * weight / positive_weight, 1) if weight > 0 else float(weight)


def _format_points(points: float) -> str:
    return f"{points:+.0f}" if float(points).is_integer() else f"{points:+.1f}"


def _reasons(p: _ProfilePlan, shown: Mapping[str, str], dq_lines: Sequence[str]) -> str:
    """One profile's reasons, newline-joined: the disqualification lines, the win lines
    (only the first `icp_room` matched), the unknown line. When no more wins matched
    than there is room for (nearly every row), no line needs to count those above it."""
    form = _Statuses(words=False)
    total = p.positive_weight
    wins = [n for n, c in p.criteria if _points(c.weight, total)]
    every = ", ".join([*dq_lines, *_reason_lines(p, shown, None)])
    counted = ", ".join([*dq_lines, *_reason_lines(p, shown, "icp_room")])
    return (
        f"(CASE WHEN {form.count_matched(wins)} <= icp_room THEN concat_ws(chr(10), {every}) "
        f"ELSE concat_ws(chr(10), {counted}) END)"
    )


def _reason_lines(p: _ProfilePlan, shown: Mapping[str, str], room: str | None) -> list[str]:
    """One profile's win lines (each NULL unless it matched and, given a `room`, is among
    the first `room` matched) and its unknown line, in the engine's order; `shown`: the
    column showing each field's value."""
    form = _Statuses(words=False)
    total = p.positive_weight
    earned = [(n, c, _points(c.weight, total)) for n, c in p.criteria]
    ordered = sorted(
        [item for item in earned if item[2]],
        key=lambda item: item[2] if item[2] < 0 else 1000.0 - item[2],
    )
    lines = []
    for index, (name, c, points) in enumerate(ordered):
        before = form.count_matched([n for n, _, _ in ordered[:index]])
        label = literal(f"{_format_points(points)} {c.id}: ")
        ranked = f" AND {before} < {room}" if room is not None else ""
        lines.append(f"CASE WHEN {form.matched(name)}{ranked} THEN {label} || {shown[c.field]} END")
    unknown = [(n, c) for n, c, _ in earned if c.weight > 0]
    if unknown:
        ids = ", ".join(f"CASE WHEN {n} IS NULL THEN {literal(c.id)} END" for n, c in unknown)
        stake = f"{p.prefix}_stake"
        at_stake = (
            f"(CASE WHEN {stake} = FLOOR({stake}) THEN CAST(CAST({stake} AS BIGINT) AS VARCHAR) "
            f"ELSE CAST(CAST(ROUND({stake}, 1) AS DECIMAL(18, 1)) AS VARCHAR) END)"
        )
        some = " OR ".join(f"{n} IS NULL" for n, _ in unknown)
        lines.append(
            f"CASE WHEN {some} THEN 'unknown: ' || concat_ws(', ', {ids}) || ' (' || {at_stake} || "
            "' points unchecked)' END"
        )
    return lines


def _stake(p: _ProfilePlan) -> str:
    """The points a profile's unknown criteria could have earned, summed in the engine's
    order (a DOUBLE, so `13.3 + 20.0` is the engine's very float): `{prefix}_stake`."""
    total = p.positive_weight
    terms = [
        f"(CASE WHEN {n} IS NULL THEN {_points(c.weight, total)!r} ELSE 0.0 END)"
        for n, c in p.criteria
        if c.weight > 0
    ]
    return (
        f"(0.0 + {' + '.join(terms)}) AS {p.prefix}_stake" if terms else f"0.0 AS {p.prefix}_stake"
    )


def _text(name: str, types: Mapping[str, FieldType]) -> str:
    """A value as `format_value` writes it (before its length limit), from its typed
    canonical column."""
    value = column(name)
    kind = types.get(name, FieldType.STRING)
    if kind is FieldType.NUMBER:
        # Whole numbers under 1,000 need no separator: the common case, without `format`.
        text = (
            f"(CASE WHEN {value} >= 0 AND {value} < 1000 AND {value} = FLOOR({value}) "
            f"THEN CAST(CAST({value} AS INTEGER) AS VARCHAR) "
            f"WHEN {value} = FLOOR({value}) THEN format('{{:,.0f}}', {value}) "
            f"ELSE format('{{:,.2f}}', {value}) END)"
        )
    elif kind is FieldType.BOOLEAN:
        text = f"(CASE WHEN {value} = 'true' THEN 'yes' ELSE 'no' END)"
    elif kind is FieldType.DATE:
        text = f"SUBSTR({value}, 1, 10)"
    elif kind is FieldType.LIST:
        text = f"REPLACE({value}, ';', ', ')"
    else:
        iso_time = (
            f"LENGTH({value}) >= 19 AND SUBSTR({value}, 11, 1) = 'T' AND "
            f"SUBSTR({value}, 5, 1) = '-' AND SUBSTR({value}, 8, 1) = '-'"
        )
        text = f"(CASE WHEN {iso_time} THEN SUBSTR({value}, 1, 10) ELSE {value} END)"
        # Under 19 characters a text is neither a time nor too long: itself.
        text = f"(CASE WHEN LENGTH({value}) < 19 THEN {value} ELSE {text} END)"
    return text


def _criteria_json(p: _ProfilePlan) -> str:
    """The winning profile's criteria as `score --json` lists them."""
    form = _Statuses(words=False)
    total = p.positive_weight
    items = [
        f"{{'id': {literal(c.id)}, 'status': {form.word(name)}, "
        f"'points': CASE WHEN {form.matched(name)} "
        f"THEN CAST({_points(c.weight, total)!r} AS DOUBLE) ELSE CAST(0.0 AS DOUBLE) END}}"
        for name, c in p.criteria
    ]
    return f"[{', '.join(items)}]"


def _winner_of(plan: _Plan) -> str:
    """The index of the winning profile: the best still in the running, else the best."""
    keys = [
        f"({p.prefix}_score + CASE WHEN {p.prefix}_out THEN 0 ELSE 1000 END)" for p in plan.profiles
    ]
    return _winner(len(plan.profiles), keys)


def _every_out(plan: _Plan) -> str:
    return "(" + " AND ".join(f"{p.prefix}_out" for p in plan.profiles) + ")"


def _verdict(icp: Icp, plan: _Plan, winner: str | None = None) -> list[str]:
    """icp_score, icp_tier, icp_profile, icp_coverage, icp_disqualified_by from the profiles;
    `winner`: a column already holding the winning profile's index, if one does."""
    winner = winner or _winner_of(plan)
    score = _pick(winner, [f"{p.prefix}_score" for p in plan.profiles])
    disqualified = f"({plan.form.any_matched([n for n, _ in plan.top])} OR {_every_out(plan)})"
    tiers = icp.tiers
    tier = (
        f"(CASE WHEN {disqualified} THEN 'DQ' WHEN {score} >= {tiers.a} THEN 'A' "
        f"WHEN {score} >= {tiers.b} THEN 'B' WHEN {score} >= {tiers.c} THEN 'C' ELSE 'D' END)"
    )
    first_out = plan.form.first_matched(
        [*plan.top, *(pair for p in plan.profiles for pair in p.outs)]
    )
    return [
        f"{score} AS icp_score",
        f"{tier} AS icp_tier",
        f"{_pick(winner, [literal(p.profile.id) for p in plan.profiles])} AS icp_profile",
        f"{_pick(winner, [f'{p.prefix}_coverage' for p in plan.profiles])} AS icp_coverage",
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
