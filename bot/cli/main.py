"""`icpbot`: the command line (SPEC §9).

Commands are thin: they read settings and config, call the modules that do
the work, and turn failures into one clear message and an exit code —
never a traceback for a bad config or a bad file.
"""

from __future__ import annotations

import sys
from datetime import UTC, date, datetime
from importlib import metadata
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape
from typer.core import TyperCommand

from bot.config import Config, load_config
from bot.views.common import counted
from scoring.problems import ConfigError


class PlainCommand(TyperCommand):
    """Help as command-line tools write it: `icpbot explain [OPTIONS] DOMAIN`, and an
    argument listed by its name alone (typer writes `{DOMAIN}` and `DOMAIN <str>`).

    `Any` stands for the click that typer ships: its context and formatter types.
    """

    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        pieces = super().collect_usage_pieces(ctx)
        return [p[1:-1] if p.startswith("{") and p.endswith("}") else p for p in pieces]

    def format_options(self, ctx: Any, formatter: Any) -> None:
        params = self.get_params(ctx)
        arguments = [
            (_argument_name(p), f"{getattr(p, 'help', None) or ''}  [required]".strip())
            for p in params
            if p.param_type_name == "argument"
        ]
        options = [p.get_help_record(ctx) for p in params if p.param_type_name == "option"]
        for title, rows in (("Arguments", arguments), ("Options", options)):
            shown = [row for row in rows if row]
            if shown:
                with formatter.section(title):
                    formatter.write_dl(shown)


def _argument_name(param: Any) -> str:
    return str(getattr(param, "metavar", None) or (param.name or "").upper())


app = typer.Typer(
    help="Scores CRM companies and leads against your Ideal Customer Profile.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # plain help: `--json`, not `--json <bool>`, paragraphs rewrapped
)
err = Console(stderr=True, highlight=False)

ConfigDir = Annotated[
    Path,
    typer.Option(
        "--config-dir",
        envvar="ICPBOT_CONFIG_DIR",
        help="Directory with icp.yaml, and optionally routing.yaml, fields.yaml, digest.yaml.",
        file_okay=False,
    ),
]
AsOf = Annotated[
    datetime | None,
    typer.Option(
        "--as-of",
        metavar="DATE",
        help="Score as of this date (2026-11-20) or time (2026-11-20T09:00:00, UTC) instead of "
        "now, for reproducible runs.",
        formats=["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S"],
    ),
]
ErrorsFile = Annotated[
    Path | None,
    typer.Option(
        "--errors",
        help="Write every row that could not be read to this CSV (file, row, problem).",
        dir_okay=False,
    ),
]
DEFAULT_CONFIG = Path("config")


def _show_version(asked: bool) -> None:
    if asked:
        typer.echo(f"icpbot {metadata.version('icpbot')}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", help="Print the version and exit.", callback=_show_version, is_eager=True
        ),
    ] = False,
) -> None:
    """Scores CRM companies and leads against your Ideal Customer Profile."""


def _now(as_of: datetime | None) -> datetime:
    if as_of is None:
        return datetime.now(UTC)
    return as_of if as_of.tzinfo else as_of.replace(tzinfo=UTC)


def _load(config_dir: Path, today: date | None = None) -> Config:
    """The validated config, or exit 1 listing every problem with file and criterion."""
    try:
        return load_config(config_dir, today=today or datetime.now(UTC).date())
    except ConfigError as exc:
        for problem in exc.problems:
            err.print(f"[red]error[/red] {escape(str(problem))}", markup=True, soft_wrap=True)
        err.print(f"{counted(len(exc.problems), 'problem')}: the config was not loaded.")
        raise typer.Exit(1) from exc


@app.command(cls=PlainCommand)
def check(config_dir: ConfigDir = DEFAULT_CONFIG) -> None:
    """Validate every config file; exit 1 naming each problem's file, line and criterion."""
    config = _load(config_dir)
    for warning in config.warnings:
        err.print(f"[yellow]{escape(str(warning))}[/yellow]", soft_wrap=True)
    icp = config.icp
    profiles = ", ".join(p.id for p in icp.profiles)
    typer.echo(
        f"{config_dir}: OK — ICP v{icp.version}, profiles {profiles}, "
        f"{sum(len(p.criteria) for p in icp.profiles)} criteria, "
        f"{len(config.routing.rules)} routing rules"
    )


