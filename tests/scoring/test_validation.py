"""`icpbot check` on icp.yaml: every problem names the file, the criterion id and what is wrong.

Criterion rows add one criterion (`headcount` unless the row says) to a
valid one-profile file; it starts on line 13, the line the problem names.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from textwrap import dedent, indent

import pytest

from bot.config import load_config
from scoring.model import OPERATORS, Condition
from scoring.problems import ConfigError, Problem
from scoring.validation import parse_icp
from tests.scoring.support import FIELDS, TODAY

SOURCE = "config/icp.yaml"
CONFIG_DIR = Path(__file__).resolve().parents[2] / "config"

HEAD = """\
version: 1
reviewed_on: 2026-09-01
profiles:
  - id: core
    name: Core
    criteria:
      - id: industry
        layer: firmographic
        field: industry
        in: [software]
        weight: 50
        why: SaaS revenue teams.
"""
ADDED_LINE = 13


def with_criterion(block: str) -> str:
    return HEAD + indent(dedent(block), " " * 6)


def parse(text: str, *, today: date = TODAY):
    return parse_icp(dedent(text), source=SOURCE, fields=FIELDS, today=today)


def problems_of(text: str) -> list[Problem]:
    with pytest.raises(ConfigError) as raised:
        parse(text)
    assert raised.value.problems, "ConfigError without problems"
    return raised.value.problems


def find(problems: list[Problem], where: str, *fragments: str) -> Problem:
    for problem in problems:
        if problem.where == where and all(f in problem.message for f in fragments):
            return problem
    raise AssertionError(f"no problem at {where!r} saying {fragments}; got {problems}")


def crit(block: str, *fragments: str, where: str = "core/headcount", id: str, line=ADDED_LINE):
    return pytest.param(block, where, fragments, line, id=id)


CRITERION_PROBLEMS = [
    crit(
        """\
        - {id: headcount, layer: firmographic, field: employees, betwen: [200, 800], weight: 50,
           why: Size.}
        """,
        "'betwen' is not an operator or key — did you mean 'between'?",
        id="unknown operator, with a did-you-mean",
    ),
    crit(
        """\
        - {id: headcount, layer: firmographic, field: employees, greater_than: 200, weight: 50,
           why: Size.}
        """,
        "'greater_than' is not an operator or key — the operators are equals, in, not_in,",
        id="unknown operator, nothing close",
    ),
    crit(
        """\
        - {id: headcount, layer: firmographic, field: employes, gte: 200, weight: 50, why: Size.}
        """,
        "unknown field 'employes'",
        "did you mean 'employees'?",
        id="unknown field, with a did-you-mean",
    ),
    crit(
        """\
        - {id: headcount, layer: firmographic, field: arr_band, gte: 2, weight: 50, why: Size.}
        """,
        "unknown field 'arr_band'",
        "fields.yaml",
        id="undeclared custom field points to fields.yaml",
    ),
    crit(
        """\
        - {id: headcount, layer: operational, field: job_title, matches: '(vp|head', weight: 50,
           why: Leaders.}
        """,
        "bad regular expression",
        "'(vp|head'",
        id="bad regex",
    ),
    crit(
        """\
        - {id: headcount, layer: firmographic, field: employees, gte: 200, lte: 800, weight: 50,
           why: Size.}
        """,
        "exactly one operator",
        "gte, lte",
        id="two operators in one criterion",
    ),
    crit(
        """\
        - {id: headcount, layer: firmographic, field: employees, weight: 50, why: Size.}
        """,
        "exactly one operator",
        "none",
        id="no operator",
    ),
    crit(
        """\
        - {id: headcount, layer: firmographic, field: employees, gte: 200, weight: 50}
        """,
        "why is missing",
        id="missing why",
    ),
    crit(
        """\
        - {id: headcount, layer: firmographic, field: employees, gte: 200, weight: 50, why: ' '}
        """,
        "why is missing",
        id="blank why",
    ),
    crit(
        """\
        - {id: headcount, layer: firmographic, field: employees, gte: 200, weight: 0, why: Size.}
        """,
        "weight 0",
        "non-zero",
        id="zero weight",
    ),
    crit(
        """\
        - {id: headcount, layer: firmographic, field: employees, gte: 200, weight: high,
           why: Size.}
        """,
        "weight 'high'",
        id="weight that is not a number",
    ),
    crit(
        """\
        - {id: headcount, layer: negative, field: employees, lte: 20, weight: 30, why: Small.}
        """,
        "negative criteria need a negative weight",
        id="negative layer with positive weight",
    ),
    crit(
        """\
        - {id: headcount, layer: firmographic, field: employees, lte: 20, weight: -30,
           why: Small.}
        """,
        "negative criteria need a negative weight, and only they",
        id="positive layer with negative weight",
    ),
    crit(
        """\
        - {id: headcount, layer: firmografic, field: employees, gte: 200, weight: 50, why: Size.}
        """,
        "unknown layer 'firmografic'",
        "did you mean 'firmographic'?",
        id="unknown layer, with a did-you-mean",
    ),
    crit(
        """\
        - {id: headcount, layer: firmographic, field: industry, between: [1, 5], weight: 50,
           why: Size.}
        """,
        "'between' does not apply to industry, a string field",
        id="between on industry (a string field)",
    ),
    crit(
        """\
        - {id: headcount, layer: firmographic, field: industry, contains_any: [saas], weight: 50,
           why: Size.}
        """,
        "'contains_any' does not apply to industry, a string field",
        id="contains_any on a string field",
    ),
    crit(
        """\
        - {id: headcount, layer: technographic, field: technologies, in: [hubspot], weight: 50,
           why: CRM.}
        """,
        "'in' does not apply to technologies, a list field",
        "use contains_any",
        id="in on a list field suggests contains_any",
    ),
    crit(
        """\
        - {id: headcount, layer: behavioral, field: employees, within_days: 90, weight: 50,
           why: Size.}
        """,
        "'within_days' does not apply to employees, a number field",
        id="within_days on a number field",
    ),
    crit(
        """\
        - {id: headcount, layer: operational, field: has_revops, gte: 1, weight: 50, why: RevOps.}
        """,
        "'gte' does not apply to has_revops, a boolean field",
        id="gte on a boolean field",
    ),
    crit(
        """\
        - {id: headcount, layer: firmographic, field: employees, between: [800, 200], weight: 50,
           why: Size.}
        """,
        "between",
        "low 800 is above high 200",
        id="between with low > high",
    ),
    crit(
        """\
        - {id: headcount, layer: firmographic, field: employees, between: [200], weight: 50,
           why: Size.}
        """,
        "between",
        "two numbers",
        id="between with one number",
    ),
    crit(
        """\
        - {id: headcount, layer: firmographic, field: employees, between: [a, z], weight: 50,
           why: Size.}
        """,
        "between",
        "two numbers",
        id="between with text",
    ),
    crit(
        """\
        - {id: headcount, layer: behavioral, field: last_funding_at, within_days: 0, weight: 50,
           why: Fresh.}
        """,
        "within_days",
        "positive whole number of days",
        id="within_days 0",
    ),
    crit(
        """\
        - {id: headcount, layer: behavioral, field: last_funding_at, within_days: -30,
           weight: 50, why: Fresh.}
        """,
        "within_days",
        "positive whole number of days",
        id="within_days negative",
    ),
    crit(
        """\
        - {id: headcount, layer: behavioral, field: last_funding_at, within_days: a year,
           weight: 50, why: Fresh.}
        """,
        "within_days",
        "positive whole number of days",
        id="within_days as words",
    ),
    crit(
        """\
        - {id: headcount, layer: firmographic, field: employees, gte: many, weight: 50,
           why: Size.}
        """,
        "gte",
        "needs a number",
        id="gte with text",
    ),
    crit(
        """\
        - {id: headcount, layer: operational, field: has_revops, equals: yes, weight: 50,
           why: RevOps.}
        """,
        "true or false",
        id="equals yes on a boolean field (only true/false are booleans)",
    ),
    crit(
        """\
        - {id: headcount, layer: firmographic, field: industry, in: [], weight: 50, why: Size.}
        """,
        "non-empty list",
        id="in with an empty list",
    ),
    crit(
        """\
        - {id: headcount, layer: firmographic, field: funding_stage, exists: maybe, weight: 50,
           why: Funded.}
        """,
        "exists",
        "true or false",
        id="exists with neither true nor false",
    ),
    crit(
        """\
        - {id: industry, layer: firmographic, field: employees, gte: 200, weight: 50, why: Size.}
        """,
        "duplicate id 'industry'",
        where="core/industry",
        line=None,
        id="duplicate criterion id",
    ),
    crit(
        """\
        - {id: head count, layer: firmographic, field: employees, gte: 200, weight: 50,
           why: Size.}
        """,
        "id 'head count'",
        where="core[1]",
        id="criterion id that is not a word",
    ),
]


@pytest.mark.parametrize(("block", "where", "fragments", "line"), CRITERION_PROBLEMS)
def test_criterion_problem(
    block: str, where: str, fragments: tuple[str, ...], line: int | None
) -> None:
    problem = find(problems_of(with_criterion(block)), where, *fragments)
    assert problem.source == SOURCE
    assert not problem.warning
    if line is not None:
        assert problem.line == line


def icp_file(profiles: str, rest: str = "", *, tiers: str = "{A: 80, B: 60, C: 40}") -> str:
    return f"version: 1\nreviewed_on: 2026-09-01\ntiers: {tiers}\nprofiles:\n{profiles}{rest}"


def profile(pid: str, *criteria: str, disqualify: str = "") -> str:
    body = "".join(f"      - {c}\n" for c in criteria or (GOOD,))
    dq = f"    disqualify:\n{disqualify}" if disqualify else ""
    return f"  - id: {pid}\n    name: {pid.title()}\n    criteria:\n{body}{dq}"


GOOD = "{id: industry, layer: firmographic, field: industry, in: [saas], weight: 50, why: Fit.}"
MIDSIZE = (
    "{id: headcount, layer: firmographic, field: employees, between: [200, 800], weight: 25,"
    " why: Size.}"
)
ENTERPRISE = (
    "{id: enterprise, layer: firmographic, field: employees, gte: 1000, weight: 25, why: Big.}"
)
PUBLIC = "{id: public, layer: negative, field: industry, in: [government], weight: -30, why: Slow.}"
CUSTOMER = "  - {id: customer, field: lifecycle_stage, equals: customer, why: Customer.}\n"
TOO_SMALL = "      - {id: too-small, field: employees, lte: 20, why: Small.}\n"
LEADER = "  - {id: leader, field: job_title, matches: '(?i)vp', weight: 50, why: Buyer.}\n"


def whole(text: str, where: str, *fragments: str, id: str):
    return pytest.param(text, where, fragments, id=id)


FILE_PROBLEMS = [
    whole(
        icp_file(profile("core") + profile("core")),
        "profiles/core",
        "duplicate id 'core'",
        id="duplicate profile ids",
    ),
    whole(
        icp_file(profile("core"), "disqualify:\n" + CUSTOMER + CUSTOMER),
        "disqualify/customer",
        "duplicate id 'customer'",
        id="duplicate top-level disqualifier ids",
    ),
    whole(
        icp_file(profile("core", disqualify=TOO_SMALL + TOO_SMALL)),
        "core/disqualify/too-small",
        "duplicate id 'too-small'",
        id="duplicate disqualifier ids in a profile",
    ),
    whole(
        icp_file(profile("core", disqualify=TOO_SMALL.replace("too-small", "industry"))),
        "core/industry",
        "duplicate id 'industry'",
        id="a profile's disqualifier sharing a criterion's id",
    ),
    whole(
        icp_file(profile("core"), "persona:\n" + LEADER + LEADER),
        "persona/leader",
        "duplicate id 'leader'",
        id="duplicate persona ids",
    ),
    whole(
        icp_file(profile("core"), tiers="{A: 60, B: 70, C: 40}"),
        "tiers",
        "must fall from A to C",
        id="tiers not falling: B above A",
    ),
    whole(
        icp_file(profile("core"), tiers="{A: 80, B: 60, C: 60}"),
        "tiers",
        "must fall from A to C",
        id="tiers not falling: C equal to B",
    ),
    whole(
        icp_file(profile("core"), tiers="{A: 180, B: 60, C: 40}"),
        "tiers",
        "1 to 100",
        id="tier minimum above 100",
    ),
    whole(
        icp_file(profile("p1") + profile("p2") + profile("p3") + profile("p4")),
        "profiles",
        "4 profiles",
        "at most 3",
        id="more than 3 profiles",
    ),
    whole(
        icp_file(profile("core", GOOD, MIDSIZE, ENTERPRISE)),
        "core",
        "can score at most 75, below tier A (80)",
        "headcount and enterprise can never all match",
        id="mutually exclusive criteria on one field: can never reach tier A",
    ),
    whole(
        icp_file(profile("core", PUBLIC)),
        "core",
        "no criterion has a positive weight",
        id="profile with no positive weight",
    ),
    whole(
        icp_file(profile("core"), "persona:\n" + LEADER.replace("50", "-50")),
        "persona",
        "no persona criterion has a positive weight",
        id="persona with no positive weight",
    ),
    whole(
        icp_file(profile("core")).replace("version: 1", "version: latest"),
        "version",
        "positive whole number",
        id="version that is not a number",
    ),
    whole(
        icp_file(profile("core")).replace("profiles:", "profile:"),
        "",
        "'profile' is not a key here — did you mean 'profiles'?",
        id="misspelt top-level key",
    ),
    whole(
        icp_file(profile("core", disqualify=TOO_SMALL.replace("}", ", weight: 5}"))),
        "core/disqualify/too-small",
        "a disqualifier has no weight",
        id="a disqualifier with a weight",
    ),
]


@pytest.mark.parametrize(("text", "where", "fragments"), FILE_PROBLEMS)
def test_file_problem(text: str, where: str, fragments: tuple[str, ...]) -> None:
    problem = find(problems_of(text), where, *fragments)
    assert problem.source == SOURCE


def test_the_shipped_icp_passes_check() -> None:
    config = load_config(CONFIG_DIR, today=date(2026, 10, 1))
    assert config.warnings == ()
    assert [p.id for p in config.icp.profiles] == ["midmarket-saas", "enterprise-salesforce"]


def test_every_error_is_reported_in_one_pass() -> None:
    text = with_criterion(
        """\
        - {id: zero, layer: firmographic, field: employees, gte: 200, weight: 0, why: Size.}
        - {id: silent, layer: firmographic, field: country, in: [US], weight: 10}
        - {id: broken, layer: operational, field: job_title, matches: '[a-', weight: 10,
           why: Titles.}
        """
    )
    problems = problems_of(text)
    assert [(p.where, p.line) for p in problems] == [
        ("core/zero", 13),
        ("core/silent", 14),
        ("core/broken", 15),
    ]
    assert "weight 0" in problems[0].message
    assert "why is missing" in problems[1].message
    assert "bad regular expression" in problems[2].message


def test_problem_reads_path_line_where_message() -> None:
    text = with_criterion(
        """\
        - {id: headcount, layer: firmographic, field: employees, between: [800, 200], weight: 50,
           why: Size.}
        """
    )
    (problem,) = problems_of(text)
    assert str(problem) == "config/icp.yaml:13: core/headcount: between: low 800 is above high 200"


def test_config_error_message_lists_every_problem() -> None:
    with pytest.raises(ConfigError) as raised:
        parse(with_criterion("- {id: headcount, field: employees, gte: 200, weight: 0}\n"))
    assert str(raised.value).splitlines() == [str(p) for p in raised.value.problems]
    assert len(raised.value.problems) >= 3  # layer, weight and why are all reported


# --- a misspelt key: one problem, at the key's own line ---

BLOCK = """\
- id: headcount
  layer: firmographic
  field: employees
  between: [200, 800]
  weight: 50
  why: Size.
