"""YAML syntax errors, said as the slip a person made and what to do about it.

PyYAML names the state its parser was in ("expected <block end>, but found
'<block mapping start>'"), not the mistake. In a hand-edited config nearly
every syntax error is one of a few slips: a line indented to no level above
it, a bracket or quote left open, a tab, a second colon in an unquoted value.
This module tells them apart from the error's position, the text around it
and the tokens PyYAML read before it, and says which one it is, where (line,
column, and the criterion or rule the line belongs to), and what to do.
PyYAML's own words stay, as a last short line.

Pure: the file's text and PyYAML's error in, an `Explanation` out.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import yaml

from scoring.outline import (
    Line,
    containers,
    content_above,
    owner,
    read_lines,
    split_lines,
    uncommented,
)

_OPENERS = {"[": "]", "{": "}"}


@dataclass(frozen=True, slots=True)
class _Finding:
    """What went wrong, where, and what to do; `shown` are other lines worth quoting."""

    line: int
    column: int  # counting from 0, as PyYAML does
    what: str
    fix: str
    shown: tuple[int, ...] = ()
    belongs: int | None = None  # the line it was meant to go with, when not where YAML put it


@dataclass(frozen=True, slots=True)
class Explanation:
    """A syntax error as a problem reads: what, where (`column` counts from 1), the
    quoted lines with a caret, what to do, and PyYAML's words last."""

    message: str
    where: str = ""
    line: int | None = None
    column: int | None = None
    excerpt: tuple[str, ...] = ()


def explain(error: yaml.YAMLError, text: str) -> Explanation:
    """What to report for a file PyYAML could not read."""
    lines = read_lines(text)
    found = _diagnose(error, text, lines)
    if found is None:
        return Explanation(f"not valid YAML: {_parser_words(error)}")
    excerpt = (
        *_quote(split_lines(text), (*found.shown, found.line), found.line, found.column),
        f"  fix: {found.fix}",
        f"  (the YAML parser says: {_parser_words(error)})",
    )
    message = f"not valid YAML: {found.what}"
    where = owner(lines, found.belongs or found.line)
    return Explanation(message, where, found.line, found.column + 1, excerpt)


# --- telling the slips apart ---------------------------------------------------------------


def _diagnose(error: yaml.YAMLError, text: str, lines: Sequence[Line | None]) -> _Finding | None:
    if isinstance(error, yaml.reader.ReaderError):
        return _bad_character(error, text)
    if not isinstance(error, yaml.MarkedYAMLError) or error.problem_mark is None:
        return None
    problem = error.problem or ""
    mark = error.problem_mark
    for matches, diagnose in _BY_WORDS:
        if matches(problem, error.context or ""):
            return diagnose(error, text, lines)
    if problem.startswith(("expected ',' or", "expected the node content")) or (
        error.context or ""
    ).startswith("while parsing a flow"):
        found = _in_brackets(error, text, lines)
    else:
        found = _block(error, text, lines)
    return found or _unreadable(mark.line + 1, mark.column)


def _unreadable(line: int, column: int) -> _Finding:
    return _Finding(
        line,
        column,
        "YAML could not read this line",
        "compare it with the lines above it: indentation, a bracket or quote left open, "
        "and a ':' inside an unquoted value are the usual causes",
    )


def _tab(error: yaml.MarkedYAMLError, text: str, lines: Sequence[Line | None]) -> _Finding:
    mark = _mark(error)
    what = "a tab character (shown as →): YAML does not accept tabs here, only spaces"
    return _Finding(mark.line + 1, mark.column, what, "replace the tab with spaces")


def _reserved(error: yaml.MarkedYAMLError, text: str, lines: Sequence[Line | None]) -> _Finding:
    mark = _mark(error)
    char = text[mark.index] if mark.index < len(text) else "?"
    what = f"an unquoted value cannot start with '{char}'"
    return _Finding(mark.line + 1, mark.column, what, _quote_fix(lines, mark.line + 1))


