"""The lead pipeline's core: store a record, score it, keep the audit trail,
and decide what the CRM must be told.

Every step is idempotent. Scoring the same record twice with the same ICP
and the same result stores nothing new and writes nothing back, so a
duplicate webhook or a re-run backfill costs a read, not a CRM write.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sqlmodel import Session

from bot.store import repo
from bot.store.repo import LatestScore
from bot.store.tables import Account, Subject
from integrations.base import ScoreFields, ScoreUpdate
from integrations.records import CrmRecord
from scoring.engine import Scorer
from scoring.explain import status_changes
from scoring.result import AccountScore, PersonaResult

Scored = tuple[CrmRecord, str | None, AccountScore | None, PersonaResult | None]


@dataclass(frozen=True, slots=True)
class Due:
    """A stored record whose result today differs from its latest score under this ICP."""

    record: CrmRecord
    previous: LatestScore
    now: ScoreFields
    changes: tuple[str, ...] = ()  # the criteria whose status moved since `previous`, in words


@dataclass(slots=True)
class Prepared:
    """A batch of one kind scored and compared with the store, its rows built; not stored yet.

    `store` writes it in two statements (the records upserted, the new audit
    rows appended). Everything before, reading the latest scores, scoring and
    encoding the rows, needs no write transaction: a backfill prepares a page
    while the rest of the process keeps the database (the CRM's rate-limit
    slots, the checkpoint of the page being written back).
    """

    subject: Subject
    tagged: list[Tagged]
    records: list[dict[str, Any]]  # the `account` or `contact` rows
    scores: list[dict[str, Any]]  # the audit rows to append

    def store(self, session: Session) -> list[Tagged]:
        """Write the batch in `session`'s transaction; what tagging did, in record order."""
        if self.subject is Subject.ACCOUNT:
            repo.upsert_account_rows(session=session, rows=self.records)
        else:
            repo.upsert_contact_rows(session=session, rows=self.records)
        repo.save_scores(session=session, rows=self.scores)
        return self.tagged


@dataclass(slots=True)
class Tagged:
    """What tagging one record did."""

    record: CrmRecord
    score: AccountScore | None
    persona: PersonaResult | None
    previous: LatestScore | None
    stored: bool  # a new row joined the audit trail
    update: ScoreUpdate | None  # what the CRM must be told, or None when it already knows
    moved: bool = False  # first scored, or the result differs from the last stored one

    @property
    def is_new(self) -> bool:
        """First time this account or person was ever scored: a routing post is due."""
        return self.previous is None


def score_fields(
    score: AccountScore | None, persona: PersonaResult | None, *, version: int, now: datetime
) -> ScoreFields:
    """The CRM's view of a score (SPEC §4); a person without a company gets persona only."""
    if score is None:
        return ScoreFields(
            None,
            None,
            None,
            "",
            version,
            now,
            persona.score if persona else None,
            persona.tier.value if persona else None,
        )
    return ScoreFields(
        score=score.score,
        tier=score.tier.value,
        profile=score.profile_id,
        reasons="\n".join(score.reasons),
        version=score.icp_version,
        scored_at=score.scored_at,
        persona_score=persona.score if persona else None,
        persona_tier=persona.tier.value if persona else None,
    )


def _same_result(previous: LatestScore, fields: ScoreFields) -> bool:
    """The last stored score says what `fields` say.

    A person without a company stores the persona's score and tier in the
    row's score and tier; compare like with like.
    """
    persona_only = fields.score is None
    score = fields.persona_score if persona_only else fields.score
    tier = fields.persona_tier if persona_only else fields.tier
    return (
        previous.score == score
        and previous.tier == tier
        and previous.profile == fields.profile
        and previous.icp_version == fields.version
        and "\n".join(previous.reasons) == fields.reasons
        and previous.persona_score == fields.persona_score
    )


def _same(previous: LatestScore | None, fields: ScoreFields, digest: str) -> tuple[bool, bool]:
    """(same result, same input) compared with the last stored score."""
    if previous is None:
        return False, False
    return _same_result(previous, fields), previous.input_hash == digest


