"""A list's cells as canonical typed columns, in SQL, typed exactly as the CSV reader types them.

Each typed column becomes one SQL expression. The shapes nearly every cell of
a real export has (`350`, `2026-03-01`, `US`, `acme.com`, `hubspot;slack`)
are read by the SQL itself, in the few ways that give the same value as
`integrations.records` would; every other cell (`1,200`, `United Kingdom`,
`https://www.acme.co.uk/`, `abc`) is handed to `read_cell`, the reader the
per-record path uses, through a DuckDB function that remembers each distinct
cell. So the two paths cannot drift: the SQL only takes the shortcut where
its answer is the reader's, and a property test holds them equal.

A cell the reader refuses (`abc` as a headcount, a negative revenue, a
domain that is none) gives its row a problem, named as the reader names it;
that row is reported, not scored.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache

import duckdb
import pycountry
from duckdb import func, sqltypes

from integrations.domains import normalize_country, public_suffixes
from integrations.records import canonical_cell, read_cell
from scoring.fields import FieldType
from scoring.sql import column, literal

KEY = "domain"
# The value a typed column holds: numbers as DOUBLE, everything else as text.
_REFUSABLE = (FieldType.NUMBER, FieldType.DATE, FieldType.BOOLEAN)
PLAIN_TLDS, SUFFIX_RULES, ISO_CODES = "icp_plain_tlds", "icp_suffix_rules", "icp_iso_codes"
MEMO_CELLS = 1_000_000  # distinct cells remembered per column: a few hundred MB at most

# Shapes read by SQL alone; each gives exactly what `read_cell` gives for it.
_PLAIN_NUMBER = r"[0-9]{1,15}([.][0-9]{1,6})?"
_PLAIN_DAY = r"[1-9][0-9]{3}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])"
_PLAIN_TIME = (
    _PLAIN_DAY + r"[T ]([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]([.][0-9]{1,6})?(Z|[+]00:00)?"
)
_ITEM = r"[!-:<-~]([ -:<-~]*[!-:<-~])?"  # printable ASCII, no `;`, nothing to strip
_PLAIN_ITEMS = f"{_ITEM}(;{_ITEM})*"
_HOST_SHAPE = r"[A-Za-z0-9-]+([.][A-Za-z0-9-]+){1,2}"
_SCHEME = r"[A-Za-z][A-Za-z0-9+.-]*://"
# A bare host, or a URL whose host is plain (no user, no port): the reader's own steps.
_PLAIN_URL = f"({_SCHEME})?{_HOST_SHAPE}([/?#][\\s\\S]*)?"
_URL_HOST = f"^(?:{_SCHEME})?([^/?#]*)"
HOST = "icp_host"
_TRUTH = ("true", "yes", "y", "1", "t")
_FALSITY = ("false", "no", "n", "0", "f")


@dataclass(slots=True)
class Reader:
    """`read_cell` for one column, remembered per distinct cell. Both answers are text:
    a DuckDB function returning text costs a fraction of one returning a struct, and
    a number's `repr` casts back to the very same DOUBLE."""

    name: str
    kind: FieldType
    _values: dict[str, tuple[str | None, str | None]] = field(default_factory=dict)

    def read(self, cell: str) -> tuple[str | None, str | None]:
        found = self._values.get(cell)
        if found is None:
            value, problem = read_cell(self.name, self.kind, cell)
            canonical = canonical_cell(value)
            found = (repr(canonical) if isinstance(canonical, float) else canonical, problem)
            if len(self._values) < MEMO_CELLS:
                self._values[cell] = found
        return found

    def value(self, cell: str) -> str | None:
        return self.read(cell)[0]

    def problem(self, cell: str) -> str | None:
        return self.read(cell)[1]


@dataclass(frozen=True, slots=True)
class Column:
    """One typed column: the SQL testing a cell's shape is one SQL reads alone, of its
    canonical value, and of its problem (NULL when it has none) if the reader can
    refuse a value of this field at all."""

    name: str
    test: str
    value: str
    problem: str | None