"""  # lines 13 to 18


def misspelt(old: str, new: str) -> list[Problem]:
    return problems_of(with_criterion(BLOCK.replace(old, new, 1)))


@pytest.mark.parametrize(
    ("old", "new", "line", "message"),
    [
        pytest.param(
            "between:",
            "betwen:",
            16,
            "'betwen' is not an operator or key — did you mean 'between'?",
            id="operator",
        ),
        pytest.param(
            "why:",
            "why::",
            18,
            "'why:' is not an operator or key — did you mean 'why'? (a key takes a single colon)",
            id="why with a double colon",
        ),
        pytest.param(
            "weight:",
            "wieght:",
            17,
            "'wieght' is not an operator or key — did you mean 'weight'?",
            id="weight",
        ),
        pytest.param(
            "field:",
            "feild:",
            15,
            "'feild' is not an operator or key — did you mean 'field'?",
            id="field",
        ),
        pytest.param(
            "layer:",
            "Layer:",
            14,
            "'Layer' is not an operator or key — did you mean 'layer'?",
            id="layer with a capital",
        ),
    ],
)
def test_a_misspelt_criterion_key_is_one_problem_at_its_line(
    old: str, new: str, line: int, message: str
) -> None:
    """What the key's absence would also say (no operator, no why) is the same mistake."""
    (problem,) = misspelt(old, new)
    assert (problem.line, problem.where, problem.message) == (line, "core/headcount", message)
    assert str(problem) == f"{SOURCE}:{line}: core/headcount: {message}"


