"""The tables the bot keeps, as SQLModel classes.

The CRM stays the system of record for companies, people and deals; these
tables hold our copy of what we scored and the audit trail of every score,
so `/icp acme.com` answers from the database and a score can always be shown
again exactly as it was, with the ICP text that produced it.

`from __future__ import annotations` is safe here: SQLModel (through
pydantic) resolves string annotations from this module's globals, so every
type named in an annotation is imported for real, not under TYPE_CHECKING.
What would break is `Relationship()` with string annotations; these tables
have none: they join on natural keys (domain, email), not object graphs.

Every table must be created by a migration in `bot/store/migrations/versions`
(the app never calls `create_all`); `tests/bot/store/test_migrations.py` fails
when a model and the migrations disagree.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    Column,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, SQLModel

from scoring.model import DealStage as DealStage  # deals are kept in the model's stages

# Named constraints, so a later SQLite batch migration can drop or alter them by name.
SQLModel.metadata.naming_convention = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UtcDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC in and out, on every database.

    PostgreSQL stores `timestamptz`; SQLite has no time zone type and hands
    back naive values, so they are stored as UTC and read back marked UTC.
    A naive datetime is refused on the way in: its zone would be a guess.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise TypeError(f"{value!r} is not a datetime")
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value!r}: pass an aware (UTC) datetime")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# JSON on SQLite, JSONB (indexable, compact) on PostgreSQL.
JsonType = JSON().with_variant(JSONB(), "postgresql")


def _json(*, nullable: bool = False) -> Any:
    return Field(sa_column=Column(JsonType, nullable=nullable))


def _moment(*, nullable: bool = False, index: bool = False) -> Any:
    return Field(sa_column=Column(UtcDateTime(), nullable=nullable, index=index))


class Crm(StrEnum):
    """Where a record came from."""

    HUBSPOT = "hubspot"
    SALESFORCE = "salesforce"
    CSV = "csv"


class Subject(StrEnum):
    """What a score is about: a company (keyed by domain) or a person (keyed by email)."""

    ACCOUNT = "account"
    CONTACT = "contact"


class Account(SQLModel, table=True):
    """A company, keyed by its registrable domain: the key every CRM agrees on."""

    id: int | None = Field(default=None, primary_key=True)
    domain: str = Field(unique=True, index=True)
    name: str
    crm: str
    crm_id: str | None = None
    owner_id: str | None = None
    fields: dict[str, Any] = _json()
    url: str | None = None
    crm_created_at: datetime | None = _moment(nullable=True)
    first_seen_at: datetime = _moment()
    updated_at: datetime = _moment()


class Contact(SQLModel, table=True):
    """A person (HubSpot contact or Salesforce lead), keyed by email."""

    id: int | None = Field(default=None, primary_key=True)
    email: str = Field(unique=True, index=True)
    account_domain: str | None = Field(default=None, index=True)
    kind: str
    crm: str
    crm_id: str | None = None
    fields: dict[str, Any] = _json()
    url: str | None = None
    first_seen_at: datetime = _moment()
    updated_at: datetime = _moment()


class IcpVersion(SQLModel, table=True):
    """The exact icp.yaml text behind each version number that ever scored anything."""

    __tablename__ = "icp_version"

    version: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    sha256: str
    content: str = Field(sa_column=Column(Text, nullable=False))
    catalogue: dict[str, Any] = _json()  # every criterion's rule, why and weight, by profile
    reviewed_on: date | None = None
    loaded_at: datetime = _moment()


class Score(SQLModel, table=True):
    """One scoring of one account or person: the audit trail, appended, never updated.

    `result` holds `{"account": compact_account(...)}` (plus `"persona":
    compact_persona(...)` when a person was scored too): what happened per
    criterion, while what each criterion is lives once in its ICP version's
    catalogue. A persona-only row takes its score and tier from the persona.
    """

    __table_args__ = (
        Index("ix_score_subject_subject_key_scored_at", "subject", "subject_key", "scored_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    subject: str
    subject_key: str = Field(index=True)
    icp_version: int = Field(
        sa_column=Column(Integer, ForeignKey("icp_version.version"), nullable=False)
    )
    score: int
    tier: str
    profile: str | None = None
    coverage: float
    disqualified_by: str | None = None
    persona_score: int | None = None
    persona_tier: str | None = None
    reasons: list[str] = _json()
    result: dict[str, Any] = _json()
    input_snapshot: dict[str, Any] = _json()
    input_hash: str
    scored_at: datetime = _moment()


class Deal(SQLModel, table=True):
    """A CRM deal outcome, the ground truth calibration and win rates learn from."""

    __table_args__ = (UniqueConstraint("crm", "crm_id"),)

    id: int | None = Field(default=None, primary_key=True)
    crm: str
    crm_id: str
    account_domain: str = Field(index=True)
    name: str
    stage: str
    amount: float | None = None
    created_at: datetime = _moment()
    closed_at: datetime | None = _moment(nullable=True)


class InboxStatus(StrEnum):
    """Where an inbox event is: waiting (or backing off), finished, or parked after failures."""

    PENDING = "pending"
    DONE = "done"
    PARKED = "parked"


class InboxEvent(SQLModel, table=True):
    """A CRM change to process, stored before its webhook is answered (SPEC §12).

    `dedupe_key` is the event's content, so HubSpot's retried deliveries are
    stored once. A claim is a lease: a worker that dies leaves it to expire
    and the event is claimed again.
    """

    __tablename__ = "inbox_event"
    __table_args__ = (Index("ix_inbox_event_status_available_at", "status", "available_at"),)

    id: int | None = Field(default=None, primary_key=True)
    source: str
    dedupe_key: str = Field(unique=True)
    object_type: str
    object_id: str
    event_type: str
    payload: dict[str, Any] = _json()
    received_at: datetime = _moment()
    status: str = InboxStatus.PENDING.value
    attempts: int = 0
    available_at: datetime = _moment()
    claimed_by: str | None = None
    claimed_until: datetime | None = _moment(nullable=True)
    last_error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    processed_at: datetime | None = _moment(nullable=True)


class Checkpoint(SQLModel, table=True):
    """Where a long-running sync got to (a sweep's last change, a backfill's page cursor)."""

    name: str = Field(primary_key=True)
    value: str = Field(sa_column=Column(Text, nullable=False))
    updated_at: datetime = _moment()


class RoutingDecision(SQLModel, table=True):
    """Where a newly scored account was routed and why (SPEC §6), and where its post is.

    One row per account: the unique domain is what makes a duplicate event
    or a second replica unable to post a lead twice. `message_ts` is the post
    (or the burst summary that listed it) whose thread later re-scores reply in.
    """

    __tablename__ = "routing_decision"

    id: int | None = Field(default=None, primary_key=True)
    account_domain: str = Field(unique=True)
    crm: str
    crm_id: str | None = None
    rule_id: str | None = None
    channel: str | None = None  # as routing.yaml names it; None: tag only
    owner: str | None = None  # a rep's email (round robin) or the CRM owner's id
    owner_source: str = "none"  # "crm", "round_robin:<team>", "none"
    reason: str = Field(sa_column=Column(Text, nullable=False))
    tier: str
    score: int
    decided_at: datetime = _moment()
    channel_id: str | None = None
    message_ts: str | None = None
    posted_at: datetime | None = _moment(nullable=True)
    summarized: bool = False
    claimed_by: str | None = None  # the Slack user who clicked Claim
    claimed_at: datetime | None = _moment(nullable=True)


class RoundRobin(SQLModel, table=True):
    """A team's place in its round robin, kept across restarts and shared by replicas."""

    __tablename__ = "round_robin"

    team: str = Field(primary_key=True)
    position: int
    last_rep: str | None = None
    updated_at: datetime = _moment()