def _colon(error: yaml.MarkedYAMLError, text: str, lines: Sequence[Line | None]) -> _Finding:
    """`key: value: more` (quote the value), or a line indented past the one above, which
    YAML reads as more of that line's value until it meets this line's ':'."""
    mark = _mark(error)
    number = mark.line + 1
    before = split_lines(text)[mark.line][: mark.column]
    line = lines[number - 1]
    if re.search(r":\s", before):
        of = f" of '{line.key}'" if line and line.key else ""
        what = (
            f"a ':' inside the unquoted value{of}: YAML reads it as the start of another key, "
            "which cannot go there"
        )
        return _Finding(number, mark.column, what, _quote_fix(lines, number))
    above = next((x for x in reversed(lines[: number - 1]) if x and x.key), None)
    if above is None:
        return _bare(content_above(lines, number)) or _unreadable(number, mark.column)
    if line is None or line.indent <= above.indent:
        return _unreadable(number, mark.column)
    return _continued(line, above, content_above(lines, above.number))


def _continued(line: Line, above: Line, before: Line | None) -> _Finding:
    """`line` is indented past `above`, so YAML reads it as more of `above`'s value. Which of
    the two is out of place shows in the line before `above`: the one it does not line up with."""
    number = line.number
    if before is not None and before.key_column == line.indent != above.indent:
        what = (
            f"this line is indented {_spaces(above.indent)} while the lines around it are at "
            f"{line.indent}, so YAML reads line {number} as more of this line's value, and a "
            "value cannot hold 'key:'"
        )
        fix = f"indent it by {_spaces(line.indent)}, like the lines around it"
        shown = (before.number, number)
        return _Finding(above.number, above.indent, what, fix, shown, belongs=before.number)
    what = (
        f"this line is indented more than {above.ref(number)} ({_spaces(line.indent)} against "
        f"{above.indent}), so YAML reads it as more of the value on line {above.number}, "
        "and a value cannot hold 'key:'"
    )
    if before is not None and _holds_level(before, above.indent):
        fix = f"indent it by {_spaces(above.indent)}, like line {above.number}"
    else:
        fix = (
            f"indent the two lines alike: this one by {_spaces(above.indent)}, or line "
            f"{above.number} by {line.indent}"
        )
    return _Finding(number, line.indent, what, fix, (above.number,))


def _bare(line: Line | None) -> _Finding | None:
    """A top line with no `key:`, which YAML reads as the file's one value, so that the
    keys after it have nowhere to go."""
    if line is None or line.key is not None or line.item or line.indent:
        return None
    text = uncommented(line.text)
    if text in ("---", "...") or text.startswith(("[", "{", "'", '"', "&", "*", "!", "|", ">")):
        return None
    what = "this line has no ':', so YAML reads it as a value, and keys cannot follow a value"
    fix = "write it as 'key: value', with a colon and a space after the key"
    return _Finding(line.number, line.indent, what, fix)


def _holds_level(line: Line, indent: int) -> bool:
    """A line right after `line` indented by `indent` sits where it should: beside its key,
    or under it when `line` opens a block."""
    return line.key_column == indent or (line.opens and indent > line.key_column)


def _no_colon(error: yaml.MarkedYAMLError, text: str, lines: Sequence[Line | None]) -> _Finding:
    mark = error.context_mark or _mark(error)
    words = uncommented(split_lines(text)[mark.line][mark.column :])
    what = f"YAML reads '{words}' as a key, but no ':' follows it"
    fix = (
        "write it as 'key: value', with a colon and a space after the key; or, if it goes "
        "on with the value above, indent it further than the key above"
    )
    return _Finding(mark.line + 1, mark.column, what, fix)


def _open_quote(error: yaml.MarkedYAMLError, text: str, lines: Sequence[Line | None]) -> _Finding:
    mark = error.context_mark or _mark(error)
    quote = text[mark.index] if mark.index < len(text) else "'"
    what = f"the {quote} opened here is never closed"
    return _Finding(
        mark.line + 1, mark.column, what, f"add the closing {quote} where the value ends"
    )


def _escape(error: yaml.MarkedYAMLError, text: str, lines: Sequence[Line | None]) -> _Finding:
    mark = _mark(error)
    code = text[mark.index : mark.index + 1]
    what = f"'\\{code}' is not an escape YAML knows inside \"...\""
    fix = (
        "quote the value with single quotes ('...'), where a backslash is just a backslash, "
        "as a regular expression needs"
    )
    return _Finding(mark.line + 1, max(mark.column - 1, 0), what, fix)