def test_a_criterion_with_no_operator_at_all_still_says_so() -> None:
    (problem,) = problems_of(with_criterion(BLOCK.replace("  between: [200, 800]\n", "")))
    assert (problem.line, problem.message) == (13, "needs exactly one operator (found none)")


def test_an_unknown_key_beside_no_operator_does_not_hide_that_there_is_none() -> None:
    problems = misspelt("between: [200, 800]", "note: sized")
    assert [(p.line, p.message) for p in problems] == [
        (16, "'note' is not an operator or key — the operators are " + ", ".join(OPERATORS)),
        (13, "needs exactly one operator (found none)"),
    ]


def test_a_misspelt_operator_beside_a_real_one_is_only_the_misspelling() -> None:
    problems = misspelt("  weight:", "  gtee: 5\n  weight:")
    assert [(p.line, p.message) for p in problems] == [
        (17, "'gtee' is not an operator or key — did you mean 'gte'?")
    ]


def test_two_operators_are_still_two_operators() -> None:
    (problem,) = misspelt("  weight:", "  gte: 5\n  weight:")
    assert (problem.line, problem.message) == (
        13,
        "needs exactly one operator (found between, gte)",
    )


def test_a_misspelt_disqualifier_operator_is_one_problem_at_its_line() -> None:
    text = icp_file(
        profile("core"),
        "disqualify:\n  - id: customer\n    field: lifecycle_stage\n"
        "    equal: customer\n    why: Customer.\n",
    )
    (problem,) = problems_of(text)
    assert str(problem) == (
        f"{SOURCE}:12: disqualify/customer: 'equal' is not an operator or key"
        " — did you mean 'equals'?"
    )


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        pytest.param(
            "profiles:",
            "profile:",
            "config/icp.yaml:3: 'profile' is not a key here — did you mean 'profiles'?",
            id="profiles",
        ),
        pytest.param(
            "version: 1",
            "verison: 1",
            "config/icp.yaml:1: 'verison' is not a key here — did you mean 'version'?",
            id="version",
        ),
        pytest.param(
            "    criteria:",
            "    criterias:",
            "config/icp.yaml:6: core: 'criterias' is not a key here — did you mean 'criteria'?",
            id="a profile's criteria",
        ),
    ],
)
def test_a_misspelt_file_or_profile_key_is_one_problem_at_its_line(
    old: str, new: str, expected: str
) -> None:
    (problem,) = problems_of(with_criterion("").replace(old, new, 1))
    assert str(problem) == expected


