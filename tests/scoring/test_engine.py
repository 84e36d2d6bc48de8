"""SPEC §2 scoring semantics, one table row per rule.

Formula rows use `flags_icp`: criteria `<name> equals true` on boolean
fields, so a row reads as weights, which matched (True), missed (False) or
were unknown (None), and the score and coverage that must follow.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path

import pytest

from bot.config import load_config
from scoring.engine import Scorer
from scoring.model import Tier, Tiers
from scoring.result import AccountScore, Status
from scoring.serialize import summary
from tests.scoring.support import NOW, build_icp, flags_icp, flags_record, score_flags

MATCHED, MISSED, UNKNOWN = Status.MATCHED, Status.MISSED, Status.UNKNOWN
T, F, U = True, False, None  # matched, missed, unknown
CONFIG_DIR = Path(__file__).resolve().parents[2] / "config"
DAY = timedelta(days=1)


def case(weights: Mapping[str, int], outcomes: Mapping[str, bool | None], *expected, id: str):
    return pytest.param(weights, outcomes, *expected, id=id)


# --- score = round(100 × Σ matched positive ÷ Σ positive) + Σ matched negative, in 0..100 ---

FORMULA = [
    case({"a": 50, "b": 50}, {"a": T, "b": T}, 100, id="every positive criterion matched: 100"),
    case({"a": 50, "b": 50}, {"a": T, "b": F}, 50, id="half the positive weight: 50"),
    case({"a": 50, "b": 50}, {"a": F, "b": F}, 0, id="nothing matched: 0"),
    case(
        {"a": 20, "b": 30, "c": 50}, {"a": T, "b": T, "c": F}, 50, id="share of weight, not count"
    ),
    case({"a": 5, "b": 3}, {"a": T, "b": F}, 63, id="5 of 8 is 62.5: rounds half up to 63"),
    case({"a": 1, "b": 7}, {"a": T, "b": F}, 13, id="1 of 8 is 12.5: rounds half up to 13"),
    case({"a": 2, "b": 1}, {"a": T, "b": F}, 67, id="2 of 3 is 66.7: 67"),
    case({"a": 1, "b": 2}, {"a": T, "b": F}, 33, id="1 of 3 is 33.3: 33"),
    case({"a": 50, "b": 50, "n": -30}, {"a": T, "b": T, "n": T}, 70, id="negative subtracts"),
    case({"a": 50, "b": 50, "n": -30}, {"a": T, "b": T, "n": F}, 100, id="missed negative: 0"),
    case({"a": 50, "b": 50, "n": -30}, {"a": T, "b": T, "n": U}, 100, id="unknown negative: 0"),
    case({"a": 5, "b": 3, "n": -10}, {"a": T, "b": F, "n": T}, 53, id="negative after rounding"),
    case({"a": 100, "n": -30, "m": -20}, {"a": T, "n": T, "m": T}, 50, id="negatives add up"),
    case({"a": 50, "b": 50, "n": -30}, {"a": F, "b": F, "n": T}, 0, id="clamped at 0 from 0"),
    case({"a": 50, "b": 50, "n": -60}, {"a": T, "b": F, "n": T}, 0, id="clamped at 0 from 50"),
    case({"a": 40, "b": 60}, {"a": T, "b": T}, 100, id="clamped at 100: never above"),
    case({"a": 50, "b": 50}, {"a": T, "b": U}, 50, id="unknown adds nothing"),
    case({"a": 50, "b": 50}, {"a": U, "b": U}, 0, id="all unknown: 0"),
]


@pytest.mark.parametrize(("weights", "outcomes", "score"), FORMULA)
def test_score_formula(
    weights: Mapping[str, int], outcomes: Mapping[str, bool | None], score: int
) -> None:
    assert score_flags(weights, outcomes).score == score


# --- coverage = share of positive weight whose fields were known ---

COVERAGE = [
    case({"a": 20, "b": 30, "c": 50}, {"a": T, "b": T, "c": T}, 1.0, id="all known: 1"),
    case({"a": 20, "b": 30, "c": 50}, {"a": F, "b": F, "c": F}, 1.0, id="misses are known"),
    case({"a": 20, "b": 30, "c": 50}, {"a": T, "b": F, "c": U}, 0.5, id="c unknown: 0.5"),
    case({"a": 20, "b": 30, "c": 50}, {"a": T, "b": U, "c": U}, 0.2, id="b, c unknown: 0.2"),
    case({"a": 20, "b": 30, "c": 50}, {"a": U, "b": U, "c": U}, 0.0, id="all unknown: 0"),
    case({"a": 50, "b": 50, "n": -30}, {"a": T, "b": T, "n": U}, 1.0, id="negatives don't count"),
    case({"a": 2, "b": 1}, {"a": T, "b": U}, 2 / 3, id="a fraction, not a percentage"),
]


@pytest.mark.parametrize(("weights", "outcomes", "coverage"), COVERAGE)
def test_coverage(
    weights: Mapping[str, int], outcomes: Mapping[str, bool | None], coverage: float
) -> None:
    assert score_flags(weights, outcomes).coverage == pytest.approx(coverage)


@pytest.mark.parametrize(
    ("value", "status", "coverage"),
    [
        pytest.param(None, UNKNOWN, 0.5, id="missing field: shown unknown, coverage drops"),
        pytest.param(False, MISSED, 1.0, id="known poor fit: shown missed, coverage stays"),
    ],
)
def test_unknown_is_not_a_miss(value: bool | None, status: Status, coverage: float) -> None:
    score = score_flags({"a": 50, "b": 50}, {"a": True, "b": value})
    statuses = {c.id: c.status for c in score.criteria}
    assert (score.score, statuses["b"], score.coverage) == (50, status, coverage)


# --- points per criterion: a positive match earns round(100·w/Σ, 1), a negative its weight ---

SPEC_EXAMPLE = {"industry": 20, "headcount": 20, "crm": 15, "funding": 20, "public": -30}


@pytest.mark.parametrize(
    ("criterion", "outcome", "points"),
    [
        pytest.param("industry", T, 26.7, id="weight 20 of 75 matched: 26.7"),
        pytest.param("crm", T, 20.0, id="weight 15 of 75 matched: 20.0"),
        pytest.param("public", T, -30.0, id="negative matched: its weight -30"),
        pytest.param("industry", F, 0.0, id="missed: 0"),
        pytest.param("industry", U, 0.0, id="unknown: 0"),
        pytest.param("public", F, 0.0, id="negative missed: 0"),
    ],
)
def test_points_per_criterion(criterion: str, outcome: bool | None, points: float) -> None:
    outcomes = dict.fromkeys(SPEC_EXAMPLE, True) | {criterion: outcome}
    score = score_flags(SPEC_EXAMPLE, outcomes)
    assert {c.id: c.points for c in score.criteria}[criterion] == points


def test_points_are_in_score_units() -> None:
    score = score_flags(SPEC_EXAMPLE, dict.fromkeys(SPEC_EXAMPLE, True))
    assert sum(c.points for c in score.criteria if c.points > 0) == pytest.approx(100, abs=0.2)
    assert score.score == 70


# --- tiers: A, B, C at their minimum, the one below just under it ---

BINARY = {"w1": 1, "w2": 2, "w4": 4, "w8": 8, "w16": 16, "w32": 32, "w37": 37}  # Σ = 100


def record_scoring(target: int) -> dict[str, object]:
    """Flags whose matched weights add up to `target` out of BINARY's 100."""
    matched = {"w37"} if target >= 37 else set()
    rest = target - (37 if matched else 0)
    matched |= {f"w{bit}" for bit in (1, 2, 4, 8, 16, 32) if rest & bit}
    return flags_record({name: name in matched for name in BINARY})


