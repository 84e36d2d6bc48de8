"""SOQL, parsed and evaluated as strictly as Salesforce does, for the fake Salesforce API.

The fake answers a client's queries from records held in memory, and tests read the
parsed query to check what the client sent: that a value taken from untrusted text
arrived as one quoted literal, not as extra conditions. So `parse` refuses what
Salesforce refuses (a stray quote, an unknown escape, AND and OR mixed without
parentheses, anything left over) with Salesforce's error codes.

The subset: `SELECT` fields or `COUNT()` `FROM` one object, `WHERE` with comparisons,
`LIKE`, `IN`, `NOT IN`, `AND`, `OR`, `NOT` and parentheses, `ORDER BY`, `LIMIT` and
`OFFSET`. The rest of SOQL (date literals such as TODAY, subqueries, aggregates,
GROUP BY, aliases, WITH, FOR UPDATE) is refused as an unexpected token.

A LIKE condition's value is its pattern: `%` and `_` are wildcards, and `\\%`, `\\_` and
`\\\\` stand for a literal percent sign, underscore and backslash. Any other string value
is the text itself, every escape decoded.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import TypeVar

MALFORMED = "MALFORMED_QUERY"
INVALID_FIELD = "INVALID_FIELD"
INVALID_TYPE = "INVALID_TYPE"
OUT_OF_RANGE = "NUMBER_OUTSIDE_VALID_RANGE"
MAX_OFFSET = 2000

# Salesforce's reserved words: none of them can name a field or an object.
RESERVED = frozenset(
    "AND ASC DESC EXCLUDES FIRST FROM GROUP HAVING IN INCLUDES LAST LIKE LIMIT NOT NULL "
    "NULLS OR SELECT WHERE WITH".split()
)
# Salesforce documents the letter escapes in either case (`\n` or `\N`).
_ESCAPES = {"'": "'", '"': '"', "\\": "\\"} | dict(zip("nrtbfNRTBF", "\n\r\t\b\f" * 2, strict=True))
_TOKEN = re.compile(
    r"""(?P<space>\s+)
    |(?P<datetime>[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{1,3})?
        (?:Z|[+-][0-9]{2}:[0-9]{2}))
    |(?P<date>[0-9]{4}-[0-9]{2}-[0-9]{2})
    |(?P<number>[+-]?[0-9]+(?:\.[0-9]+)?)
    |(?P<ident>[A-Za-z][A-Za-z0-9_]*(?:\.[A-Za-z][A-Za-z0-9_]*)*)
    |(?P<op><=|>=|!=|<>|[=<>])
    |(?P<punct>[(),])""",
    re.VERBOSE,
)
_WORDS: dict[str, bool | None] = {"TRUE": True, "FALSE": False, "NULL": None}
# The outcomes of a comparison (-1, 0 or 1) under which each operator holds.
_ORDERINGS = {"=": (0,), "!=": (-1, 1), "<": (-1,), "<=": (-1, 0), ">": (1,), ">=": (0, 1)}
_HINT = " Please reference your WSDL or the describe call for the appropriate names."
_NO_TYPE = (
    "sObject type '{}' is not supported. If you are attempting to use a custom object, be sure"
    " to append the '__c' after the entity name." + _HINT
)
_NO_FIELD = (
    "No such column '{}' on entity '{}'. If you are attempting to use a custom field, be sure"
    " to append the '__c' after the custom field name." + _HINT
)
_NO_RELATION = (
    "Didn't understand relationship '{}' in field path. If you are attempting to use a custom"
    " relationship, be sure to append the '__r' after the custom relationship name." + _HINT
)

Record = Mapping[str, object]  # field name to value; relationships nest
R = TypeVar("R", bound=Record)


class SoqlError(Exception):
    """A query Salesforce would refuse; `code` is the errorCode Salesforce answers with."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Condition:
    """One comparison, `field op value`; IN and NOT IN hold a tuple of values."""

    field: str
    op: str
    value: object


@dataclass(frozen=True)
class BoolOp:
    """Conditions joined by one connective, AND or OR (SOQL never mixes them unbracketed)."""

    op: str
    parts: tuple[Node, ...]


@dataclass(frozen=True)
class Not:
    """A negated condition or parenthesised group."""

    part: Node


Node = Condition | BoolOp | Not


@dataclass(frozen=True)
class Order:
    """One ORDER BY key, with the null placement Salesforce applies."""

    field: str
    descending: bool
    nulls_last: bool