def test_without_fields_yaml_field_names_go_unchecked_but_the_rest_does_not() -> None:
    """fields.yaml did not load: its problem is the one to report, not every field unknown."""
    text = with_criterion(
        "- {id: headcount, layer: firmographic, field: employees, between: [9, 1], weight: 50,"
        " why: Size.}\n"
    )
    with pytest.raises(ConfigError) as raised:
        parse_icp(text, source=SOURCE, fields=None)
    assert [str(p) for p in raised.value.problems] == [
        f"{SOURCE}:13: core/headcount: between: low 9 is above high 1"
    ]


# --- the YAML itself ---

DUPLICATE_KEY = with_criterion(
    """\
    - id: headcount
      layer: firmographic
      field: employees
      gte: 200
      weight: 50
      weight: 40
      why: Size.
    """
)


def test_duplicate_yaml_key_is_an_error_with_its_line() -> None:
    problems = problems_of(DUPLICATE_KEY)
    problem = next(p for p in problems if "duplicate key 'weight'" in p.message)
    assert (problem.source, problem.line, problem.warning) == (SOURCE, 18, False)
    assert "duplicate key 'weight' (first on line 17)" in problem.message


def test_duplicate_yaml_key_names_the_criterion() -> None:
    problems = problems_of(DUPLICATE_KEY)
    find(problems, "core/headcount", "duplicate key 'weight'")