@pytest.mark.parametrize(
    ("score", "tier"),
    [
        pytest.param(100, Tier.A, id="100: A"),
        pytest.param(80, Tier.A, id="80: A at its minimum"),
        pytest.param(79, Tier.B, id="79: B just below A"),
        pytest.param(60, Tier.B, id="60: B at its minimum"),
        pytest.param(59, Tier.C, id="59: C just below B"),
        pytest.param(40, Tier.C, id="40: C at its minimum"),
        pytest.param(39, Tier.D, id="39: D just below C"),
        pytest.param(0, Tier.D, id="0: D"),
    ],
)
def test_tier_thresholds(score: int, tier: Tier) -> None:
    result = Scorer(flags_icp(BINARY)).score_account(record_scoring(score), NOW)
    assert (result.score, result.tier) == (score, tier)


@pytest.mark.parametrize(
    ("score", "tier"),
    [
        pytest.param(90, Tier.A, id="custom A 90: 90 is A"),
        pytest.param(89, Tier.B, id="custom A 90: 89 is B"),
        pytest.param(70, Tier.B, id="custom B 70: 70 is B"),
        pytest.param(69, Tier.C, id="custom B 70: 69 is C"),
        pytest.param(50, Tier.C, id="custom C 50: 50 is C"),
        pytest.param(49, Tier.D, id="custom C 50: 49 is D"),
    ],
)
def test_tier_thresholds_come_from_the_file(score: int, tier: Tier) -> None:
    icp = flags_icp(BINARY, tiers="{A: 90, B: 70, C: 50}")
    assert icp.tiers == Tiers(90, 70, 50)
    assert Scorer(icp).score_account(record_scoring(score), NOW).tier is tier


