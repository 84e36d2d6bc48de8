"""The one CRM interface every adapter implements: HubSpot, Salesforce, CSV.

The rest of icpbot speaks only this: canonical records in, score fields
out. An adapter owns its SDK, its paging, its rate limits and its field
names; callers never see a property name.
"""

from __future__ import annotations

import abc
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import datetime
from itertools import islice

from integrations.records import CrmRecord, RecordKind
from scoring.model import DealStage


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

    def comparable(self) -> dict[str, str]:
        """The fields whose change is worth a CRM write, as text; `scored_at` alone is not."""
        return {
            "score": _text(self.score),
            "tier": self.tier or "",
            "profile": self.profile or "",
            "reasons": self.reasons,
            "version": str(self.version),
            "persona_score": _text(self.persona_score),
        }


def _text(number: int | None) -> str:
    return "" if number is None else str(number)


def written_text(value: object) -> str:
    """A value read back from a CRM's score field, in `comparable()` form.

    CRMs hand numbers back as text or floats ("87.0", 87.0) and long text
    with CRLF line ends; compare them as icpbot writes them.
    """
    if value is None:
        return ""
    text = str(value).replace("\r\n", "\n")
    try:
        number = float(text)
    except ValueError:
        return text
    return str(int(number)) if number.is_integer() and "." in text else text


@dataclass(frozen=True, slots=True)
class ScoreNames:
    """What a CRM calls the score fields of SPEC §4 (configurable per portal or org)."""

    score: str
    tier: str
    profile: str
    reasons: str
    version: str
    scored_at: str
    persona_score: str

    def names(self, kind: RecordKind) -> dict[str, str]:
        """Canonical score field → CRM name, for an object (persona on people only).

        Asked for every record read and every record written back, so the
        field names are listed once (`_SCORE_NAMES`), not by `fields()` each time.
        """
        names = {name: getattr(self, name) for name in _SCORE_NAMES}
        if not kind.is_person:
            del names["persona_score"]
        return names

    def held(self, kind: RecordKind, values: Mapping[str, object]) -> dict[str, str]:
        """What the CRM holds in the score fields (values by CRM name), in `comparable()` form."""
        names = self.names(kind)
        names.pop("scored_at")
        held = {name: written_text(values.get(crm_name)) for name, crm_name in names.items()}
        held.setdefault("persona_score", "")
        return held


_SCORE_NAMES = tuple(f.name for f in fields(ScoreNames))


@dataclass(frozen=True, slots=True)
class ScoreUpdate:
    """One record's new score fields."""

    kind: RecordKind
    crm_id: str
    fields: ScoreFields


@dataclass(frozen=True, slots=True)
class Deal:
    """A won, lost, churned or open deal: the evidence calibration learns from.

    `domain` is its account's; `closed_at` is None while it is open (a CRM's
    close date on an open deal is only the date it is expected to close).
    """

    crm_id: str
    domain: str | None
    name: str
    stage: DealStage
    amount: float | None
    created_at: datetime | None
    closed_at: datetime | None
    deleted: bool = False  # in the CRM's recycle bin: to be forgotten, not learned from


# A deal changed at a moment; None for one that cannot be loaded (named in `errors()`), whose
# moment still moves a poll's checkpoint past it.
DealChange = tuple[Deal | None, datetime]


@dataclass(slots=True)
class WriteReport:
    """What a write-back did; `failed` maps crm_id to the CRM's reason."""

    written: int = 0
    skipped: int = 0
    failed: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class CaptureRefusal:
    """An object the CRM would not select for change events: why, in words, and what to do.

    A warning, not a failure: records of an object not selected are still
    found by the poll, only later.
    """

    entity: str
    reason: str
    next_step: str


@dataclass(frozen=True, slots=True)
class SetupReport:
    """What `crm setup` did: the fields it created and those already there, and (Salesforce)
    the objects it selected for Change Data Capture, those already selected and those the org
    refused. A CRM without change events leaves the last three empty."""

    created: list[str]
    existing: list[str]
    capture_selected: list[str] = field(default_factory=list)
    capture_existing: list[str] = field(default_factory=list)
    capture_refused: list[CaptureRefusal] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Page:
    """A page of records and the cursor that resumes right after it (None: it was the last)."""

    records: list[CrmRecord]
    after: str | None


@dataclass(frozen=True, slots=True)
class RowError:
    """A source row that could not be read, named so it can be fixed; the rest go on."""

    source: str
    row: int
    message: str

    def __str__(self) -> str:
        return f"{self.source} row {self.row}: {self.message}"


