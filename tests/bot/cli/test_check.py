"""`icpbot check` on a config with one typo, run as a user runs it: what it prints, line by line.

Each test copies the shipped config, makes the edit a user would make by
mistake on a named line of it, and reads check's whole output.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from bot.views.common import counted
from tests.support import icpbot

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def config(tmp_path: Path) -> Path:
    directory = tmp_path / "cfg"
    shutil.copytree(ROOT / "config", directory, ignore=shutil.ignore_patterns("sample"))
    return directory


def edit(config: Path, name: str, line: int, old: str, new: str) -> None:
    """Turn `old` into `new` on `line` of the copied file, as a slip of the keyboard would."""
    path = config / name
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    assert old in lines[line - 1], f"{name}:{line} no longer reads {old!r}: {lines[line - 1]!r}"
    lines[line - 1] = lines[line - 1].replace(old, new, 1)
    path.write_text("".join(lines), encoding="utf-8")


def check(config: Path) -> list[str]:
    """check's error output, one string a line; it must have refused the config."""
    done = icpbot("check", "--config-dir", str(config))
    assert done.returncode == 1, done.stdout
    assert "Traceback" not in done.stderr
    return done.stderr.splitlines()


def test_a_misspelt_operator_is_one_problem_at_its_own_line(config: Path) -> None:
    edit(config, "icp.yaml", 17, "in:", "inn:")
    assert check(config) == [
        f"error {config}/icp.yaml:17: midmarket-saas/industry: 'inn' is not an operator or key"
        " — did you mean 'in'?",
        "1 problem: the config was not loaded.",
    ]


def test_a_double_colon_after_why_is_one_problem_at_its_own_line(config: Path) -> None:
    edit(config, "icp.yaml", 19, "why:", "why::")
    assert check(config) == [
        f"error {config}/icp.yaml:19: midmarket-saas/industry: 'why:' is not an operator or key"
        " — did you mean 'why'? (a key takes a single colon)",
        "1 problem: the config was not loaded.",
    ]


def test_two_typos_are_two_problems(config: Path) -> None:
    edit(config, "icp.yaml", 17, "in:", "inn:")
    edit(config, "icp.yaml", 23, "between:", "betwen:")
    lines = check(config)
    assert [line.split(": ")[0].rsplit(":", 1)[1] for line in lines[:2]] == ["17", "23"]
    assert lines[2:] == ["2 problems: the config was not loaded."]


@pytest.mark.parametrize(
    ("count", "said"),
    [(1, "1 problem"), (2, "2 problems"), (3400, "3,400 problems"), (0, "0 problems")],
)
def test_the_count_of_problems_reads_as_every_count_does(count: int, said: str) -> None:
    assert counted(count, "problem") == said


def test_a_yaml_slip_is_explained_with_the_line_quoted(config: Path) -> None:
    with (config / "icp.yaml").open("a", encoding="utf-8") as icp:
        icp.write("  - id: x\n   bad indent: [\n")
    assert check(config) == [
        f"error {config}/icp.yaml:174:4: persona/x: not valid YAML: this line is indented 3 "
        "spaces, which lines up with none of the keys it could belong with (they are at 4 and "
        "0 spaces)",
        "  173 |   - id: x",
        "  174 |    bad indent: [",
        "      |    ^",
        "  fix: indent it by 4 spaces, to line up with 'id' on the line above",
        "  (the YAML parser says: expected <block end>, but found '<block mapping start>')",
        "1 problem: the config was not loaded.",
    ]


def test_a_colon_in_a_why_says_to_quote_it(config: Path) -> None:
    edit(config, "icp.yaml", 19, "why: Our playbooks and", "why: Our playbooks: and")
    lines = check(config)
    assert lines[0] == (
        f"error {config}/icp.yaml:19:27: midmarket-saas/industry: not valid YAML: a ':' inside "
        "the unquoted value of 'why': YAML reads it as the start of another key, which cannot "
        "go there"
    )
    assert lines[1:3] == [
        "  19 |         why: Our playbooks: and integrations are built for SaaS revenue teams.",
        "     |                           ^",
    ]
    assert lines[3] == (
        "  fix: quote the value: why: 'Our playbooks: and integrations are built for SaaS "
        "revenue teams.'"
    )


def test_a_message_with_brackets_keeps_them(config: Path) -> None:
    edit(config, "icp.yaml", 23, "[200, 800]", "[200]")
    assert check(config)[0] == (
        f"error {config}/icp.yaml:20: midmarket-saas/headcount: between: needs two numbers, "
        "[low, high]"
    )


@pytest.mark.parametrize(
    ("name", "line", "old", "new", "headline"),
    [
        pytest.param(
            "routing.yaml",
            20,
            "channel:",
            "chanel:",
            "routing.yaml:20: enterprise: 'chanel' is not a key here — did you mean 'channel'?",
            id="a misspelt key of a routing rule",
        ),
        pytest.param(
            "routing.yaml",
            19,
            "[A, B]}",
            "[A, B]",
            "routing.yaml:19:11: enterprise: not valid YAML: the '{' opened here is still open "
            "at line 20",
            id="a routing rule's '{' left open",
        ),
        pytest.param(
            "fields.yaml",
            18,
            "    name: name",
            "   name: name",
            "fields.yaml:18:4: hubspot/company: not valid YAML: this line is indented 3 spaces, "
            "which lines up with none of the keys it could belong with (they are at 4, 2 and 0 "
            "spaces)",
            id="fields.yaml misindented: not also every field of icp.yaml unknown",
        ),
        pytest.param(
            "digest.yaml",
            3,
            "timezone: ",
            "timezone ",
            "digest.yaml:3:1: not valid YAML: this line has no ':', so YAML reads it as a value, "
            "and keys cannot follow a value",
            id="a digest key without its colon",
        ),
    ],
)
def test_every_config_file_is_explained_alike_and_once(
    config: Path, name: str, line: int, old: str, new: str, headline: str
) -> None:
    edit(config, name, line, old, new)
    lines = check(config)
    assert lines[0] == f"error {config}/{headline}"
    assert lines[-1] == "1 problem: the config was not loaded."