# --- disqualifiers and profiles ---

TWO_PROFILES = """\
version: 3
reviewed_on: 2026-09-01
tiers: {A: 80, B: 60, C: 40}
profiles:
  - id: midmarket
    name: Mid-market
    criteria:
      - {id: industry, layer: firmographic, field: industry, in: [software], weight: 50, why: Fit.}
      - {id: headcount, layer: firmographic, field: employees, between: [200, 800], weight: 50,
         why: Size.}
    disqualify:
      - {id: too-small, field: employees, lte: 20, why: Too small.}
  - id: enterprise
    name: Enterprise
    criteria:
      - {id: industry, layer: firmographic, field: industry, in: [software, fintech], weight: 40,
         why: Fit.}
      - {id: headcount, layer: firmographic, field: employees, gte: 1000, weight: 60, why: Size.}
    disqualify:
      - {id: below-enterprise, field: employees, lte: 499, why: Too small for enterprise.}
disqualify:
  - {id: customer, field: lifecycle_stage, equals: customer, why: Already a customer.}
  - {id: unserved, field: country, in: [RU, KP], why: Not a market we serve.}
"""


def scenario(record: dict[str, object], tier: Tier, score: int, profile: str, dq: tuple, id: str):
    return pytest.param(record, tier, score, profile, dq, id=id)


SCENARIOS = [
    scenario(
        {"industry": "software", "employees": 450},
        Tier.A,
        100,
        "midmarket",
        (),
        id="mid-market fit; enterprise out by its own disqualifier: A, midmarket",
    ),
    scenario(
        {"industry": "fintech", "employees": 5000},
        Tier.A,
        100,
        "enterprise",
        (),
        id="enterprise fit: enterprise wins 100 over midmarket 0",
    ),
    scenario(
        {"industry": "software", "employees": 5000},
        Tier.A,
        100,
        "enterprise",
        (),
        id="best profile wins: enterprise 100 over midmarket 50",
    ),
    scenario(
        {"industry": "fintech", "employees": 300},
        Tier.C,
        50,
        "midmarket",
        (),
        id="profile's own disqualifier takes only that profile out: midmarket 50, C",
    ),
    scenario(
        {"industry": "software", "employees": 450, "lifecycle_stage": "customer"},
        Tier.DQ,
        100,
        "midmarket",
        ("customer",),
        id="top-level disqualifier: DQ whatever the score, score kept, named",
    ),
    scenario(
        {"industry": "software", "employees": 450, "lifecycle_stage": "Customer"},
        Tier.DQ,
        100,
        "midmarket",
        ("customer",),
        id="top-level disqualifier compares case-insensitively",
    ),
    scenario(
        {"industry": "software", "employees": 450, "lifecycle_stage": "customer", "country": "RU"},
        Tier.DQ,
        100,
        "midmarket",
        ("customer", "unserved"),
        id="two top-level disqualifiers: both named, in file order",
    ),
    scenario(
        {"industry": "software", "employees": 450, "lifecycle_stage": ""},
        Tier.A,
        100,
        "midmarket",
        (),
        id="disqualifier on an unknown field does not disqualify",
    ),
    scenario(
        {"industry": "software", "employees": 10},
        Tier.DQ,
        50,
        "midmarket",
        ("too-small", "below-enterprise"),
        id="every profile out: DQ, naming what took out each profile",
    ),
    scenario(
        {},
        Tier.D,
        0,
        "midmarket",
        (),
        id="empty record: 0, D, first profile listed",
    ),
]


