"""What the CLI commands that use the store do, apart from parsing arguments.

Each function returns the process exit code and writes data to stdout,
diagnostics to the `err` console.
"""

from __future__ import annotations

import sys
from datetime import datetime
from pathlib import Path

import orjson
from rich.console import Console
from sqlalchemy import Engine as Database

from bot.backfill import backfill
from bot.config import Config
from bot.progress import print_backfill_report, progress_bar
from bot.settings import Settings
from bot.store import repo
from bot.store.db import make_engine, migrate
from bot.store.db import session as open_session
from bot.store.repo import IcpVersionConflict
from bot.store.tables import Account, Subject
from bot.tagging import Tagged, Tagger
from bot.terminal import print_blocks
from bot.views.explanation import explanation_blocks
from bot.views.models import AccountView
from integrations.base import Crm
from integrations.csv import CsvCrm, CsvFormatError
from integrations.domains import normalize_domain
from integrations.records import CrmRecord, RecordKind
from scoring.engine import Engine
from scoring.explain import format_coverage
from scoring.serialize import summary


def open_database(url: str | None = None) -> Database:
    """The configured database, migrated to the newest schema."""
    database = make_engine(url or Settings().database_url)
    migrate(database)
    return database


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


def _rescore(account: Account, config: Config, database: Database, now: datetime) -> Tagged:
    """Score a stored account again with the current ICP; stores only what changed."""
    record = CrmRecord(
        RecordKind.ACCOUNT, account.crm, account.crm_id or account.domain, dict(account.fields),
        url=account.url,
    )  # fmt: skip
    tagger = Tagger(Engine(config.icp))
    with open_session(database) as session:
        tagger.record_version(session=session, icp_text=config.icp_text, now=now)
        return tagger.tag(session=session, record=record, now=now)


def score_domain(domain: str, *, config: Config, now: datetime, as_json: bool, err: Console) -> int:
    """Score one stored account with the current ICP and print the verdict."""
    database = open_database()
    account = _stored_account(domain, database, err)
    if account is None:
        return 1
    tagged = _rescore(account, config, database, now)
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
    return 0


def explain_domain(domain: str, *, config: Config, now: datetime, err: Console) -> int:
    """Render the `/icp` answer for a stored account in the terminal."""
    database = open_database()
    account = _stored_account(domain, database, err)
    if account is None:
        return 1
    tagged = _rescore(account, config, database, now)
    with open_session(database) as session:
        previous_row = repo.previous_different_score(
            session=session, subject=Subject.ACCOUNT, key=account.domain
        )
        previous = repo.account_score_of(previous_row, session=session) if previous_row else None
    assert tagged.score is not None
    view = AccountView(account.domain, account.name, account.crm, account.url, account.owner_id)
    blocks = explanation_blocks(account=view, score=tagged.score, previous=previous, now=now)
    print_blocks(Console(), blocks, title=f"/icp {account.domain}")
    return 0


def backfill_crm(
    crm_name: str,
    *,
    source: Path | None,
    dry_run: bool,
    config: Config,
    now: datetime,
    err: Console,
) -> int:
    """Load, score, store and write back every record of a CRM, with a progress bar."""
    crm = _crm(crm_name, source, config, err)
    if crm is None:
        return 1
    database = open_database()
    tagger = Tagger(Engine(config.icp))
    with progress_bar(err) as step:
        try:
            report = backfill(
                crm, database=database, tagger=tagger, now=now, icp_text=config.icp_text,
                dry_run=dry_run, progress=step,
            )  # fmt: skip
        except (IcpVersionConflict, CsvFormatError) as exc:
            err.print(f"[red]error[/red] {exc}", soft_wrap=True)
            return 1
    print_backfill_report(report, dry_run=dry_run, err=err)
    return 1 if report.skipped_rows or report.write_failures else 0


def _crm(name: str, source: Path | None, config: Config, err: Console) -> Crm | None:
    if name == "csv":
        if source is None or not source.is_dir():
            err.print("[red]error[/red] --crm csv needs --source DIR with companies.csv")
            return None
        return CsvCrm(source, types=config.fields.types)
    err.print(
        f"[red]error[/red] --crm {name}: not available in this version "
        "(csv is; hubspot and salesforce arrive with their integrations)"
    )
    return None