@pytest.mark.parametrize(
    ("text", "place", "what"),
    [
        pytest.param(
            "version: 1\nprofiles:\n  - id: a\n   name: x\n",
            "4:4: a",
            "this line is indented 3 spaces, which lines up with none of the keys",
            id="bad indentation",
        ),
        pytest.param(
            "version: 1\ntiers: {A: 80, B: 60\nprofiles: []\n",
            "2:8: tiers",
            "the '{' opened here is still open at line 3",
            id="unclosed brace, named where it opens",
        ),
        pytest.param(
            "version: 1\nprofiles: [\n",
            "2:11: profiles",
            "the '[' opened here is still open at the end of the file",
            id="unclosed list at end of file",
        ),
        pytest.param(
            "version: 1\n\tprofiles: []\n",
            "2:1",
            "a tab character (shown as →)",
            id="tab indentation",
        ),
    ],
)
def test_invalid_yaml_names_the_line_and_column(text: str, place: str, what: str) -> None:
    (problem,) = problems_of(text)
    assert str(problem).startswith(f"{SOURCE}:{place}: not valid YAML: {what}")


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        pytest.param("", "empty", id="empty file"),
        pytest.param("- just\n- a list\n", "must be a mapping", id="a list, not a mapping"),
    ],
)
def test_unusable_file(text: str, fragment: str) -> None:
    (problem,) = problems_of(text)
    assert fragment in problem.message


