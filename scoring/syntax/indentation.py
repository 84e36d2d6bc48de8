"""Slips of indentation: a line indented to no level above it, a key at a list's `-`, a
`-` among an entry's keys, a line indented past the one above so that YAML reads it as
more of that line's value, a line with no `key:`. Which line is out of place shows in its
neighbours: the one they do not line up with is the one to move."""

from __future__ import annotations

import re
from collections.abc import Sequence

import yaml

from scoring.syntax.brackets import first_bracket, plain_bracket
from scoring.syntax.finding import (
    Finding,
    listed_levels,
    position_of,
    quote_fix,
    spaces,
    unreadable,
)
from scoring.syntax.outline import (
    Line,
    containers,
    content_above,
    split_lines,
    uncommented,
)


def misplaced_colon(
    error: yaml.MarkedYAMLError, text: str, lines: Sequence[Line | None]
) -> Finding:
    """`key: value: more` (quote the value), or a line indented past the one above, which
    YAML reads as more of that line's value until it meets this line's ':'."""
    mark = position_of(error)
    number = mark.line + 1
    before = split_lines(text)[mark.line][: mark.column]
    line = lines[number - 1]
    if line is not None and line.key is None and (at := first_bracket(before)) is not None:
        return plain_bracket(text, mark, lines, at, "this ':' starts a key where none can go")
    if re.search(r":\s", before):
        of = f" of '{line.key}'" if line and line.key else ""
        what = (
            f"a ':' inside the unquoted value{of}: YAML reads it as the start of another key, "
            "which cannot go there"
        )
        return Finding(number, mark.column, what, quote_fix(lines, number))
    bare = bare_value(content_above(lines, number), number)
    if bare is not None:
        return bare
    above = next((x for x in reversed(lines[: number - 1]) if x and x.key), None)
    if above is None or line is None or line.indent <= above.key_column:
        return unreadable(number, mark.column)
    return _continued(line, above, lines)


def _continued(line: Line, above: Line, lines: Sequence[Line | None]) -> Finding:
    """`line` is indented past the key on `above`, so YAML reads it as more of that key's
    value. Which of the two is out of place shows in their neighbours: the one they do not
    line up with."""
    number, level = line.number, above.key_column
    before = content_above(lines, above.number)
    after = next((x for x in lines[number:] if x is not None), None)
    beside = after is not None and after.indent == line.indent and not after.item
    if beside or (before is not None and before.key_column == line.indent):
        return _out_of_line(above, line, before)
    what = (
        f"this line is indented more than '{above.key}' on {above.ref(number)} "
        f"({spaces(line.indent)} against {level}), so YAML reads it as more of the value on "
        f"line {above.number}, and a value cannot hold 'key:'"
    )
    if above.item or (before is not None and _holds_level(before, level)):
        fix = f"indent it by {spaces(level)}, to line up with '{above.key}'"
    else:
        fix = (
            f"indent the two lines alike: this one by {spaces(level)}, or line "
            f"{above.number} by {line.indent}"
        )
    return Finding(number, line.indent, what, fix, (above.number,))


def _out_of_line(odd: Line, line: Line, before: Line | None) -> Finding:
    """`odd`'s key is indented less than `line` below it and the lines around them both."""
    what = (
        f"'{odd.key}' is indented {spaces(odd.key_column)} while the lines around it are at "
        f"{line.indent}, so YAML reads line {line.number} as more of its value, and a value "
        "cannot hold 'key:'"
    )
    shift = line.indent - odd.key_column
    if odd.item:
        fix = f"indent its '-' by {spaces(odd.indent + shift)}, so '{odd.key}' lines up too"
    else:
        fix = f"indent it by {spaces(line.indent)}, like the lines around it"
    shown = (before.number, line.number) if before else (line.number,)
    return Finding(odd.number, odd.indent, what, fix, shown, meant=odd.indent + shift)


def bare_value(
    line: Line | None, after: int | None = None, *, nested: bool = False
) -> Finding | None:
    """A line with no `key:` (`timezone Europe/London`, `- id industry`), which YAML reads
    as a plain value, so the keys after it, or `after`, indented under it, cannot follow.
    Only at the top or in a list item, unless `nested`: elsewhere such a line may be the
    rest of the value above it."""
    if line is None or line.key is not None or (line.indent and not line.item and not nested):
        return None
    text = uncommented(line.text[line.key_column :])
    if not text or text in ("---", "...") or text[0] in "[{'\"&*!|>":
        return None
    what = "this line has no ':', so YAML reads it as a value, and keys cannot follow a value"
    fix = "write it as 'key: value', with a colon and a space after the key"
    return Finding(line.number, line.key_column, what, fix, (after,) if after else ())


def left_edge(lines: Sequence[Line | None], number: int) -> Finding | None:
    """The file's first line indented, so that YAML takes it as the left edge, and a later
    line that starts further left is outside the file's one mapping."""
    first = next((x for x in lines if x is not None), None)
    line = lines[number - 1] if number <= len(lines) else None
    if first is None or line is None or line.indent >= first.indent:
        return None
    what = (
        f"the file's first line is indented {spaces(first.indent)}, so YAML takes that as "
        f"the left edge, and line {number} starts to the left of it"
    )
    fix = "start the first line at the left edge, with no spaces before it"
    return Finding(first.number, first.indent, what, fix, (number,))


