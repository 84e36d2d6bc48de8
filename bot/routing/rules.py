"""`routing.yaml`: which channel and which rep each scored lead goes to (SPEC §6).

Rules are ordered; the first whose `when` matches wins. A `when` tests the
verdict (tier, persona_tier, profile) and any canonical field, with a value,
a list of values (any of), or one ICP operator (`employees: {gte: 500}`).
An account that already has an owner keeps that owner; otherwise a rule may
assign a rep by round robin over a team, skipping reps marked away. Every
decision carries the sentence that explains it, so "why did this go to
Dana?" always has an answer.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import Any

from scoring.model import OPERATORS, Condition, Tier
from scoring.operators import format_value, is_empty, matches
from scoring.problems import (
    ConfigError,
    Problem,
    closest,
    did_you_mean,
    line_of,
    line_of_key,
    load_yaml,
    not_a_key,
)

VERDICT_KEYS = ("tier", "persona_tier", "profile")
_SECTIONS = {"teams", "rules"}
_RULE_KEYS = {"id", "when", "channel", "assign"}
_TEAM_KEYS = {"members", "away"}


@dataclass(frozen=True, slots=True)
class Team:
    """Reps who share leads in turn; `away` reps are skipped until removed from it."""

    id: str
    members: tuple[str, ...]
    away: frozenset[str] = frozenset()

    @property
    def available(self) -> tuple[str, ...]:
        return tuple(m for m in self.members if m not in self.away)


@dataclass(frozen=True, slots=True)
class Check:
    """One `when` entry: a key and the condition its value must meet."""

    key: str
    condition: Condition

    def describe(self, value: object) -> str:
        return f"{self.key} {format_value(value) if not is_empty(value) else 'missing'}"


@dataclass(frozen=True, slots=True)
class Rule:
    id: str
    tests: tuple[Check, ...]
    channel: str | None
    round_robin: str | None = None


@dataclass(frozen=True, slots=True)
class Routing:
    rules: tuple[Rule, ...]
    teams: Mapping[str, Team] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Decision:
    """Where a lead went and why; stored so the answer survives the Slack post."""

    rule_id: str | None
    channel: str | None
    owner: str | None
    owner_source: str  # "crm" (already owned), "round_robin:<team>", or "none"
    reason: str


DEFAULT_ROUTING = Routing(rules=(Rule("tag-only", (), None),))


def route(
    routing: Routing,
    *,
    tier: Tier,
    profile: str | None,
    fields: Mapping[str, object],
    now: datetime,
    persona_tier: Tier | None = None,
    cursors: MutableMapping[str, int] | None = None,
    available: Callable[[str], bool] = lambda rep: True,
) -> Decision:
    """The first matching rule's channel and owner.

    `cursors` holds round-robin positions; `available` says whether a rep can
    take leads now (not deactivated in Slack).
    """
    verdict = {"tier": tier.value, "profile": profile, "persona_tier": persona_tier}
    values = {**fields, **{k: v for k, v in verdict.items() if v is not None}}
    for rule in routing.rules:
        if all(_passes(test, values.get(test.key), now) for test in rule.tests):
            positions = cursors if cursors is not None else {}
            return _decide(rule, routing, values, positions, available)
    return Decision(
        None, None, _owner(fields), "crm" if _owner(fields) else "none", "no rule matched"
    )


def _passes(test: Check, value: object, now: datetime) -> bool:
    if is_empty(value):
        return False
    try:
        return matches(test.condition, value, now)
    except (ValueError, TypeError):
        return False


def _owner(fields: Mapping[str, object]) -> str | None:
    owner = fields.get("owner_id")
    return str(owner) if not is_empty(owner) else None


def _decide(
    rule: Rule,
    routing: Routing,
    values: Mapping[str, object],
    cursors: MutableMapping[str, int],
    available: Callable[[str], bool],
) -> Decision:
    because = " and ".join(t.describe(values.get(t.key)) for t in rule.tests) or "every lead"
    reason = f"rule {rule.id}: {because}"
    owner = _owner(values)
    if owner:
        return Decision(rule.id, rule.channel, owner, "crm", f"{reason}; already owned in the CRM")
    team = routing.teams.get(rule.round_robin or "")
    if team is None:
        return Decision(rule.id, rule.channel, None, "none", reason)
    rep = next_rep(team, cursors, available)
    if rep is None:
        message = f"{reason}; every rep of {team.id} is away or deactivated"
        return Decision(rule.id, rule.channel, None, "none", message)
    source = f"round_robin:{team.id}"
    return Decision(rule.id, rule.channel, rep, source, f"{reason}; round robin over {team.id}")


def next_rep(
    team: Team,
    cursors: MutableMapping[str, int],
    available: Callable[[str], bool] = lambda rep: True,
) -> str | None:
    """The next available rep after the last one served; the cursor survives config edits."""
    if not team.available:
        return None
    start = cursors.get(team.id, -1)
    size = len(team.members)
    for step in range(1, size + 1):
        index = (start + step) % size
        if team.members[index] not in team.away and available(team.members[index]):
            cursors[team.id] = index
            return team.members[index]
    return None


def parse_routing(
    text: str | None,
    *,
    source: str,
    fields: Mapping[str, Any] | None,
    profiles: Sequence[str] | None,
) -> tuple[Routing, list[Problem]]:
    """Validated routing rules; raises ConfigError listing every problem. `fields` and
    `profiles`: the fields rules may test and the ICP's profile ids, each None when its
    file did not load (they are then not checked: a problem there is that file's, reported
    once)."""
    if text is None:
        return DEFAULT_ROUTING, []
    data, problems = load_yaml(text, source)
    if data is None and problems:  # not YAML: that is the problem
        raise ConfigError(problems)
    if not isinstance(data, dict):
        raise ConfigError([*problems, Problem(source, "", "must be a mapping with rules")])
    for key in data:
        if key not in _SECTIONS:
            message = not_a_key(key, _SECTIONS)
            problems.append(Problem(source, "", message, line_of_key(data, key)))
    meant = {closest(key, _SECTIONS) for key in data if key not in _SECTIONS}
    teams: dict[str, Team] | None = _teams(data.get("teams"), source, problems)
    if "teams" in meant and "teams" not in data:
        teams = None  # misspelt, so which teams exist is not known: assignments go unchecked
    if "rules" in meant and "rules" not in data:
        raise ConfigError(problems)  # misspelt: the rules are what is missing, as reported
    rules = _rules(data.get("rules"), source, problems, fields, profiles, teams)
    if teams is None or any(not p.warning for p in problems):
        raise ConfigError(problems)
    return Routing(tuple(rules), teams), problems


def _teams(raw: object, source: str, problems: list[Problem]) -> dict[str, Team]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        problems.append(Problem(source, "teams", "must map team ids to members"))
        return {}
    teams: dict[str, Team] = {}
    for team_id, spec in raw.items():
        where = f"teams/{team_id}"
        unknown = [k for k in spec if k not in _TEAM_KEYS] if isinstance(spec, dict) else []
        for key in unknown:
            problems.append(
                Problem(source, where, not_a_key(key, _TEAM_KEYS), line_of_key(spec, key))
            )
        members = spec.get("members") if isinstance(spec, dict) else None
        away = (spec.get("away") or []) if isinstance(spec, dict) else []
        if not isinstance(members, list) or not members or not isinstance(away, list):
            if members is not None or all(closest(k, _TEAM_KEYS) != "members" for k in unknown):
                message = "needs members: a non-empty list of rep emails (and optionally away:)"
                problems.append(Problem(source, where, message, line_of_key(raw, team_id)))
            teams[str(team_id)] = Team(str(team_id), ())  # it exists: rules may name it
            continue
        strangers = sorted(set(map(str, away)) - set(map(str, members)))
        if strangers:
            message = f"away lists {', '.join(strangers)}, who are not members"
            problems.append(Problem(source, where, message, line_of_key(spec, "away")))
        teams[str(team_id)] = Team(
            str(team_id), tuple(map(str, members)), frozenset(map(str, away))
        )
    return teams


def _rules(
    raw: object,
    source: str,
    problems: list[Problem],
    fields: Mapping[str, Any] | None,
    profiles: Sequence[str] | None,
    teams: Mapping[str, Team] | None,
) -> list[Rule]:
    if not isinstance(raw, list) or not raw:
        problems.append(Problem(source, "rules", "at least one rule is required"))
        return []
    rules = []
    seen: set[str] = set()
    for index, spec in enumerate(raw):
        rule = _rule(spec, index, source, problems, fields, profiles, teams)
        if rule and rule.id in seen:
            problems.append(Problem(source, rule.id, "duplicate rule id", line_of(spec)))
        if rule:
            seen.add(rule.id)
            rules.append(rule)
    return rules


def _rule(
    spec: object,
    index: int,
    source: str,
    problems: list[Problem],
    fields: Mapping[str, Any] | None,
    profiles: Sequence[str] | None,
    teams: Mapping[str, Team] | None,
) -> Rule | None:
    where = f"rules[{index}]"
    if not isinstance(spec, dict):
        problems.append(Problem(source, where, "a rule must be a mapping"))
        return None
    rule_id = str(spec.get("id") or where)

    def problem(message: str, node: object = spec, key: object = None) -> None:
        line = line_of_key(node, key) if key is not None else line_of(node) or line_of(spec)
        problems.append(Problem(source, rule_id, message, line))

    for key in spec:
        if key not in _RULE_KEYS:
            problem(not_a_key(key, _RULE_KEYS), spec, key)
    when = spec.get("when") or {}
    if not isinstance(when, dict):
        problem("when must map fields to values", spec, "when")
        when = {}
    tests = []
    for key, value in when.items():
        said = partial(problem, node=when, key=key)  # at the line of this `when` key
        if test := _test(key, value, fields, profiles, said):
            tests.append(test)
    channel = spec.get("channel")
    if channel is not None and (not isinstance(channel, str) or not channel.strip()):
        message = "channel must be a channel name like '#leads' or a channel id, or null"
        problem(message, spec, "channel")
        channel = None
    round_robin = _assign(spec.get("assign"), teams, problem)
    return Rule(rule_id, tuple(tests), channel, round_robin)


def _assign(raw: object, teams: Mapping[str, Team] | None, problem: Any) -> str | None:
    """The team a rule assigns by round robin; `teams` None: not known, so not checked."""
    if raw is None:
        return None
    team = raw.get("round_robin") if isinstance(raw, dict) else None
    if not isinstance(team, str):
        problem("assign takes {round_robin: TEAM}", raw)
        return None
    if teams is not None and team not in teams:
        problem(f"assign: unknown team {team!r}{did_you_mean(team, teams)}", raw)
        return None
    return team


def _test(
    key: object,
    value: object,
    fields: Mapping[str, Any] | None,
    profiles: Sequence[str] | None,
    problem: Any,
) -> Check | None:
    name = str(key)
    if fields is not None and name not in VERDICT_KEYS and name not in fields:
        problem(f"when: unknown field {name!r}{did_you_mean(name, [*VERDICT_KEYS, *fields])}")
        return None
    if isinstance(value, dict):
        operator = next(iter(value), None)
        if len(value) == 1 and operator not in OPERATORS and closest(operator, OPERATORS):
            problem(f"when {name}: {not_a_key(operator, OPERATORS, what='an operator')}")
            return None
        if len(value) != 1 or operator not in OPERATORS:
            problem(f"when {name}: takes a value, a list, or one operator like {{gte: 500}}")
            return None
        operator, operand = next(iter(value.items()))
        return Check(name, Condition(name, operator, operand))
    values = value if isinstance(value, list) else [value]
    if name in ("tier", "persona_tier"):
        bad = [v for v in values if str(v) not in {t.value for t in Tier}]
        if bad:
            problem(f"when {name}: {bad} are not tiers (A, B, C, D, DQ)")
            return None
    if name == "profile" and profiles is not None:  # None: icp.yaml did not load to say
        unknown = [v for v in values if v not in profiles]
        if unknown:
            problem(f"when profile: {unknown} are not profile ids in icp.yaml")
            return None
    return Check(name, Condition(name, "in", tuple(values)))
