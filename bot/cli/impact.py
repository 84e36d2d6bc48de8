"""`icpbot impact`: what a proposed `icp.yaml` would change in the stored accounts (SPEC §8a).

Returns the process exit code; the report goes to stdout, diagnostics to the `err` console.
Reads the store; changes nothing in it or in any CRM.
"""

from __future__ import annotations

import json
from datetime import datetime

import typer
from rich.console import Console
from rich.markup import escape

from bot.change.impact import NothingDeployed, deployed_icp, measure
from bot.cli.store import open_database
from bot.config import Config
from bot.settings import Settings
from bot.store.db import read_session
from bot.sync.connect import HUBSPOT_WINDOW, SALESFORCE_WINDOW
from bot.views.impact import impact_json, markdown, text_lines


def show_impact(
    *, config: Config, as_markdown: bool, as_json: bool, top: int, now: datetime, err: Console
) -> int:
    """Score the store with the deployed and the proposed ICP and print what moves."""
    settings = Settings()
    rates = {
        "hubspot": settings.hubspot_rate_limit / HUBSPOT_WINDOW,
        "salesforce": settings.salesforce_rate_limit / SALESFORCE_WINDOW,
    }
    database = open_database(settings.database_url)
    with read_session(database) as session:
        try:
            deployed = deployed_icp(session, types=config.fields.types)
        except NothingDeployed as exc:
            err.print(f"[red]error[/red] {escape(str(exc))}", soft_wrap=True)
            return 1
        if deployed.version == config.icp.version and deployed != config.icp:
            err.print(
                f"[yellow]warning[/yellow] {config.directory}/icp.yaml changes the ICP but keeps "
                f"version {deployed.version}: bump `version`, or serve will refuse it",
                soft_wrap=True,
            )
        found = measure(session, deployed, config.icp, now=now, rates=rates, top=top)
    if as_json:
        typer.echo(json.dumps(impact_json(found)))
    elif as_markdown:
        typer.echo(markdown(found), nl=False)
    else:
        typer.echo("\n".join(text_lines(found)))
    return 0
