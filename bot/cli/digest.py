"""`icpbot digest`: the week's digest printed (`--dry-run`) or posted once per channel.

Returns the process exit code; data goes to stdout, diagnostics to the `err` console.
"""

from __future__ import annotations

import os
import sys
from datetime import datetime
from zoneinfo import ZoneInfo

from rich.console import Console
from sqlalchemy import Engine as Database
from sqlmodel import Session

from bot.cli.store import open_database
from bot.cli.terminal import print_blocks
from bot.config import Config
from bot.digest.numbers import Week, build_digest
from bot.digest.post import FAILED, post_digest
from bot.settings import Settings, missing
from bot.slack.client import make_client
from bot.store import repo
from bot.store.db import read_session
from bot.views.digest import digest_blocks


def show_digest(
    *,
    config: Config,
    week: str | None,
    channel: str | None,
    dry_run: bool,
    now: datetime,
    err: Console,
) -> int:
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
        if week is None:
            chosen = _week_with_news(session, chosen, zone, err)
        digest = build_digest(session=session, icp=config.icp, week=chosen)
    channels = [channel] if channel else list(config.digest.channels) or ["(no channel)"]
    console = Console()
    for name in channels:
        print_blocks(console, digest_blocks(digest), title=name)
    return 0


def _week_with_news(session: Session, week: Week, zone: ZoneInfo, err: Console) -> Week:
    """The last full week, or, when no account is new in it, the latest week that has some.

    A store loaded from a dated export (the demo's sample) would otherwise
    preview an empty week; posting keeps the calendar's week.
    """
    if any(repo.new_account_tiers(session=session, start=week.start, end=week.end).values()):
        return week
    latest = repo.latest_new_account(session=session, before=week.start)
    if latest is None:
        return week
    found = Week.containing(latest, zone)
    err.print(
        f"[yellow]note[/yellow] no account is new in {week.label}, the last full week; "
        f"showing {found.label}, the latest week with new accounts in the store "
        f"(--week {week.label} shows the empty one).",
        soft_wrap=True,
        highlight=False,
    )
    return found


def _post_digest(
    config: Config,
    week: Week,
    channel: str | None,
    settings: Settings,
    database: Database,
    now: datetime,
    err: Console,
) -> int:
    """Post the week's digest to each channel that has not had it; 1 if any post failed."""
    channels = [channel] if channel else list(config.digest.channels)
    if not channels:
        err.print("[red]error[/red] no channel: list some in digest.yaml, or give --channel")
        return 1
    absent = missing(settings, "slack_bot_token")
    if absent or settings.slack_bot_token is None:
        err.print(
            f"[red]error[/red] posting the digest needs {', '.join(absent)} (environment or "
            ".env); `icpbot digest --dry-run` prints it without posting",
            soft_wrap=True,
        )
        return 1
    client = make_client(
        token=settings.slack_bot_token.get_secret_value(), base_url=settings.slack_api_url
    )
    outcomes = post_digest(
        database=database,
        client=client,
        icp=config.icp,
        week=week,
        channels=channels,
        now=now,
        worker=f"cli:{os.getpid()}",
    )
    for outcome in outcomes:
        detail = f": {outcome.detail}" if outcome.detail else ""
        sys.stdout.write(f"{outcome.channel} {week.label}: {outcome.result}{detail}\n")
    return 1 if any(o.result == FAILED for o in outcomes) else 0