@dataclass(frozen=True)
class Query:
    """A parsed query: what was asked for, and how to filter and sort records by it."""

    object: str
    fields: tuple[str, ...]
    count: bool
    where: Node | None
    order: tuple[Order, ...]
    limit: int | None
    offset: int | None

    def conditions(self) -> list[Condition]:
        """Every leaf condition, in the order written, so tests can see each value sent."""
        return list(_leaves(self.where))

    def matches(self, record: Record) -> bool:
        """Whether the WHERE clause selects this record (always, without one)."""
        return self.where is None or _holds(self.where, record)

    def sort(self, records: Iterable[R]) -> list[R]:
        """The records in ORDER BY order; records that tie keep their order."""
        result = list(records)
        for order in reversed(self.order):
            result.sort(key=_order_key(order), reverse=order.descending)
        return result


def parse(text: str, *, columns: Callable[[str], Collection[str] | None] | None = None) -> Query:
    """Parse a query as Salesforce would, raising `SoqlError` for what it would refuse.

    `columns(object)` gives an object's field names, or None for an unknown object;
    with it, unknown objects and fields are refused as well.
    """
    query = _Parser(text).query()
    if columns is not None:
        _check_columns(query, columns)
    return query


# Tokens


@dataclass(frozen=True)
class _Token:
    kind: str  # space, datetime, date, number, ident, op, punct, string, end or error
    text: str
    value: object  # a literal's value; a string's text with every escape decoded
    at: int
    pattern: str = ""  # a string read as a LIKE pattern


def _malformed(text: str, at: int, message: str) -> SoqlError:
    """MALFORMED_QUERY, pointing at the place in the query the way Salesforce does."""
    row, column = text.count("\n", 0, at) + 1, at - text.rfind("\n", 0, at)
    return SoqlError(MALFORMED, f"{message} at Row:{row}:Column:{column}")


def _tokenize(text: str) -> list[_Token]:
    """Tokens up to `end`, or up to an `error` the parser raises once it reaches it."""
    tokens: list[_Token] = []
    at = 0
    try:
        while at < len(text):
            if text[at] == "'":
                token = _read_string(text, at)
            elif match := _TOKEN.match(text, at):
                kind = match.lastgroup or ""
                token = _Token(kind, match.group(), _scalar(text, kind, match.group(), at), at)
            else:
                raise _malformed(text, at, f"unexpected token: '{text[at]}'")
            if token.kind != "space":
                tokens.append(token)
            at += len(token.text)
    except SoqlError as error:
        return [*tokens, _Token("error", text[at], error, at)]
    return [*tokens, _Token("end", "<EOF>", None, at)]


def _read_string(text: str, start: int) -> _Token:
    """A quoted string, decoded both as plain text and as a LIKE pattern."""
    plain: list[str] = []
    pattern: list[str] = []
    at = start + 1
    while at < len(text) and text[at] != "'":
        char, code = text[at], text[at + 1 : at + 2]
        if char != "\\":
            plain.append(char)
            pattern.append(char)
        elif code in ("%", "_"):
            plain.append(code)
            pattern.append(char + code)
        elif code in _ESCAPES:
            plain.append(_ESCAPES[code])
            pattern.append(char + code if code == "\\" else _ESCAPES[code])
        else:
            raise _malformed(text, at, f"Illegal character sequence '\\{code}' in string literal")
        at += 1 if char != "\\" else 2
    if at >= len(text):
        raise _malformed(text, start, "mismatched character '<EOF>' expecting '''")
    written = text[start : at + 1]
    return _Token("string", written, "".join(plain), start, "".join(pattern))


def _scalar(text: str, kind: str, written: str, at: int) -> object:
    """A number's, date's or datetime's value (refusing impossible dates); else None."""
    try:
        if kind == "datetime":
            return datetime.fromisoformat(written)
        if kind == "date":
            return date.fromisoformat(written)
    except ValueError:
        raise _malformed(text, at, f"unexpected token: '{written}'") from None
    if kind == "number":
        return float(written) if "." in written else int(written)
    return None


# Parser