@app.command(cls=PlainCommand)
def score(
    target: Annotated[
        str,
        typer.Argument(
            metavar="DOMAIN|FILE", help="A domain in the store, or a CSV or Parquet file."
        ),
    ],
    config_dir: ConfigDir = DEFAULT_CONFIG,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object a line.")] = False,
    output: Annotated[
        Path | None,
        typer.Option(
            "-o",
            "--output",
            help="Write the rows plus icp_* columns to this .csv or .parquet file.",
        ),
    ] = None,
    summary: Annotated[
        bool,
        typer.Option(
            "--summary",
            help="The market instead of the rows: by tier, profile, country and industry.",
        ),
    ] = False,
    as_of: AsOf = None,
    jobs: Annotated[
        int | None,
        typer.Option(
            "--jobs",
            "-j",
            min=1,
            metavar="N",
            help="Threads scoring a file (default: one a core).",
        ),
    ] = None,
    errors: ErrorsFile = None,
) -> None:
    """Score a list (CSV or Parquet, streamed) or a stored account."""
    config = _load(config_dir)
    now = _now(as_of)
    path = Path(target)
    if path.suffix.lower() in (".csv", ".parquet") or path.is_file():
        from bot.lists.files import score_file

        code = score_file(
            path,
            config=config,
            now=now,
            as_json=as_json,
            output=output,
            err=err,
            jobs=jobs,
            errors_to=errors,
            pinned=as_of is not None,
            summary=summary,
        )
        raise typer.Exit(code)
    from bot.cli.accounts import score_domain

    raise typer.Exit(score_domain(target, config=config, now=now, as_json=as_json, err=err))


@app.command(cls=PlainCommand)
def explain(
    domain: Annotated[
        str, typer.Argument(metavar="DOMAIN", help="The account's domain (or a URL or email).")
    ],
    config_dir: ConfigDir = DEFAULT_CONFIG,
    as_of: AsOf = None,
) -> None:
    """Why a stored account scored as it did: every criterion, its points and its why."""
    from bot.cli.accounts import explain_domain

    config = _load(config_dir)
    raise typer.Exit(explain_domain(domain, config=config, now=_now(as_of), err=err))


@app.command(cls=PlainCommand)
def backfill(
    crm: Annotated[str, typer.Option("--crm", metavar="CRM", help="hubspot, salesforce or csv.")],
    source: Annotated[
        Path | None, typer.Option("--source", help="With --crm csv: the directory of exports.")
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Score, but store and write nothing.")
    ] = False,
    restart: Annotated[
        bool, typer.Option("--restart", help="Start over instead of resuming an interrupted run.")
    ] = False,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="With --crm csv: where the scores go (default: scores.csv here).",
            dir_okay=False,
        ),
    ] = None,
    errors: ErrorsFile = None,
    config_dir: ConfigDir = DEFAULT_CONFIG,
    as_of: AsOf = None,
) -> None:
    """Load every record from a CRM, score it, store it and write the scores back.

    An interrupted run resumes after its last finished page.
    """
    from bot.cli.crm import backfill_crm

    config = _load(config_dir)
    code = backfill_crm(
        crm,
        source=source,
        dry_run=dry_run,
        config=config,
        now=_now(as_of),
        err=err,
        restart=restart,
        out=out,
        errors_to=errors,
    )
    raise typer.Exit(code)


crm_app = typer.Typer(help="Prepare a CRM for icpbot.", no_args_is_help=True, rich_markup_mode=None)
app.add_typer(crm_app, name="crm")


@crm_app.command("setup", cls=PlainCommand)
def crm_setup(
    crm: Annotated[str, typer.Argument(metavar="CRM", help="hubspot or salesforce")],
    config_dir: ConfigDir = DEFAULT_CONFIG,
) -> None:
    """Create icpbot's fields in the CRM (HubSpot: the icp group and icp_* properties;
    Salesforce: the ICP_*__c fields on Account and Lead, and Lead, Account and Opportunity
    selected for Change Data Capture where the org allows); safe to run again."""
    from bot.cli.crm import setup_crm

    raise typer.Exit(setup_crm(crm, config=_load(config_dir), err=err))


@app.command(cls=PlainCommand)
def serve(config_dir: ConfigDir = DEFAULT_CONFIG) -> None:
    """Run the web server (webhooks, /healthz, /metrics), the inbox worker and the sweep."""
    from bot.cli.serve import run

    raise typer.Exit(run(config=_load(config_dir), err=err))


