"""What the bot reads and writes, as small functions over a Session.

Keyword-only arguments (as in the fastapi full-stack template), so call
sites read plainly and two strings can never be swapped silently. Functions
flush but never commit: the caller's `session(engine)` block is the unit of
work, so an account upsert and its score land together or not at all.

Upserts are single `INSERT ... ON CONFLICT` statements rather than a read
then a write, so two replicas handling the same webhook cannot both insert.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from functools import cache
from typing import Any, TypeVar
from weakref import WeakKeyDictionary

import orjson
from sqlalchemy import Select as CoreSelect
from sqlalchemy import Subquery, Table, and_, bindparam, case, delete, func, insert, or_
from sqlalchemy import select as core_select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import aliased
from sqlmodel import Session, SQLModel, col, select
from sqlmodel.sql.expression import Select, SelectOfScalar

from bot.store.db import Encoded, encode_json
from bot.store.tables import Account, Contact, Crm, Deal, DealStage, IcpVersion, Score, Subject
from integrations.records import CrmRecord, RecordKind
from scoring.model import Tier
from scoring.result import AccountScore, PersonaResult
from scoring.serialize import (
    Catalogue,
    catalogue_from_dict,
    catalogue_to_dict,
    compact_account,
    compact_persona,
    expand_account,
    expand_persona,
    jsonable,
)

_Model = TypeVar("_Model", bound=SQLModel)
_Stored = TypeVar("_Stored", Account, Contact)

MAX_SEARCH_RESULTS = 100
CHUNK = 1000  # keys in one IN (...): well under every database's limit on parameters
# Each database's ICP catalogues by version: immutable once stored, so cached for good.
_CATALOGUES: WeakKeyDictionary[Any, dict[int, Catalogue]] = WeakKeyDictionary()


class StoreError(Exception):
    """A storage operation refused to proceed; the message says what to do."""


class IcpVersionConflict(StoreError):
    """The same ICP version number arrived with different content."""

    def __init__(self, version: int) -> None:
        super().__init__(
            f"icp.yaml version {version} was already recorded with different content: "
            "bump `version` in icp.yaml on every change, so each stored score names "
            "the exact ICP that produced it"
        )
        self.version = version


# --- records -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Snapshot:
    """A record's fields as the store keeps them: one canonical JSON document, encoded
    once for the record's own row and its audit row, and its `input_hash`."""

    document: Encoded
    digest: str

    @classmethod
    def of(cls, fields: Mapping[str, object], icp_version: int) -> Snapshot:
        canonical = _canonical(fields)
        return cls(encode_json(canonical), _digest(canonical, icp_version))


def account_values(
    record: CrmRecord, now: datetime, *, snapshot: Snapshot | None = None
) -> dict[str, Any]:
    """The `account` row for a CRM company; `snapshot` is its fields' when already made."""
    domain = record.domain
    if record.kind is not RecordKind.ACCOUNT or not domain:
        raise ValueError(f"not an account with a domain: {record.kind} {record.crm_id!r}")
    fields = record.fields
    return {
        "domain": _key(domain),
        "name": _text(fields.get("name")) or domain,
        "crm": Crm(record.crm).value,
        "crm_id": record.crm_id or None,
        "owner_id": _text(fields.get("owner_id")),
        "fields": snapshot.document if snapshot else _canonical(fields),
        "url": record.url,
        "crm_created_at": _as_moment(fields.get("created_at")),
        "first_seen_at": now,
        "updated_at": now,
    }


def contact_values(
    record: CrmRecord, now: datetime, *, snapshot: Snapshot | None = None
) -> dict[str, Any]:
    """The `contact` row for a CRM person; `account_domain` is None for free mail."""
    email = record.key
    if not record.kind.is_person or not email:
        raise ValueError(f"not a contact or lead with an email: {record.kind} {record.crm_id!r}")
    return {
        "email": _key(email),
        "account_domain": record.domain,
        "kind": record.kind.value,
        "crm": Crm(record.crm).value,
        "crm_id": record.crm_id or None,
        "fields": snapshot.document if snapshot else _canonical(record.fields),
        "url": record.url,
        "first_seen_at": now,
        "updated_at": now,
    }


def upsert_accounts(*, session: Session, records: Iterable[CrmRecord], now: datetime) -> None:
    """Many accounts in one statement: what a backfill batch or a webhook burst needs."""
    upsert_account_rows(session=session, rows=[account_values(r, now) for r in records])