class _Parser:
    """Recursive descent over the tokens, one method a grammar rule."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _tokenize(text)
        self.at = 0

    def peek(self, ahead: int = 0) -> _Token:
        return self.tokens[min(self.at + ahead, len(self.tokens) - 1)]

    def take(self) -> _Token:
        token = self.peek()
        self.at = min(self.at + 1, len(self.tokens) - 1)
        return token

    def accept(self, *words: str) -> str | None:
        """Take the next token when it is one of these keywords or marks, and say which."""
        token = self.peek()
        if token.kind in ("ident", "punct") and token.text.upper() in words:
            return self.take().text.upper()
        return None

    def expect(self, word: str) -> None:
        if not self.accept(word):
            raise self.unexpected(self.peek())

    def unexpected(self, token: _Token) -> SoqlError:
        if isinstance(token.value, SoqlError):
            return token.value
        return _malformed(self.text, token.at, f"unexpected token: '{token.text}'")

    def query(self) -> Query:
        self.expect("SELECT")
        count, fields = self.select_list()
        self.expect("FROM")
        name = self.take()
        if name.kind != "ident" or "." in name.text or name.text.upper() in RESERVED:
            raise self.unexpected(name)
        where = self.expression() if self.accept("WHERE") else None
        order: tuple[Order, ...] = ()
        if count and self.peek().text.upper() == "ORDER":
            raise self.unexpected(self.peek())  # COUNT() takes no ORDER BY
        if self.accept("ORDER"):
            self.expect("BY")
            order = self.order_by()
        limit, offset = self.amount("LIMIT"), self.amount("OFFSET")
        if self.peek().kind != "end":
            raise self.unexpected(self.peek())
        if offset is not None and offset > MAX_OFFSET:
            raise SoqlError(OUT_OF_RANGE, f"Maximum SOQL offset allowed is {MAX_OFFSET}")
        return Query(name.text, fields, count, where, order, limit, offset)

    def select_list(self) -> tuple[bool, tuple[str, ...]]:
        if self.peek().text.upper() == "COUNT" and self.peek(1).text == "(":
            self.take()
            self.take()
            self.expect(")")
            return True, ()
        fields = [self.field()]
        while self.accept(","):
            fields.append(self.field())
        return False, tuple(fields)

    def field(self) -> str:
        token = self.take()
        if token.kind != "ident" or token.text.upper() in RESERVED:
            raise self.unexpected(token)
        return token.text

    def expression(self) -> Node:
        """Conditions joined by AND or by OR; a second connective needs parentheses."""
        parts = [self.atom()]
        joiner = None
        while word := self.accept("AND", "OR"):
            if joiner not in (None, word):
                raise self.unexpected(self.peek(-1))
            joiner = word
            parts.append(self.atom())
        return parts[0] if joiner is None else BoolOp(joiner, tuple(parts))

    def atom(self, negatable: bool = True) -> Node:
        """A condition or a parenthesised group, either perhaps negated once."""
        if negatable and self.accept("NOT"):
            return Not(self.atom(negatable=False))
        if self.accept("("):
            node = self.expression()
            self.expect(")")
            return node
        return self.condition()

    def condition(self) -> Condition:
        field = self.field()
        token = self.take()
        if token.kind == "op":
            return Condition(field, "!=" if token.text == "<>" else token.text, self.literal())
        word = token.text.upper() if token.kind == "ident" else ""
        if word == "LIKE":
            pattern = self.take()
            if pattern.kind != "string":
                raise self.unexpected(pattern)
            return Condition(field, "LIKE", pattern.pattern)
        if word == "NOT":
            self.expect("IN")
            return Condition(field, "NOT IN", self.literals())
        if word == "IN":
            return Condition(field, "IN", self.literals())
        raise self.unexpected(token)

    def literal(self) -> object:
        token = self.take()
        if token.kind in ("string", "number", "datetime", "date"):
            return token.value
        if token.kind == "ident" and token.text.upper() in _WORDS:
            return _WORDS[token.text.upper()]
        raise self.unexpected(token)

    def literals(self) -> tuple[object, ...]:
        self.expect("(")
        values = [self.literal()]
        while self.accept(","):
            values.append(self.literal())
        self.expect(")")
        return tuple(values)

    def order_by(self) -> tuple[Order, ...]:
        orders: list[Order] = []
        while True:
            field = self.field()
            descending = self.accept("ASC", "DESC") == "DESC"
            nulls_last = descending
            if self.accept("NULLS"):
                placement = self.accept("FIRST", "LAST")
                if placement is None:
                    raise self.unexpected(self.peek())
                nulls_last = placement == "LAST"
            orders.append(Order(field, descending, nulls_last))
            if not self.accept(","):
                return tuple(orders)

    def amount(self, word: str) -> int | None:
        """LIMIT's or OFFSET's count: a plain non-negative integer."""
        if not self.accept(word):
            return None
        token = self.take()
        if token.kind != "number" or not token.text.isdigit():
            raise self.unexpected(token)
        return int(token.text)


def _check_columns(query: Query, columns: Callable[[str], Collection[str] | None]) -> None:
    known = columns(query.object)
    if known is None:
        raise SoqlError(INVALID_TYPE, _NO_TYPE.format(query.object))
    names = {name.casefold() for name in known}
    used = [*query.fields, *(c.field for c in query.conditions()), *(o.field for o in query.order)]
    for field in used:
        head, dot, _ = field.partition(".")
        if field.casefold() in names or (dot and head.casefold() in names):
            continue
        message = _NO_RELATION.format(head) if dot else _NO_FIELD.format(field, query.object)
        raise SoqlError(INVALID_FIELD, message)


# Evaluation


def _leaves(node: Node | None) -> Iterator[Condition]:
    if isinstance(node, Condition):
        yield node
    elif isinstance(node, Not):
        yield from _leaves(node.part)
    elif isinstance(node, BoolOp):
        for part in node.parts:
            yield from _leaves(part)


def _holds(node: Node, record: Record) -> bool:
    if isinstance(node, Not):
        return not _holds(node.part, record)
    if isinstance(node, BoolOp):
        test = all if node.op == "AND" else any
        return test(_holds(part, record) for part in node.parts)
    return _satisfies(node, _lookup(record, node.field))


def _lookup(record: Record, path: str) -> object:
    """A field's value, keys compared case-insensitively; None when any step is missing."""
    value: object = record
    for name in path.split("."):
        if not isinstance(value, Mapping):
            return None
        folded = name.casefold()
        keys = [name] if name in value else [k for k in value if str(k).casefold() == folded]
        value = value[keys[0]] if keys else None
    return value