@app.command(cls=PlainCommand)
def digest(
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print the digest instead of posting it.")
    ] = False,
    week: Annotated[
        str | None,
        typer.Option(
            "--week",
            metavar="WEEK",
            help="The ISO week, e.g. 2026-W47 (default: the last full one).",
        ),
    ] = None,
    channel: Annotated[
        str | None,
        typer.Option("--channel", metavar="CHANNEL", help="This channel instead of digest.yaml's."),
    ] = None,
    config_dir: ConfigDir = DEFAULT_CONFIG,
    as_of: AsOf = None,
) -> None:
    """The weekly digest: new accounts by tier, top A-tier, feedback, win rates, gaps."""
    from bot.cli.digest import show_digest

    config = _load(config_dir)
    code = show_digest(
        config=config, week=week, channel=channel, dry_run=dry_run, now=_now(as_of), err=err
    )
    raise typer.Exit(code)


@app.command(cls=PlainCommand)
def calibrate(
    source: Annotated[
        Path | None,
        typer.Option(
            "--source",
            help="A directory with companies.csv and deals.csv instead of the store.",
            file_okay=False,
        ),
    ] = None,
    holdout: Annotated[
        float,
        typer.Option(
            "--holdout",
            metavar="SHARE",
            help="Share of the most recent examples held out of the fit; every AUC is on it.",
            min=0.05,
            max=0.5,
        ),
    ] = 0.25,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", help="Write the proposed icp.yaml here and print its diff.", dir_okay=False
        ),
    ] = None,
    chart: Annotated[
        Path | None,
        typer.Option(
            "--chart", help="Draw lift per criterion and the ROC curves (PNG).", dir_okay=False
        ),
    ] = None,
    config_dir: ConfigDir = DEFAULT_CONFIG,
    as_of: AsOf = None,
) -> None:
    """The ICP checked against won, lost and churned deals; a better one proposed.

    One example per account with a closed deal (won and never churned is
    good; lost or churned is bad), its fields as they were before the deal
    (the audit trail); the most recent share is held out. Per criterion:
    lift, WoE and information value; win rate by tier; the held-out ROC AUC
    of the current and the proposed weights; suggested new criteria. Never
    rewrites icp.yaml: --out writes a proposal to review, with its diff.
    """
    from bot.cli.calibrate import run_calibration

    config = _load(config_dir)
    code = run_calibration(
        config=config,
        source=source,
        holdout=holdout,
        as_json=as_json,
        out=out,
        chart=chart,
        now=_now(as_of),
        err=err,
    )
    raise typer.Exit(code)


@app.command(cls=PlainCommand)
def impact(
    as_markdown: Annotated[
        bool, typer.Option("--markdown", help="Markdown, for a pull-request comment.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    top: Annotated[
        int,
        typer.Option("--top", metavar="N", help="Accounts listed per group, owners listed.", min=1),
    ] = 10,
    config_dir: ConfigDir = DEFAULT_CONFIG,
    as_of: AsOf = None,
) -> None:
    """What the ICP in --config-dir would change, before it is merged.

    Scores every stored account and person with it and with the deployed
    version (the one the store's newest scores were made with) and shows
    what moves: tier before → after, the accounts entering or leaving tier
    A and newly disqualified ones with the criteria that moved them, the
    owners whose books change most, and the CRM writes the rollout will
    cost. Reads the store; changes nothing.
    """
    from bot.cli.impact import show_impact

    config = _load(config_dir)
    code = show_impact(
        config=config,
        as_markdown=as_markdown,
        as_json=as_json,
        top=top,
        now=_now(as_of),
        err=err,
    )
    raise typer.Exit(code)


@app.command(cls=PlainCommand)
def rollout(
    pause: Annotated[
        bool, typer.Option("--pause", help="Stop queueing; hold back what is queued.")
    ] = False,
    resume: Annotated[bool, typer.Option("--resume", help="Carry on where it paused.")] = False,
    status: Annotated[bool, typer.Option("--status", help="Where it is (the default).")] = False,
    config_dir: ConfigDir = DEFAULT_CONFIG,
) -> None:
    """The rollout of a new ICP version to every stored record: where it is, pause, resume.

    `serve` starts it by itself when it runs an ICP version the store has
    not rolled out: every record is scored again in the background and
    written back where it differs, leaving the rate limit to live traffic.
    """
    from bot.cli.rollout import steer_rollout

    if pause and resume:
        err.print("[red]error[/red] --pause or --resume, not both")
        raise typer.Exit(2)
    action = "pause" if pause else "resume" if resume else None
    raise typer.Exit(steer_rollout(action=action, now=_now(None), err=err))


@app.command(cls=PlainCommand)
def age(
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="List what is due; change nothing.")
    ] = False,
    config_dir: ConfigDir = DEFAULT_CONFIG,
    as_of: AsOf = None,
) -> None:
    """Age the scores: re-score what the calendar moved (within_days criteria).

    The stored records whose time-based criteria changed their result since
    they were scored, one line each with what changed. `serve` runs this
    daily (ICPBOT_RESCORE_CRON); CRM records are queued for its workers to
    read again and write back, CSV ones re-scored in the store. With
    --dry-run --as-of DATE: what will have aged by then.
    """
    from bot.cli.ageing import age_scores

    config = _load(config_dir)
    raise typer.Exit(age_scores(config=config, dry_run=dry_run, now=_now(as_of), err=err))