def upsert_contacts(*, session: Session, records: Iterable[CrmRecord], now: datetime) -> None:
    """Many contacts or leads in one statement."""
    upsert_contact_rows(session=session, rows=[contact_values(r, now) for r in records])


def upsert_account_rows(*, session: Session, rows: Iterable[dict[str, Any]]) -> None:
    """`account_values` rows in one statement; of two with one domain, the later one."""
    unique = list({row["domain"]: row for row in rows}.values())
    _upsert_many(session, Account, unique, keys=("domain",), keep=("first_seen_at",))


def upsert_contact_rows(*, session: Session, rows: Iterable[dict[str, Any]]) -> None:
    """`contact_values` rows in one statement; of two with one email, the later one."""
    unique = list({row["email"]: row for row in rows}.values())
    _upsert_many(session, Contact, unique, keys=("email",), keep=("first_seen_at",))


def accounts_by_domain(*, session: Session, domains: Iterable[str]) -> dict[str, Account]:
    """The stored accounts among `domains`, in one query."""
    keys = sorted({_key(d) for d in domains if d})
    found: dict[str, Account] = {}
    for start in range(0, len(keys), CHUNK):
        rows = session.exec(
            select(Account).where(col(Account.domain).in_(keys[start : start + CHUNK]))
        )
        found.update((row.domain, row) for row in rows)
    return found


def stored_page(
    *, session: Session, model: type[_Stored], after: int = 0, limit: int = 1000
) -> list[_Stored]:
    """Stored accounts or people after row id `after`, in id order: keyset paging
    through the whole store without holding it in memory."""
    query = select(model).where(col(model.id) > after).order_by(col(model.id)).limit(limit)
    return list(session.exec(query))


def people_at(*, session: Session, crm: str, domains: Iterable[str]) -> list[tuple[str, str]]:
    """(kind, CRM id) of the stored contacts or leads of one CRM at these account domains."""
    keys = sorted({_key(d) for d in domains if d})
    if not keys:
        return []
    query = select(Contact.kind, Contact.crm_id).where(
        Contact.crm == Crm(crm).value, col(Contact.account_domain).in_(keys)
    )
    return [(kind, crm_id) for kind, crm_id in session.exec(query) if crm_id]


def stored_record(row: Account | Contact) -> CrmRecord:
    """A stored account or person as the record it was stored from, to score it again."""
    if isinstance(row, Account):
        kind, crm_id = RecordKind.ACCOUNT, row.crm_id or row.domain
    else:
        kind, crm_id = RecordKind(row.kind), row.crm_id or row.email
    return CrmRecord(kind, row.crm, crm_id, dict(row.fields), url=row.url)


def domains_by_crm_id(*, session: Session, crm: str, crm_ids: Iterable[str]) -> dict[str, str]:
    """Stored account domains by their CRM id: a contact's associated company, in one query."""
    ids = sorted(set(crm_ids))
    if not ids:
        return {}
    query = select(Account.crm_id, Account.domain).where(
        Account.crm == Crm(crm).value, col(Account.crm_id).in_(ids)
    )
    return {crm_id: domain for crm_id, domain in session.exec(query) if crm_id}


def remove_records(
    *, session: Session, crm: str, kind: RecordKind, removed: Mapping[str, str | None]
) -> int:
    """Forget the records a CRM deleted (`removed`: id → the record it was merged into, or
    None): their rows go, so /icp, the digest, the ageing and rollouts no longer see them;
    their scores stay in the audit trail, which lists nothing by itself. An account deleted
    outright takes that CRM's deals at its domain along (the CRM deleted them with it); a
    merged one leaves them to its master, where the deal sweep finds them moved. A row the
    master has taken over (same key) names the master by now and stays. How many went."""
    ids = sorted(removed)
    if not ids:
        return 0
    crm_value = Crm(crm).value
    rows: list[Account | Contact] = []
    if kind.is_person:
        people = select(Contact).where(Contact.crm == crm_value, col(Contact.crm_id).in_(ids))
        rows += list(session.exec(people).all())
    else:
        accounts = select(Account).where(Account.crm == crm_value, col(Account.crm_id).in_(ids))
        rows += list(session.exec(accounts).all())
    outright = [
        r.domain for r in rows if isinstance(r, Account) and removed.get(r.crm_id or "") is None
    ]
    if outright:
        session.execute(
            delete(Deal).where(col(Deal.crm) == crm_value, col(Deal.account_domain).in_(outright))
        )
    for row in rows:
        session.delete(row)
    return len(rows)