@pytest.mark.parametrize(("record", "tier", "score", "profile", "dq"), SCENARIOS)
def test_profiles_and_disqualifiers(
    record: dict[str, object], tier: Tier, score: int, profile: str, dq: tuple[str, ...]
) -> None:
    result = Scorer(build_icp(TWO_PROFILES)).score_account(record, NOW)
    named = tuple(d.id for d in result.disqualified_by)
    assert (result.tier, result.score, result.profile_id, named) == (tier, score, profile, dq)
    assert summary(result)["disqualified_by"] == (dq[0] if dq else None)


def test_disqualifications_say_where_they_come_from() -> None:
    record = {"industry": "software", "employees": 10, "lifecycle_stage": "customer"}
    result = Scorer(build_icp(TWO_PROFILES)).score_account(record, NOW)
    assert [(d.id, d.scope) for d in result.disqualified_by] == [
        ("customer", "icp"),
        ("too-small", "midmarket"),
        ("below-enterprise", "enterprise"),
    ]
    assert [p.in_running for p in result.profiles] == [False, False]


def test_every_profile_out_names_what_took_each_profile_out() -> None:
    result = Scorer(build_icp(TWO_PROFILES)).score_account(
        {"industry": "software", "employees": 10}, NOW
    )
    assert {d.id for d in result.disqualified_by} == {"too-small", "below-enterprise"}


BEST_IN_RUNNING = """\
version: 1
reviewed_on: 2026-09-01
profiles:
  - id: {first}
    name: First listed
    criteria:
      - {{id: industry, layer: firmographic, field: industry, in: [software], weight: 100,
         why: Fit.}}
    disqualify:
      - {{id: german, field: country, equals: DE, why: Not this motion.}}
  - id: {second}
    name: Second listed
    criteria:
      - {{id: industry, layer: firmographic, field: industry, in: [software], weight: 50,
         why: Fit.}}
      - {{id: headcount, layer: firmographic, field: employees, gte: 1000, weight: 50, why: Size.}}
"""


@pytest.mark.parametrize(
    ("record", "winner", "score", "tier"),
    [
        pytest.param(
            {"industry": "software", "employees": 10, "country": "US"},
            "one",
            100,
            Tier.A,
            id="the higher score wins",
        ),
        pytest.param(
            {"industry": "software", "employees": 10, "country": "DE"},
            "two",
            50,
            Tier.C,
            id="a higher-scoring profile out of the running loses to one still in",
        ),
        pytest.param(
            {"industry": "software", "employees": 5000, "country": "US"},
            "one",
            100,
            Tier.A,
            id="tie at 100: the profile listed first wins",
        ),
    ],
)
def test_best_profile_still_in_the_running_wins(
    record: dict[str, object], winner: str, score: int, tier: Tier
) -> None:
    icp = build_icp(BEST_IN_RUNNING.format(first="one", second="two"))
    result = Scorer(icp).score_account(record, NOW)
    assert (result.profile_id, result.score, result.tier) == (winner, score, tier)