def _alias(error: yaml.MarkedYAMLError, text: str, lines: Sequence[Line | None]) -> _Finding:
    mark = _mark(error)
    what = "YAML reads a value starting with '*' as a reference to an anchor (&name)"
    return _Finding(mark.line + 1, mark.column, what, _quote_fix(lines, mark.line + 1))


def _tag(error: yaml.MarkedYAMLError, text: str, lines: Sequence[Line | None]) -> _Finding:
    mark = _mark(error)
    what = "YAML reads a value starting with '!' as a type tag, which a config does not use"
    return _Finding(mark.line + 1, mark.column, what, _quote_fix(lines, mark.line + 1))


def _unhashable(error: yaml.MarkedYAMLError, text: str, lines: Sequence[Line | None]) -> _Finding:
    mark = _mark(error)
    what = "a key cannot be a list or a mapping"
    written = re.match(r"(.*?[\]}])\s*:", split_lines(text)[mark.line][mark.column :])
    key = _quoted(written.group(1)) if written else "'[a]'"
    fix = f"if the brackets are part of the key's text, quote it: {key}: ..."
    return _Finding(mark.line + 1, mark.column, what, fix)


def _documents(error: yaml.MarkedYAMLError, text: str, lines: Sequence[Line | None]) -> _Finding:
    mark = _mark(error)
    what = "a second YAML document starts here, and a config file holds one"
    fix = "delete this '---' line, and whatever after it does not belong in this file"
    return _Finding(mark.line + 1, mark.column, what, fix)


def _bad_character(error: yaml.reader.ReaderError, text: str) -> _Finding:
    position = min(max(error.position, 0), len(text))
    line = text.count("\n", 0, position) + 1
    column = position - (text.rfind("\n", 0, position) + 1)
    what = f"a control character (#x{error.character:04X}) YAML does not accept"
    fix = "delete it (copying text from a document or a chat can bring one along)"
    return _Finding(line, column, what, fix)


_BY_WORDS = (
    (lambda problem, context: "'\\t'" in problem, _tab),
    (lambda problem, context: "cannot start any token" in problem, _reserved),
    (lambda problem, context: problem == "mapping values are not allowed here", _colon),
    (lambda problem, context: problem == "could not find expected ':'", _no_colon),
    (
        lambda problem, context: "quoted scalar" in context and "end of stream" in problem,
        _open_quote,
    ),
    (lambda problem, context: "unknown escape character" in problem, _escape),
    (lambda problem, context: problem.startswith("found undefined alias"), _alias),
    (lambda problem, context: "constructor for the tag" in problem, _tag),
    (lambda problem, context: problem == "found unhashable key", _unhashable),
    (lambda problem, context: "single document" in context, _documents),
)


# --- brackets ------------------------------------------------------------------------------


def _in_brackets(
    error: yaml.MarkedYAMLError, text: str, lines: Sequence[Line | None]
) -> _Finding | None:
    """A `[` or `{` still open where the parser gave up: left open, or holding a ':' in a
    value, or missing a comma between lines."""
    mark = _mark(error)
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
        return _Finding(at, opener.column, what, fix, shown)
    item = text[opener.index + 1 : mark.index].rsplit(",", 1)[-1]
    if (error.problem or "").endswith("':'") and re.search(r":\s", item):
        what = f"a second ':' in an unquoted value inside the {kind}'s '{char}...{closer}'"
        rest = re.split(r"[,\]}\n]", text[mark.index :], maxsplit=1)[0]
        whole = (item + rest).strip()
        return _Finding(number, mark.column, what, _quote_item(whole, in_list=char == "["))
    what = f"YAML cannot read this {kind} ('{char}' at column {opener.column + 1}) from here on"
    fix = "separate its items with commas, and quote any item holding ':', ',', '#' or brackets"
    return _Finding(number, mark.column, what, fix)


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


# --- block structure -----------------------------------------------------------------------