def remove_deals(*, session: Session, crm: str, crm_ids: Iterable[str]) -> None:
    """Forget deals the CRM deleted: calibration learns only from deals that exist."""
    ids = sorted(set(crm_ids))
    if ids:
        session.execute(
            delete(Deal).where(col(Deal.crm) == Crm(crm).value, col(Deal.crm_id).in_(ids))
        )


def upsert_deal(
    *,
    session: Session,
    crm: str,
    crm_id: str,
    account_domain: str,
    name: str,
    stage: DealStage | str,
    amount: float | None,
    created_at: datetime,
    closed_at: datetime | None = None,
) -> Deal:
    """A deal outcome, found by (crm, crm_id): a CRM re-export updates, never duplicates."""
    values = {
        "crm": Crm(crm).value,
        "crm_id": crm_id,
        "account_domain": _key(account_domain),
        "name": name,
        "stage": DealStage(stage).value,
        "amount": amount,
        "created_at": created_at,
        "closed_at": closed_at,
    }
    return _upsert(session, Deal, values, keys=("crm", "crm_id"))


def get_account(*, session: Session, domain: str) -> Account | None:
    return session.exec(_account_query(), params={"domain": _key(domain)}).first()


def get_contact(*, session: Session, email: str) -> Contact | None:
    return session.exec(_contact_query(), params={"email": email}).first()


def by_crm_id(
    *, session: Session, kind: RecordKind, crm: str, crm_id: str
) -> Account | Contact | None:
    """The stored account (or person) a CRM record link points at."""
    if kind is RecordKind.ACCOUNT:
        account = select(Account).where(col(Account.crm) == crm, col(Account.crm_id) == crm_id)
        return session.exec(account).first()
    person = select(Contact).where(col(Contact.crm) == crm, col(Contact.crm_id) == crm_id)
    return session.exec(person).first()


def find_accounts(*, session: Session, text: str, limit: int = 10) -> list[Account]:
    """Accounts whose name or domain contains `text`, any case; exact domain first.

    `text` comes from Slack users: it is only ever a bound parameter, and
    LIKE's wildcards in it are escaped, so `%` finds a literal percent sign.
    """
    needle = text.strip().lower()
    if not needle:
        return []
    escaped = _escape_like(needle)
    domain, name = col(Account.domain), func.lower(col(Account.name))
    contains = or_(domain.like(f"%{escaped}%", escape="\\"), name.like(f"%{escaped}%", escape="\\"))
    starts = or_(domain.like(f"{escaped}%", escape="\\"), name.like(f"{escaped}%", escape="\\"))
    rank = case((domain == needle, 0), (starts, 1), else_=2)
    limit = max(1, min(limit, MAX_SEARCH_RESULTS))
    statement = select(Account).where(contains).order_by(rank, name, domain).limit(limit)
    return list(session.exec(statement))


def deals(*, session: Session) -> list[Deal]:
    """Every deal, oldest first: the input of calibration and win rates."""
    return list(session.exec(select(Deal).order_by(col(Deal.created_at), col(Deal.id))))


def counts(*, session: Session) -> dict[str, int]:
    """How much is stored, for `/healthz`, the demo and the CLI; one round trip."""
    tables: dict[str, type[SQLModel]] = {
        "accounts": Account,
        "contacts": Contact,
        "deals": Deal,
        "scores": Score,
    }
    columns = [
        select(func.count()).select_from(table).scalar_subquery().label(label)
        for label, table in tables.items()
    ]
    row = session.exec(select(*columns)).one()
    return {label: int(value) for label, value in zip(tables, row, strict=True)}


# --- ICP versions --------------------------------------------------------------


def record_icp_version(
    *,
    session: Session,
    version: int,
    content: str,
    reviewed_on: date | None,
    now: datetime,
    catalogue: Catalogue | None = None,
) -> IcpVersion:
    """Remember the icp.yaml text behind `version`; loading the same file again is a no-op.

    Raises IcpVersionConflict when the version number was already used for
    other content: scores stored under it would no longer be explainable.
    """
    digest = hashlib.sha256(content.encode()).hexdigest()
    insert = dialect_insert(session, IcpVersion).values(
        version=version,
        sha256=digest,
        content=content,
        catalogue=catalogue_to_dict(catalogue or {}),
        reviewed_on=reviewed_on,
        loaded_at=now,
    )
    session.exec(insert.on_conflict_do_nothing(index_elements=["version"]))
    row = session.get(IcpVersion, version, populate_existing=True)
    assert row is not None  # inserted above, or there already
    if row.sha256 != digest:
        raise IcpVersionConflict(version)
    return row


