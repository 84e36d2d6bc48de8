"""`icpbot backfill` and `icpbot crm setup`: a whole CRM tagged, and icpbot's fields created in it
(in Salesforce, Lead, Account and Opportunity also selected for Change Data Capture).

A CRM that fails for good (after the retries) is said in one line, never a traceback.

Returns the process exit code; data goes to stdout, diagnostics to the `err` console.
"""

from __future__ import annotations

import sys
from datetime import datetime
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from sqlalchemy import Engine as Database

from bot.cli.progress import print_backfill_report, progress_bar
from bot.config import Config
from bot.settings import Settings
from bot.store.db import make_engine, migrate
from bot.store.repo import IcpVersionConflict
from bot.sync.backfill import backfill
from bot.sync.connect import MissingSettings, hubspot_crm, salesforce_crm
from bot.sync.tagging import Tagger
from integrations.base import Crm, SetupReport
from integrations.csv import SCORES, CsvCrm, CsvFormatError
from integrations.hubspot import classify, client_error
from integrations.salesforce import classify as salesforce_classify
from integrations.salesforce import client_error as salesforce_client_error
from scoring.engine import Scorer


def backfill_crm(
    crm_name: str,
    *,
    source: Path | None,
    dry_run: bool,
    config: Config,
    now: datetime,
    err: Console,
    restart: bool = False,
    out: Path | None = None,
    errors_to: Path | None = None,
) -> int:
    """Load, score, store and write back every record of a CRM, with a progress bar."""
    settings = Settings()
    # The CRM's rate limit is shared with serve through the database; an engine connects
    # at its first use, so a missing setting is said before the database is touched.
    database = make_engine(settings.database_url)
    try:
        crm = _crm(crm_name, source, config, settings, err, database, out)
    except MissingSettings as exc:
        err.print(f"[red]error[/red] {exc}", soft_wrap=True)
        return 1
    if crm is None:
        return 1
    migrate(database)
    tagger = Tagger(Scorer(config.icp))
    with progress_bar(err) as bars:
        try:
            report = backfill(
                crm,
                database=database,
                tagger=tagger,
                now=now,
                icp_text=config.icp_text,
                dry_run=dry_run,
                progress=bars,
                resume=not restart,
            )
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
    print_backfill_report(report, dry_run=dry_run, err=err, errors_to=errors_to)
    if isinstance(crm, CsvCrm) and not dry_run and report.written:
        err.print(f"the scores written back are in {crm.out}", highlight=False)
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
    name: str,
    source: Path | None,
    config: Config,
    settings: Settings,
    err: Console,
    database: Database,
    out: Path | None = None,
) -> Crm | None:
    if name == "csv":
        if source is None or not source.is_dir():
            err.print("[red]error[/red] --crm csv needs --source DIR with companies.csv")
            return None
        # The scores go where the command runs, not into the export's folder (which may be
        # tracked, shared or read-only), unless --out says where.
        return CsvCrm(source, types=config.fields.types, out=out or Path(SCORES))
    if name == "hubspot":
        return hubspot_crm(settings, config, database=database)
    if name == "salesforce":
        return salesforce_crm(settings, config, database=database)
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
        err.print(f"[red]error[/red] {exc}", soft_wrap=True)
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
        _print_salesforce(report, err=err)
    return 0


CAPTURE_ACCESS = """
Change events reach icpbot for the objects its integration user may see every record of:
View All Records on Lead, Account and Opportunity, or View All Data.
"""


def _print_salesforce(report: SetupReport, *, err: Console) -> None:
    """What Salesforce's setup adds: the objects selected for Change Data Capture, the access
    icpbot's integration user needs, and a warning for each object the org refused.

    A refusal leaves the exit code 0: the fields are there, and the poll still finds the
    changes of an object not selected, only later.
    """
    _print_selection(report)
    sys.stdout.write(SALESFORCE_ACCESS)
    if report.capture_selected or report.capture_existing:
        sys.stdout.write(CAPTURE_ACCESS)
    for refusal in report.capture_refused:
        err.print(
            f"[yellow]warning[/yellow] {refusal.entity} is not selected for Change Data Capture: "
            f"{escape(refusal.reason)}; {escape(refusal.next_step)}.",
            soft_wrap=True,
            highlight=False,
        )
    if report.capture_refused:
        err.print("The poll still finds the changes of objects not selected, only later.")


def _print_selection(report: SetupReport) -> None:
    for entity in report.capture_selected:
        sys.stdout.write(f"selected {entity} change events\n")
    for entity in report.capture_existing:
        sys.stdout.write(f"exists   {entity} change events\n")
    for refusal in report.capture_refused:
        sys.stdout.write(f"refused  {refusal.entity} change events\n")
    sys.stdout.write(
        f"Change Data Capture: {len(report.capture_selected)} selected, "
        f"{len(report.capture_existing)} already selected, {len(report.capture_refused)} refused\n"
    )
