"""What the CLI commands that use the store do, apart from parsing arguments.

Each function returns the process exit code and writes data to stdout,
diagnostics to the `err` console.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

import orjson
from rich.console import Console
from sqlalchemy import Engine as Database
from sqlmodel import col, select

from bot.cli.progress import print_backfill_report, progress_bar
from bot.cli.terminal import print_blocks
from bot.config import Config
from bot.digest.numbers import Week, build_digest
from bot.digest.post import FAILED, post_digest
from bot.settings import Settings, missing
from bot.slack.client import make_client
from bot.store import inbox, repo
from bot.store.db import make_engine, migrate, read_session
from bot.store.db import session as open_session
from bot.store.repo import IcpVersionConflict
from bot.store.tables import Account, Checkpoint, Subject
from bot.sync.ageing import find_due, requeue
from bot.sync.backfill import backfill
from bot.sync.connect import MissingSettings, hubspot_crm, salesforce_crm
from bot.sync.tagging import Due, Tagged, Tagger
from bot.views.digest import digest_blocks
from bot.views.explanation import explanation_blocks
from bot.views.models import AccountView
from integrations.base import Crm, SetupReport
from integrations.csv import CsvCrm, CsvFormatError
from integrations.domains import normalize_domain
from integrations.hubspot import classify, client_error
from integrations.salesforce import classify as salesforce_classify
from integrations.salesforce import client_error as salesforce_client_error
from scoring.engine import Scorer
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
    record = repo.stored_record(account)
    tagger = Tagger(Scorer(config.icp))
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
    restart: bool = False,
) -> int:
    """Load, score, store and write back every record of a CRM, with a progress bar."""
    settings = Settings()
    try:
        crm = _crm(crm_name, source, config, settings, err)
    except MissingSettings as exc:
        err.print(f"[red]error[/red] {exc}")
        return 1
    if crm is None:
        return 1
    database = open_database(settings.database_url)
    tagger = Tagger(Scorer(config.icp))
    with progress_bar(err) as bars:
        try:
            report = backfill(
                crm, database=database, tagger=tagger, now=now, icp_text=config.icp_text,
                dry_run=dry_run, progress=bars, resume=not restart,
            )  # fmt: skip
        except (IcpVersionConflict, CsvFormatError) as exc:
            err.print(f"[red]error[/red] {exc}", soft_wrap=True)
            return 1
        except Exception as exc:
            if crm_failure(exc) is None:
                raise
            err.print(
                f"[red]error[/red] {crm.name}: {crm_failure(exc)}. Nothing is lost: run the "
                "same command again to resume after the last finished page.",
                soft_wrap=True,
            )
            return 1
    print_backfill_report(report, dry_run=dry_run, err=err)
    return 1 if report.skipped_rows or report.write_failures else 0


SALESFORCE_ACCESS = """
New custom fields are visible only to profiles and permission sets that grant them.
Give icpbot's integration user read and edit access, in one step:
  sf project deploy start --metadata-dir config/salesforce --target-org <your org>
  sf org assign permset --name ICP_Fields --on-behalf-of <integration user> --target-org <your org>
(or Setup > Permission Sets > ICP fields > Manage Assignments).
"""


def crm_failure(exc: BaseException) -> str | None:
    """A CRM call that failed for good (after retries), said in one line; else None."""
    failure = classify(exc) or salesforce_classify(exc)
    if failure is None:
        return None
    detail = client_error(exc) or salesforce_client_error(exc) or failure.outcome.replace("_", " ")
    return f"{detail} (gave up after retries)" if failure.transient else detail


def _crm(
    name: str, source: Path | None, config: Config, settings: Settings, err: Console
) -> Crm | None:
    if name == "csv":
        if source is None or not source.is_dir():
            err.print("[red]error[/red] --crm csv needs --source DIR with companies.csv")
            return None
        return CsvCrm(source, types=config.fields.types)
    if name == "hubspot":
        return hubspot_crm(settings, config)
    if name == "salesforce":
        return salesforce_crm(settings, config)
    err.print(f"[red]error[/red] --crm {name}: use hubspot, salesforce or csv")
    return None


def setup_crm(crm_name: str, *, config: Config, err: Console) -> int:
    """Create icpbot's properties (HubSpot) or custom fields (Salesforce); safe to repeat."""
    if crm_name not in ("hubspot", "salesforce"):
        err.print(f"[red]error[/red] crm setup {crm_name}: use hubspot or salesforce")
        return 1
    try:
        if crm_name == "hubspot":
            report: SetupReport = hubspot_crm(Settings(), config).setup()
        else:
            report = salesforce_crm(Settings(), config).setup()
    except MissingSettings as exc:
        err.print(f"[red]error[/red] {exc}")
        return 1
    except Exception as exc:
        if crm_failure(exc) is None:
            raise
        err.print(f"[red]error[/red] {crm_name}: {crm_failure(exc)}", soft_wrap=True)
        return 1
    for name in report.created:
        sys.stdout.write(f"created  {name}\n")
    for name in report.existing:
        sys.stdout.write(f"exists   {name}\n")
    sys.stdout.write(f"{len(report.created)} created, {len(report.existing)} already there\n")
    if crm_name == "salesforce":
        sys.stdout.write(SALESFORCE_ACCESS)
    return 0


