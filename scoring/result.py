"""What scoring produces: plain values that storage, Slack views, the CLI and
CRM write-back all read. Nothing here knows where it is shown.

Results are read-only by convention; the per-record ones are not frozen
dataclasses because those construct several times slower, and the engine
makes tens of them per record.
"""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field as dataclass_field
from datetime import datetime
from enum import StrEnum

from scoring.model import Tier


class Status(StrEnum):
    """A criterion's outcome. Unknown (field missing) is not a miss."""

    MATCHED = "matched"
    MISSED = "missed"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class CriterionInfo:
    """What a criterion is, built once per ICP and shared by every result.

    `max_points` is what a match earns in score units: a positive criterion
    its share of 100, a negative one its (negative) weight.
    """

    id: str
    field: str
    layer: str | None
    weight: int
    max_points: float
    rule: str
    why: str

    label: str = dataclass_field(default="", compare=False)

    def __post_init__(self) -> None:
        """`+15 industry`: what a match earns and what it is, as reasons start; built once."""
        points = self.max_points
        text = f"{points:+.0f}" if float(points).is_integer() else f"{points:+.1f}"
        object.__setattr__(self, "label", f"{text} {self.id}")


@dataclass(slots=True)
class CriterionResult:
    """One criterion evaluated against one record; `points` is what it earned.

    Not frozen only because frozen dataclasses construct several times slower
    and the engine builds one per criterion per record; treat as read-only.
    """

    criterion: CriterionInfo
    status: Status
    points: float
    value: object = None
    # Caches filled on first use: the reason line, the `{id, status, points}` summary and the
    # audit trail's `(id, status code, points, value)`.
    reason: str | None = dataclass_field(default=None, repr=False, compare=False)
    brief: dict[str, object] | None = dataclass_field(default=None, repr=False, compare=False)
    compact: tuple[object, ...] | None = dataclass_field(default=None, repr=False, compare=False)

    @property
    def id(self) -> str:
        return self.criterion.id

    @property
    def field(self) -> str:
        return self.criterion.field

    @property
    def layer(self) -> str | None:
        return self.criterion.layer

    @property
    def weight(self) -> int:
        return self.criterion.weight

    @property
    def max_points(self) -> float:
        return self.criterion.max_points

    @property
    def rule(self) -> str:
        return self.criterion.rule

    @property
    def why(self) -> str:
        return self.criterion.why


@dataclass(frozen=True, slots=True)
class Disqualification:
    """A matched disqualifier; `scope` is "icp" for top-level ones, else the profile id."""

    id: str
    scope: str
    field: str
    rule: str
    why: str
    value: object = None


@dataclass(slots=True)
class ProfileResult:
    """One profile's score for one account."""

    profile_id: str
    profile_name: str
    score: int
    coverage: float
    criteria: tuple[CriterionResult, ...]
    disqualified_by: tuple[Disqualification, ...] = ()

    @property
    def in_running(self) -> bool:
        return not self.disqualified_by


@dataclass(slots=True)
class PersonaResult:
    """How well a contact or lead fits the buyer persona."""

    score: int
    tier: Tier
    coverage: float
    criteria: tuple[CriterionResult, ...]


@dataclass(slots=True)
class AccountScore:
    """The verdict for one account: the winning profile's score, tier and why.

    When the tier is DQ, `score` still holds the best profile's computed
    score so nothing is hidden, and `disqualified_by` says what overrode it.
    """

    score: int
    tier: Tier
    profile_id: str | None
    profile_name: str | None
    coverage: float
    criteria: tuple[CriterionResult, ...]
    disqualified_by: tuple[Disqualification, ...]
    profiles: tuple[ProfileResult, ...]
    icp_version: int
    scored_at: datetime
    reasons: tuple[str, ...] = ()

    @property
    def disqualifier_id(self) -> str | None:
        """The first disqualifier's id, the one a CRM field or CSV column shows."""
        return self.disqualified_by[0].id if self.disqualified_by else None