@dataclass(slots=True)
class Canonical:
    """The canonical columns of a list over its text cells, with the functions and the
    tables of names they read registered on one DuckDB connection."""

    db: duckdb.DuckDBPyConnection
    types: Mapping[str, FieldType]
    readers: list[Reader] = field(default_factory=list)

    def __post_init__(self) -> None:
        suffixes = public_suffixes()
        for table, names in (
            (PLAIN_TLDS, suffixes.plain_tlds),
            (SUFFIX_RULES, suffixes.rules),
            (ISO_CODES, _iso_codes()),
        ):
            self.db.execute(
                f"CREATE TEMP TABLE {table} AS SELECT unnest(?::VARCHAR[]) AS name", [list(names)]
            )

    def select(self, columns: Sequence[str], cells: Sequence[str], raw: str) -> str:
        """`SELECT` over `raw` (the text `cells`, holding the fields `columns`)
        of every non-blank row's cells, canonical fields and `icp_problem` (NULL for a
        row the reader takes; else what it refuses, as it says it).

        In layers, so each costly piece runs once a row: blank rows dropped and
        names looked up (public suffixes, country codes); each cell's shape
        tested; each column typed; then the row's problem from the typed columns.
        """
        # The last column holding a field wins, as the reader keeps the last value it reads.
        holders = dict(zip(columns, cells, strict=True))
        shapes: list[str] = []
        typed: list[str] = []
        problems: list[str] = []
        for index, (name, cell) in enumerate(zip(columns, cells, strict=True)):
            if name not in self.types:
                continue
            found = self._column(name, cell, f"icp_plain_{index}")
            shapes.append(f"{found.test} AS icp_plain_{index}")
            if found.problem is not None:
                problems.append(f"icp_problem_{index}")
                typed.append(f"{found.problem} AS icp_problem_{index}")
            if holders[name] == cell:
                typed.append(f"{found.value} AS {column(name)}")
        typed += [
            f"CAST(NULL AS {'DOUBLE' if kind is FieldType.NUMBER else 'VARCHAR'}) AS {column(n)}"
            for n, kind in self.types.items()
            if n not in holders
        ]
        key = column(KEY)
        key_problem = f"icp_problem_{cells.index(holders[KEY])}" if KEY in holders else "NULL"
        missing = (
            f"CASE WHEN {key} IS NULL AND {key_problem} IS NULL "
            f"THEN {literal(KEY + ' is missing')} END"
        )
        problem = f"NULLIF(concat_ws('; ', {', '.join([*problems, missing])}), '')"
        kept = f"SELECT *, {self._host(holders)} FROM {raw} WHERE NOT {blank_row(cells)}"
        looked = f"SELECT *, {', '.join(self._lookups(holders))} FROM ({kept})"
        shaped = f"SELECT *, {', '.join(shapes)} FROM ({looked})"
        typed_rows = f"SELECT {', '.join(cells)}, {', '.join(typed)} FROM ({shaped})"
        return f"SELECT *, {problem} AS icp_problem FROM ({typed_rows})"

    def _lookups(self, holders: Mapping[str, str]) -> list[str]:
        """Flags answering, once a row, what the domain and country shortcuts ask, on the
        `icp_host` the layer below found. Each is an `IN (SELECT ...)`: DuckDB builds its
        hash table from the names, never from the list, which streams through in order."""
        flags = ["NULL AS icp_lookup"]
        if KEY in holders:
            parent = f"SUBSTR({HOST}, STRPOS({HOST}, '.') + 1)"
            for name, table, value in (
                ("tld", PLAIN_TLDS, f"REGEXP_EXTRACT({HOST}, '[^.]*$')"),
                ("host", SUFFIX_RULES, HOST),
                ("parent", SUFFIX_RULES, parent),
                ("wild", SUFFIX_RULES, f"'*.' || {parent}"),
            ):
                flags.append(
                    f"COALESCE({value} IN (SELECT name FROM {table}), FALSE) AS icp_{name}_known"
                )
        if "country" in holders and "country" in self.types:
            known = f"{holders['country']} IN (SELECT name FROM {ISO_CODES})"
            flags.append(f"COALESCE({known}, FALSE) AS icp_iso_known")
        return flags

    @staticmethod
    def _host(holders: Mapping[str, str]) -> str:
        """The host of a domain cell of a shape SQL reads alone (`acme.com`,
        `https://www.Acme.co.uk/about`), lower-cased; NULL for any other cell."""
        if KEY not in holders:
            return f"CAST(NULL AS VARCHAR) AS {HOST}"
        cell = holders[KEY]
        host = f"LOWER(regexp_extract({cell}, {literal(_URL_HOST)}, 1))"
        bare = f"regexp_full_match({cell}, {literal(_HOST_SHAPE)})"
        url = f"regexp_full_match({cell}, {literal(_PLAIN_URL)})"
        return f"(CASE WHEN {bare} THEN LOWER({cell}) WHEN {url} THEN {host} END) AS {HOST}"

    def _column(self, name: str, cell: str, plain_flag: str) -> Column:
        """`cell`: the SQL of the text cell (NULL when empty) holding field `name`;
        `plain_flag`: the column where its `test` (a shape SQL reads alone) is kept."""
        kind = self.types[name]
        plain = _plain(name, kind, cell)
        reader = self._reader(name, kind)
        fallback = f"{reader}_value({cell})"
        if kind is FieldType.NUMBER:
            fallback = f"CAST({fallback} AS DOUBLE)"
        empty = f"{cell} IS NULL OR {cell} = ''"
        value = (
            f"(CASE WHEN {empty} THEN NULL WHEN {plain_flag} THEN {plain.value} "
            f"ELSE {fallback} END)"
        )
        refusable = name in (KEY, "email") or kind in _REFUSABLE
        problem = (
            f"(CASE WHEN {empty} OR {plain_flag} THEN NULL ELSE {reader}_problem({cell}) END)"
            if refusable
            else None
        )
        return Column(name, f"COALESCE({plain.test}, FALSE)", value, problem)

    def _reader(self, name: str, kind: FieldType) -> str:
        reader = Reader(name, kind)
        self.readers.append(reader)
        function = f"icp_read_{len(self.readers)}"
        # `special`: the functions may answer NULL (no value, no problem); they are never
        # asked about a NULL cell, which the SQL answers itself.
        self.db.create_function(
            f"{function}_value",
            reader.value,
            [sqltypes.VARCHAR],
            sqltypes.VARCHAR,
            null_handling=func.SPECIAL,
        )
        self.db.create_function(
            f"{function}_problem",
            reader.problem,
            [sqltypes.VARCHAR],
            sqltypes.VARCHAR,
            null_handling=func.SPECIAL,
        )
        return function


