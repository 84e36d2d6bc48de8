"""What `/icp` answers, from the store first and from the CRM when it must (SPEC §5).

`quick` answers from the database alone, fast enough to go back in Slack's
acknowledgement; it returns None when the account is not stored and the
CRM has to be asked, which `slow` then does (its answer goes through the
command's `response_url`). Nothing here knows how an answer is sent.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime

from sqlalchemy import Engine as Database
from sqlmodel import Session

from bot.slack.command import (
    Calibrate,
    Help,
    Lookup,
    Profile,
    Recent,
    Request,
    Rescore,
    Top,
    Usage,
)
from bot.store import repo
from bot.store.db import read_session
from bot.store.db import session as open_session
from bot.store.tables import Account, Contact, Score, Subject
from bot.sync.pipeline import Pipeline
from bot.sync.tagging import Tagger
from bot.views.answers import (
    Answer,
    Listed,
    account_list,
    matches,
    notice,
    profile_answer,
    usage,
)
from bot.views.common import CRM_NAMES, escape, one_line
from bot.views.explanation import explanation_blocks, explanation_text
from bot.views.models import AccountView, PersonView
from integrations.domains import is_free_mail
from integrations.records import CrmRecord, RecordKind
from scoring.model import Icp
from scoring.result import PersonaResult

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
MAX_MATCHES = 10


def persona_email(contact: Contact | None, email: str | None) -> str:
    return contact.email if contact is not None else email or ""


def person_view(
    contact: Contact | None, email: str | None, persona: PersonaResult | None
) -> PersonView | None:
    """The person whose persona fit an answer shows: the contact's, else what `email` says."""
    if persona is None:
        return None
    fields = contact.fields if contact else {}
    return PersonView.of(persona_email(contact, email), persona, fields)