@pytest.mark.parametrize(
    ("first", "second"),
    [pytest.param("one", "two", id="one listed first"), pytest.param("two", "one", id="swapped")],
)
def test_ties_go_to_the_profile_listed_first(first: str, second: str) -> None:
    icp = build_icp(BEST_IN_RUNNING.format(first=first, second=second))
    result = Scorer(icp).score_account({"industry": "software", "employees": 5000}, NOW)
    assert [p.score for p in result.profiles] == [100, 100]
    assert result.profile_id == first


# --- "four static criteria plus a strong trigger outrank five with no trigger" ---

TRIGGER_ICP = """\
version: 1
reviewed_on: 2026-09-01
profiles:
  - id: saas
    name: SaaS
    criteria:
      - {id: industry, layer: firmographic, field: industry, in: [saas], weight: 10, why: a.}
      - {id: headcount, layer: firmographic, field: employees, gte: 200, weight: 10, why: b.}
      - {id: revenue, layer: firmographic, field: annual_revenue, gte: 5000000, weight: 10,
         why: c.}
      - {id: geography, layer: firmographic, field: country, in: [US], weight: 10, why: d.}
      - {id: crm, layer: technographic, field: technologies, contains_any: [hubspot], weight: 10,
         why: e.}
      - {id: funding, layer: behavioral, field: last_funding_at, within_days: 365, weight: 15,
         why: Fresh budget.}
"""
FIVE_STATIC = {
    "industry": "saas",
    "employees": 300,
    "annual_revenue": 9_000_000,
    "country": "US",
    "technologies": ["hubspot"],
}


def test_four_static_criteria_plus_a_strong_trigger_outrank_five_without() -> None:
    engine = Scorer(build_icp(TRIGGER_ICP))
    four_and_trigger = {**FIVE_STATIC, "country": "FR", "last_funding_at": NOW - 30 * DAY}
    five_no_trigger = {**FIVE_STATIC, "last_funding_at": NOW - 900 * DAY}
    triggered = engine.score_account(four_and_trigger, NOW)
    static = engine.score_account(five_no_trigger, NOW)
    assert (triggered.score, triggered.tier) == (85, Tier.A)  # 55/65 = 84.6
    assert (static.score, static.tier) == (77, Tier.B)  # 50/65 = 76.9
    assert triggered.score > static.score


# --- persona: the same formula, for contacts and leads ---

PERSONA_FLAGS = [
    case({"a": 50, "b": 50}, {"a": T, "b": T}, 100, 1.0, id="persona: all matched 100"),
    case({"a": 5, "b": 3}, {"a": T, "b": F}, 63, 1.0, id="persona: 62.5 rounds half up"),
    case({"a": 50, "b": 50}, {"a": T, "b": U}, 50, 0.5, id="persona: unknown lowers coverage"),
    case({"a": 50, "b": 50, "n": -60}, {"a": T, "n": T}, 0, 0.5, id="persona: negative, clamp 0"),
    case({"a": 50, "b": 50}, {"a": U, "b": U}, 0, 0.0, id="persona: empty record, coverage 0"),
]


@pytest.mark.parametrize(("weights", "outcomes", "score", "coverage"), PERSONA_FLAGS)
def test_persona_is_scored_the_same_way(
    weights: Mapping[str, int], outcomes: Mapping[str, bool | None], score: int, coverage: float
) -> None:
    persona = Scorer(flags_icp(weights, persona=True)).score_persona(flags_record(outcomes), NOW)
    assert persona is not None
    assert (persona.score, persona.coverage, persona.tier) == (
        score,
        pytest.approx(coverage),
        Tiers().of(score),
    )


def test_no_persona_in_the_icp_means_no_persona_score() -> None:
    engine = Scorer(flags_icp({"a": 10}))
    assert engine.score_persona({"job_title": "VP Sales"}, NOW) is None


# --- top reasons: disqualifiers, penalties, wins, then what is unknown ---