@dataclass(frozen=True, slots=True)
class Owner:
    """A CRM user who owns records: named in messages instead of an internal id."""

    id: str
    name: str | None = None
    email: str | None = None


class Crm(abc.ABC):
    """A source of accounts and people, and a sink for their scores."""

    name: str
    person_kind: RecordKind = RecordKind.CONTACT  # what the CRM calls its people
    page_size: int = 500  # records a backfill page holds, as the CRM pages best

    @abc.abstractmethod
    def accounts(self) -> Iterator[CrmRecord]:
        """Every account, streamed; never the whole CRM in memory."""

    @abc.abstractmethod
    def people(self) -> Iterator[CrmRecord]:
        """Every contact or lead, streamed."""

    @abc.abstractmethod
    def deals(self) -> Iterator[Deal]:
        """Every deal, for win rates and calibration, its stage read as `DealStage`.

        A deal whose account cannot be told (no company, no website) is
        skipped and named in `errors()`: it is evidence about nobody.
        """

    @abc.abstractmethod
    def write_scores(self, updates: Sequence[ScoreUpdate]) -> WriteReport:
        """Write score fields back, batched as the CRM allows."""

    def pages(
        self, kind: RecordKind, *, after: str | None = None, size: int = 500
    ) -> Iterator[Page]:
        """Accounts or people a page at a time, resumable from a page's `after` cursor.

        This default counts records: `after` is how many came before. CRMs
        with cursors of their own (HubSpot) page with those.
        """
        records = self.people() if kind.is_person else self.accounts()
        done = int(after or 0)
        for _ in islice(records, done):
            pass
        for batch in iter(lambda: list(islice(records, size)), []):
            done += len(batch)
            yield Page(batch, str(done))

    def record_url(self, kind: RecordKind, crm_id: str) -> str | None:
        """A link to the record in the CRM's own UI, where it has one."""
        return None

    def owner(self, owner_id: str) -> Owner | None:
        """The CRM user with this owner id (name, email), None when the CRM has none."""
        return None

    def errors(self) -> list[RowError]:
        """Rows skipped so far because they could not be read."""
        return []


class LiveCrm(Crm):
    """A CRM icpbot listens to: records fetched by id, changes found by time."""

    @abc.abstractmethod
    def fetch(self, kind: RecordKind, ids: Sequence[str]) -> list[CrmRecord]:
        """These records by CRM id, batched as the CRM allows; deleted ones are absent."""

    @abc.abstractmethod
    def modified_since(self, kind: RecordKind, since: datetime) -> Iterator[tuple[str, datetime]]:
        """(CRM id, modified at) of records changed at or after `since`, oldest first."""

    @abc.abstractmethod
    def deals_modified_since(self, since: datetime) -> Iterator[DealChange]:
        """Deals changed at or after `since`, oldest first, each with when it changed: how a
        running sync keeps outcomes current between backfills. Read as `deals()` reads them;
        one that cannot be loaded comes as None (and is named in `errors()`)."""

    def removed(self, kind: RecordKind, ids: Sequence[str]) -> dict[str, str | None]:
        """Of these ids (ones `fetch` did not return), those the CRM deleted, each with the
        id of the record it was merged into (None: deleted outright). An adapter that cannot
        tell says none: the store then keeps them, as it did."""
        return {}

    def count(self, kind: RecordKind) -> int | None:
        """How many records there are, when the CRM can say cheaply (a progress bar's total)."""
        return None

    def find_accounts(
        self, *, domain: str | None = None, name: str | None = None
    ) -> list[CrmRecord]:
        """Accounts whose domain (or name) is exactly this: `/icp` on an account not stored yet.

        The value comes from a Slack user: an adapter passes it only as a
        bound value of the CRM's query language, never spliced into one.
        """
        return []

    def owner_email(self, owner_id: str) -> str | None:
        """The email of the CRM user with this owner id, to mention them in Slack."""
        found = self.owner(owner_id)
        return found.email if found else None

    def owner_for_email(self, email: str) -> str | None:
        """The owner id of the CRM user with this email (a Slack user claiming a lead)."""
        return None

    def set_owner(self, kind: RecordKind, crm_id: str, owner_id: str) -> None:
        """Make `owner_id` the record's owner; raises when the CRM refuses."""
        raise NotImplementedError(f"{self.name} cannot set record owners")