def rescore_aged(*, config: Config, dry_run: bool, now: datetime, err: Console) -> int:
    """What the daily job does, now: re-score what the calendar moved, and hand it on.

    Prints one line per record whose result differs today from its latest
    score; with `dry_run` that is all it does.
    """
    database = open_database()
    tagger = Tagger(Scorer(config.icp))
    with open_session(database) as session:
        tagger.record_version(session=session, icp_text=config.icp_text, now=now)
    due = find_due(database=database, tagger=tagger, now=now)
    sys.stdout.writelines(f"{aged_line(d)}\n" for d in due)
    if dry_run:
        err.print(f"{len(due)} record(s) due for a re-score; nothing changed (--dry-run)")
        return 0
    done = requeue(database=database, tagger=tagger, due=due, now=now)
    later = (
        "; `icpbot serve` reads the queued ones again and writes them back" if done.queued else ""
    )
    err.print(f"{done.summary()}{later}")
    return 0


def aged_line(due: Due) -> str:
    """`acme.com (hubspot account): B 72 → C 52 · no longer +20 funding: 2025-11-02`.

    A person alone (no company) shows the persona's fit; what changed in the
    reasons says why, so RevOps can check a line against the ICP.
    """
    record, previous, now = due.record, due.previous, due.now
    alone = now.score is None
    score, tier = (now.persona_score, now.persona_tier) if alone else (now.score, now.tier)
    parts = [f"{record.key} ({record.crm} {record.kind}): "
             f"{previous.tier} {previous.score} → {tier} {score}"]  # fmt: skip
    if not alone and now.persona_score != previous.persona_score:
        parts.append(f"persona {previous.persona_score} → {now.persona_score}")
    if now.profile != previous.profile:
        parts.append(f"profile {previous.profile or '-'} → {now.profile or '-'}")
    before, after = _reasons(previous.reasons), _reasons(now.reasons.split("\n"))
    if gone := [r for r in before if r not in after]:
        parts.append("no longer " + "; ".join(gone))
    if came := [r for r in after if r not in before]:
        parts.append("now " + "; ".join(came))
    return " · ".join(parts)


def _reasons(lines: Sequence[str]) -> list[str]:
    return [line for line in lines if line and not line.startswith("unknown:")]


def show_digest(
    *, config: Config, week: str | None, channel: str | None, dry_run: bool, now: datetime,
    err: Console,
) -> int:  # fmt: skip
    """Print the digest each configured channel would get (posting runs in `serve`)."""
    zone = config.digest.timezone
    try:
        chosen = Week.parse(week, zone) if week else Week.last_complete(now, zone)
    except ValueError as exc:
        err.print(f"[red]error[/red] --week: {exc}")
        return 1
    settings = Settings()
    database = open_database(settings.database_url)
    if not dry_run:
        return _post_digest(config, chosen, channel, settings, database, now, err)
    with read_session(database) as session:
        digest = build_digest(session=session, icp=config.icp, week=chosen)
    channels = [channel] if channel else list(config.digest.channels) or ["(no channel)"]
    console = Console()
    for name in channels:
        print_blocks(console, digest_blocks(digest), title=name)
    return 0


def _post_digest(
    config: Config, week: Week, channel: str | None, settings: Settings, database: Database,
    now: datetime, err: Console,
) -> int:  # fmt: skip
    """Post the week's digest to each channel that has not had it; 1 if any post failed."""
    channels = [channel] if channel else list(config.digest.channels)
    if not channels:
        err.print("[red]error[/red] no channel: list some in digest.yaml, or give --channel")
        return 1
    absent = missing(settings, "slack_bot_token")
    if absent or settings.slack_bot_token is None:
        err.print(f"[red]error[/red] posting the digest needs {', '.join(absent)}")
        return 1
    client = make_client(
        token=settings.slack_bot_token.get_secret_value(), base_url=settings.slack_api_url
    )
    outcomes = post_digest(
        database=database, client=client, icp=config.icp, week=week, channels=channels,
        now=now, worker=f"cli:{os.getpid()}",
    )  # fmt: skip
    for outcome in outcomes:
        detail = f": {outcome.detail}" if outcome.detail else ""
        sys.stdout.write(f"{outcome.channel} {week.label}: {outcome.result}{detail}\n")
    return 1 if any(o.result == FAILED for o in outcomes) else 0


def show_status(*, retry_parked: bool, now: datetime, err: Console) -> int:
    """The inbox and the checkpoints; parked events with why, so nothing fails unseen."""
    database = open_database()
    with open_session(database) as session:
        if retry_parked:
            requeued = inbox.requeue_parked(session=session, now=now)
            err.print(f"{requeued} parked event(s) queued again")
        counts = inbox.counts(session=session)
        oldest = inbox.oldest_pending(session=session)
        parked = inbox.parked(session=session, limit=20)
        checkpoints = session.exec(select(Checkpoint).order_by(col(Checkpoint.name))).all()
    line = ", ".join(f"{status} {n:,}" for status, n in counts.items())
    sys.stdout.write(f"inbox: {line}\n")
    if oldest is not None:
        sys.stdout.write(f"oldest pending: {(now - oldest).total_seconds():,.0f} s old\n")
    for event in parked:
        sys.stdout.write(
            f"parked #{event.id} {event.event_type} {event.object_type} {event.object_id} "
            f"after {event.attempts} attempts: {event.last_error}\n"
        )
    if counts.get("parked", 0) > len(parked):
        sys.stdout.write(f"... and {counts['parked'] - len(parked):,} more parked\n")
    for checkpoint in checkpoints:
        sys.stdout.write(f"checkpoint {checkpoint.name}: {checkpoint.value}\n")
    return 1 if counts.get("parked", 0) else 0