def _satisfies(condition: Condition, actual: object) -> bool:
    op, value = condition.op, condition.value
    if op == "LIKE":
        text = _text(actual)
        return text is not None and _like(str(value)).fullmatch(text) is not None
    if op in ("IN", "NOT IN"):
        values = value if isinstance(value, tuple) else (value,)
        if actual is None:  # SOQL compares null as a value: `NOT IN ('x')` keeps nulls
            return (None in values) == (op == "IN")
        return any(_compare(actual, item) == 0 for item in values) == (op == "IN")
    if value is None:
        return {"=": actual is None, "!=": actual is not None}.get(op, False)
    if actual is None:  # unlike SQL, SOQL's `Field != 'x'` includes records where it is null
        return op == "!="
    return _compare(actual, value) in _ORDERINGS[op]


def _like(pattern: str) -> re.Pattern[str]:
    """A LIKE pattern as a case-insensitive regular expression for the whole value."""
    parts: list[str] = []
    chars = iter(pattern)
    for char in chars:
        if char == "\\":
            parts.append(re.escape(next(chars, "\\")))
        else:
            parts.append({"%": ".*", "_": "."}.get(char) or re.escape(char))
    return re.compile("".join(parts), re.IGNORECASE | re.DOTALL)


def _compare(actual: object, literal: object) -> int | None:
    """-1, 0 or 1 as the record's value sorts against the literal; None if incomparable."""
    left: object = _coerce(actual, literal)
    if left is None or literal is None:
        return None
    right = literal.casefold() if isinstance(literal, str) else literal
    left = left.casefold() if isinstance(left, str) else left
    try:
        return int(left > right) - int(left < right)  # type: ignore[operator]
    except TypeError:
        return None


def _coerce(actual: object, literal: object) -> object:
    """The record's value as the literal's type, or None when it cannot be one."""
    if isinstance(literal, bool):
        if isinstance(actual, str) and actual.casefold() in ("true", "false"):
            return actual.casefold() == "true"
        return actual if isinstance(actual, bool) else None
    if isinstance(literal, int | float):
        if isinstance(actual, int | float) and not isinstance(actual, bool):
            return actual
        try:
            return float(actual) if isinstance(actual, str) else None
        except ValueError:
            return None
    if isinstance(literal, datetime):
        return _instant(actual)
    if isinstance(literal, date):
        return _day(actual)
    return _text(actual)


def _instant(value: object) -> datetime | None:
    """An aware datetime from a datetime (naive means UTC) or an ISO-8601 string."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return None
    if not isinstance(value, datetime):
        return None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _day(value: object) -> date | None:
    if isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            return None
    return value if isinstance(value, date) and not isinstance(value, datetime) else None


def _text(value: object) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    return value.isoformat() if isinstance(value, date) else str(value)


def _order_key(order: Order) -> Callable[[Record], tuple[int, int, object]]:
    """A sort key that puts nulls where `order` wants them once `reverse` is applied."""
    null_rank = 0 if order.nulls_last == order.descending else 2

    def key(record: Record) -> tuple[int, int, object]:
        value = _lookup(record, order.field)
        if value is None:
            return (null_rank, 0, 0)
        if isinstance(value, int | float):
            return (1, 0, float(value))
        if isinstance(value, datetime):
            return (1, 1, _instant(value))
        return (1, 2, value) if isinstance(value, date) else (1, 3, str(_text(value)).casefold())

    return key
