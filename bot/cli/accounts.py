"""`icpbot score DOMAIN` and `icpbot explain DOMAIN`: one stored account, scored again with
the current ICP, as a verdict or as the full `/icp` explanation.

Returns the process exit code; data goes to stdout, diagnostics to the `err` console.
"""

from __future__ import annotations

import sys
from datetime import datetime

import orjson
from rich.console import Console
from sqlalchemy import Engine as Database

from bot.cli.store import open_database
from bot.cli.terminal import print_blocks
from bot.config import Config
from bot.store import repo
from bot.store.db import session as open_session
from bot.store.tables import Account, Subject
from bot.sync.tagging import Tagged, Tagger
from bot.views.explanation import explanation_blocks
from bot.views.models import AccountView, PersonView
from integrations.domains import normalize_domain
from scoring.engine import Scorer
from scoring.explain import format_coverage
from scoring.serialize import summary


def _stored_account(domain: str, database: Database, err: Console) -> Account | None:
    key = normalize_domain(domain)
    with open_session(database) as session:
        account = repo.get_account(session=session, domain=key) if key else None
    if account is None:
        err.print(
            f"[red]error[/red] {domain}: not in the store. Load it with "
            "`icpbot backfill --crm csv --source DIR` (or hubspot, salesforce), "
            "or score a file with `icpbot score FILE.csv`."
        )
    return account


def _score_again(
    account: Account, config: Config, database: Database, now: datetime, tagger: Tagger
) -> Tagged:
    """Score a stored account again with the current ICP; stores only what changed."""
    record = repo.stored_record(account)
    with open_session(database) as session:
        tagger.record_version(session=session, icp_text=config.icp_text, now=now)
        return tagger.tag(session=session, record=record, now=now)


def score_domain(domain: str, *, config: Config, now: datetime, as_json: bool, err: Console) -> int:
    """Score one stored account with the current ICP and print the verdict."""
    database = open_database()
    account = _stored_account(domain, database, err)
    if account is None:
        return 1
    tagger = Tagger(Scorer(config.icp))
    tagged = _score_again(account, config, database, now, tagger)
    score = tagged.score
    assert score is not None
    if as_json:
        sys.stdout.buffer.write(orjson.dumps(summary(score, domain=account.domain)) + b"\n")
        return 0
    sys.stdout.write(
        f"{account.domain}: {score.score} {score.tier.value} "
        f"({score.profile_name or 'no profile'}), coverage {format_coverage(score.coverage)}, "
        f"ICP v{score.icp_version}\n"
    )
    sys.stdout.writelines(f"  {line}\n" for line in score.reasons)
    was = _was(tagged, tagger, database)
    if was:
        sys.stdout.write(f"  {was}\n")
    return 0


def _was(tagged: Tagged, tagger: Tagger, database: Database) -> str | None:
    """The stored score this one replaces, when it differs, with what moved since.

    `score DOMAIN` scores as of now (or --as-of): a demo store scored as of
    the sample's date, or any store scored weeks ago, can differ on time-based
    criteria alone; the line says so instead of leaving two numbers to doubt.
    """
    previous, score = tagged.previous, tagged.score
    if previous is None or score is None or previous.icp_version != score.icp_version:
        return None
    if (previous.score, previous.tier) == (score.score, score.tier.value):
        return None
    when = f" as of {previous.scored_at.date()}" if previous.scored_at else ""
    with open_session(database) as session:
        moved = tagger.changes_since(session, tagged.record, previous, (score, tagged.persona))
    since = f"; what differs: {'; '.join(moved)}" if moved else ""
    return f"was {previous.score} {previous.tier} when scored{when}{since}"


def explain_domain(domain: str, *, config: Config, now: datetime, err: Console) -> int:
    """Render the `/icp` answer for a stored account in the terminal."""
    database = open_database()
    account = _stored_account(domain, database, err)
    if account is None:
        return 1
    tagged = _score_again(account, config, database, now, Tagger(Scorer(config.icp)))
    with open_session(database) as session:
        previous_row = repo.previous_different_score(
            session=session, subject=Subject.ACCOUNT, key=account.domain
        )
        previous = repo.account_score_of(previous_row, session=session) if previous_row else None
        found = repo.persona_for(session=session, domain=account.domain)
    contact, persona = found if found else (None, None)
    person = PersonView.of(contact.email, persona, contact.fields) if contact and persona else None
    assert tagged.score is not None
    view = AccountView(account.domain, account.name, account.crm, account.url, account.owner_id)
    blocks = explanation_blocks(
        account=view, score=tagged.score, previous=previous, person=person, now=now
    )
    print_blocks(Console(), blocks, title=f"/icp {account.domain}")
    return 0