# Its first name, kept working for scripts; `/icp rescore DOMAIN` is a different thing.
app.command("rescore", hidden=True, cls=PlainCommand)(age)


@app.command(cls=PlainCommand)
def status(
    retry_parked: Annotated[
        bool, typer.Option("--retry-parked", help="Put parked events back in the queue.")
    ] = False,
    config_dir: ConfigDir = DEFAULT_CONFIG,
) -> None:
    """The inbox (pending, done, parked with their errors), the rollout and the checkpoints.

    Reads the store only; --config-dir is accepted, as by every command.
    """
    from bot.cli.status import show_status

    raise typer.Exit(show_status(retry_parked=retry_parked, now=_now(None), err=err))


@app.command(cls=PlainCommand)
def sql(
    dialect: Annotated[
        str,
        typer.Option(
            "--dialect",
            metavar="DIALECT",
            help="duckdb, postgres, snowflake or bigquery.",
        ),
    ] = "duckdb",
    table: Annotated[
        str,
        typer.Option("--table", metavar="TABLE", help="The table with canonical columns."),
    ] = "accounts",
    config_dir: ConfigDir = DEFAULT_CONFIG,
    as_of: AsOf = None,
) -> None:
    """The ICP as one SELECT: the table's rows with icp_score, icp_tier, icp_profile,
    icp_coverage, icp_disqualified_by and each criterion's status, for a warehouse or a dbt
    model. Without --as-of, time-based criteria are judged from the database's own clock."""
    from scoring.sql import NotExpressible, select_sql

    config = _load(config_dir)
    moment = _now(as_of) if as_of else None
    try:
        text = select_sql(config.icp, config.fields.types, table=table, now=moment, dialect=dialect)
    except NotExpressible as exc:
        err.print(f"[red]error[/red] {escape(str(exc))}", soft_wrap=True)
        raise typer.Exit(1) from exc
    typer.echo(text)


@app.command(cls=PlainCommand)
def demo(
    config_dir: ConfigDir = DEFAULT_CONFIG,
    keep: Annotated[
        Path | None, typer.Option("--keep", help="Keep the demo database at this path.")
    ] = None,
) -> None:
    """The whole flow offline: sample CRM → scores → routing posts → an explanation."""
    from bot.cli.demo import bundled_config, run_demo

    directory = config_dir if config_dir.is_dir() else bundled_config()
    config = _load(directory)
    run_demo(config=config, keep=keep)


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except BrokenPipeError:  # `icpbot score big.csv --json | head`
        sys.stderr.close()
        sys.exit(0)
    except ValidationError as exc:  # a setting with a value it cannot take, named
        for error in exc.errors():
            name = ".".join(str(part) for part in error["loc"]) or exc.title
            message = error["msg"].removeprefix("Value error, ")
            err.print(f"[red]error[/red] {name}: {escape(message)}", soft_wrap=True)
        err.print("Fix it in the environment or .env; README: Settings.")
        sys.exit(1)
    except Exception as exc:
        # Every command's store, said as serve says it; imported here, on the way out, so
        # `--help` and `--version` do not load the database libraries.
        from bot.store.db import DatabaseUnavailable

        if not isinstance(exc, DatabaseUnavailable):
            raise
        err.print(f"[red]error[/red] {escape(str(exc))}", soft_wrap=True)
        sys.exit(1)