def _holds_level(line: Line, indent: int) -> bool:
    """A line right after `line` indented by `indent` sits where it should: beside its key,
    or under it when `line` opens a block."""
    return line.key_column == indent or (line.opens and indent > line.key_column)


def misindented(mark: yaml.Mark, lines: Sequence[Line | None]) -> Finding | None:
    """A line that starts where no block above it is open."""
    number = mark.line + 1
    line = lines[number - 1] if number <= len(lines) else None
    above = content_above(lines, number)
    if line is None or above is None or mark.column != line.indent:
        return None
    chain = [above, *containers(lines, above.number, above.indent)]
    if line.item:
        return _misplaced_item(line, above, chain)
    return _misplaced_key(line, above, chain, lines)


def _misplaced_key(
    line: Line, above: Line, chain: Sequence[Line], lines: Sequence[Line | None]
) -> Finding:
    number, indent = line.number, line.indent
    bare = bare_value(above, number, nested=True) if above.key is None else None
    if bare is not None:
        return bare
    before = content_above(lines, above.number)
    if before and before.opens and not above.item and above.indent <= before.key_column < indent:
        return _not_under(above, before, line)
    after = next((x for x in lines[number:] if x is not None), None)
    if (
        after is not None
        and after.indent == indent
        and not (after.item or above.item)
        and before is not None
        and before.opens
        and before.key_column < indent
    ):
        return _out_of_step(above, line)
    dash = next((c for c in chain if c.item and c.indent == indent), None)
    if dash is not None:
        what = (
            f"this line is indented {spaces(indent)}, like the '-' on {dash.ref(number)}, "
            "where only a new list item ('- ') can start"
        )
        if dash.key is None:
            fix = "start it with '- ' to make it a list item, or indent it under a key"
        else:
            fix = (
                f"indent it by {spaces(dash.key_column)}, to line up with '{dash.key}' on "
                f"{dash.ref(number)} and stay in that entry"
            )
        meant = dash.key_column if dash.key else None
        return Finding(number, indent, what, fix, (dash.number,), meant=meant)
    keyed = [c for c in chain if c.key is not None]
    levels = sorted({c.key_column for c in keyed}, reverse=True)
    if indent in levels or (above.opens and indent > above.key_column) or not keyed:
        return _does_not_fit(line, above)
    nearest = min(keyed, key=lambda c: abs(c.key_column - indent))
    what = (
        f"this line is indented {spaces(indent)}, which lines up with none of the keys it "
        f"could belong with (they are at {listed_levels(levels)})"
    )
    fix = (
        f"indent it by {spaces(nearest.key_column)}, to line up with '{nearest.key}' on "
        f"{nearest.ref(number)}"
    )
    return Finding(number, indent, what, fix, (nearest.number,))


def _not_under(odd: Line, opener: Line, line: Line) -> Finding:
    """`odd` right after `opener:` but not indented under it, so the opener is left empty and
    `line`, indented to go with `odd`, fits under nothing."""
    what = (
        f"'{odd.key}' is not indented under '{opener.key}:' on {opener.ref(odd.number)}, so "
        f"that is left empty, and line {line.number}, indented further, fits under nothing"
    )
    fix = f"indent it by {spaces(line.indent)}, like line {line.number}"
    shown = (opener.number, line.number)
    return Finding(odd.number, odd.indent, what, fix, shown, meant=line.indent)


def _out_of_step(odd: Line, line: Line) -> Finding:
    """`odd`, first under its `key:`, indented unlike `line` and the lines after it."""
    what = (
        f"this line is indented {spaces(odd.indent)} while the lines after it are at "
        f"{line.indent}, so line {line.number} lines up with nothing above it"
    )
    fix = f"indent it by {spaces(line.indent)}, like the lines after it"
    return Finding(odd.number, odd.indent, what, fix, (line.number,), meant=line.indent)


def _misplaced_item(line: Line, above: Line, chain: Sequence[Line]) -> Finding:
    number, indent = line.number, line.indent
    dashes = [c for c in chain if c.item]
    if indent in {c.indent for c in dashes} or (above.opens and indent >= above.key_column):
        return _does_not_fit(line, above)
    nearest = min(dashes, key=lambda c: abs(c.indent - indent)) if dashes else None
    if nearest is None:
        fix = "put the list under a key that ends with ':', indented further than that key"
    else:
        fix = (
            f"indent its '-' by {spaces(nearest.indent)}, to line up with the '-' on "
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
        return Finding(number, indent, what, fix, (keyed.number,))
    if keyed is not None:
        what = (
            f"this list item's '-' is indented {spaces(indent)}, among the keys of "
            f"{keyed.ref(number)}, where a list item cannot start"
        )
        return Finding(number, indent, what, fix, (*shown, keyed.number))
    if nearest is None:
        return _does_not_fit(line, above)
    what = (
        f"this list item's '-' is indented {spaces(indent)}, which lines up with no '-' "
        f"above it (the one on {nearest.ref(number)} is at {nearest.indent})"
    )
    return Finding(number, indent, what, fix, shown)


def _does_not_fit(line: Line, above: Line) -> Finding:
    what = (
        f"YAML cannot fit this line (indented {spaces(line.indent)}) under "
        f"{above.ref(line.number)} (indented {above.indent})"
    )
    fix = (
        "check the indentation of this line and the ones just above it: the keys of one "
        "entry line up exactly, and each list item starts with '- '"
    )
    return Finding(line.number, line.indent, what, fix, (above.number,))
