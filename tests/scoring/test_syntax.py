"""A config PyYAML cannot read, as `check` reports it: each common slip, made in the shipped
icp.yaml, is named as the slip it is, at its line and column, with the criterion the line
belongs to, the line quoted with a caret under the column, what to do, and PyYAML's own
words only as the last line.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from scoring.problems import ConfigError, Problem, load_yaml
from scoring.syntax.outline import owner, read_lines
from scoring.validation import parse_icp
from tests.scoring.support import FIELDS

SHIPPED = (Path(__file__).resolve().parents[2] / "config" / "icp.yaml").read_text()


def edited(line: int, old: str, new: str) -> str:
    """The shipped icp.yaml with `old` turned into `new` on `line`, as a slip would."""
    lines = SHIPPED.splitlines(keepends=True)
    assert old in lines[line - 1], f"icp.yaml:{line} no longer reads {old!r}"
    lines[line - 1] = lines[line - 1].replace(old, new, 1)
    return "".join(lines)


def reported(text: str) -> Problem:
    with pytest.raises(ConfigError) as raised:
        parse_icp(text, source="cfg/icp.yaml", fields=FIELDS)
    (problem,) = raised.value.problems  # one slip, one problem
    return problem


def slip(
    name: str, text: str, place: str, where: str, what: str, quoted: list[str], fix: str
) -> object:
    return pytest.param(text, place, where, what, quoted, fix, id=name)


SLIPS = [
    slip(
        "an entry appended with a key indented 3 spaces (between 2 and 4)",
        SHIPPED + "  - id: x\n   bad indent: [\n",
        "174:4",
        "persona/x",
        (
            "this line is indented 3 spaces, which lines up with none of the keys it could "
            "belong with (they are at 4 and 0 spaces)"
        ),
        [
            "  173 |   - id: x",
            "  174 |    bad indent: [",
            "      |    ^",
        ],
        "indent it by 4 spaces, to line up with 'id' on the line above",
    ),
    slip(
        "a key indented one space short",
        edited(18, "        weight", "       weight"),
        "18:8",
        "midmarket-saas/industry",
        (
            "this line is indented 7 spaces, which lines up with none of the keys it could "
            "belong with (they are at 8, 4 and 0 spaces)"
        ),
        [
            "  17 |         in: [software, saas, internet, computer software]",
            "  18 |        weight: 15",
            "     |        ^",
        ],
        "indent it by 8 spaces, to line up with 'in' on the line above",
    ),
    slip(
        "a key indented to the list's '-'",
        edited(18, "        weight", "      weight"),
        "18:7",
        "midmarket-saas/industry",
        (
            "this line is indented 6 spaces, like the '-' on line 14, where only a new list "
            "item ('- ') can start"
        ),
        [
            "  14 |       - id: industry",
            "     ...",
            "  18 |       weight: 15",
            "     |       ^",
        ],
        "indent it by 8 spaces, to line up with 'id' on line 14 and stay in that entry",
    ),
    slip(
        "a list item's '-' one space short",
        edited(20, "      - id: headcount", "     - id: headcount"),
        "20:6",
        "midmarket-saas/headcount",
        (
            "this list item's '-' is indented 5 spaces, which lines up with no '-' above it "
            "(the one on line 14 is at 6)"
        ),
        [
            "  14 |       - id: industry",
            "     ...",
            "  20 |      - id: headcount",
            "     |      ^",
        ],
        "indent its '-' by 6 spaces, to line up with the '-' on line 14",
    ),
    slip(
        "a ':' inside an unquoted why",
        edited(19, "why: Our playbooks and", "why: Our playbooks: and"),
        "19:27",
        "midmarket-saas/industry",
        (
            "a ':' inside the unquoted value of 'why': YAML reads it as the start of another "
            "key, which cannot go there"
        ),
        [
            (
                "  19 |         why: Our playbooks: and integrations are built for SaaS "
                "revenue teams."
            ),
            "     |                           ^",
        ],
        (
            "quote the value: why: 'Our playbooks: and integrations are built for SaaS revenue "
            "teams.'"
        ),
    ),
    slip(
        "a '[' never closed",
        edited(17, "computer software]", "computer software"),
        "17:13",
        "midmarket-saas/industry",
        "the '[' opened here is still open at line 18",
        [
            "  17 |         in: [software, saas, internet, computer software",
            "     |             ^",
            "  18 |         weight: 15",
        ],
        (
            "close it with ']' where the list ends; or, if it runs over several lines on "
            "purpose, end each of those lines but the last with a comma"
        ),
    ),
    slip(
        "a quote left open runs to the next quote",
        edited(154, "(sales|revenue|growth)\\b'", "(sales|revenue|growth)\\b"),
        "154:14",
        "persona/revenue-leader",
        (
            "the ' opened here is closed only on line 159, so YAML reads everything in between "
            "as one value"
        ),
        [
            (
                "  154 |     matches: '(?i)\\b(vp|vice "
                "president|head|director|chief|cro)\\b.*\\b(sales|revenue|growth)\\b"
            ),
            "      |              ^",
            "      ...",
            (
                "  159 |     matches: '(?i)\\b(rev(enue)?\\s*ops|revenue operations|sales "
                "operations|sales ops|marketing operations)\\b'"
            ),
        ],
        "close the quote on line 154, where its value ends",
    ),
    slip(
        "a tab indenting a key",
        edited(18, "        weight", "\tweight"),
        "18:1",
        "midmarket-saas/industry",
        "a tab character (shown as →): YAML does not accept tabs here, only spaces",
        [
            "  18 | →weight: 15",
            "     | ^",
        ],
        "indent it with 8 spaces instead, to line up with the line above",
    ),
    slip(
        "an apostrophe inside '...'",
        edited(
            19,
            "why: Our playbooks and integrations are built for SaaS revenue teams.",
            "why: 'Our team's playbooks'",
        ),
        "19:24",
        "midmarket-saas/industry",
        "more text follows the closing ' at column 23",
        [
            "  19 |         why: 'Our team's playbooks'",
            "     |                        ^",
        ],
        "inside '...' write a ' twice ('It''s'), or quote the whole value with \"...\"",
    ),
    slip(
        "an unquoted regex starting with '['",
        edited(
            154,
            "'(?i)\\b(vp|vice president|head|director|chief|cro)\\b.*\\b(sales|revenue|growth)\\b'",
            "[Vv]P.*sales",
        ),
        "154:18",
        "persona/revenue-leader",
        (
            "the value starts with '[', so YAML reads a list that ends at column 17, and then "
            "finds more text it cannot place"
        ),
        [
            "  154 |     matches: [Vv]P.*sales",
            "      |                  ^",
        ],
        "quote the value: matches: '[Vv]P.*sales'",
    ),
    slip(
        "a key with no colon",
        edited(18, "weight: 15", "weight 15"),
        "18:9",
        "midmarket-saas/industry",
        "YAML reads 'weight 15' as a key, but no ':' follows it",
        [
            "  18 |         weight 15",
            "     |         ^",
        ],
        (
            "write it as 'key: value', with a colon and a space after the key; or, if it goes "
            "on with the value above, indent it further than the key above"
        ),
    ),
    slip(
        "a '{' never closed",
        edited(8, "C: 40}", "C: 40"),
        "8:8",
        "tiers",
        "the '{' opened here is still open at line 10",
        [
            "   8 | tiers: {A: 80, B: 60, C: 40",
            "     |        ^",
            "     ...",
            "  10 | profiles:",
        ],
        (
            "close it with '}' where the mapping ends; or, if it runs over several lines on "
            "purpose, end each of those lines but the last with a comma"
        ),
    ),
    slip(
        "a key indented less than its entry, so the next line continues its value",
        edited(18, "        weight", "    weight"),
        "18:5",
        "midmarket-saas/industry",
        (
            "'weight' is indented 4 spaces while the lines around it are at 8, so YAML reads "
            "line 19 as more of its value, and a value cannot hold 'key:'"
        ),
        [
            "  17 |         in: [software, saas, internet, computer software]",
            "  18 |     weight: 15",
            "     |     ^",
            (
                "  19 |         why: Our playbooks and integrations are built for SaaS revenue "
                "teams."
            ),
        ],
        "indent it by 8 spaces, like the lines around it",
    ),
    slip(
        "a regex in double quotes",
        edited(
            154,
            "'(?i)\\b(vp|vice president|head|director|chief|cro)\\b.*\\b(sales|revenue|growth)\\b'",
            '"(?i)\\s*vp"',
        ),
        "154:19",
        "persona/revenue-leader",
        "'\\s' is not an escape YAML knows inside \"...\"",
        [
            '  154 |     matches: "(?i)\\s*vp"',
            "      |                   ^",
        ],
        (
            "quote the value with single quotes ('...'), where a backslash is just a "
            "backslash, as a regular expression needs"
        ),
    ),
    slip(
        "a control character",
        edited(19, "teams.", "teams.\x0c"),
        "19:78",
        "midmarket-saas/industry",
        "a control character (#x000C) YAML does not accept",
        [
            (
                "  19 |         why: Our playbooks and integrations are built for SaaS revenue "
                "teams.␌"
            ),
            "     | " + " " * 77 + "^",
        ],
        "delete it (copying text from a document or a chat can bring one along)",
    ),
    slip(
        "a second document",
        edited(9, "\n", "---\n"),
        "9:1",
        "",
        "a second YAML document starts here, and a config file holds one",
        [
            "  9 | ---",
            "    | ^",
        ],
        "delete this '---' line, and whatever after it does not belong in this file",
    ),
]


@pytest.mark.parametrize(("text", "place", "where", "what", "quoted", "fix"), SLIPS)
def test_a_syntax_slip_is_said_in_plain_words(
    text: str, place: str, where: str, what: str, quoted: list[str], fix: str
) -> None:
    headline, *rest = str(reported(text)).splitlines()
    named = f"{where}: " if where else ""
    assert headline == f"cfg/icp.yaml:{place}: {named}not valid YAML: {what}"
    assert rest[:-1] == [*quoted, f"  fix: {fix}"]
    assert rest[-1].startswith("  (the YAML parser says: ")


@pytest.mark.parametrize(("text", "place", "where", "what", "quoted", "fix"), SLIPS)
def test_the_caret_stands_under_the_column_the_headline_names(
    text: str, place: str, where: str, what: str, quoted: list[str], fix: str
) -> None:
    problem = reported(text)
    line, column = (int(n) for n in place.split(":"))
    assert (problem.line, problem.column) == (line, column)
    numbered = next(i for i, q in enumerate(quoted) if re.match(rf"\s*{line} \| ", q))
    row, caret = quoted[numbered], quoted[numbered + 1]
    gutter = row.index("| ") + 2
    assert caret.index("^") - gutter == column - 1
    assert caret[:gutter].strip() == "|"


@pytest.mark.parametrize(
    ("text", "words"),
    [
        pytest.param("a:\n  [x]: 1\n", "a key cannot be a list or a mapping", id="list as a key"),
        pytest.param(
            "a: 1\n  b: 2\n", "indented more than 'a' on the line above", id="over-indented"
        ),
        pytest.param("a:\n  b: 1\n -c\n", "", id="anything else still has a line"),
    ],
)
def test_no_yaml_text_raises_instead_of_reporting(text: str, words: str) -> None:
    data, (problem,) = load_yaml(text, "f.yaml")
    assert data is None and problem.line is not None
    assert words in problem.message


@pytest.mark.parametrize(
    ("text", "line", "named"),
    [
        pytest.param(SHIPPED, 17, "midmarket-saas/industry", id="a criterion's key"),
        pytest.param(SHIPPED, 14, "midmarket-saas/industry", id="a criterion's own line"),
        pytest.param(SHIPPED, 12, "midmarket-saas", id="a profile's key"),
        pytest.param(SHIPPED, 134, "enterprise-salesforce/disqualify/below-enterprise", id="dq"),
        pytest.param(SHIPPED, 140, "disqualify/customer", id="a top-level disqualifier"),
        pytest.param(SHIPPED, 155, "persona/revenue-leader", id="a persona criterion"),
        pytest.param(SHIPPED, 8, "tiers", id="a top-level key"),
        pytest.param(
            "profiles:\n  - {id: core, name: Core}\n  - id: next\n", 2, "core", id="flow item"
        ),
        pytest.param("rules:\n  - id: hot\n    when: {tier: A}\n", 3, "hot", id="a rule"),
        pytest.param("hubspot:\n  company:\n    industry: x\n", 3, "hubspot/company", id="fields"),
    ],
)
def test_a_line_is_named_as_the_validators_name_its_criterion(
    text: str, line: int, named: str
) -> None:
    assert owner(read_lines(text), line) == named


def follow(text: str, problem: Problem) -> list[str]:
    """`text` after doing what the problem's fix line says, once for each way it offers;
    none when the fix is advice to check rather than one edit to make."""
    fix = next(line for line in str(problem).splitlines() if line.startswith("  fix: "))
    lines = text.splitlines(keepends=True)
    at, column = (problem.line or 0) - 1, (problem.column or 0) - 1
    row = lines[at]
    body = len(row) - len(row.lstrip(" -\t"))  # where the key starts, after any '- '
    end = len(row.split(" #")[0].rstrip())  # where the value ends, before any comment

    def with_line(index: int, new: str) -> str:
        return "".join([*lines[:index], new, *lines[index + 1 :]])

    def indented(index: int, spaces: int) -> str:
        return with_line(index, " " * spaces + lines[index].lstrip(" \t"))

    def inserted(index: int, position: int, new: str) -> str:
        return with_line(index, lines[index][:position] + new + lines[index][position:])

    if found := re.search(r"this one by (\d+) spaces?, or line (\d+) by (\d+)", fix):
        return [indented(at, int(found[1])), indented(int(found[2]) - 1, int(found[3]))]
    if found := re.search(r"indent (?:it|its '-') (?:by|with) (\d+)", fix):
        return [indented(at, int(found[1]))]
    if found := re.search(r"quote the value: (.+)$|put ': ' after it: '(.+)'$", fix):
        return [with_line(at, row[:body] + (found[1] or found[2]) + "\n")]
    if found := re.search(r"close the quote on line (\d+)", fix):
        index = int(found[1]) - 1
        closing = len(lines[index].split(" #")[0].rstrip())
        return [inserted(index, closing, row[column])]
    if found := re.search(r"close it with '(.)' before", fix):
        return [inserted(at, column, found[1])]
    if found := re.search(r"close it with '(.)'|add the closing (\S)", fix):
        return [inserted(at, end, found[1] or found[2])]
    if found := re.search(r"put a space after the '-' on line (\d+)", fix):
        index = int(found[1]) - 1
        return [inserted(index, lines[index].index("-") + 1, " ")]
    if "write a ' twice" in fix:
        closing = int(re.search(r"closing ' at column (\d+)", problem.message)[1]) - 1
        return [inserted(at, closing, "'")]
    if "quote the value with single quotes" in fix:
        return [with_line(at, row.replace('"', "'"))]
    if "write it as 'key: value'" in fix:
        return [inserted(at, row.index(" ", body), ":")]
    if found := re.search(r"indent line (\d+) by (\d+)", fix):
        return [indented(int(found[1]) - 1, int(found[2]))]
    if "delete the tab" in fix:
        return [with_line(at, row.replace("\t", ""))]
    if "replace the tab" in fix:
        return [with_line(at, row.replace("\t", " "))]
    if "start the first line at the left edge" in fix:
        return [indented(at, 0)]
    if "delete this '---' line" in fix:
        return [with_line(at, "")]
    if "delete the extra" in fix or "delete it" in fix:
        return [with_line(at, row[:column] + row[column + 1 :])]
    return []


@pytest.mark.parametrize(("text", "place", "where", "what", "quoted", "fix"), SLIPS)
def test_doing_what_the_fix_says_mends_the_file(
    text: str, place: str, where: str, what: str, quoted: list[str], fix: str
) -> None:
    problem = reported(text)
    assert follow(text, problem), "every slip above has a fix that is one edit"
    for mended in follow(text, problem):
        data, problems = load_yaml(mended, "cfg/icp.yaml")
        left = [f"{p.line}:{p.column}" for p in problems if "not valid YAML" in p.message]
        assert left == ([UNCLOSED_AFTER_APPENDED] if place == "174:4" else [])
        assert (data is None) == bool(left)


# The appended entry holds a second slip, `[` never closed, reported once the first is mended.
UNCLOSED_AFTER_APPENDED = "174:17"


SLIPS_OF_THE_KEYBOARD = {
    "one space more": lambda line: " " + line,
    "one space less": lambda line: line[1:] if line.startswith(" ") else None,
    "two spaces more": lambda line: "  " + line,
    "two spaces less": lambda line: line[2:] if line.startswith("  ") else None,
    "a tab for the indentation": lambda line: "\t" + line.lstrip(" "),
    "a colon doubled": lambda line: line.replace(": ", ":: ", 1) if ": " in line else None,
    "a closing bracket dropped": lambda line: _drop_last(line, "]}"),
    "a closing quote dropped": lambda line: _drop_last(line, "'\""),
    "a second colon in the value": lambda line: line.rstrip("\n") + ": x\n",
}


def _drop_last(line: str, characters: str) -> str | None:
    at = max(line.rfind(c) for c in characters)
    return line[:at] + line[at + 1 :] if at >= 0 else None


# The shipped icp.yaml's lines of every shape: a flow mapping, a profile, a criterion's
# first line, a flow list, a why, a disqualifier, a quoted regex, the last line.
SHAPES = (8, 11, 14, 17, 19, 132, 154, 172)


@pytest.mark.parametrize("slip", sorted(SLIPS_OF_THE_KEYBOARD))
def test_each_slip_on_each_shape_of_line_is_placed_and_mended_by_its_fix(slip: str) -> None:
    lines = SHIPPED.splitlines(keepends=True)
    for number in SHAPES:
        slipped = SLIPS_OF_THE_KEYBOARD[slip](lines[number - 1])
        if slipped is None:
            continue
        text = "".join([*lines[: number - 1], slipped, *lines[number:]])
        data, problems = load_yaml(text, "cfg/icp.yaml")
        if data is not None:
            continue  # still YAML (a doubled colon makes a key 'why:'): validation's to say
        (problem,) = problems
        assert problem.line and problem.column, (number, str(problem))
        assert "could not read" not in problem.message, (number, str(problem))
        for mended in follow(text, problem):
            _, after = load_yaml(mended, "cfg/icp.yaml")
            moved = [(p.line, p.column) for p in after if "not valid YAML" in p.message]
            assert (problem.line, problem.column) not in moved, (number, str(problem), moved)