@dataclass(frozen=True, slots=True)
class _Plain:
    test: str
    value: str


def _plain(name: str, kind: FieldType, cell: str) -> _Plain:
    """The shapes of this field SQL reads alone, and the value it reads from them."""
    if name == KEY:
        # A host of two or three labels (any case, maybe in a URL) whose TLD has no
        # wildcard rule, that is no public suffix itself and has no wildcard rule over
        # its parent: registrable as its last two labels, or as the whole host when its
        # parent is a suffix (`acme.co.uk`), exactly as the reader finds.
        parent = f"SUBSTR({HOST}, STRPOS({HOST}, '.') + 1)"
        two_labels = f"STRPOS({parent}, '.') = 0"
        test = (
            f"({HOST} IS NOT NULL AND icp_tld_known AND NOT icp_host_known AND "
            f"({two_labels} OR NOT icp_wild_known))"
        )
        value = f"(CASE WHEN {two_labels} OR icp_parent_known THEN {HOST} ELSE {parent} END)"
        return _Plain(test, value)
    if name == "country":
        return _Plain("icp_iso_known", cell)
    if name == "email":
        return _Plain("FALSE", "NULL")
    if kind is FieldType.NUMBER:
        return _Plain(
            f"regexp_full_match({cell}, {literal(_PLAIN_NUMBER)})", f"CAST({cell} AS DOUBLE)"
        )
    if kind is FieldType.DATE:
        day = (
            f"(regexp_full_match({cell}, {literal(_PLAIN_DAY)}) AND "
            f"TRY_CAST({cell} AS DATE) IS NOT NULL)"
        )
        time = (
            f"(regexp_full_match({cell}, {literal(_PLAIN_TIME)}) AND "
            f"TRY_CAST({cell} AS TIMESTAMPTZ) IS NOT NULL)"
        )
        return _Plain(f"({day} OR {time})", cell)
    if kind is FieldType.BOOLEAN:
        words = _listed([*_TRUTH, *_FALSITY])
        value = f"(CASE WHEN LOWER({cell}) IN ({_listed(_TRUTH)}) THEN 'true' ELSE 'false' END)"
        return _Plain(f"(LOWER({cell}) IN ({words}))", value)
    if kind is FieldType.LIST:
        # Items with nothing to strip, between single separators: the cell is the value.
        return _Plain(f"regexp_full_match({cell}, {literal(_PLAIN_ITEMS)})", cell)
    # Printable ASCII at both ends: nothing to strip.
    ends = f"ascii({cell}) BETWEEN 33 AND 126 AND ascii(right({cell}, 1)) BETWEEN 33 AND 126"
    return _Plain(f"({ends})", cell)


def _listed(values: Sequence[str]) -> str:
    return ", ".join(literal(v) for v in values)


@lru_cache(maxsize=1)
def _iso_codes() -> tuple[str, ...]:
    """Alpha-2 codes the reader keeps as they are (`UK` is not one: it reads as GB)."""
    codes = (str(c.alpha_2) for c in pycountry.countries)
    return tuple(sorted(c for c in codes if normalize_country(c) == c))


@lru_cache(maxsize=1)
def _not_blank() -> str:
    """A regular expression for any character Python's `str.isspace` is false of."""
    spaces = "".join(f"\\x{{{ord(c):x}}}" for c in map(chr, range(0x3001)) if c.isspace())
    return f"[^{spaces}]"


def blank_row(cells: Sequence[str]) -> str:
    """Every cell empty or blank, as the reader judges (`str.isspace`): it skips such a
    row without a word. A first cell starting with a visible ASCII character settles it
    without a regular expression: the full test runs on the few rows left."""
    visible = literal(_not_blank())
    tests = " OR ".join(f"regexp_matches({c}, {visible})" for c in cells)
    return (
        f"(CASE WHEN ascii({cells[0]}) BETWEEN 33 AND 126 THEN FALSE "
        f"ELSE NOT COALESCE({tests}, FALSE) END)"
    )
