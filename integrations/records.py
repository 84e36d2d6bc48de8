"""The canonical record every CRM adapter produces (SPEC §3).

Adapters map CRM properties to canonical names (`fieldmap`), then `coerce`
turns each value into its field's type once, at the edge: numbers as
numbers, lists as lists, dates as dates, domains registrable, countries
ISO. Scoring, storage and Slack then never see "1,200" or "hubspot;slack".
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from enum import StrEnum

from integrations.domains import email_domain, normalize_country, normalize_domain
from scoring.fields import FieldType
from scoring.operators import as_bool, as_number, is_empty

LIST_SEPARATOR = ";"


class RecordKind(StrEnum):
    """An account is a company; contacts (HubSpot) and leads (Salesforce) are people."""

    ACCOUNT = "account"
    CONTACT = "contact"
    LEAD = "lead"

    @property
    def is_person(self) -> bool:
        return self is not RecordKind.ACCOUNT


@dataclass(slots=True)
class CrmRecord:
    """One CRM object in canonical form, with where it came from."""

    kind: RecordKind
    crm: str
    crm_id: str
    fields: dict[str, object]
    url: str | None = None
    # The CRM's associated company, when it says (a HubSpot contact's company association).
    company_id: str | None = None
    # What the CRM holds in icpbot's own fields now (`ScoreFields.comparable()` form), when the
    # adapter read them: the write-back then compares with the CRM itself, not our memory of it.
    written: dict[str, str] | None = None

    @property
    def domain(self) -> str | None:
        """The account domain: its own for accounts, the email's for people."""
        domain = self.fields.get("domain")
        if isinstance(domain, str) and domain:
            return domain
        email = self.fields.get("email")
        return email_domain(email) if isinstance(email, str) else None

    @property
    def key(self) -> str | None:
        """What identifies it across CRMs: the domain of an account, the email of a person."""
        if self.kind.is_person:
            email = self.fields.get("email")
            return email if isinstance(email, str) and email else None
        return self.domain


@dataclass(frozen=True, slots=True)
class FieldProblem:
    """A value that could not be read as its field's type; the record keeps the rest."""

    field: str
    value: object
    message: str

    def __str__(self) -> str:
        return f"{self.field} {self.value!r}: {self.message}"


@dataclass(slots=True)
class Coerced:
    fields: dict[str, object] = field(default_factory=dict)
    problems: list[FieldProblem] = field(default_factory=list)


def _number(value: object) -> int | float:
    number = as_number(value)
    return int(number) if number.is_integer() else number


class _Negative(ValueError):
    """A count or an amount below zero: a typo or an import gone wrong, never a company."""


def _amount(value: object) -> int | float:
    """A headcount or a revenue: a number, and not below zero."""
    number = _number(value)
    if number < 0:
        raise _Negative("cannot be negative")
    return number


def _items(value: object) -> list[str]:
    if isinstance(value, list | tuple | set | frozenset):
        return [str(v).strip() for v in value if not is_empty(v)]
    return [v.strip() for v in str(value).split(LIST_SEPARATOR) if v.strip()]


def _moment(value: object) -> date | datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, date):
        return value
    text = str(value).strip()
    if text.isdigit() and len(text) >= 12:  # epoch milliseconds, as HubSpot sends them
        try:
            return datetime.fromtimestamp(int(text) / 1000, tz=UTC)
        except OSError as exc:  # past what the platform's clock holds: a bad cell, not a crash
            raise ValueError(f"{text} is beyond any date") from exc
    if len(text) == 10:
        return date.fromisoformat(text)
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def to_datetime(value: object) -> datetime:
    """A date (midnight UTC) or datetime, as an aware datetime: what storage keeps."""
    moment = _moment(value)
    if isinstance(moment, datetime):
        return moment
    return datetime(moment.year, moment.month, moment.day, tzinfo=UTC)


def _string(value: object) -> str:
    return str(value).strip()


_BY_TYPE: Mapping[FieldType, Callable[[object], object]] = {
    FieldType.STRING: _string,
    FieldType.NUMBER: _number,
    FieldType.BOOLEAN: as_bool,
    FieldType.DATE: _moment,
    FieldType.LIST: _items,
}


def _domain(value: object) -> str:
    domain = normalize_domain(str(value))
    if domain is None:
        raise ValueError("not a domain or URL")
    return domain


def _email(value: object) -> str:
    email = str(value).strip().lower()
    if "@" not in email or not normalize_domain(email):
        raise ValueError("not an email address")
    return email


_BY_NAME: Mapping[str, Callable[[object], object]] = {
    "domain": _domain,
    "email": _email,
    "country": lambda v: normalize_country(str(v)),
    "employees": _amount,
    "annual_revenue": _amount,
}


def coerce(raw: Mapping[str, object], types: Mapping[str, FieldType]) -> Coerced:
    """Typed canonical values; empty values are dropped, unreadable ones reported."""
    out = Coerced()
    for name, value in raw.items():
        kind = types.get(name)
        if kind is None or is_empty(value):
            continue
        _convert(out, name, kind, _converter(name, kind), value)
    return out


