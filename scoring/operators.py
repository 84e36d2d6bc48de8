"""Operators of SPEC §2, compiled once into fast predicates.

Each predicate takes a field value that is known (not missing), already
prepared in the form it names (see `PREPARE`), and `now`, and answers
matched or not. A value that cannot be prepared as the operator needs (text
where a number is due, a date that does not parse) raises `ValueError`: the
engine shows it as unknown, never as a miss, because a garbled value tells
nothing about the company.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime, timedelta
from typing import Any

from scoring.model import Condition

Predicate = Callable[[Any, datetime], bool]

TRUE_WORDS = frozenset({"true", "yes", "y", "1", "t"})  # how CRMs and CSVs spell a boolean
FALSE_WORDS = frozenset({"false", "no", "n", "0", "f"})
_TRUE, _FALSE = TRUE_WORDS, FALSE_WORDS
_LIST_SEPARATOR = ";"


def is_empty(value: object) -> bool:
    """Missing or empty: None, blank text, or an empty list."""
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip()
    if isinstance(value, list | tuple | set | frozenset):
        return not value
    return False


def as_number(value: object) -> float:
    """Numbers compare as numbers even when a CSV gives them as text ("1,200", "$5M" is not)."""
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a number")
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str):
        number = float(value.strip().replace(",", "").replace("_", "").lstrip("$"))
    else:
        raise ValueError(f"{value!r} is not a number")
    if not math.isfinite(number):
        raise ValueError(f"{value!r} is not a finite number")
    return number


def as_bool(value: object) -> bool:
    """Read CRM and CSV spellings of a boolean."""
    if isinstance(value, bool):
        return value
    key = str(value).strip().casefold()
    if key in _TRUE:
        return True
    if key in _FALSE:
        return False
    raise ValueError(f"{value!r} is not true or false")


def as_text(value: object) -> str:
    """Case-insensitive, whitespace-insensitive text; integral numbers lose their `.0`."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip().casefold()


def as_items(value: object) -> list[str]:
    """A list field's items as text; a string is split on `;` as CSV lists are."""
    if isinstance(value, list | tuple | set | frozenset):
        return [as_text(v) for v in value if not is_empty(v)]
    return [as_text(v) for v in str(value).split(_LIST_SEPARATOR) if v.strip()]


def as_moment(value: object) -> date | datetime:
    """A calendar date stays a date; a time becomes an aware datetime (naive means UTC)."""
    if isinstance(value, str):
        value = _parse_moment(value.strip())
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, date):
        return value
    raise ValueError(f"{value!r} is not a date")


def day_of(moment: date | datetime) -> date:
    """The UTC calendar day of a date or datetime."""
    if isinstance(moment, datetime):
        return moment.astimezone(UTC).date()
    return moment


def _parse_moment(text: str) -> date | datetime:
    if len(text) == 10:
        return date.fromisoformat(text)
    return datetime.fromisoformat(text)


def _each(value: object) -> Iterable[object]:
    if isinstance(value, list | tuple | set | frozenset):
        return value
    return (value,)


class _Sentinel:
    """A marker value with a readable repr."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


MISSING: Any = _Sentinel("MISSING")  # the field is absent or empty: unknown (a miss for exists)
INVALID: Any = _Sentinel("INVALID")  # the value cannot be read as the operator needs: unknown


def _prepare_keys(value: object) -> object:
    if isinstance(value, str):
        text = value.strip().casefold()
        return frozenset((text,)) if text else MISSING
    keys = frozenset(as_text(x) for x in _each(value) if not is_empty(x))
    return keys or MISSING


def _prepare_number_keys(value: object) -> object:
    """Numbers as keys; a value that is not a number cannot be compared (ValueError: unknown)."""
    keys = frozenset(as_text(as_number(x)) for x in _each(value) if not is_empty(x))
    return keys or MISSING


def _prepare_items(value: object) -> object:
    items = frozenset(as_items(value))
    return items or MISSING


def _prepare_number(value: object) -> object:
    if value.__class__ is int or value.__class__ is float:
        return value
    if isinstance(value, str) and not value.strip():
        return MISSING
    return as_number(value)


def _prepare_moment(value: object) -> object:
    if isinstance(value, str) and not value.strip():
        return MISSING
    return as_moment(value)


def _prepare_bool(value: object) -> object:
    if isinstance(value, str) and not value.strip():
        return MISSING
    return as_bool(value)


def _prepare_raw(value: object) -> object:
    return MISSING if is_empty(value) else value


def _prepare_texts(value: object) -> object:
    """A list field's items with their case kept, for regexes; `a;b` text is split."""
    if isinstance(value, list | tuple | set | frozenset):
        items = [str(v).strip() for v in value if not is_empty(v)]
    else:
        items = [v.strip() for v in str(value).split(_LIST_SEPARATOR) if v.strip()]
    return items or MISSING