@pytest.mark.parametrize(
    ("listed", "expected"),
    [
        pytest.param("[SE, NO, DK]", ("SE", "NO", "DK"), id="NO stays Norway"),
        pytest.param("[no, yes]", ("no", "yes"), id="no and yes stay text"),
        pytest.param("[ON, OFF, Y, N]", ("ON", "OFF", "Y", "N"), id="on/off/y/n stay text"),
    ],
)
def test_only_true_and_false_are_booleans(listed: str, expected: tuple[str, ...]) -> None:
    text = with_criterion(
        f"- {{id: nordics, layer: firmographic, field: country, in: {listed}, weight: 10,"
        " why: Region.}\n"
    )
    icp, _ = parse(text)
    assert icp.profiles[0].criteria[1].condition == Condition("country", "in", expected)


def test_true_is_still_a_boolean() -> None:
    text = with_criterion(
        "- {id: revops, layer: operational, field: has_revops, equals: true, weight: 10,"
        " why: Owner.}\n"
    )
    icp, _ = parse(text)
    assert icp.profiles[0].criteria[1].condition.operand is True


# --- reviewed_on: stale is a warning, never an error ---


@pytest.mark.parametrize(
    ("age_days", "warned"),
    [
        pytest.param(0, False, id="reviewed today"),
        pytest.param(90, False, id="90 days old: fine"),
        pytest.param(91, True, id="91 days old: warning"),
        pytest.param(400, True, id="400 days old: warning"),
    ],
)
def test_stale_review_is_a_warning(age_days: int, warned: bool) -> None:
    today = date(2026, 9, 1) + timedelta(days=age_days)
    icp, warnings = parse(with_criterion(""), today=today)
    assert icp.reviewed_on == date(2026, 9, 1)
    stale = [w for w in warnings if w.where == "reviewed_on"]
    assert bool(stale) is warned
    for warning in stale:
        assert warning.warning
        assert f"{age_days} days" in warning.message
        assert str(warning).startswith(f"{SOURCE}:1: warning: reviewed_on: ")


def test_stale_review_does_not_hide_errors() -> None:
    text = with_criterion("- {id: headcount, layer: firmographic, field: employees, gte: 1}\n")
    with pytest.raises(ConfigError) as raised:
        parse(text, today=date(2028, 1, 1))
    assert all(not p.warning for p in raised.value.problems)
    assert raised.value.problems


@pytest.mark.parametrize("written", ["'2026-09-01'", '"2026-09-01"', "2026-09-01"])
def test_reviewed_on_may_be_quoted_as_tools_write_yaml(written: str) -> None:
    text = with_criterion("").replace("reviewed_on: 2026-09-01", f"reviewed_on: {written}")
    icp, _ = parse(text, today=date(2026, 9, 2))
    assert icp.reviewed_on == date(2026, 9, 1)


def test_reviewed_on_that_is_not_a_date_says_what_is_expected() -> None:
    text = with_criterion("").replace("reviewed_on: 2026-09-01", "reviewed_on: 'last spring'")
    with pytest.raises(ConfigError, match="'last spring' is not a date like 2026-10-01"):
        parse(text)