def _link_companies(session: Session, records: list[CrmRecord]) -> None:
    """A person whose CRM names their company belongs to that company's domain.

    The email's domain is the fallback: a gmail address at a known company
    still finds it, and a company not stored yet is found by email for now.
    """
    linked = [r for r in records if r.company_id and not r.fields.get("domain")]
    if not linked:
        return
    crm = linked[0].crm
    domains = repo.domains_by_crm_id(
        session=session, crm=crm, crm_ids=[r.company_id for r in linked if r.company_id]
    )
    for record in linked:
        domain = domains.get(record.company_id or "")
        if domain:
            record.fields["domain"] = domain


class Tagger:
    """Scores records against one ICP and records what happened, a batch at a time.

    A batch costs a handful of statements whatever its size: one upsert of
    the records, one read of their latest scores (and, for people, of their
    companies), one insert of the new audit rows.
    """

    def __init__(self, scorer: Scorer) -> None:
        self._state = (scorer, scorer.icp.version)

    @property
    def scorer(self) -> Scorer:
        return self._state[0]

    @property
    def version(self) -> int:
        return self._state[1]

    def use(self, scorer: Scorer) -> None:
        """Score with another ICP from the next batch on (`serve` reloading its config): one
        assignment, so a batch never mixes two ICPs (each batch works on a copy, below)."""
        self._state = (scorer, scorer.icp.version)

    def record_version(self, *, session: Session, icp_text: str, now: datetime) -> None:
        """Store this ICP version (text and catalogue) before any score that names it."""
        icp = self.scorer.icp
        repo.record_icp_version(
            session=session,
            version=icp.version,
            content=icp_text,
            reviewed_on=icp.reviewed_on,
            now=now,
            catalogue=self.scorer.catalogue(),
        )

    def tag(self, *, session: Session, record: CrmRecord, now: datetime) -> Tagged:
        """Store, score and audit one account, contact or lead."""
        return self.tag_many(session=session, records=[record], now=now)[0]

    def tag_many(
        self, *, session: Session, records: Sequence[CrmRecord], now: datetime
    ) -> list[Tagged]:
        """Store, score and audit a batch; order kept. Accounts are stored before people
        are scored: a person carries their company's fit, read from the store."""
        tagger = copy.copy(self)  # one ICP for the whole batch
        done: dict[int, Tagged] = {}
        for group in _by_kind(records):
            stored = tagger._prepare(session, group, now).store(session)
            done.update((id(t.record), t) for t in stored)
        return [done[id(r)] for r in records]

    def prepare(self, *, session: Session, records: Sequence[CrmRecord], now: datetime) -> Prepared:
        """Score a batch of one kind and build its rows, only reading through `session`
        (a read-only one will do); `Prepared.store` writes them. One kind, because people
        read their companies' fit from the store: accounts must be stored first."""
        if len(_by_kind(records)) > 1:
            raise ValueError("prepare accounts and people apart: people read stored accounts")
        return copy.copy(self)._prepare(session, list(records), now)

    def _prepare(self, session: Session, records: list[CrmRecord], now: datetime) -> Prepared:
        if records and records[0].kind.is_person:
            scored = self._score_people(session, records, now)
            return self._audit(session, Subject.CONTACT, scored, now, repo.contact_values)
        scored = self._score_accounts(records, now)
        return self._audit(session, Subject.ACCOUNT, scored, now, repo.account_values)

    def due(self, *, session: Session, records: Sequence[CrmRecord], now: datetime) -> list[Due]:
        """The records whose result `now` differs from their latest score; stores nothing.

        Only records last scored under this ICP version count: a different
        result under an older version is the ICP's change, not the calendar's.
        """
        return copy.copy(self)._due(session=session, records=records, now=now)

    def _due(self, *, session: Session, records: Sequence[CrmRecord], now: datetime) -> list[Due]:
        accounts = [r for r in records if not r.kind.is_person]
        people = [r for r in records if r.kind.is_person]
        found = []
        for subject, scored in (
            (Subject.ACCOUNT, self._score_accounts(accounts, now)),
            (Subject.CONTACT, self._score_people(session, people, now)),
        ):
            keys = [key for _, key, _, _ in scored if key]
            latest = repo.latest_for(session=session, subject=subject, keys=keys)
            for record, key, score, persona in scored:
                previous = latest.get(key.strip().lower()) if key else None
                if previous is None or previous.icp_version != self.version:
                    continue
                fields = score_fields(score, persona, version=self.version, now=now)
                if (score or persona) is not None and not _same_result(previous, fields):
                    changes = self.changes_since(session, record, previous, (score, persona))
                    found.append(Due(record, previous, fields, changes))
        return found

    def changes_since(
        self,
        session: Session,
        record: CrmRecord,
        previous: LatestScore,
        after: tuple[AccountScore | None, PersonaResult | None],
    ) -> tuple[str, ...]:
        """What moved since the latest score: the same fields scored as of that moment."""
        then = previous.scored_at
        if then is None:
            return ()
        if record.kind.is_person:
            _, _, score, persona = self._score_people(session, [record], then)[0]
            before = (score, persona)
        else:
            before = (self.scorer.score_account(record.fields, then), None)
        return tuple(status_changes(before, after))

    def _score_accounts(self, records: list[CrmRecord], now: datetime) -> list[Scored]:
        return [(r, r.domain, self.scorer.score_account(r.fields, now), None) for r in records]

    def _score_people(
        self, session: Session, records: list[CrmRecord], now: datetime
    ) -> list[Scored]:
        """Each person's company fit and persona fit; their company is found first."""
        if not records:
            return []
        _link_companies(session, records)
        companies = repo.accounts_by_domain(
            session=session, domains=[r.domain for r in records if r.domain]
        )
        return [
            (
                r,
                r.key,
                self._company_score(r, companies, now),
                self.scorer.score_persona(r.fields, now),
            )
            for r in records
        ]

    def _company_score(
        self, record: CrmRecord, companies: dict[str, Account], now: datetime
    ) -> AccountScore | None:
        """The person's company fit: its stored account, else a lead's own company fields."""
        account = companies.get(record.domain or "")
        if account is not None:
            return self.scorer.score_account(account.fields, now)
        if record.fields.get("name") or record.fields.get("employees"):
            return self.scorer.score_account(record.fields, now)
        return None

    def _audit(
        self,
        session: Session,
        subject: Subject,
        scored: list[Scored],
        now: datetime,
        values: RowValues,
    ) -> Prepared:
        """Compare with the latest scores; the records' rows and the new audit rows.

        Only reads: every write is `Prepared.store`'s, so a write transaction
        is held only for the writes (on SQLite it blocks every other writer,
        webhooks included).
        """
        keys = [key for _, key, _, _ in scored]
        latest = repo.latest_for(session=session, subject=subject, keys=[k for k in keys if k])
        prepared = Prepared(subject, [], [], [])
        for record, key, score, persona in scored:
            if not key:
                raise ValueError(f"{record.kind} {record.crm_id!r} has no domain or email")
            previous = latest.get(key.strip().lower())
            fields = score_fields(score, persona, version=self.version, now=now)
            snapshot = repo.Snapshot.of(record.fields, self.version)
            prepared.records.append(values(record, now, snapshot=snapshot))
            same_result, same_input = _same(previous, fields, snapshot.digest)
            stored = not (same_result and same_input) and (score or persona) is not None
            if stored:
                prepared.scores.append(
                    repo.score_row(
                        subject=subject,
                        key=key,
                        result=score,
                        snapshot=snapshot,
                        persona=persona,
                        icp_version=self.version,
                        scored_at=now,
                    )
                )
            told = same_result if record.written is None else record.written == fields.comparable()
            update = None if told else ScoreUpdate(record.kind, record.crm_id, fields)
            moved = previous is None or not same_result
            prepared.tagged.append(Tagged(record, score, persona, previous, stored, update, moved))
        return prepared


class RowValues(Protocol):
    """`repo.account_values` or `repo.contact_values`: a record's own row."""

    def __call__(
        self, record: CrmRecord, now: datetime, *, snapshot: repo.Snapshot | None = None
    ) -> dict[str, Any]: ...


def _by_kind(records: Sequence[CrmRecord]) -> list[list[CrmRecord]]:
    """Accounts, then people, leaving out a kind the batch has none of."""
    accounts = [r for r in records if not r.kind.is_person]
    people = [r for r in records if r.kind.is_person]
    return [group for group in (accounts, people) if group]