# --- scores: the audit trail -----------------------------------------------------


def input_hash(snapshot: Mapping[str, object], icp_version: int) -> str:
    """sha256 of the canonical JSON of what was scored and which ICP scored it.

    Equal hashes mean a re-score would read exactly the same input; only
    time-dependent criteria (`within_days`) can still change the result.
    """
    return _digest(jsonable(dict(snapshot)), icp_version)


def _digest(canonical: object, icp_version: int) -> str:
    """`input_hash` of fields already made canonical (`jsonable`)."""
    text = orjson.dumps(
        {"fields": canonical, "icp_version": icp_version},
        option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS,
        default=str,
    )
    return hashlib.sha256(text).hexdigest()


def score_row(
    *,
    subject: Subject | str,
    key: str,
    result: AccountScore | None,
    snapshot: Mapping[str, object] | Snapshot,
    persona: PersonaResult | None = None,
    icp_version: int | None = None,
    scored_at: datetime | None = None,
) -> dict[str, Any]:
    """The column values of one audit-trail row; with no account score, the persona's.

    `snapshot` is the fields scored, or their `Snapshot` when the caller made it (for
    the record's own row too). Its JSON documents are encoded here, so that
    `save_scores` spends its transaction on the statement alone.
    """
    data: dict[str, Any] = {}
    if result is not None:
        data["account"] = compact_account(result)
    if persona is not None:
        data["persona"] = compact_persona(persona)
    version = result.icp_version if result is not None else icp_version
    if version is None:
        raise ValueError("a persona-only score needs its icp_version")
    head: Any = result if result is not None else persona
    if head is None:
        raise ValueError("nothing to store: neither an account score nor a persona")
    if not isinstance(snapshot, Snapshot):
        snapshot = Snapshot.of(snapshot, version)
    return {
        "subject": Subject(subject).value,
        "subject_key": _key(key),
        "icp_version": version,
        "score": head.score,
        "tier": head.tier.value,
        "profile": result.profile_id if result is not None else None,
        "coverage": head.coverage,
        "disqualified_by": result.disqualifier_id if result is not None else None,
        "persona_score": persona.score if persona else None,
        "persona_tier": persona.tier.value if persona else None,
        "reasons": encode_json(list(result.reasons) if result is not None else []),
        "result": encode_json(data),
        "input_snapshot": snapshot.document,
        "input_hash": snapshot.digest,
        "scored_at": result.scored_at if result is not None else scored_at,
    }


def save_scores(*, session: Session, rows: list[dict[str, Any]]) -> None:
    """Append many audit-trail rows (from `score_row`) in one executemany.

    Through the table, not the ORM: the ORM's bulk insert splits a batch
    into many small statements, which costs more than scoring the rows.
    """
    if rows:
        session.execute(insert(table_of(Score)), rows)


def has_scores_other_than(*, session: Session, version: int) -> bool:
    """Whether any stored score was made under another ICP version."""
    query = select(Score.id).where(col(Score.icp_version) != version).limit(1)
    return session.exec(query).first() is not None


def deployed_version(*, session: Session) -> IcpVersion | None:
    """The ICP version loaded last (what `serve` or the last backfill scored with)."""
    query = select(IcpVersion).order_by(
        col(IcpVersion.loaded_at).desc(), col(IcpVersion.version).desc()
    )
    return session.exec(query.limit(1)).first()


def catalogue_of(*, session: Session, version: int) -> Catalogue:
    """What each criterion of an ICP version is; cached per database for the process's life.

    A version's catalogue never changes once stored (a different text needs
    a new version number), so the cache never goes stale.
    """
    cache = _CATALOGUES.setdefault(session.get_bind(), {})
    if version not in cache:
        row = session.get(IcpVersion, version)
        if row is None:
            return {}
        cache[version] = catalogue_from_dict(row.catalogue)
    return cache[version]


def account_score_of(row: Score, *, session: Session) -> AccountScore | None:
    """The AccountScore a row stored, exactly as it was; None for a persona-only row."""
    data = row.result.get("account")
    if data is None:
        return None
    return expand_account(data, catalogue_of(session=session, version=row.icp_version))


