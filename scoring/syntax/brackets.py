"""Slips with brackets and quotes: a `[` or `{` left open or closed by the wrong bracket, a
`]` or `}` that closes nothing, a bracket YAML reads as plain text, text after a closing
quote or bracket. What PyYAML read before the error (its tokens) says which."""

from __future__ import annotations

import re
from collections.abc import Sequence

import yaml

from scoring.syntax.finding import Finding, in_quotes, position_of, quote_fix
from scoring.syntax.outline import (
    Line,
    split_lines,
    uncommented,
)

_OPENERS = {"[": "]", "{": "}"}


def in_brackets(
    error: yaml.MarkedYAMLError, text: str, lines: Sequence[Line | None]
) -> Finding | None:
    """A `[` or `{` still open where the parser gave up: left open, or holding a ':' in a
    value, or missing a comma between lines."""
    mark = position_of(error)
    opener = _open_bracket(text, mark.index)
    if opener is None:
        return None
    char = text[opener.index]
    kind = "list" if char == "[" else "mapping"
    closer = _OPENERS[char]
    at, number = opener.line + 1, mark.line + 1
    if number > at:
        until = "the end of the file" if mark.index >= len(text.rstrip()) else f"line {number}"
        what = f"the '{char}' opened here is still open at {until}"
        fix = (
            f"close it with '{closer}' where the {kind} ends; or, if it runs over several "
            "lines on purpose, end each of those lines but the last with a comma"
        )
        shown = (number,) if number <= len(lines) else ()
        return Finding(at, opener.column, what, fix, shown)
    item = text[opener.index + 1 : mark.index].rsplit(",", 1)[-1]
    if (error.problem or "").endswith("':'") and re.search(r":\s", item):
        what = f"a second ':' in an unquoted value inside the {kind}'s '{char}...{closer}'"
        rest = re.split(r"[,\]}\n]", text[mark.index :], maxsplit=1)[0]
        whole = (item + rest).strip()
        return Finding(number, mark.column, what, _quote_item(whole, in_list=char == "["))
    wrong = (error.problem or "")[-2:-1]
    if wrong in _OPENERS.values() and wrong != closer:
        what = f"the '{char}' at column {opener.column + 1} is still open at this '{wrong}'"
        return Finding(number, mark.column, what, f"close it with '{closer}' before the '{wrong}'")
    what = f"YAML cannot read this {kind} ('{char}' at column {opener.column + 1}) from here on"
    fix = "separate its items with commas, and quote any item holding ':', ',', '#' or brackets"
    return Finding(number, mark.column, what, fix)


def _open_bracket(text: str, index: int) -> yaml.Mark | None:
    """Where the innermost `[` or `{` still open at `index` was opened, as PyYAML read it."""
    starts = (yaml.FlowSequenceStartToken, yaml.FlowMappingStartToken)
    ends = (yaml.FlowSequenceEndToken, yaml.FlowMappingEndToken)
    open_marks: list[yaml.Mark] = []
    for token in _tokens_before(text, index):
        if isinstance(token, starts):
            open_marks.append(token.start_mark)
        elif isinstance(token, ends) and open_marks:
            open_marks.pop()
    return open_marks[-1] if open_marks else None


def _tokens_before(text: str, index: int) -> list[yaml.Token]:
    """The tokens PyYAML reads before `index`, up to where it stops reading."""
    found: list[yaml.Token] = []
    try:
        for token in yaml.scan(text, Loader=yaml.SafeLoader):
            if token.start_mark.index >= index:
                break
            found.append(token)
    except yaml.YAMLError:
        pass
    return found


def stray_closer(char: str, text: str, mark: yaml.Mark, lines: Sequence[Line | None]) -> Finding:
    """A `]` or `}` that closes nothing YAML opened: an extra one, or the end of brackets
    YAML read as plain text because they come after other text (`when {tier: A}`)."""
    number, opener = mark.line + 1, "[" if char == "]" else "{"
    written = split_lines(text)[mark.line][: mark.column]
    if opener not in written:
        what = f"a '{char}' with no '{opener}' before it"
        return Finding(number, mark.column, what, f"delete the extra '{char}'")
    return plain_bracket(text, mark, lines, written.rindex(opener), f"this '{char}' closes nothing")


def plain_bracket(
    text: str, mark: yaml.Mark, lines: Sequence[Line | None], at: int, so: str
) -> Finding:
    """A `[` or `{` after other text on its line (`when {tier: A}`: the key's ':' missing),
    which YAML reads as more of that text, not as the start of a list or mapping."""
    number, opener = mark.line + 1, split_lines(text)[mark.line][at]
    written = split_lines(text)[mark.line][: mark.column]
    what = (
        f"YAML reads the '{opener}' at column {at + 1} as plain text, as it does not start the "
        f"value, so {so}"
    )
    line = lines[number - 1]
    if line is not None and line.key is None:
        key = written[line.key_column : at].strip()
        value = uncommented(split_lines(text)[mark.line][at:])
        fix = f"if '{key}' is a key, put ': ' after it: '{key}: {value}'"
    else:
        fix = "if the brackets are the value, start the value with them; else " + quote_fix(
            lines, number
        )
    return Finding(number, at, what, fix)


def first_bracket(written: str) -> int | None:
    """Where the first `[` or `{` is in `written`, if there is one after other text."""
    found = [written.index(c) for c in "[{" if c in written]
    at = min(found, default=None)
    return at if at is not None and written[:at].strip(" -") else None


def after_value(text: str, mark: yaml.Mark, lines: Sequence[Line | None]) -> Finding | None:
    """More text right after a quoted value or a `[...]`/`{...}` value, on the same line."""
    tokens = [t for t in _tokens_before(text, mark.index) if t.end_mark.index <= mark.index]
    last = tokens[-1] if tokens else None
    if last is None or text[last.end_mark.index : mark.index].strip(" "):
        return None
    number = mark.line + 1
    if isinstance(last, yaml.ScalarToken) and last.style in ("'", '"'):
        return _after_quote(last, number, lines)
    if isinstance(last, yaml.FlowSequenceEndToken | yaml.FlowMappingEndToken):
        kind, char = (
            ("list", "[") if isinstance(last, yaml.FlowSequenceEndToken) else ("mapping", "{")
        )
        what = (
            f"the value starts with '{char}', so YAML reads a {kind} that ends at column "
            f"{last.end_mark.column}, and then finds more text it cannot place"
        )
        return Finding(number, mark.column, what, quote_fix(lines, number))
    return None


def _after_quote(token: yaml.ScalarToken, number: int, lines: Sequence[Line | None]) -> Finding:
    quote = token.style or "'"
    start, end = token.start_mark, token.end_mark
    if start.line != end.line:
        what = (
            f"the {quote} opened here is closed only on line {end.line + 1}, so YAML reads "
            "everything in between as one value"
        )
        fix = f"close the quote on line {start.line + 1}, where its value ends"
        return Finding(start.line + 1, start.column, what, fix, (end.line + 1,))
    what = f"more text follows the closing {quote} at column {end.column}"
    if quote == "'":
        fix = "inside '...' write a ' twice ('It''s'), or quote the whole value with \"...\""
    else:
        fix = 'inside "..." write a " as \\", or quote the whole value with \'...\''
    return Finding(number, end.column, what, fix)


def _quote_item(item: str, *, in_list: bool) -> str:
    """Quote one item of a `[...]` (the whole item) or a `{...}` (the value after its key)."""
    if in_list:
        return f"quote the item: {in_quotes(item)}"
    key, value = item.split(":", 1)
    return f"quote the value: {key.strip()}: {in_quotes(value.strip())}"