class Feedback(SQLModel, table=True):
    """A rep's "Not a fit" and why, with the verdict they disagreed with: calibration input."""

    id: int | None = Field(default=None, primary_key=True)
    account_domain: str = Field(index=True)
    kind: str  # "not_a_fit"
    reason: str  # a code from the modal's list
    note: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    slack_user: str
    user_email: str | None = None
    tier: str | None = None
    score: int | None = None
    icp_version: int | None = None
    created_at: datetime = _moment()


class DigestPost(SQLModel, table=True):
    """One week's digest in one channel: claimed before it is posted, so never posted twice.

    The unique (channel, week) is the guard two processes meet at; `status`
    is "posting" from the claim until Slack has the message, then "posted".
    """

    __tablename__ = "digest_post"
    __table_args__ = (UniqueConstraint("channel", "week"),)

    id: int | None = Field(default=None, primary_key=True)
    channel: str
    week: str  # ISO week, 2026-W47
    status: str = "posting"
    claimed_by: str
    claimed_at: datetime = _moment()
    channel_id: str | None = None
    message_ts: str | None = None
    posted_at: datetime | None = _moment(nullable=True)


class SlackEvent(SQLModel, table=True):
    """An Events API event handled once: Slack retries a delivery it thinks was missed
    (`X-Slack-Retry-Num`), and the retry may reach another replica."""

    __tablename__ = "slack_event"

    event_id: str = Field(primary_key=True)
    received_at: datetime = _moment(index=True)


class ApiLimit(SQLModel, table=True):
    """One CRM API's rate limit as every replica sees it. Its row is also the lock: a
    replica taking a slot locks it first, so two cannot both take the last one."""

    __tablename__ = "api_limit"

    api: str = Field(primary_key=True)  # hubspot, hubspot-search, salesforce
    paused_until: float = 0.0  # epoch seconds: the API asked everyone to wait (Retry-After)
    live_waiting_until: float = 0.0  # a live call waits for a slot: background calls hold back
    live_seen_until: float = 0.0  # live calls were made within a window: background leaves room


class ApiCall(SQLModel, table=True):
    """A request counted against its API's limit: sent (in flight) or answered at `at`."""

    __tablename__ = "api_call"
    __table_args__ = (Index("ix_api_call_api_at", "api", "at"),)

    id: int | None = Field(default=None, primary_key=True)
    api: str
    at: float  # epoch seconds: when sent while in flight, when answered once done
    done: bool = False


class RolloutState(StrEnum):
    """Where the rollout of one ICP version is."""

    RUNNING = "running"
    PAUSED = "paused"
    DONE = "done"


class Rollout(SQLModel, table=True):
    """Every stored record scored again under one new ICP version (SPEC §8a), resumable.

    The row is also the lock: the replica that queues the next page holds it, so two
    replicas never queue the same page. `after_account` / `after_person` are the last
    stored row ids queued; `queued` counts the records handed on, `skipped` those live
    traffic had already scored under this version.
    """

    version: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    state: str = RolloutState.RUNNING.value
    total: int = 0
    queued: int = 0
    skipped: int = 0
    after_account: int = 0
    after_person: int = 0
    started_at: datetime = _moment()
    updated_at: datetime = _moment()
    finished_at: datetime | None = _moment(nullable=True)