class Answers:
    """The store, the ICP and (when listening to one) the CRM, answering `/icp`."""

    def __init__(
        self,
        *,
        database: Database,
        tagger: Tagger,
        pipelines: Mapping[str, Pipeline] | None = None,
        clock: Clock = lambda: datetime.now(UTC),
    ) -> None:
        """`pipelines`: each listened-to CRM's pipeline, by CRM name (`hubspot`, `salesforce`)."""
        self.database = database
        self.tagger = tagger
        self.pipelines = dict(pipelines or {})
        self.clock = clock

    @property
    def icp(self) -> Icp:
        """The ICP being served (a reload may have changed it since the start)."""
        return self.tagger.scorer.icp

    @property
    def crm_name(self) -> str:
        """The connected CRMs as a person says them: "HubSpot", "HubSpot or Salesforce"."""
        names = [CRM_NAMES.get(name, name) for name in self.pipelines]
        return " or ".join(names) if names else "the CRM"

    def _named(self, crm: str | None) -> str:
        return CRM_NAMES.get(crm or "", crm or "") or self.crm_name

    def quick(self, request: Request) -> Answer | None:
        """The answer from the store, or None when the CRM must be asked first."""
        if isinstance(request, Usage):
            return usage(request.problem)
        if isinstance(request, Help):
            return usage()
        if isinstance(request, Profile):
            return profile_answer(self.icp)
        if isinstance(request, Top):
            return self._top(request)
        if isinstance(request, Recent):
            return self._recent(request)
        if isinstance(request, Rescore | Calibrate):
            return None  # a re-score asks the CRM; a calibration is sent by `slack.calibration`
        return self._lookup_stored(request)

    def slow(self, request: Request) -> Answer:
        """The answer after asking the CRM: a lookup of an unknown account, or a re-score."""
        if isinstance(request, Rescore):
            return self.rescore(request.domain)
        if isinstance(request, Lookup):
            return self._lookup_crm(request)
        return self.quick(request) or usage()

    def looking_up(self, request: Request) -> str:
        """What the acknowledgement says while the CRM is asked."""
        if isinstance(request, Rescore):
            return f":hourglass_flowing_sand: Re-scoring `{escape(request.domain)}`…"
        text = request.text if isinstance(request, Lookup) else ""
        where = self._named(request.crm if isinstance(request, Lookup) else None)
        return f":mag: `{escape(one_line(text))}` is not stored yet; looking it up in {where}…"

    def explain(self, domain: str, *, contact: str | None = None) -> Answer | None:
        """The explanation of a stored account, None when it is not stored."""
        with read_session(self.database) as session:
            return self._stored(session, domain, contact=contact)

    def explain_lead(self, email: str) -> Answer | None:
        """A lead whose company is no stored account: its company fit from its own fields.

        A Salesforce lead carries its company (name, industry, size) until it
        is converted; its score row holds that fit, so the lead explains itself.
        """
        with read_session(self.database) as session:
            contact = repo.get_contact(session=session, email=email)
            row = repo.latest_score(session=session, subject=Subject.CONTACT, key=email)
            score = repo.account_score_of(row, session=session) if row else None
            if contact is None or row is None or score is None:
                return None
            previous_row = repo.previous_different_score(
                session=session, subject=Subject.CONTACT, key=email, latest=row
            )
            previous = (
                repo.account_score_of(previous_row, session=session) if previous_row else None
            )
            persona = repo.persona_of(row, session=session)
            person = person_view(contact, email, persona)
        domain = contact.account_domain or email.rpartition("@")[2]
        name = str(contact.fields.get("name") or domain)
        view = AccountView(domain, name, contact.crm, contact.url)
        blocks = explanation_blocks(
            account=view, score=score, previous=previous, person=person, now=self.clock()
        )
        return Answer(
            explanation_text(account=view, score=score, previous=previous, person=person), blocks
        )

    def rescore(self, domain: str) -> Answer:
        """Score again, from fresh CRM data when the account is the CRM's."""
        with read_session(self.database) as session:
            account = repo.get_account(session=session, domain=domain)
        if account is None:
            return notice(f"`{escape(domain)}` is not stored; `/icp {escape(domain)}` fetches it.")
        pipeline = self.pipelines.get(account.crm)
        if pipeline is not None and account.crm_id:
            pipeline.process(RecordKind.ACCOUNT, [account.crm_id], now=self.clock())
        else:
            record = CrmRecord(
                RecordKind.ACCOUNT,
                account.crm,
                account.crm_id or account.domain,
                dict(account.fields),
                url=account.url,
            )
            with open_session(self.database) as session:
                self.tagger.tag(session=session, record=record, now=self.clock())
        return self.explain(domain) or notice(f"`{escape(domain)}` is no longer in the CRM.")

    # -- lookups ---------------------------------------------------------------------------

    def _lookup_stored(self, request: Lookup) -> Answer | None:
        if request.domain and is_free_mail(request.domain):
            return notice(
                f"`{escape(request.domain)}` is a free-mail domain, not a company. "
                "Try the company's own domain."
            )
        with read_session(self.database) as session:
            if request.crm_id is not None:
                return self._by_record(session, request)
            if request.domain:
                return self._stored(session, request.domain) or self._absent(request)
            return self._by_name(session, request)

    def _absent(self, request: Lookup) -> Answer | None:
        """Not stored: ask the CRM when there is one, else say so now."""
        if self.pipelines:
            return None
        return notice(
            f"No stored account matches `{escape(one_line(request.text))}`. "
            "Accounts arrive from the CRM (`icpbot backfill`)."
        )

    def _by_record(self, session: Session, request: Lookup) -> Answer | None:
        if request.kind is None or request.crm is None or request.crm_id is None:
            return None  # not a record link: _lookup asks by domain or name instead
        row = repo.by_crm_id(
            session=session, kind=request.kind, crm=request.crm, crm_id=request.crm_id
        )
        if isinstance(row, Contact):
            answer = self._stored(session, row.account_domain or "", contact=row.email)
            return answer or notice(
                f"{escape(row.email)}'s company is not stored: no account fit to show."
            )
        if isinstance(row, Account):
            return self._stored(session, row.domain)
        if request.crm in self.pipelines:
            return None
        return notice(f"That {CRM_NAMES.get(request.crm or '', request.crm)} record is not stored.")

    def _by_name(self, session: Session, request: Lookup) -> Answer | None:
        found = repo.find_accounts(session=session, text=request.name or "", limit=MAX_MATCHES)
        exact = [a for a in found if a.name.strip().lower() == (request.name or "").lower()]
        chosen = exact if len(exact) == 1 else found
        if len(chosen) == 1:
            return self._stored(session, chosen[0].domain)
        if chosen:
            return matches(request.text, self._listed(session, chosen))
        return self._absent(request)

    def _lookup_crm(self, request: Lookup) -> Answer:
        """Fetch from the CRM, tag (stored, scored, written back), then explain."""
        if request.crm_id is not None and request.kind is not None:
            return self._lookup_record(request)
        if not self.pipelines:
            return self.quick(request) or notice("No CRM is connected.")
        for pipeline in self.pipelines.values():
            records = pipeline.crm.find_accounts(domain=request.domain, name=request.name)
            if records:
                break
        else:
            return notice(
                f"No account `{escape(one_line(request.text))}` in {self.crm_name} or in the "
                "store. Check the spelling, or try the domain."
            )
        ids = [r.crm_id for r in records]
        outcome = pipeline.process(RecordKind.ACCOUNT, ids, now=self.clock())
        domains = list(dict.fromkeys(t.record.domain for t in outcome.tagged if t.record.domain))
        if len(domains) == 1:
            return self.explain(domains[0]) or notice("The account could not be stored.")
        with read_session(self.database) as session:
            accounts = list(repo.accounts_by_domain(session=session, domains=domains).values())
            return matches(request.text, self._listed(session, accounts))

    def _lookup_record(self, request: Lookup) -> Answer:
        """A CRM record link: that record fetched and tagged, then its account explained."""
        pipeline = self.pipelines.get(request.crm or "")
        name = self._named(request.crm)
        if pipeline is None or request.crm_id is None or request.kind is None:
            return self.quick(request) or notice(f"{name} is not connected.")
        outcome = pipeline.process(request.kind, [request.crm_id], now=self.clock())
        tagged = [t for t in outcome.tagged if t.record.crm_id == request.crm_id]
        if not tagged:
            return notice(f"{name} has no such record (deleted, or no domain).")
        record = tagged[0].record
        contact = record.key if record.kind.is_person else None
        answer = self.explain(record.domain or "", contact=contact)
        if answer is None and contact is not None:
            answer = self.explain_lead(contact)
        return answer or notice(f"{name} knows no company for that person.")

    # -- rendering from the store ------------------------------------------------------------

    def _stored(
        self, session: Session, domain: str, *, contact: str | None = None
    ) -> Answer | None:
        """A stored account's explanation (showing `contact`'s persona fit, else the best
        one at the account), from one read; None when the account is not stored."""
        found = repo.explained(session=session, domain=domain, email=contact)
        return self._explanation(session, found, contact=contact) if found else None

    def _explanation(
        self, session: Session, found: repo.Explained, *, contact: str | None = None
    ) -> Answer:
        account = found.account
        score = repo.account_score_of(found.latest, session=session) if found.latest else None
        if score is None:
            return notice(f"`{escape(account.domain)}` is stored but was never scored.")
        previous = (
            repo.account_score_of(found.previous, session=session) if found.previous else None
        )
        persona = repo.persona_of(found.said, session=session) if found.said else None
        person = person_view(found.contact, contact, persona)
        view = AccountView(account.domain, account.name, account.crm, account.url)
        now = self.clock()
        blocks = explanation_blocks(
            account=view, score=score, previous=previous, person=person, now=now
        )
        text = explanation_text(account=view, score=score, previous=previous, person=person)
        return Answer(text, blocks)

    def _top(self, request: Top) -> Answer:
        with read_session(self.database) as session:
            rows = repo.top_accounts(session=session, limit=request.count, tier=request.tier)
            listed = self._scored(session, rows)
        which = f" in tier {request.tier.value}" if request.tier else ""
        return account_list(
            f"Top {request.count} by fit{which}",
            listed,
            now=self.clock(),
            empty=f"No scored accounts{which} yet.",
        )

    def _recent(self, request: Recent) -> Answer:
        with read_session(self.database) as session:
            accounts = repo.recent_accounts(session=session, limit=request.count)
            listed = self._listed(session, accounts, when=True)
        return account_list(
            f"The {len(listed)} newest accounts",
            listed,
            now=self.clock(),
            empty="No accounts stored yet.",
        )

    def _scored(self, session: Session, rows: Sequence[Score]) -> list[Listed]:
        accounts = repo.accounts_by_domain(session=session, domains=[r.subject_key for r in rows])
        listed = []
        for row in rows:
            account = accounts.get(row.subject_key)
            name, url = (account.name, account.url) if account else (None, None)
            listed.append(Listed(row.subject_key, name, row.tier, row.score, row.coverage, url))
        return listed

    def _listed(
        self, session: Session, accounts: Sequence[Account], *, when: bool = False
    ) -> list[Listed]:
        latest = repo.latest_for(
            session=session, subject=Subject.ACCOUNT, keys=[a.domain for a in accounts]
        )
        listed = []
        for account in accounts:
            score = latest.get(account.domain)
            listed.append(
                Listed(
                    account.domain,
                    account.name,
                    score.tier if score else "D",
                    score.score if score else 0,
                    score.coverage if score else 0.0,
                    account.url,
                    account.first_seen_at if when else None,
                )
            )
        return listed
