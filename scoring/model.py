"""The ICP file as typed, immutable values.

`scoring.validation` builds these from `icp.yaml` after validating it; the engine
only ever sees a model that passed validation, so it never re-checks shapes.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Any

OPERATORS: tuple[str, ...] = (
    "equals",
    "in",
    "not_in",
    "between",
    "gte",
    "lte",
    "contains_any",
    "contains_all",
    "matches",
    "within_days",
    "exists",
)

LAYERS: tuple[str, ...] = ("firmographic", "technographic", "operational", "behavioral", "negative")

MAX_PROFILES = 3


class Tier(StrEnum):
    """A score's tier; `DQ` means a hard disqualifier overrode the score."""

    A = "A"
    B = "B"
    C = "C"
    D = "D"
    DQ = "DQ"


class DealStage(StrEnum):
    """One outcome per deal; `churned` is a win that was later lost (anti-ICP, SPEC §8)."""

    CLOSED_WON = "closed_won"
    CLOSED_LOST = "closed_lost"
    CHURNED = "churned"
    OPEN = "open"


@dataclass(frozen=True, slots=True)
class Condition:
    """One operator applied to one canonical field."""

    field: str
    operator: str
    operand: Any
    list_field: bool = False  # the field holds a list: `matches` searches each item


@dataclass(frozen=True, slots=True)
class Criterion:
    """A weighted, explained condition; negative weight means anti-ICP."""

    id: str
    condition: Condition
    weight: int
    why: str
    layer: str | None = None

    @property
    def field(self) -> str:
        return self.condition.field


@dataclass(frozen=True, slots=True)
class Disqualifier:
    """A condition that, when matched, overrides any score."""

    id: str
    condition: Condition
    why: str

    @property
    def field(self) -> str:
        return self.condition.field


@dataclass(frozen=True, slots=True)
class Profile:
    """One ICP profile; a team may run up to three, best score wins."""

    id: str
    name: str
    criteria: tuple[Criterion, ...]
    disqualify: tuple[Disqualifier, ...] = ()


@dataclass(frozen=True, slots=True)
class Tiers:
    """Minimum score per tier; below C is D."""

    a: int = 80
    b: int = 60
    c: int = 40

    def of(self, score: int) -> Tier:
        if score >= self.a:
            return Tier.A
        if score >= self.b:
            return Tier.B
        if score >= self.c:
            return Tier.C
        return Tier.D


@dataclass(frozen=True, slots=True)
class Icp:
    """The whole ICP: versioned, reviewed, with profiles, disqualifiers and persona."""

    version: int
    reviewed_on: date | None
    tiers: Tiers
    profiles: tuple[Profile, ...]
    disqualify: tuple[Disqualifier, ...] = ()
    persona: tuple[Criterion, ...] = ()

    def profile(self, profile_id: str) -> Profile | None:
        return next((p for p in self.profiles if p.id == profile_id), None)

    def dated_fields(self) -> frozenset[str]:
        """Account fields whose result moves with the calendar alone (`within_days`).

        A record with a value in one of these can change tier with no CRM
        change at all: the daily re-score looks only at such records.
        """
        rules: list[Criterion | Disqualifier] = [*self.disqualify]
        for profile in self.profiles:
            rules.extend(profile.criteria)
            rules.extend(profile.disqualify)
        return _dated(rules)

    def dated_persona_fields(self) -> frozenset[str]:
        """Person fields whose persona result moves with the calendar alone."""
        return _dated(self.persona)


def _dated(rules: Iterable[Criterion | Disqualifier]) -> frozenset[str]:
    return frozenset(r.condition.field for r in rules if r.condition.operator == "within_days")
