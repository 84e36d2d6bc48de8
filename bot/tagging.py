"""The lead pipeline's core: store a record, score it, keep the audit trail,
and decide what the CRM must be told.

Every step is idempotent. Scoring the same record twice with the same ICP
and the same result stores nothing new and writes nothing back, so a
duplicate webhook or a re-run backfill costs a read, not a CRM write.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session

from bot.store import repo
from bot.store.tables import Score, Subject
from integrations.base import ScoreFields, ScoreUpdate
from integrations.records import CrmRecord
from scoring.engine import Engine
from scoring.result import AccountScore, PersonaResult


@dataclass(slots=True)
class Tagged:
    """What tagging one record did."""

    record: CrmRecord
    score: AccountScore | None
    persona: PersonaResult | None
    previous: Score | None
    stored: bool  # a new row joined the audit trail
    update: ScoreUpdate | None  # what the CRM must be told, or None when it already knows

    @property
    def is_new(self) -> bool:
        """First time this account or person was ever scored: a routing post is due."""
        return self.previous is None


def score_fields(
    score: AccountScore | None, persona: PersonaResult | None, *, version: int, now: datetime
) -> ScoreFields:
    """The CRM's view of a score (SPEC §4); a person without a company gets persona only."""
    if score is None:
        return ScoreFields(None, None, None, "", version, now, persona.score if persona else None)
    return ScoreFields(
        score=score.score,
        tier=score.tier.value,
        profile=score.profile_id,
        reasons="\n".join(score.reasons),
        version=score.icp_version,
        scored_at=score.scored_at,
        persona_score=persona.score if persona else None,
    )


def _same(previous: Score | None, fields: ScoreFields, digest: str) -> tuple[bool, bool]:
    """(same result, same input) compared with the last stored score."""
    if previous is None:
        return False, False
    same_result = (
        previous.score == fields.score
        and previous.tier == fields.tier
        and previous.profile == fields.profile
        and previous.icp_version == fields.version
        and "\n".join(previous.reasons) == fields.reasons
        and previous.persona_score == fields.persona_score
    )
    return same_result, previous.input_hash == digest


class Tagger:
    """Scores records against one ICP and records what happened."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.version = engine.icp.version

    def tag(self, *, session: Session, record: CrmRecord, now: datetime) -> Tagged:
        """Store, score and audit one account, contact or lead."""
        if record.kind.is_person:
            return self._tag_person(session=session, record=record, now=now)
        return self._tag_account(session=session, record=record, now=now)

    def _tag_account(self, *, session: Session, record: CrmRecord, now: datetime) -> Tagged:
        repo.upsert_account(session=session, record=record, now=now)
        score = self.engine.score_account(record.fields, now)
        return self._audit(session, record, Subject.ACCOUNT, record.domain, score, None, now)

    def _tag_person(self, *, session: Session, record: CrmRecord, now: datetime) -> Tagged:
        repo.upsert_contact(session=session, record=record, now=now)
        persona = self.engine.score_persona(record.fields, now)
        score = self._company_score(session, record, now)
        return self._audit(session, record, Subject.CONTACT, record.key, score, persona, now)

    def _company_score(
        self, session: Session, record: CrmRecord, now: datetime
    ) -> AccountScore | None:
        """The person's company fit: its stored account, else the lead's own company fields."""
        domain = record.domain
        account = repo.get_account(session=session, domain=domain) if domain else None
        if account is not None:
            return self.engine.score_account(account.fields, now)
        if record.fields.get("name") or record.fields.get("employees"):
            return self.engine.score_account(record.fields, now)
        return None

    def _audit(
        self,
        session: Session,
        record: CrmRecord,
        subject: Subject,
        key: str | None,
        score: AccountScore | None,
        persona: PersonaResult | None,
        now: datetime,
    ) -> Tagged:
        if not key:
            raise ValueError(f"{record.kind} {record.crm_id!r} has no domain or email to key it")
        previous = repo.latest_score(session=session, subject=subject, key=key)
        fields = score_fields(score, persona, version=self.version, now=now)
        same_result, same_input = _same(
            previous, fields, repo.input_hash(record.fields, self.version)
        )
        stored = not (same_result and same_input)
        if stored:
            self._store(session, subject, key, record, score, persona, now)
        update = None if same_result else ScoreUpdate(record.kind, record.crm_id, fields)
        return Tagged(record, score, persona, previous, stored, update)

    def _store(
        self,
        session: Session,
        subject: Subject,
        key: str,
        record: CrmRecord,
        score: AccountScore | None,
        persona: PersonaResult | None,
        now: datetime,
    ) -> None:
        if score is not None:
            repo.save_score(
                session=session, subject=subject, key=key, result=score,
                snapshot=record.fields, persona=persona,
            )  # fmt: skip
        elif persona is not None:
            repo.save_persona_score(
                session=session, key=key, persona=persona, icp_version=self.version,
                snapshot=record.fields, scored_at=now,
            )  # fmt: skip