REASONS_ICP = """\
version: 1
reviewed_on: 2026-09-01
profiles:
  - id: saas
    name: SaaS
    criteria:
      - {id: industry, layer: firmographic, field: industry, in: [software], weight: 50, why: a.}
      - {id: headcount, layer: firmographic, field: employees, gte: 200, weight: 30, why: b.}
      - {id: crm, layer: technographic, field: technologies, contains_any: [hubspot], weight: 20,
         why: c.}
      - {id: agency, layer: negative, field: sales_motion, equals: agency, weight: -10, why: d.}
      - {id: public, layer: negative, field: funding_stage, equals: grant, weight: -25, why: e.}
disqualify:
  - {id: customer, field: lifecycle_stage, equals: customer, why: Already a customer.}
"""
FULL_FIT = {"industry": "software", "employees": 500, "technologies": "hubspot"}


def kind(line: str) -> str:
    for prefix, name in (("DQ ", "dq"), ("-", "penalty"), ("+", "win"), ("unknown", "unknown")):
        if line.startswith(prefix):
            return name
    raise AssertionError(f"unexpected reason line {line!r}")


@pytest.mark.parametrize(
    ("record", "expected"),
    [
        pytest.param(
            FULL_FIT,
            [("win", "industry"), ("win", "headcount"), ("win", "crm")],
            id="wins, biggest first",
        ),
        pytest.param(
            {**FULL_FIT, "sales_motion": "agency", "funding_stage": "grant"},
            [
                ("penalty", "public"),
                ("penalty", "agency"),
                ("win", "industry"),
                ("win", "headcount"),
                ("win", "crm"),
            ],
            id="penalties (worst first) before wins",
        ),
        pytest.param(
            {"industry": "software", "employees": 500},
            [("win", "industry"), ("win", "headcount"), ("unknown", "crm")],
            id="unknown line last",
        ),
        pytest.param(
            {
                "industry": "software",
                "technologies": "hubspot",
                "lifecycle_stage": "customer",
                "funding_stage": "grant",
            },
            [
                ("dq", "customer"),
                ("penalty", "public"),
                ("win", "industry"),
                ("win", "crm"),
                ("unknown", "headcount"),
            ],
            id="disqualifier first, then penalty, wins, unknown",
        ),
        pytest.param(
            {"industry": "fintech", "employees": 10, "technologies": "salesforce"},
            [],
            id="misses give no reason",
        ),
    ],
)
def test_top_reasons_order(record: dict[str, object], expected: list[tuple[str, str]]) -> None:
    result = Scorer(build_icp(REASONS_ICP)).score_account(record, NOW)
    got = [(kind(line), line) for line in result.reasons]
    assert [k for k, _ in got] == [k for k, _ in expected], result.reasons
    for (_, line), (_, criterion) in zip(got, expected, strict=True):
        assert criterion in line


# --- the shipped config/icp.yaml on realistic records ---

MIDMARKET_FIT = {
    "domain": "acme.io",
    "industry": "SaaS",
    "employees": "450",
    "annual_revenue": "20,000,000",
    "country": "US",
    "technologies": "HubSpot;Slack;Gong",
    "sales_motion": "Sales-led",
    "last_funding_at": "2026-05-01",
    "sdr_hiring_posted_at": "2026-09-10",
    "lifecycle_stage": "lead",
}  # has_revops unknown
ENTERPRISE_FIT = {
    "domain": "bigbank.com",
    "industry": "financial services",
    "employees": 5000,
    "annual_revenue": 750_000_000,
    "country": "US",
    "technologies": ["Salesforce", "Outreach"],
    "sdr_count": 40,
    "new_exec_at": (NOW - 30 * DAY).date(),
}


def shipped(record: dict[str, object], tier: Tier, score: int, profile: str, *, id: str, **more):
    return pytest.param(record, tier, score, profile, more, id=id)