# How a field's value is prepared once per record, before any predicate runs.
# A criterion names the form it needs; the engine converts each (field, form)
# once, so a field read by five criteria is parsed once. Each returns MISSING
# for an empty value and raises ValueError for one it cannot read.
PREPARE: dict[str, Callable[[Any], Any]] = {
    "keys": _prepare_keys,
    "numkeys": _prepare_number_keys,
    "items": _prepare_items,
    "number": _prepare_number,
    "bool": _prepare_bool,
    "moment": _prepare_moment,
    "raw": _prepare_raw,
    "texts": _prepare_texts,
}


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _member(operand: Iterable[object], *, negate: bool) -> tuple[str, Predicate]:
    values = list(operand)
    numeric = all(_is_number(v) for v in values)
    keys = frozenset(as_text(float(v)) if numeric else as_text(v) for v in values)  # type: ignore[arg-type]
    form = "numkeys" if numeric else "keys"
    if negate:
        return form, lambda v, now: keys.isdisjoint(v)
    return form, lambda v, now: not keys.isdisjoint(v)


def _equals(operand: object) -> tuple[str, Predicate]:
    if isinstance(operand, bool):
        return "bool", lambda v, now: v is operand
    if isinstance(operand, date):
        day = day_of(operand)
        return "moment", lambda v, now: day_of(v) == day
    return _member([operand], negate=False)


def _bounds(low: float, high: float) -> tuple[str, Predicate]:
    return "number", lambda v, now: low <= v <= high


def _contains(operand: Iterable[object], *, every: bool) -> tuple[str, Predicate]:
    wanted = frozenset(as_text(v) for v in operand)
    if every:
        return "items", lambda v, now: wanted <= v
    return "items", lambda v, now: not wanted.isdisjoint(v)


def _matches(operand: str, *, items: bool = False) -> tuple[str, Predicate]:
    """Searched anywhere in the value; on a list field, in each item."""
    search = re.compile(operand).search
    return "texts" if items else "raw", lambda v, now: any(
        search(str(x)) is not None for x in _each(v)
    )


def _within_days(operand: int) -> tuple[str, Predicate]:
    """No older than N days: a time against now - N days, a calendar date against its day."""
    window = timedelta(days=int(operand))

    def test(v: date | datetime, now: datetime) -> bool:
        if isinstance(v, datetime):
            return v >= now - window
        return v >= day_of(now - window)

    return "moment", test


def _exists(operand: bool) -> tuple[str, Predicate]:
    wanted = bool(operand)
    return "raw", lambda v, now: (v is not MISSING) is wanted


_BUILDERS: dict[str, Callable[[Any], tuple[str, Predicate]]] = {
    "equals": _equals,
    "in": lambda o: _member(o, negate=False),
    "not_in": lambda o: _member(o, negate=True),
    "between": lambda o: _bounds(float(o[0]), float(o[1])),
    "gte": lambda o: _bounds(float(o), math.inf),
    "lte": lambda o: _bounds(-math.inf, float(o)),
    "contains_any": lambda o: _contains(o, every=False),
    "contains_all": lambda o: _contains(o, every=True),
    "matches": _matches,
    "matches_items": lambda o: _matches(o, items=True),
    "within_days": _within_days,
    "exists": _exists,
}


def compile_condition(condition: Condition) -> tuple[str, Predicate]:
    """The form of the field value a validated condition reads, and its predicate."""
    operator = condition.operator
    if operator == "matches" and condition.list_field:
        operator = "matches_items"
    return _BUILDERS[operator](condition.operand)


def matches(condition: Condition, value: object, now: datetime) -> bool:
    """One-off evaluation of a condition on a value (routing rules use this)."""
    form, predicate = compile_condition(condition)
    prepared = MISSING if value is None else PREPARE[form](value)
    if prepared is MISSING and condition.operator != "exists":
        return False
    return predicate(prepared, now)


def describe(condition: Condition) -> str:
    """The rule in words, as an SDR reads it: `employees between 200 and 800`."""
    field, op, operand = condition.field, condition.operator, condition.operand
    if op == "between":
        return f"{field} between {format_value(operand[0])} and {format_value(operand[1])}"
    if op == "within_days":
        return f"{field} within the last {operand} days"
    if op == "exists":
        return f"{field} is known" if operand else f"{field} is empty"
    words = {
        "equals": "is",
        "in": "is one of",
        "not_in": "is none of",
        "gte": "at least",
        "lte": "at most",
        "contains_any": "includes any of",
        "contains_all": "includes all of",
        "matches": "matches",
    }
    return f"{field} {words[op]} {format_value(operand)}"


def _format_number(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.2f}"


def _format_items(value: Iterable[object]) -> str:
    return ", ".join(format_value(v) for v in value)


def _format_text(value: str) -> str:
    """ISO datetimes (as stored values come back) read as their day."""
    if len(value) >= 19 and value[10] == "T" and value[4] == "-" and value[7] == "-":
        return value[:10]
    return value


_FORMATTERS: dict[type, Callable[[Any], str]] = {
    str: _format_text,
    bool: lambda v: "yes" if v else "no",
    int: _format_number,
    float: _format_number,
    date: date.isoformat,
    datetime: lambda v: v.isoformat()[:10],
    list: _format_items,
    tuple: _format_items,
    frozenset: _format_items,
    set: _format_items,
}


def format_value(value: object, *, limit: int = 80) -> str:
    """A field value in words: thousands separators, ISO dates, lists joined."""
    formatter = _FORMATTERS.get(type(value))
    text = formatter(value) if formatter else _format_other(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _format_other(value: object) -> str:
    for kind in (bool, int, float, datetime, date, list, tuple, frozenset, set):
        if isinstance(value, kind):
            return _FORMATTERS[kind](value)
    return str(value)
