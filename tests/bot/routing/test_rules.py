"""`routing.yaml`: validation problems and first-match routing, as tables."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.config import load_config
from bot.routing.rules import Routing, parse_routing, route
from scoring.fields import known_fields
from scoring.model import Tier
from scoring.problems import ConfigError

NOW = datetime(2026, 11, 20, tzinfo=UTC)
FIELDS = known_fields()
PROFILES = ["midmarket-saas", "enterprise-salesforce"]

RULES = """
teams:
  na: {members: [dana@x.io, lee@x.io, sam@x.io], away: [lee@x.io]}
rules:
  - id: big
    when: {tier: [A, B], employees: {gte: 1000}}
    channel: "#big"
  - id: a-us
    when: {tier: A, country: [US, CA]}
    channel: "#a"
    assign: {round_robin: na}
  - id: rest
    when: {tier: [B, C, D, DQ]}
    channel: null
"""


def routing(text: str = RULES) -> Routing:
    return parse_routing(text, source="routing.yaml", fields=FIELDS, profiles=PROFILES)[0]


def problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        routing(text)
    return [str(p) for p in caught.value.problems]


@pytest.mark.parametrize(
    ("when", "expected"),
    [
        ("{headcount: 5}", "rules[0]: when: unknown field 'headcount'"),
        ("{tier: E}", "rules[0]: when tier: ['E'] are not tiers"),
        ("{profile: smb}", "rules[0]: when profile: ['smb'] are not profile ids"),
        (
            "{employees: {gtee: 5}}",
            "rules[0]: when employees: 'gtee' is not an operator — did you mean 'gte'?",
        ),
        (
            "{employees: {gte: 5, lte: 9}}",
            "rules[0]: when employees: takes a value, a list, or one operator like {gte: 500}",
        ),
    ],
    ids=["unknown field", "bad tier", "unknown profile", "unknown operator", "two operators"],
)
def test_bad_when_is_named(when: str, expected: str) -> None:
    found = problems(f"rules:\n  - when: {when}\n    channel: '#x'\n")
    assert any(expected in p and p.startswith("routing.yaml") for p in found), found


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("rules:\n  - {id: r, when: {tier: A}, assign: {round_robin: ghosts}}\n", "unknown team"),
        (
            "teams: {na: {members: [a@x.io], away: [b@x.io]}}\nrules:\n  - {id: r}\n",
            "away lists b@x.io, who are not members",
        ),
        ("rules:\n  - {id: r}\n  - {id: r}\n", "r: duplicate rule id"),
        ("rules: []\n", "at least one rule is required"),
    ],
    ids=["unknown team", "away not a member", "duplicate id", "no rules"],
)
def test_other_problems_are_named(text: str, expected: str) -> None:
    assert any(expected in p for p in problems(text))


SPELT = """\
teams:
  na:
    members: [dana@x.io]
rules:
  - id: hot
    when:
      tier: A
      country: US
    channel: "#hot"
    assign: {round_robin: na}
"""  # lines 1 to 10


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        pytest.param(
            "  country: US\n    channel",
            "  contry: US\n    chanel",
            [
                "routing.yaml:9: hot: 'chanel' is not a key here — did you mean 'channel'?",
                "routing.yaml:8: hot: when: unknown field 'contry' (did you mean 'country'?)",
            ],
            id="a field and a key of a rule, each at its own line",
        ),
        pytest.param(
            "rules:",
            "rule:",
            ["routing.yaml:4: 'rule' is not a key here — did you mean 'rules'?"],
            id="a misspelt rules section, not also 'at least one rule is required'",
        ),
        pytest.param(
            "teams:",
            "team:",
            ["routing.yaml:1: 'team' is not a key here — did you mean 'teams'?"],
            id="a misspelt teams section, not also 'unknown team' in every rule",
        ),
        pytest.param(
            "    members:",
            "    memebers:",
            ["routing.yaml:3: teams/na: 'memebers' is not a key here — did you mean 'members'?"],
            id="a misspelt members, not also 'needs members'",
        ),
        pytest.param(
            "round_robin: na}",
            "round_robin: nA}",
            ["routing.yaml:10: hot: assign: unknown team 'nA' (did you mean 'na'?)"],
            id="an unknown team, at its assign line",
        ),
    ],
)
def test_a_misspelling_is_one_problem_at_its_own_line(
    old: str, new: str, expected: list[str]
) -> None:
    assert old in SPELT
    assert problems(SPELT.replace(old, new, 1)) == expected


def test_the_rules_spelt_right_load() -> None:
    assert [rule.id for rule in routing(SPELT).rules] == ["hot"]


def decide(fields: dict[str, object], tier: Tier, cursors: dict[str, int] | None = None) -> tuple:
    decision = route(
        routing(), tier=tier, profile="midmarket-saas", fields=fields, now=NOW, cursors=cursors
    )
    return decision.rule_id, decision.channel, decision.owner


@pytest.mark.parametrize(
    ("fields", "tier", "expected"),
    [
        ({"employees": 5000, "country": "US"}, Tier.A, ("big", "#big", None)),
        ({"employees": 300, "country": "CA"}, Tier.A, ("a-us", "#a", "dana@x.io")),
        ({"employees": 300, "country": "US", "owner_id": "o-7"}, Tier.A, ("a-us", "#a", "o-7")),
        ({"country": "US"}, Tier.A, ("a-us", "#a", "dana@x.io")),
        ({"employees": 300, "country": "DE"}, Tier.A, (None, None, None)),
        ({"employees": 300}, Tier.C, ("rest", None, None)),
    ],
    ids=[
        "first match wins (operator value)",
        "list value, round robin",
        "already owned keeps its owner",
        "missing field never matches the big rule",
        "no rule matched",
        "tag only",
    ],
)
def test_route(fields: dict[str, object], tier: Tier, expected: tuple) -> None:
    assert decide(fields, tier) == expected


def test_round_robin_rotates_skips_away_and_keeps_its_place() -> None:
    cursors: dict[str, int] = {}
    owners = [decide({"country": "US"}, Tier.A, cursors)[2] for _ in range(4)]
    assert owners == ["dana@x.io", "sam@x.io", "dana@x.io", "sam@x.io"]
    assert cursors == {"na": 2}


def test_every_rep_away_leaves_it_unassigned_and_says_so() -> None:
    text = RULES.replace("away: [lee@x.io]", "away: [dana@x.io, lee@x.io, sam@x.io]")
    decision = route(routing(text), tier=Tier.A, profile=None, fields={"country": "US"}, now=NOW)
    assert decision.owner is None and "every rep of na is away or deactivated" in decision.reason


def test_round_robin_skips_reps_deactivated_in_slack() -> None:
    cursors: dict[str, int] = {}
    active = {"dana@x.io": False, "sam@x.io": True}
    picks = [
        route(
            routing(RULES),
            tier=Tier.A,
            profile=None,
            fields={"country": "US"},
            now=NOW,
            cursors=cursors,
            available=lambda rep: active.get(rep, True),
        ).owner
        for _ in range(3)
    ]
    assert picks == ["sam@x.io", "sam@x.io", "sam@x.io"]


def test_the_shipped_rules_route_an_a_tier_us_account() -> None:
    config = load_config(Path(__file__).resolve().parents[3] / "config")
    decision = route(
        config.routing, tier=Tier.A, profile="midmarket-saas", fields={"country": "US"}, now=NOW
    )
    assert (decision.rule_id, decision.channel) == ("a-tier-north-america", "#icp-a-tier")
    assert decision.owner and "round robin over na-sdr" in decision.reason