SHIPPED = [
    shipped(
        MIDMARKET_FIT,
        Tier.A,
        90,
        "midmarket-saas",
        coverage=0.9,
        id="mid-market SaaS on HubSpot, revops unknown: A 90, coverage 0.9",
    ),
    shipped(
        ENTERPRISE_FIT,
        Tier.A,
        100,
        "enterprise-salesforce",
        coverage=1.0,
        id="enterprise on Salesforce: A 100 on the enterprise profile",
    ),
    shipped(
        {**MIDMARKET_FIT, "lifecycle_stage": "customer"},
        Tier.DQ,
        90,
        "midmarket-saas",
        dq=("customer",),
        id="already a customer: DQ, score kept",
    ),
    shipped(
        {**MIDMARKET_FIT, "technologies": "hubspot;LeanData"},
        Tier.DQ,
        90,
        "midmarket-saas",
        dq=("competitor-locked",),
        id="locked into a competitor: DQ",
    ),
    shipped(
        {**MIDMARKET_FIT, "country": "RU"},
        Tier.DQ,
        80,
        "midmarket-saas",
        dq=("unserved-market",),
        id="unserved market: DQ",
    ),
    shipped(
        {"industry": "software", "employees": 10, "country": "US", "technologies": ["hubspot"]},
        Tier.DQ,
        35,
        "midmarket-saas",
        dq=("too-small", "below-enterprise"),
        id="10-person company: every profile out, DQ too-small",
    ),
    shipped(
        {
            "industry": "Marketing Agency",
            "employees": 300,
            "country": "US",
            "technologies": "hubspot",
        },
        Tier.D,
        15,
        "midmarket-saas",
        first_reason="-20 agency",
        id="marketing agency: penalised to D",
    ),
    shipped(
        {},
        Tier.D,
        0,
        "midmarket-saas",
        coverage=0.0,
        all_unknown=True,
        id="empty record: all unknown, coverage 0",
    ),
]


@pytest.fixture(scope="module")
def shipped_engine() -> Scorer:
    return Scorer(load_config(CONFIG_DIR).icp)


@pytest.mark.parametrize(("record", "tier", "score", "profile", "more"), SHIPPED)
def test_shipped_icp(
    shipped_engine: Scorer,
    record: dict[str, object],
    tier: Tier,
    score: int,
    profile: str,
    more: dict[str, object],
) -> None:
    result = shipped_engine.score_account(record, NOW)
    assert (result.tier, result.score, result.profile_id) == (tier, score, profile)
    assert result.icp_version == 7
    if "coverage" in more:
        assert result.coverage == pytest.approx(more["coverage"])
    if "dq" in more:
        assert tuple(d.id for d in result.disqualified_by) == more["dq"]
        assert result.reasons[0].startswith(f"DQ {more['dq'][0]}")
    if "first_reason" in more:
        assert result.reasons[0].startswith(str(more["first_reason"]))
    if more.get("all_unknown"):
        assert {c.status for p in result.profiles for c in p.criteria} == {UNKNOWN}
        assert [kind(line) for line in result.reasons] == ["unknown"]


def test_shipped_icp_ten_person_company_takes_both_profiles_out(shipped_engine: Scorer) -> None:
    record = {"industry": "software", "employees": 10, "country": "US"}
    result: AccountScore = shipped_engine.score_account(record, NOW)
    assert {p.profile_id: p.in_running for p in result.profiles} == {
        "midmarket-saas": False,
        "enterprise-salesforce": False,
    }


@pytest.mark.parametrize(
    ("record", "score", "tier", "coverage"),
    [
        pytest.param(
            {"job_title": "VP of Sales", "seniority": "vp"}, 60, Tier.B, 1.0, id="VP Sales"
        ),
        pytest.param(
            {"job_title": "Director, Revenue Operations", "seniority": "director"},
            100,
            Tier.A,
            1.0,
            id="Director of RevOps: leader and revops owner",
        ),
        pytest.param({"job_title": "RevOps Manager"}, 40, Tier.C, 0.8, id="seniority unknown"),
        pytest.param(
            {"job_title": "Sales Intern", "seniority": "entry"}, 0, Tier.D, 1.0, id="intern"
        ),
        pytest.param({}, 0, Tier.D, 0.0, id="empty contact: all unknown, coverage 0"),
    ],
)
def test_shipped_persona(
    shipped_engine: Scorer, record: dict[str, object], score: int, tier: Tier, coverage: float
) -> None:
    persona = shipped_engine.score_persona(record, NOW)
    assert persona is not None
    assert (persona.score, persona.tier) == (score, tier)
    assert persona.coverage == pytest.approx(coverage)