def _block(error: yaml.MarkedYAMLError, text: str, lines: Sequence[Line | None]) -> _Finding | None:
    """A line that does not fit the block structure above it: text after a closing quote or
    bracket, a stray closing bracket, or, most often, indentation."""
    mark = _mark(error)
    problem = error.problem or ""
    if problem.startswith("expected '<document start>'"):
        return _bare(content_above(lines, mark.line + 1))
    if problem.endswith(("found ']'", "found '}'")):
        char = problem[-2]
        what = f"a '{char}' with no '{'[' if char == ']' else '{'}' open before it"
        return _Finding(mark.line + 1, mark.column, what, f"delete the extra '{char}'")
    return _after_value(text, mark, lines) or _indentation(mark, lines)


def _after_value(text: str, mark: yaml.Mark, lines: Sequence[Line | None]) -> _Finding | None:
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
        return _Finding(number, mark.column, what, _quote_fix(lines, number))
    return None


def _after_quote(token: yaml.ScalarToken, number: int, lines: Sequence[Line | None]) -> _Finding:
    quote = token.style or "'"
    start, end = token.start_mark, token.end_mark
    if start.line != end.line:
        what = (
            f"the {quote} opened here is closed only on line {end.line + 1}, so YAML reads "
            "everything in between as one value"
        )
        fix = f"close the quote on line {start.line + 1}, where its value ends"
        return _Finding(start.line + 1, start.column, what, fix, (end.line + 1,))
    what = f"more text follows the closing {quote} at column {end.column}"
    if quote == "'":
        fix = "inside '...' write a ' twice ('It''s'), or quote the whole value with \"...\""
    else:
        fix = 'inside "..." write a " as \\", or quote the whole value with \'...\''
    return _Finding(number, end.column, what, fix)


def _indentation(mark: yaml.Mark, lines: Sequence[Line | None]) -> _Finding | None:
    """A line that starts where no block above it is open."""
    number = mark.line + 1
    line = lines[number - 1] if number <= len(lines) else None
    above = content_above(lines, number)
    if line is None or above is None or mark.column != line.indent:
        return None
    chain = [above, *containers(lines, above.number, above.indent)]
    if line.item:
        return _misplaced_item(line, above, chain)
    return _misplaced_key(line, above, chain)


def _misplaced_key(line: Line, above: Line, chain: Sequence[Line]) -> _Finding:
    number, indent = line.number, line.indent
    dash = next((c for c in chain if c.item and c.indent == indent), None)
    if dash is not None:
        what = (
            f"this line is indented {_spaces(indent)}, like the '-' on {dash.ref(number)}, "
            "where only a new list item ('- ') can start"
        )
        if dash.key is None:
            fix = "start it with '- ' to make it a list item, or indent it under a key"
        else:
            fix = (
                f"indent it by {_spaces(dash.key_column)}, to line up with '{dash.key}' on "
                f"{dash.ref(number)} and stay in that entry"
            )
        return _Finding(number, indent, what, fix, (dash.number,), belongs=dash.number)
    keyed = [c for c in chain if c.key is not None]
    levels = sorted({c.key_column for c in keyed}, reverse=True)
    if indent in levels or (above.opens and indent > above.key_column) or not keyed:
        return _does_not_fit(line, above)
    nearest = min(keyed, key=lambda c: abs(c.key_column - indent))
    what = (
        f"this line is indented {_spaces(indent)}, which lines up with none of the keys it "
        f"could belong with (they are at {_levels(levels)})"
    )
    fix = (
        f"indent it by {_spaces(nearest.key_column)}, to line up with '{nearest.key}' on "
        f"{nearest.ref(number)}"
    )
    return _Finding(number, indent, what, fix, (nearest.number,))


