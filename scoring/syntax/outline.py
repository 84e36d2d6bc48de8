"""The outline of a YAML file, read from its lines' indentation: which line holds which.

PyYAML gives up at the first syntax error, so a file that does not parse
has no tree to ask where a line belongs. Its indentation still says: the
list items and `key:` lines above a line, each less indented than the last,
are what hold it. That is enough to name the criterion or rule a broken
line belongs to, and to see which indentation levels are open above it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

# Lists whose items the validators name by their id alone ("midmarket-saas/industry",
# not "profiles/midmarket-saas/criteria/industry"), so a syntax error names them alike.
_UNNAMED_LISTS = frozenset({"profiles", "criteria", "rules"})
_KEY = re.compile(r"""('[^']*'|"[^"]*"|[^\s#'"\[\]{},][^#\[\]{}]*?)\s*:(?=\s|$)""")
_BREAK = re.compile("\r\n|[\n\r\x85\u2028\u2029]")
_FLOW_ID = re.compile(r"""\{\s*id\s*:\s*([^,}#]+)""")


@dataclass(frozen=True, slots=True)
class Line:
    """One line of the file as indentation sees it; blank and comment lines are None."""

    number: int
    text: str
    indent: int  # spaces before the first character (the '-' of a list item)
    item: bool  # starts with '- ': a list item
    key: str | None  # the key it sets, after the '-' for an item
    key_column: int  # where that key (or the item's content) starts, counting from 0
    opens: bool  # `key:` with nothing after it: the lines below are its value
    id: str | None  # a list item's id: `- id: x` or `- {id: x, ...}`

    def ref(self, below: int) -> str:
        """'the line above' when it is, else 'line N'."""
        return "the line above" if self.number == below - 1 else f"line {self.number}"


def split_lines(text: str) -> list[str]:
    """`text`'s lines as PyYAML counts them, so line numbers agree with its marks
    (`str.splitlines` would also break at a form feed, which YAML does not)."""
    return _BREAK.split(text.removesuffix("\n"))


def read_lines(text: str) -> list[Line | None]:
    """Every line of `text`, numbered from 1; blank and comment-only lines are None."""
    return [_read_line(n, raw) for n, raw in enumerate(split_lines(text), start=1)]


def content_above(lines: Sequence[Line | None], number: int) -> Line | None:
    """The nearest line above `number` that is neither blank nor a comment."""
    return next((x for x in reversed(lines[: max(number - 1, 0)]) if x is not None), None)


def owner(lines: Sequence[Line | None], number: int, indent: int | None = None) -> str:
    """The criterion, profile, rule or section line `number` belongs to, named as the
    validators name it: the ids of the list items it sits in and the keys above it.
    `indent`: where the line belongs, when that is not where it is written."""
    line = lines[number - 1] if 0 < number <= len(lines) else None
    if indent is None:
        indent = line.indent if line else 0
    held = containers(lines, number, indent)
    if line and line.item:  # an item sits in a list, never straight in another item
        held = held[next((i for i, c in enumerate(held) if not c.item), len(held)) :]
    names = [_name(a) for a in reversed(held)]
    if line and line.item and line.id:
        names.append(line.id)
    named = [n for n in names if n]
    if not named and line and line.key and indent == 0:
        named = [line.key]
    return "/".join(named)


def _name(line: Line) -> str | None:
    if line.item:
        return line.id
    return None if line.key in _UNNAMED_LISTS else line.key


def containers(lines: Sequence[Line | None], number: int, indent: int) -> list[Line]:
    """The lines above `number` that hold it (list items and `key:` lines it sits under),
    nearest first. A plain `key: value` line closes whatever was open below its level."""
    found: list[Line] = []
    limit = indent
    for above in reversed(lines[: max(number - 1, 0)]):
        if above is None or above.indent >= limit:
            continue
        if above.item or above.opens:
            found.append(above)
        limit = above.indent
        if limit == 0:
            break
    return found


def _read_line(number: int, text: str) -> Line | None:
    raw = text.expandtabs(8)  # a tab is an error of its own; here it only indents
    stripped = raw.strip()
    if not stripped or stripped.startswith("#"):
        return None
    indent = len(raw) - len(raw.lstrip(" "))
    dash = re.match(r"-( +|$)", raw[indent:])
    start = indent + (dash.end() if dash else 0)
    rest = raw[start:]
    key = _KEY.match(rest)
    name = _unquoted(key.group(1)) if key else None
    value = uncommented(rest[key.end() :]) if key else ""
    return Line(
        number=number,
        text=raw,
        indent=indent,
        item=bool(dash),
        key=name,
        key_column=start,
        opens=bool(key) and not value,
        id=_item_id(rest, name, value) if dash else None,
    )


def _item_id(rest: str, key: str | None, value: str) -> str | None:
    """The id naming a list item: `- id: x` or `- {id: x, ...}`."""
    flow = _FLOW_ID.match(rest)
    found = flow.group(1) if flow else value if key == "id" else ""
    return _unquoted(found.strip()) or None


def uncommented(text: str) -> str:
    """`text` without a trailing `# comment` and surrounding spaces."""
    return re.sub(r"(^|\s)#.*$", "", text).strip()


def _unquoted(text: str) -> str:
    quoted = len(text) >= 2 and text[0] == text[-1] and text[0] in "'\""
    return text[1:-1] if quoted else text
