"""YAML syntax errors, said as the slip a person made and what to do about it.

PyYAML names the state its parser was in ("expected <block end>, but found
'<block mapping start>'"), not the mistake. In a hand-edited config nearly
every syntax error is one of a few slips: a line indented to no level above
it, a bracket or quote left open, a tab, a second colon in an unquoted value.
This package tells them apart from the error's position, the text around it
and the tokens PyYAML read before it, and says which one it is, where (line,
column, and the criterion or rule the line belongs to, from `outline`), and
what to do. PyYAML's own words stay, as a last short line.

Pure: the file's text and PyYAML's error in, an `Explanation` out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import yaml

from scoring.syntax.brackets import after_value, in_brackets, stray_closer
from scoring.syntax.characters import (
    alias,
    bad_character,
    documents,
    escape,
    no_colon,
    open_quote,
    reserved,
    tab,
    tag,
    unhashable,
)
from scoring.syntax.excerpt import quoted_lines
from scoring.syntax.finding import Finding, position_of, unreadable
from scoring.syntax.indentation import bare_value, left_edge, misindented, misplaced_colon
from scoring.syntax.outline import (
    Line,
    content_above,
    owner,
    read_lines,
    split_lines,
)


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
        *quoted_lines(split_lines(text), (*found.shown, found.line), found.line, found.column),
        f"  fix: {found.fix}",
        f"  (the YAML parser says: {_parser_words(error)})",
    )
    message = f"not valid YAML: {found.what}"
    where = owner(lines, found.line, found.meant)
    return Explanation(message, where, found.line, found.column + 1, excerpt)


def _diagnose(error: yaml.YAMLError, text: str, lines: Sequence[Line | None]) -> Finding | None:
    """The slip behind the error: PyYAML's words say which kind of thing went wrong, the
    text and tokens around its position which slip it was."""
    if isinstance(error, yaml.reader.ReaderError):
        return bad_character(error, text)
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
        found = in_brackets(error, text, lines)
    else:
        found = _block(error, text, lines)
    return found or unreadable(mark.line + 1, mark.column)


_BY_WORDS = (
    (lambda problem, context: "'\\t'" in problem, tab),
    (lambda problem, context: "cannot start any token" in problem, reserved),
    (lambda problem, context: problem == "mapping values are not allowed here", misplaced_colon),
    (lambda problem, context: problem == "could not find expected ':'", no_colon),
    (
        lambda problem, context: "quoted scalar" in context and "end of stream" in problem,
        open_quote,
    ),
    (lambda problem, context: "unknown escape character" in problem, escape),
    (lambda problem, context: problem.startswith("found undefined alias"), alias),
    (lambda problem, context: "constructor for the tag" in problem, tag),
    (lambda problem, context: problem == "found unhashable key", unhashable),
    (lambda problem, context: "single document" in context, documents),
)


def _block(error: yaml.MarkedYAMLError, text: str, lines: Sequence[Line | None]) -> Finding | None:
    """A line that does not fit the block structure above it: text after a closing quote or
    bracket, a stray closing bracket, or, most often, indentation."""
    mark = position_of(error)
    problem = error.problem or ""
    if problem.startswith("expected '<document start>'"):
        return bare_value(content_above(lines, mark.line + 1)) or left_edge(lines, mark.line + 1)
    if problem.endswith(("found ']'", "found '}'")):
        return stray_closer(problem[-2], text, mark, lines)
    return after_value(text, mark, lines) or misindented(mark, lines)


def _parser_words(error: yaml.YAMLError) -> str:
    """PyYAML's own short account, kept as the problem's last line."""
    if isinstance(error, yaml.MarkedYAMLError):
        return error.problem or error.context or type(error).__name__
    return str(error).splitlines()[0]
