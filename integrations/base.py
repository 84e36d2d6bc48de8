"""The one CRM interface every adapter implements: HubSpot, Salesforce, CSV.

The rest of icpbot speaks only this: canonical records in, score fields
out. An adapter owns its SDK, its paging, its rate limits and its field
names; callers never see a property name.
"""

from __future__ import annotations

import abc
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from integrations.records import CrmRecord, RecordKind


@dataclass(frozen=True, slots=True)
class ScoreFields:
    """What icpbot writes back to a record (SPEC §4), before CRM naming.

    `score` and `tier` are None for a person whose company is unknown (free
    mail): only the persona fit is known then.
    """

    score: int | None
    tier: str | None
    profile: str | None
    reasons: str
    version: int
    scored_at: datetime
    persona_score: int | None = None
    persona_tier: str | None = None

    def as_dict(self) -> dict[str, object]:
        return {
            "score": self.score,
            "tier": self.tier,
            "profile": self.profile,
            "reasons": self.reasons,
            "version": self.version,
            "scored_at": self.scored_at,
            "persona_score": self.persona_score,
        }


@dataclass(frozen=True, slots=True)
class ScoreUpdate:
    """One record's new score fields."""

    kind: RecordKind
    crm_id: str
    fields: ScoreFields


@dataclass(frozen=True, slots=True)
class Deal:
    """A won, lost, churned or open deal: the evidence calibration learns from."""

    crm_id: str
    domain: str | None
    name: str
    stage: str  # closed_won | closed_lost | churned | open
    amount: float | None
    created_at: datetime | None
    closed_at: datetime | None


@dataclass(slots=True)
class WriteReport:
    """What a write-back did; `failed` maps crm_id to the CRM's reason."""

    written: int = 0
    skipped: int = 0
    failed: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class RowError:
    """A source row that could not be read, named so it can be fixed; the rest go on."""

    source: str
    row: int
    message: str

    def __str__(self) -> str:
        return f"{self.source} row {self.row}: {self.message}"


class Crm(abc.ABC):
    """A source of accounts and people, and a sink for their scores."""

    name: str

    @abc.abstractmethod
    def accounts(self) -> Iterator[CrmRecord]:
        """Every account, streamed; never the whole CRM in memory."""

    @abc.abstractmethod
    def people(self) -> Iterator[CrmRecord]:
        """Every contact or lead, streamed."""

    @abc.abstractmethod
    def deals(self) -> Iterator[Deal]:
        """Every deal, for win rates and calibration."""

    @abc.abstractmethod
    def write_scores(self, updates: Sequence[ScoreUpdate]) -> WriteReport:
        """Write score fields back, batched as the CRM allows."""

    def record_url(self, kind: RecordKind, crm_id: str) -> str | None:
        """A link to the record in the CRM's own UI, where it has one."""
        return None

    def errors(self) -> list[RowError]:
        """Rows skipped so far because they could not be read."""
        return []