def _misplaced_item(line: Line, above: Line, chain: Sequence[Line]) -> _Finding:
    number, indent = line.number, line.indent
    dashes = [c for c in chain if c.item]
    if indent in {c.indent for c in dashes} or (above.opens and indent >= above.key_column):
        return _does_not_fit(line, above)
    nearest = min(dashes, key=lambda c: abs(c.indent - indent)) if dashes else None
    if nearest is None:
        fix = "put the list under a key that ends with ':', indented further than that key"
    else:
        fix = (
            f"indent its '-' by {_spaces(nearest.indent)}, to line up with the '-' on "
            f"{nearest.ref(number)}"
        )
    shown = (nearest.number,) if nearest else (above.number,)
    keyed = next((c for c in chain if c.key is not None and c.key_column == indent), None)
    if keyed is not None and keyed.key and re.match(r"-[^\s-]", keyed.key):
        what = (
            f"'{keyed.key}' on {keyed.ref(number)} has no space after its '-', so YAML "
            "reads it as a key, not a list item"
        )
        fix = f"put a space after the '-' on line {keyed.number}: '- {keyed.key[1:]}'"
        return _Finding(number, indent, what, fix, (keyed.number,))
    if keyed is not None:
        what = (
            f"this list item's '-' is indented {_spaces(indent)}, among the keys of "
            f"{keyed.ref(number)}, where a list item cannot start"
        )
        return _Finding(number, indent, what, fix, (*shown, keyed.number))
    if nearest is None:
        return _does_not_fit(line, above)
    what = (
        f"this list item's '-' is indented {_spaces(indent)}, which lines up with no '-' "
        f"above it (the one on {nearest.ref(number)} is at {nearest.indent})"
    )
    return _Finding(number, indent, what, fix, shown)


def _does_not_fit(line: Line, above: Line) -> _Finding:
    what = (
        f"YAML cannot fit this line (indented {_spaces(line.indent)}) under "
        f"{above.ref(line.number)} (indented {above.indent})"
    )
    fix = (
        "check the indentation of this line and the ones just above it: the keys of one "
        "entry line up exactly, and each list item starts with '- '"
    )
    return _Finding(line.number, line.indent, what, fix, (above.number,))


# --- helpers -------------------------------------------------------------------------------


def _mark(error: yaml.MarkedYAMLError) -> yaml.Mark:
    mark = error.problem_mark or error.context_mark
    assert mark is not None  # _diagnose only passes errors with a position
    return mark


def _levels(levels: Sequence[int]) -> str:
    if len(levels) == 1:
        return _spaces(levels[0])
    said = [str(n) for n in levels]
    return f"{', '.join(said[:-1])} and {said[-1]} spaces"


def _spaces(count: int) -> str:
    return "1 space" if count == 1 else f"{count} spaces"


def _quote_fix(lines: Sequence[Line | None], number: int) -> str:
    """'quote the value', with the line as it would read quoted when it is `key: value`."""
    line = lines[number - 1] if 0 < number <= len(lines) else None
    if line is None or line.key is None:
        return "quote the value, in '...'"
    value = uncommented(line.text[line.key_column :].split(":", 1)[1])
    if not value:
        return "quote the value, in '...'"
    return f"quote the value: {line.key}: {_quoted(value)}"


def _quote_item(item: str, *, in_list: bool) -> str:
    """Quote one item of a `[...]` (the whole item) or a `{...}` (the value after its key)."""
    if in_list:
        return f"quote the item: {_quoted(item)}"
    key, value = item.split(":", 1)
    return f"quote the value: {key.strip()}: {_quoted(value.strip())}"


def _quoted(value: str) -> str:
    """`value` in quotes YAML reads back as the same text."""
    if "'" in value and '"' not in value and "\\" not in value:
        return f'"{value}"'
    return "'{}'".format(value.replace("'", "''"))


def _visible(line: str) -> str:
    """The line as a terminal can show it, one character for one, so the caret lines up:
    a tab as →, another control character as its symbol (␁)."""
    return "".join(
        "→" if c == "\t" else chr(0x2400 + ord(c)) if ord(c) < 0x20 else "␡" if c == "\x7f" else c
        for c in line
    )


def _parser_words(error: yaml.YAMLError) -> str:
    if isinstance(error, yaml.MarkedYAMLError):
        return error.problem or error.context or type(error).__name__
    return str(error).splitlines()[0]


def _quote(raw: Sequence[str], shown: Sequence[int], line: int, column: int) -> list[str]:
    """The lines, numbered, with a caret under `column` of `line`; '...' marks a gap."""
    numbers = sorted({n for n in shown if 0 < n <= len(raw)})
    width = len(str(max(numbers, default=line)))
    quoted: list[str] = []
    for index, number in enumerate(numbers):
        if index and number > numbers[index - 1] + 1:
            quoted.append(f"  {'':>{width}} ...")
        quoted.append(f"  {number:>{width}} | {_visible(raw[number - 1])}")
        if number == line:
            quoted.append(f"  {'':>{width}} | {' ' * column}^")
    return quoted