def persona_of(row: Score, *, session: Session) -> PersonaResult | None:
    """The persona fit a row stored, if a person was scored."""
    data = row.result.get("persona")
    if data is None:
        return None
    return expand_persona(data, catalogue_of(session=session, version=row.icp_version))


@dataclass(frozen=True, slots=True)
class LatestScore:
    """The columns of a key's newest score that decide whether anything changed."""

    key: str
    score: int
    tier: str
    profile: str | None
    icp_version: int
    reasons: tuple[str, ...]
    persona_score: int | None
    input_hash: str
    coverage: float = 0.0
    scored_at: datetime | None = None


def latest_for(
    *, session: Session, subject: Subject | str, keys: Iterable[str]
) -> dict[str, LatestScore]:
    """The newest score of each of `keys`, in one query, without the large JSON columns."""
    wanted = sorted({_key(k) for k in keys if k})
    if not wanted:
        return {}
    rank = _newest_first()
    names = (
        "subject_key",
        "score",
        "tier",
        "profile",
        "icp_version",
        "reasons",
        "persona_score",
        "input_hash",
        "coverage",
        "scored_at",
    )
    scores = table_of(Score)
    ranked = (
        core_select(*(scores.c[name] for name in names), rank)
        .where(col(Score.subject) == Subject(subject).value, col(Score.subject_key).in_(wanted))
        .subquery()
    )
    statement = core_select(*(ranked.c[name] for name in names)).where(ranked.c.rank == 1)
    found = {}
    for row in session.execute(statement):
        key, score, tier, profile, version, reasons, persona, digest, coverage, at = row
        found[key] = LatestScore(
            key, score, tier, profile, version, tuple(reasons), persona, digest, coverage, at
        )
    return found


def latest_score(*, session: Session, subject: Subject | str, key: str) -> Score | None:
    params = {"subject": Subject(subject).value, "key": _key(key)}
    return session.exec(_latest_query(), params=params).first()


def previous_different_score(
    *, session: Session, subject: Subject | str, key: str, latest: Score | None = None
) -> Score | None:
    """The newest earlier score whose score or tier differs from the latest one.

    What "previous score, if it changed" shows: re-scores that said the same
    thing are skipped, so 70 → 70 → 55 → 70 shows 55.
    """
    latest = latest or latest_score(session=session, subject=subject, key=key)
    if latest is None:
        return None
    params: dict[str, Any] = {"subject": Subject(subject).value, "key": _key(key)}
    params |= {"scored_at": latest.scored_at, "id": latest.id}
    params |= {"score": latest.score, "tier": latest.tier}
    return session.exec(_previous_different_query(), params=params).first()


@dataclass(frozen=True, slots=True)
class Explained:
    """The rows an account's explanation shows, as `explained` reads them in one query."""

    account: Account
    latest: Score | None  # the account's latest score
    previous: Score | None  # the newest earlier one whose score or tier differs
    contact: Contact | None  # the person shown: the one named, else the best persona fit
    said: Score | None  # that person's latest score, holding the persona fit


def explained(*, session: Session, domain: str, email: str | None = None) -> Explained | None:
    """A stored account with all its explanation shows, in one query; None when not stored.

    The same rows the account's own read, `latest_score`, `previous_different_score` and
    `persona_for` (the person `email` when given, else the best persona fit among the
    account's contacts) find in three to five: `/icp DOMAIN` answers while Slack waits,
    from a thread that gives up the interpreter at every statement and may wait to get it
    back, and each statement costs more to set up and read back in Python than to run.
    """
    params = {"domain": _key(domain), "email": _key(email) if email is not None else None}
    found = session.execute(_explained_query(email is not None), params).first()
    return Explained(*found) if found else None


def best_persona(*, session: Session, domain: str) -> tuple[Contact, Score] | None:
    """The account's contact whose latest score has the best persona fit, with that score."""
    found = session.exec(_best_persona_query(), params={"domain": _key(domain)}).first()
    return (found[0], found[1]) if found else None


