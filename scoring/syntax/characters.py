"""Slips of a single character or word: a tab, a quote left open, a value that starts with
a character YAML reserves, a backslash escape YAML does not know, a key with no colon, a
second document, a control character."""

from __future__ import annotations

import re
from collections.abc import Sequence

import yaml

from scoring.syntax.finding import Finding, in_quotes, position_of, quote_fix, spaces
from scoring.syntax.outline import (
    Line,
    containers,
    content_above,
    split_lines,
    uncommented,
)


def tab(error: yaml.MarkedYAMLError, text: str, lines: Sequence[Line | None]) -> Finding:
    mark = position_of(error)
    number = mark.line + 1
    what = "a tab character (shown as →): YAML does not accept tabs here, only spaces"
    return Finding(number, mark.column, what, _tab_fix(text, lines, mark))


def _tab_fix(text: str, lines: Sequence[Line | None], mark: yaml.Mark) -> str:
    """How many spaces to put instead, when the tab indents: as many as line the key up with
    the line above (or put it under that line's `key:`), or a list item's '-' with the '-'
    of the entry above."""
    number = mark.line + 1
    above = content_above(lines, number)
    line = lines[number - 1]
    if line is not None and line.item and above is not None and not above.opens:
        chain = [above, *containers(lines, above.number, above.indent)]
        dash = next((c for c in chain if c.item), None)
        if dash is not None:
            return (
                f"indent it with {spaces(dash.indent)} instead, to line up with the '-' on "
                f"{dash.ref(number)}"
            )
    if split_lines(text)[mark.line][: mark.column].strip(" "):
        return "replace the tab with a space"
    if above is None:
        return "delete the tab: the first line starts at the left edge"
    if not above.key:
        return "replace the tab with spaces"
    if above.opens:
        deeper = above.key_column + 2
        return f"indent it with {spaces(deeper)} instead, to go under '{above.key}:'"
    where = above.ref(number)
    return f"indent it with {spaces(above.key_column)} instead, to line up with {where}"


def reserved(error: yaml.MarkedYAMLError, text: str, lines: Sequence[Line | None]) -> Finding:
    mark = position_of(error)
    char = text[mark.index] if mark.index < len(text) else "?"
    what = f"an unquoted value cannot start with '{char}'"
    return Finding(mark.line + 1, mark.column, what, quote_fix(lines, mark.line + 1))


def no_colon(error: yaml.MarkedYAMLError, text: str, lines: Sequence[Line | None]) -> Finding:
    mark = error.context_mark or position_of(error)
    words = uncommented(split_lines(text)[mark.line][mark.column :])
    what = f"YAML reads '{words}' as a key, but no ':' follows it"
    fix = (
        "write it as 'key: value', with a colon and a space after the key; or, if it goes "
        "on with the value above, indent it further than the key above"
    )
    return Finding(mark.line + 1, mark.column, what, fix)


def open_quote(error: yaml.MarkedYAMLError, text: str, lines: Sequence[Line | None]) -> Finding:
    mark = error.context_mark or position_of(error)
    quote = text[mark.index] if mark.index < len(text) else "'"
    what = f"the {quote} opened here is never closed"
    return Finding(
        mark.line + 1, mark.column, what, f"add the closing {quote} where the value ends"
    )


def escape(error: yaml.MarkedYAMLError, text: str, lines: Sequence[Line | None]) -> Finding:
    mark = position_of(error)
    code = text[mark.index : mark.index + 1]
    what = f"'\\{code}' is not an escape YAML knows inside \"...\""
    fix = (
        "quote the value with single quotes ('...'), where a backslash is just a backslash, "
        "as a regular expression needs"
    )
    return Finding(mark.line + 1, max(mark.column - 1, 0), what, fix)


def alias(error: yaml.MarkedYAMLError, text: str, lines: Sequence[Line | None]) -> Finding:
    mark = position_of(error)
    what = "YAML reads a value starting with '*' as a reference to an anchor (&name)"
    return Finding(mark.line + 1, mark.column, what, quote_fix(lines, mark.line + 1))


def tag(error: yaml.MarkedYAMLError, text: str, lines: Sequence[Line | None]) -> Finding:
    mark = position_of(error)
    what = "YAML reads a value starting with '!' as a type tag, which a config does not use"
    return Finding(mark.line + 1, mark.column, what, quote_fix(lines, mark.line + 1))


def unhashable(error: yaml.MarkedYAMLError, text: str, lines: Sequence[Line | None]) -> Finding:
    mark = position_of(error)
    what = "a key cannot be a list or a mapping"
    written = re.match(r"(.*?[\]}])\s*:", split_lines(text)[mark.line][mark.column :])
    key = in_quotes(written.group(1)) if written else "'[a]'"
    fix = f"if the brackets are part of the key's text, quote it: {key}: ..."
    return Finding(mark.line + 1, mark.column, what, fix)


def documents(error: yaml.MarkedYAMLError, text: str, lines: Sequence[Line | None]) -> Finding:
    mark = position_of(error)
    what = "a second YAML document starts here, and a config file holds one"
    fix = "delete this '---' line, and whatever after it does not belong in this file"
    return Finding(mark.line + 1, mark.column, what, fix)


def bad_character(error: yaml.reader.ReaderError, text: str) -> Finding:
    position = min(max(error.position, 0), len(text))
    line = text.count("\n", 0, position) + 1
    column = position - (text.rfind("\n", 0, position) + 1)
    what = f"a control character (#x{error.character:04X}) YAML does not accept"
    fix = "delete it (copying text from a document or a chat can bring one along)"
    return Finding(line, column, what, fix)
