"""Config problems, reported with the file, the line and what to fix.

Every config file is read with the same loader: it keeps line numbers,
refuses duplicate keys (PyYAML silently keeps the last one), and reads only
`true`/`false` as booleans so a country list `[SE, NO]` stays two countries.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import yaml

from scoring.syntax import explain


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong in one config file; `where` names the criterion or rule."""

    source: str
    where: str
    message: str
    line: int | None = None
    warning: bool = False
    anchor: int | None = None  # first line of the mapping it was found in, to name it later
    column: int | None = None
    excerpt: tuple[str, ...] = ()  # lines printed under the message: the file's text, a fix

    def __str__(self) -> str:
        place = f"{self.source}:{self.line}" if self.line else self.source
        if self.line and self.column:
            place += f":{self.column}"
        kind = "warning: " if self.warning else ""
        where = f"{self.where}: " if self.where else ""
        return "\n".join((f"{place}: {kind}{where}{self.message}", *self.excerpt))


class ConfigError(Exception):
    """A config that must not be loaded; carries every problem found, not just the first."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = [p for p in problems if not p.warning]
        super().__init__("\n".join(str(p) for p in self.problems))


class Located(dict[str, Any]):
    """A YAML mapping that remembers the line it started on and the line of each key,
    so a problem with one key points at that key, not at the top of its mapping."""

    line: int | None = None
    key_lines: dict[object, int]

    def __init__(self) -> None:
        super().__init__()
        self.key_lines = {}


@dataclass
class _Collector:
    problems: list[Problem] = field(default_factory=list)


class _Loader(yaml.SafeLoader):
    """SafeLoader with line numbers, duplicate-key detection and YAML 1.2 booleans."""

    collector: _Collector
    source: str


def _construct_mapping(loader: _Loader, node: yaml.MappingNode) -> Located:
    loader.flatten_mapping(node)
    mapping = Located()
    mapping.line = node.start_mark.line + 1
    first: dict[object, int] = {}
    duplicates = []
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        try:
            hash(key)
        except TypeError:  # `[a, b]: x`; PyYAML's own check, which this constructor replaces
            raise yaml.constructor.ConstructorError(
                "while constructing a mapping",
                node.start_mark,
                "found unhashable key",
                key_node.start_mark,
            ) from None
        line = key_node.start_mark.line + 1
        if key in first:
            duplicates.append((key, first[key], line))
        first.setdefault(key, line)
        mapping[key] = loader.construct_object(value_node, deep=True)
        mapping.key_lines[key] = line
    where = str(mapping.get("id", "")) if isinstance(mapping.get("id"), str) else ""
    for key, first_line, line in duplicates:
        message = (
            f"duplicate key {key!r} (first on line {first_line}): YAML would silently keep "
            "only the last one — delete one of them"
        )
        problem = Problem(loader.source, where, message, line, anchor=mapping.line)
        loader.collector.problems.append(problem)
    return mapping


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


def load_yaml(text: str, source: str) -> tuple[Any, list[Problem]]:
    """Parse YAML text; syntax errors and duplicate keys become problems, not exceptions."""
    try:
        loader = _Loader(text)  # refuses a control character before reading anything
    except yaml.YAMLError as exc:
        return None, [_syntax_problem(exc, text, source)]
    loader.collector = _Collector()
    loader.source = source
    try:
        data = loader.get_single_data()
    except yaml.YAMLError as exc:
        return None, [_syntax_problem(exc, text, source)]
    finally:
        loader.dispose()
    return data, loader.collector.problems


def _syntax_problem(error: yaml.YAMLError, text: str, source: str) -> Problem:
    said = explain(error, text)
    return Problem(
        source, said.where, said.message, said.line, column=said.column, excerpt=said.excerpt
    )


def closest(key: object, allowed: Iterable[str]) -> str | None:
    """The allowed key `key` was most likely meant to be: the same word with a stray colon,
    space or capital (`why:`, `Why`), else a close spelling (`inn`, `betwen`)."""
    choices = list(allowed)
    bare = str(key).strip().rstrip(":").strip()
    same = [c for c in choices if c.casefold() == bare.casefold()]
    if same:
        return same[0]
    close = difflib.get_close_matches(bare, choices, n=1, cutoff=0.75)
    return close[0] if close else None


def did_you_mean(word: object, choices: Iterable[str]) -> str:
    """' (did you mean 'x'?)' for the choice `word` was probably meant to be, else ''."""
    meant = closest(word, choices)
    return f" (did you mean {meant!r}?)" if meant else ""


def not_a_key(key: object, allowed: Iterable[str], *, what: str = "a key here") -> str:
    """What to say of a key that does not belong: the key it was probably meant to be, else
    the keys that do belong."""
    meant = closest(key, allowed)
    if meant is not None and str(key).rstrip().endswith(":"):
        return f"{key!r} is not {what} — did you mean {meant!r}? (a key takes a single colon)"
    if meant is not None:
        return f"{key!r} is not {what} — did you mean {meant!r}?"
    return f"{key!r} is not {what} — expected {', '.join(sorted(allowed))}"


def line_of(node: object) -> int | None:
    return node.line if isinstance(node, Located) else None


def line_of_key(node: object, key: object) -> int | None:
    """The line `key` is written on in `node`, else the line `node` starts on."""
    if isinstance(node, Located) and key in node.key_lines:
        return node.key_lines[key]
    return line_of(node)