def persona_for(
    *, session: Session, domain: str, email: str | None = None
) -> tuple[Contact | None, PersonaResult] | None:
    """The named person's persona fit, else that of the account's best-fitting contact.

    `/icp` and `icpbot explain` show the same person: a named contact when
    asked about one, otherwise whoever at the company fits the persona best.
    """
    contact: Contact | None
    row: Score | None
    if email is None:
        best = best_persona(session=session, domain=domain)
        if best is None:
            return None
        contact, row = best
    else:
        row = latest_score(session=session, subject=Subject.CONTACT, key=email)
        contact = get_contact(session=session, email=email)
    persona = persona_of(row, session=session) if row else None
    return (contact, persona) if persona is not None else None


def top_accounts(
    *, session: Session, limit: int = 10, tier: Tier | str | None = None
) -> list[Score]:
    """The best accounts by latest score; disqualified ones only when asked for DQ.

    Ties go to the better-known account (higher coverage), then by domain,
    so the list is stable from one call to the next.
    """
    latest = _latest(Subject.ACCOUNT)
    if tier is None:
        wanted = col(Score.tier) != Tier.DQ.value
    else:
        wanted = col(Score.tier) == Tier(tier).value
    statement = (
        select(Score)
        .join(latest, col(Score.id) == latest.c.id)
        .where(wanted)
        .order_by(col(Score.score).desc(), col(Score.coverage).desc(), col(Score.subject_key))
        .limit(limit)
    )
    return list(session.exec(statement))


def new_accounts(
    *, session: Session, start: datetime, end: datetime
) -> list[tuple[Account, Score]]:
    """Accounts new in [start, end) with their latest scores, best first.

    New means created in the CRM then (its creation date when the CRM gave
    one, else when icpbot first saw it): a backfill of old records is not news.
    """
    latest = _latest(Subject.ACCOUNT)
    created = func.coalesce(col(Account.crm_created_at), col(Account.first_seen_at))
    statement = (
        select(Account, Score)
        .join(Score, col(Score.subject_key) == col(Account.domain))
        .join(latest, col(Score.id) == latest.c.id)
        .where(created >= start, created < end)
        .order_by(col(Score.score).desc(), col(Score.coverage).desc(), col(Account.domain))
    )
    return [(account, score) for account, score in session.exec(statement)]


def latest_new_account(*, session: Session, before: datetime) -> datetime | None:
    """When the newest account created before `before` was created (as `new_accounts` counts)."""
    created = func.coalesce(col(Account.crm_created_at), col(Account.first_seen_at))
    found = session.exec(select(func.max(created)).where(created < before)).first()
    return found if isinstance(found, datetime) else None


def new_account_tiers(*, session: Session, start: datetime, end: datetime) -> dict[str, int]:
    """How many accounts new in [start, end) are in each tier now (zeros included)."""
    latest = _latest(Subject.ACCOUNT)
    created = func.coalesce(col(Account.crm_created_at), col(Account.first_seen_at))
    statement = (
        select(col(Score.tier), func.count())
        .join(Account, col(Score.subject_key) == col(Account.domain))
        .join(latest, col(Score.id) == latest.c.id)
        .where(created >= start, created < end)
        .group_by(col(Score.tier))
    )
    found = {tier: int(count) for tier, count in session.exec(statement)}
    return {tier.value: found.get(tier.value, 0) for tier in Tier}


def closed_deals(*, session: Session, start: datetime, end: datetime) -> list[Deal]:
    """Deals won, churned or lost in [start, end), oldest first."""
    statement = (
        select(Deal)
        .where(
            col(Deal.stage).in_(
                [s.value for s in (DealStage.CLOSED_WON, DealStage.CHURNED, DealStage.CLOSED_LOST)]
            ),
            col(Deal.closed_at) >= start,
            col(Deal.closed_at) < end,
        )
        .order_by(col(Deal.closed_at), col(Deal.id))
    )
    return list(session.exec(statement))


@dataclass(frozen=True, slots=True)
class Seen:
    """One audit-trail entry of an account: when, the tier it got, the fields it was given."""

    scored_at: datetime
    tier: str
    snapshot: dict[str, Any]


def account_history(*, session: Session, domains: Iterable[str]) -> dict[str, list[Seen]]:
    """Every stored scoring of these accounts, oldest first, by domain: what icpbot saw and
    said of each before its deals (calibration's features and tiers as they were)."""
    keys = sorted({_key(d) for d in domains if d})
    found: dict[str, list[Seen]] = {}
    for start in range(0, len(keys), CHUNK):
        statement = (
            select(Score.subject_key, Score.scored_at, Score.tier, Score.input_snapshot)
            .where(
                col(Score.subject) == Subject.ACCOUNT.value,
                col(Score.subject_key).in_(keys[start : start + CHUNK]),
            )
            .order_by(col(Score.subject_key), col(Score.scored_at), col(Score.id))
        )
        for key, scored_at, tier, snapshot in session.exec(statement):
            found.setdefault(key, []).append(Seen(scored_at, tier, dict(snapshot)))
    return found