def _converter(name: str, kind: FieldType) -> Callable[[object], object]:
    return _BY_NAME.get(name) or _BY_TYPE[kind]


def _convert(
    out: Coerced, name: str, kind: FieldType, convert: Callable[[object], object], value: object
) -> None:
    try:
        out.fields[name] = convert(value)
    except (ValueError, TypeError, OverflowError) as exc:
        out.problems.append(FieldProblem(name, value, _reason(kind, exc)))


class RowCoercer:
    """`coerce` compiled for one CSV header: each column's converter is looked up once.

    Rows of text cells are the hot path of scoring a large export; this
    does per cell only what the cell needs.
    """

    def __init__(self, columns: Sequence[str], types: Mapping[str, FieldType]) -> None:
        self.plan = [
            (index, name, kind, _cell_converter(name, kind))
            for index, name in enumerate(columns)
            if (kind := types.get(name)) is not None
        ]

    def __call__(self, cells: Sequence[str]) -> Coerced:
        fields: dict[str, object] = {}
        out = Coerced(fields, [])
        for index, name, kind, convert in self.plan:
            value = cells[index]
            if value and not value.isspace():
                try:  # `_convert`, written out: a call less for each of a row's cells
                    fields[name] = convert(value)
                except (ValueError, TypeError, OverflowError) as exc:
                    out.problems.append(FieldProblem(name, value, _reason(kind, exc)))
        return out


def _cell_converter(name: str, kind: FieldType) -> Callable[[str], object]:
    """`_converter` for a text cell: where a cell's being text allows a shorter path to the
    same value (a whole number read by `int`, a date by `date.fromisoformat`), that path.
    Cells are most of what scoring an export costs; the tests hold each path to `coerce`."""
    convert = _converter(name, kind)
    return _CELL.get(convert, convert)


# A whole number of up to 15 digits is exact as a float, so `_number`'s float and back
# give the int that `int` reads at once.
_EXACT_DIGITS = 15


def _cell_number(text: str) -> int | float:
    return int(text) if text.isdecimal() and len(text) <= _EXACT_DIGITS else _number(text)


def _cell_amount(text: str) -> int | float:
    return int(text) if text.isdecimal() and len(text) <= _EXACT_DIGITS else _amount(text)


def _cell_moment(text: str) -> date | datetime:
    """Ten characters are a date whatever else `_moment` would try (epochs need twelve)."""
    text = text.strip()
    return date.fromisoformat(text) if len(text) == 10 else _moment(text)


_CELL: Mapping[Callable[[object], object], Callable[[str], object]] = {
    _string: str.strip,
    _number: _cell_number,
    _amount: _cell_amount,
    _moment: _cell_moment,
}


class PropertyCoercer:
    """Mapping CRM properties to canonical names, then `coerce`, compiled for one object.

    `plan` lists (canonical name, CRM property, value translation or None);
    each converter is looked up once, and properties a record lacks cost a
    dictionary miss. A CRM page of thousands of records is read through it.
    """

    def __init__(
        self,
        plan: Sequence[tuple[str, str, Callable[[object], object] | None]],
        types: Mapping[str, FieldType],
    ) -> None:
        self.plan = [
            (name, prop, translate, kind, _converter(name, kind))
            for name, prop, translate in plan
            if (kind := types.get(name)) is not None
        ]

    def __call__(self, props: Mapping[str, object]) -> Coerced:
        out = Coerced()
        for name, prop, translate, kind, convert in self.plan:
            value = props.get(prop)
            if value is None or value == "" or is_empty(value):
                continue
            if translate is not None:
                value = translate(value)
            _convert(out, name, kind, convert, value)
        return out


def _reason(kind: FieldType, exc: Exception) -> str:
    if isinstance(exc, _Negative):
        return str(exc)
    expected = {
        FieldType.NUMBER: "not a number",
        FieldType.DATE: "not a date (use YYYY-MM-DD)",
        FieldType.BOOLEAN: "not true or false",
    }
    return expected.get(kind) or str(exc)


def read_cell(name: str, kind: FieldType, cell: str | None) -> tuple[object, str | None]:
    """One text cell as `RowCoercer` reads it: the typed value (None when blank), or the
    problem as a row's error names it. The columnar path asks this of each cell whose
    shape its SQL does not read itself, so both paths type a value the same way."""
    if cell is None or not cell or cell.isspace():
        return None, None
    out = Coerced()
    _convert(out, name, kind, _converter(name, kind), cell)
    if out.problems:
        return None, str(out.problems[0])
    return out.fields[name], None


def canonical_cell(value: object) -> str | float | None:
    """A typed value as a table of canonical columns holds it: numbers as numbers, a list's
    items `;`-joined (None when it has none), booleans as `true`/`false`, dates and times
    in ISO form, anything else as its text."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, list | tuple):
        return LIST_SEPARATOR.join(str(v) for v in value) or None
    if isinstance(value, date):  # datetimes too
        return value.isoformat()
    return str(value)
