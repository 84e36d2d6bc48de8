"""What a diagnosis finds, and the small phrases every diagnosis words its finding with."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import yaml

from scoring.syntax.outline import (
    Line,
    uncommented,
)


@dataclass(frozen=True, slots=True)
class Finding:
    """What went wrong, where, and what to do; `shown` are other lines worth quoting."""

    line: int
    column: int  # counting from 0, as PyYAML does
    what: str
    fix: str
    shown: tuple[int, ...] = ()
    meant: int | None = None  # the line's intended indentation, when it is out of place


def position_of(error: yaml.MarkedYAMLError) -> yaml.Mark:
    """Where PyYAML stopped: the problem's mark, else its context's."""
    mark = error.problem_mark or error.context_mark
    assert mark is not None  # only errors with a position are diagnosed
    return mark


def unreadable(line: int, column: int) -> Finding:
    """A slip no diagnosis recognises: still placed, with where such slips usually are."""
    return Finding(
        line,
        column,
        "YAML could not read this line",
        "compare it with the lines above it: indentation, a bracket or quote left open, "
        "and a ':' inside an unquoted value are the usual causes",
    )


def listed_levels(levels: Sequence[int]) -> str:
    """'8, 4 and 0 spaces'."""
    if len(levels) == 1:
        return spaces(levels[0])
    said = [str(n) for n in levels]
    return f"{', '.join(said[:-1])} and {said[-1]} spaces"


def spaces(count: int) -> str:
    """'1 space', '4 spaces'."""
    return "1 space" if count == 1 else f"{count} spaces"


def quote_fix(lines: Sequence[Line | None], number: int) -> str:
    """'quote the value', with the line as it would read quoted when it is `key: value`."""
    line = lines[number - 1] if 0 < number <= len(lines) else None
    if line is None or line.key is None:
        return "quote the value, in '...'"
    value = uncommented(line.text[line.key_column :].split(":", 1)[1])
    if not value:
        return "quote the value, in '...'"
    return f"quote the value: {line.key}: {in_quotes(value)}"


def in_quotes(value: str) -> str:
    """`value` in quotes YAML reads back as the same text."""
    if "'" in value and '"' not in value and "\\" not in value:
        return f'"{value}"'
    return "'{}'".format(value.replace("'", "''"))