# --- the reads behind `/icp DOMAIN`, built once --------------------------------------
# An answer from the store is a few indexed reads of a millisecond's fraction each, while
# building a statement (SQLAlchemy's expression objects, then its cache key) cost several
# times that on every call. These statements are built on first use, with bind
# parameters for what varies, and only executed afterwards.


@cache
def _account_query() -> SelectOfScalar[Account]:
    return select(Account).where(col(Account.domain) == bindparam("domain"))


@cache
def _contact_query() -> SelectOfScalar[Contact]:
    return select(Contact).where(col(Contact.email) == bindparam("email"))


@cache
def _latest_query() -> SelectOfScalar[Score]:
    return _history().limit(1)


@cache
def _previous_different_query() -> SelectOfScalar[Score]:
    """The newest score before (`scored_at`, `id`) whose `score` or `tier` differs."""
    names = ("scored_at", "id", "score", "tier")
    return _history().where(_earlier_and_different(*(bindparam(n) for n in names))).limit(1)


@cache
def _best_persona_query() -> Select[Contact, Score]:
    newest = _newest_score_id(Subject.CONTACT, col(Contact.email), Contact)
    return (
        select(Contact, Score)
        .join(Score, col(Score.id) == newest)
        .where(col(Contact.id) == _best_persona_id(bindparam("domain")))
    )


@cache
def _explained_query(named: bool) -> CoreSelect[Account, Score, Score, Contact, Score]:
    """`explained`'s statement: the account by `domain`, each other row joined by its id,
    found by a correlated subquery on the indexes the separate reads use. `named`: the
    person is `email`'s contact and scores; else the best persona fit at the account."""
    latest = aliased(Score, name="latest")
    previous = aliased(Score, name="previous")
    said = aliased(Score, name="said")
    domain = col(Account.domain)
    latest_id = _newest_score_id(Subject.ACCOUNT, domain, Account)
    different = _earlier_and_different(latest.scored_at, latest.id, latest.score, latest.tier)
    previous_id = _newest_score_id(Subject.ACCOUNT, domain, Account, latest, where=different)
    if named:
        person = col(Contact.email) == bindparam("email")
        said_id = _newest_score_id(Subject.CONTACT, bindparam("email"))
    else:
        person = col(Contact.id) == _best_persona_id(domain, Account)
        said_id = _newest_score_id(Subject.CONTACT, col(Contact.email), Contact)
    return (
        core_select(Account, latest, previous, Contact, said)
        .select_from(Account)
        .outerjoin(latest, latest.id == latest_id)
        .outerjoin(previous, previous.id == previous_id)
        .outerjoin(Contact, person)
        .outerjoin(said, said.id == said_id)
        .where(domain == bindparam("domain"))
    )


def _best_persona_id(domain: Any, *outer: Any) -> Any:
    """The id of the contact at `domain` whose latest score has the best persona fit (ties
    to the first email), as a subquery correlated to the `outer` query's tables."""
    colleague = aliased(Contact, name="colleague")
    newest = _newest_score_id(Subject.CONTACT, colleague.email, colleague)
    return (
        select(colleague.id)
        .join(Score, col(Score.id) == newest)
        .where(colleague.account_domain == domain, col(Score.persona_score).is_not(None))
        .order_by(col(Score.persona_score).desc(), colleague.email)
        .limit(1)
        .correlate(*outer or (None,))
        .scalar_subquery()
    )


# --- helpers -------------------------------------------------------------------------


def _history() -> SelectOfScalar[Score]:
    """The scores of one `subject` and `key` (bound at execution), newest first; `id` breaks
    ties between equal timestamps."""
    return (
        select(Score)
        .where(
            col(Score.subject) == bindparam("subject"), col(Score.subject_key) == bindparam("key")
        )
        .order_by(col(Score.scored_at).desc(), col(Score.id).desc())
    )


def _earlier_and_different(scored_at: Any, score_id: Any, score: Any, tier: Any) -> Any:
    """A score before (`scored_at`, `score_id`) in `_history`'s order that says something
    else than `score` and `tier`."""
    at = col(Score.scored_at)
    earlier = or_(at < scored_at, and_(at == scored_at, col(Score.id) < score_id))
    return and_(earlier, or_(col(Score.score) != score, col(Score.tier) != tier))


def _newest_score_id(subject: Subject, key: Any, *outer: Any, where: Any = None) -> Any:
    """The id of the newest score of `subject` keyed by `key` (and meeting `where`), as a
    subquery correlated to the `outer` query's tables: one index lookup per outer row
    instead of ranking every score of the subject."""
    newest = (
        select(col(Score.id))
        .where(col(Score.subject) == subject.value, col(Score.subject_key) == key)
        .order_by(col(Score.scored_at).desc(), col(Score.id).desc())
        .limit(1)
    )
    if where is not None:
        newest = newest.where(where)
    return newest.correlate(*outer or (None,)).scalar_subquery()


def _newest_first() -> Any:
    """Each score's rank among its key's scores, newest (then highest id) first."""
    return (
        func.row_number()
        .over(
            partition_by=col(Score.subject_key),
            order_by=(col(Score.scored_at).desc(), col(Score.id).desc()),
        )
        .label("rank")
    )


def _latest(subject: Subject | str) -> Subquery:
    """The id of each key's newest score, ordered as `_history` orders them."""
    rank = _newest_first()
    ranked = (
        select(col(Score.id).label("id"), rank)
        .where(col(Score.subject) == Subject(subject).value)
        .subquery("ranked")
    )
    return select(ranked.c.id).where(ranked.c.rank == 1).subquery("latest")


def table_of(model: type[SQLModel]) -> Table:
    table = model.__table__  # type: ignore[attr-defined]
    assert isinstance(table, Table)
    return table


def dialect_insert(session: Session, model: type[SQLModel] | Table) -> Any:
    """INSERT with ON CONFLICT support; both databases we run on spell it the same way."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        return postgresql.insert(model)
    if dialect == "sqlite":
        return sqlite.insert(model)
    raise NotImplementedError(f"unsupported database: {dialect}")


def _upsert(
    session: Session,
    model: type[_Model],
    values: dict[str, Any],
    *,
    keys: tuple[str, ...],
    keep: tuple[str, ...] = (),
) -> _Model:
    """Insert `values`, or update the row with the same `keys` except the `keep` columns."""
    insert = dialect_insert(session, model).values(values)
    changes = {name: insert.excluded[name] for name in values if name not in keys + keep}
    statement = insert.on_conflict_do_update(index_elements=list(keys), set_=changes)
    result = session.exec(statement.returning(model), execution_options={"populate_existing": True})
    row: _Model = result.scalars().one()
    return row


def _upsert_many(
    session: Session,
    model: type[SQLModel],
    rows: list[dict[str, Any]],
    *,
    keys: tuple[str, ...],
    keep: tuple[str, ...] = (),
) -> None:
    """`_upsert` for many rows at once; each key must appear once (PostgreSQL insists)."""
    if not rows:
        return
    insert = dialect_insert(session, table_of(model))  # Core executemany, as `save_scores`
    changes = {name: insert.excluded[name] for name in rows[0] if name not in keys + keep}
    session.execute(insert.on_conflict_do_update(index_elements=list(keys), set_=changes), rows)


def _key(value: str) -> str:
    """Domains and emails compare case-insensitively everywhere."""
    return value.strip().lower()


def _escape_like(text: str) -> str:
    """`text` matched literally by LIKE ... ESCAPE '\\': no wildcards from user input."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _text(value: object) -> str | None:
    text = str(value).strip() if value is not None else ""
    return text or None


def _canonical(fields: Mapping[str, object]) -> dict[str, Any]:
    data = jsonable(dict(fields))
    assert isinstance(data, dict)
    return data


def _as_moment(value: object) -> datetime | None:
    """A CRM creation date as an aware datetime (a bare date is midnight UTC)."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, date):
        return datetime.combine(value, time(), tzinfo=UTC)
    if isinstance(value, str) and value.strip():
        try:
            return _as_moment(datetime.fromisoformat(value.strip()))
        except ValueError:
            return None
    return None


def recent_accounts(*, session: Session, limit: int = 10) -> list[Account]:
    """The accounts seen most recently for the first time: `/icp recent`."""
    query = (
        select(Account)
        .order_by(col(Account.first_seen_at).desc(), col(Account.id).desc())
        .limit(limit)
    )
    return list(session.exec(query))
