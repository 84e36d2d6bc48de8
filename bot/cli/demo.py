"""`icpbot demo`: the whole flow offline, on the bundled sample CRM.

Loads the sample companies, contacts and deals into a SQLite store, scores
everything, writes the scores back (to a CSV standing in for the CRM), shows
the tier distribution, the first routing posts as Slack would show them, the
`/icp` answer for one account, and what calibrating the ICP against the
sample's deals finds. Nothing leaves the machine. The sample data is dated;
the demo scores it as of that date so time-based criteria (funding in the
last year...) read as intended.

The store is kept, so the commands the demo ends with (`explain`, `score`)
find what it loaded: it is the store every command opens by default when
that is a SQLite file holding nothing but the sample, else a file of its own
(`icpbot-demo.db`), never a store with real CRM data in it.
"""

from __future__ import annotations

import shutil
import sqlite3
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import yaml
from rich.console import Console
from rich.table import Table
from sqlalchemy import Engine as Database
from sqlalchemy.engine import make_url

from bot.calibration.outcomes import from_store
from bot.calibration.run import calibrate
from bot.cli.progress import TIERS, progress_bar
from bot.cli.terminal import print_blocks
from bot.config import Config
from bot.routing.owners import owner_text
from bot.routing.rules import Decision, route
from bot.settings import Settings
from bot.store.db import make_engine, migrate, read_session
from bot.sync.backfill import BackfillReport, backfill
from bot.sync.tagging import Tagged, Tagger
from bot.views.calibration import summary_lines
from bot.views.explanation import explanation_blocks
from bot.views.models import AccountView, PersonView
from bot.views.routing_post import routing_post_blocks
from integrations.csv import CsvCrm
from scoring.engine import Scorer
from scoring.result import Status

ROUTING_POSTS = 3
OWN_STORE = Path("icpbot-demo.db")  # when the default store holds more than the sample


def sample_dir(config: Config) -> Path:
    """The sample CRM beside the config, or the one shipped with the code."""
    here = config.directory / "sample"
    if (here / "companies.csv").exists():
        return here
    return bundled_config() / "sample"


def bundled_config() -> Path:
    """The config shipped beside the package, for `demo` outside a checkout's root."""
    return Path(__file__).resolve().parents[2] / "config"


def sample_as_of(directory: Path) -> datetime:
    """The moment the sample data describes (its manifest), midday UTC."""
    manifest = yaml.safe_load((directory / "manifest.yaml").read_text(encoding="utf-8"))
    day = manifest["as_of"]
    return datetime(day.year, day.month, day.day, 12, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class DemoStore:
    """Where the demo keeps what it loaded, and whether other commands open it by default."""

    url: str
    path: Path
    default: bool  # the configured store: `icpbot explain` finds it without settings


def choose_store(*, keep: Path | None, configured: str, sample: CsvCrm) -> DemoStore:
    """`--keep PATH`, else the configured SQLite store if only the sample could be in it,
    else `icpbot-demo.db`: the demo never mixes its companies into real data."""
    if keep is not None:
        url = f"sqlite:///{keep}"
        return DemoStore(url, keep, _same_file(url, configured))
    parsed = make_url(configured)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        path = Path(str(parsed.database))
        if _only_the_sample(path, sample):
            return DemoStore(configured, path, True)
    own = f"sqlite:///{OWN_STORE}"
    return DemoStore(own, OWN_STORE, _same_file(own, configured))


def _same_file(url: str, configured: str) -> bool:
    ours, theirs = make_url(url), make_url(configured)
    if theirs.get_backend_name() != "sqlite" or not theirs.database:
        return False
    return Path(str(ours.database)).resolve() == Path(str(theirs.database)).resolve()


def _only_the_sample(path: Path, sample: CsvCrm) -> bool:
    """A new store, or one holding the sample's companies and nothing else.

    Read only, with the standard library: a store that is not the demo's is
    not even migrated.
    """
    if not path.exists():
        return True
    domains = {r.domain for r in sample.accounts() if r.domain}
    with closing(sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)) as db:
        try:
            rows = db.execute("SELECT crm, domain FROM account").fetchall()
        except sqlite3.DatabaseError:  # no account table: empty, unless it holds anything
            return not db.execute("SELECT name FROM sqlite_master").fetchall()
    return all(crm == "csv" and domain in domains for crm, domain in rows)


def run_demo(*, config: Config, keep: Path | None = None, console: Console | None = None) -> None:
    """Run the flow and print it; `keep` keeps the SQLite store at that path."""
    out = console or Console()
    started = time.perf_counter()
    source = sample_dir(config)
    now = sample_as_of(source)
    with tempfile.TemporaryDirectory(prefix="icpbot-demo-") as tmp:
        crm = CsvCrm(source, types=config.fields.types, out=Path(tmp) / "scores.csv")
        settings = Settings()
        store = choose_store(keep=keep, configured=settings.database_url, sample=crm)
        database = make_engine(store.url)
        migrate(database)
        out.rule(
            f"[bold]icpbot demo[/bold] · sample CRM as of {now.date()} · ICP v{config.icp.version}"
        )
        with progress_bar(out) as step:
            report = backfill(
                crm,
                database=database,
                tagger=Tagger(Scorer(config.icp)),
                now=now,
                icp_text=config.icp_text,
                progress=step,
                keep_tagged=True,
            )
        _summary(out, report)
        accounts = [t for t in report.tagged if not t.record.kind.is_person]
        _tier_table(out, accounts)
        _missing_fields(out, accounts)
        chosen = _routing_posts(out, config, accounts, now, crm)
        if chosen:
            best = _with_best_contact(chosen, report.tagged)
            _explanation(out, best, report.tagged, now, crm)
        _calibration(out, config, database, now, report.deals)
        database.dispose()
    out.rule(f"done in {time.perf_counter() - started:.1f} s")
    _next_steps(out, store, config, settings.config_dir, chosen, now)


def _next_steps(
    out: Console,
    store: DemoStore,
    config: Config,
    default_config: Path,
    shown: Sequence[Tagged],
    now: datetime,
) -> None:
    """Where the store is and three commands that use it: the demo is a start, not a dead end."""
    prefix = "" if store.default else f"ICPBOT_DATABASE_URL={store.url} "
    command = prefix + command_name()
    same = config.directory.resolve() == default_config.resolve()
    option = "" if same else f" --config-dir {_shown(config.directory)}"
    domain = next((t.record.domain for t in shown if t.record.domain), "zoquiera.com")
    companies = sample_dir(config) / "companies.csv"
    lines = [
        f"The store is kept in {store.path}"
        + (" (the default store, so every command below finds it)." if store.default else "."),
        "Next, try:",
        f"  {command} explain {domain}{option}",
        "      the full /icp answer for one account, criterion by criterion",
        f"  {command} score {_shown(companies)} --as-of {now.date()} -o scored.csv{option}",
        f"      every sample company scored into a CSV; --as-of {now.date()} is the sample's",
        "      date, as the demo scored it (leave it out and time-based criteria read from today)",
        f"  {command} check{option}",
        f"      validate {_shown(config.directory / 'icp.yaml')} after you edit it",
    ]
    for line in lines:
        out.print(line, highlight=False, markup=False, soft_wrap=True)


def command_name() -> str:
    """`icpbot` when the shell finds this one on PATH, else the path to type: `.venv/bin/icpbot`."""
    here = Path(sys.argv[0]).resolve() if sys.argv and sys.argv[0] else None
    found = shutil.which("icpbot")
    if here is None or here.suffix == ".py" or here.name != "icpbot":
        return "icpbot" if found else f"{_shown(Path(sys.executable))} -m bot"
    if found and Path(found).resolve() == here:
        return "icpbot"
    return _shown(Path(sys.argv[0]))


def _shown(path: Path) -> str:
    """A path relative to where the user is, when it is below it."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def _calibration(
    out: Console, config: Config, database: Database, now: datetime, deals: int
) -> None:
    """The other half of the loop: the ICP checked against the sample's won and lost deals."""
    out.rule(f"icpbot calibrate · the ICP checked against {deals:,} deals")
    with read_session(database) as session:
        observations = from_store(session, now=now)
    found = calibrate(observations, config.icp, types=config.fields.types)
    for line in summary_lines(found):
        out.print(line, highlight=False, markup=False)
    out.print(
        "The full report, a proposed icp.yaml and its diff: "
        f"{command_name()} calibrate --source {_shown(sample_dir(config))} --out proposed-icp.yaml",
        highlight=False,
        markup=False,
    )


def _summary(out: Console, report: BackfillReport) -> None:
    people = report.scored["contact"] + report.scored["lead"]
    out.print(
        f"Scored [bold]{report.scored['account']:,}[/bold] companies and [bold]{people:,}[/bold] "
        f"contacts, loaded {report.deals:,} deals, wrote {report.written:,} score records back "
        f"to the CRM (a CSV here)."
    )
    for row in report.skipped_rows[:5]:
        out.print(f"[yellow]skipped[/yellow] {row}")


def _tier_table(out: Console, accounts: Sequence[Tagged]) -> None:
    counts = Counter(t.score.tier.value for t in accounts if t.score)
    total = sum(counts.values()) or 1
    table = Table(title="Companies by tier", title_justify="left")
    for column in ("tier", "companies", "share", ""):
        table.add_column(column, justify="right" if column in ("companies", "share") else "left")
    for tier in TIERS:
        share = counts[tier] / total
        table.add_row(tier, f"{counts[tier]:,}", f"{share:.0%}", "█" * round(share * 50))
    out.print(table)


def _missing_fields(out: Console, accounts: Sequence[Tagged]) -> None:
    """Which data gaps cost the most: honest about what the scores could not see."""
    missing: Counter[str] = Counter()
    coverage = [t.score.coverage for t in accounts if t.score]
    for tagged in accounts:
        if tagged.score:
            unknown = {c.field for c in tagged.score.criteria if c.status is Status.UNKNOWN}
            missing.update(unknown)
    average = sum(coverage) / len(coverage) if coverage else 0.0
    top = ", ".join(f"{name} ({count:,})" for name, count in missing.most_common(4))
    out.print(f"Average coverage {average:.0%}. Fields most often missing: {top}.\n")


def _routing_posts(
    out: Console, config: Config, accounts: Sequence[Tagged], now: datetime, crm: CsvCrm
) -> list[Tagged]:
    """The newest A- and B-tier companies, routed as new leads would be."""
    fits = [t for t in accounts if t.score and t.score.tier.value in ("A", "B")]
    fits.sort(key=lambda t: (t.score.tier.value, -t.score.score))  # type: ignore[union-attr]
    chosen = fits[:ROUTING_POSTS]
    cursors: dict[str, int] = {}
    out.rule("Routing posts, as Slack shows them")
    for tagged in chosen:
        assert tagged.score is not None
        decision = route(
            config.routing,
            tier=tagged.score.tier,
            profile=tagged.score.profile_id,
            fields=tagged.record.fields,
            now=now,
            cursors=cursors,
        )
        view = _account_view(tagged, crm, decision)
        blocks = routing_post_blocks(account=view, score=tagged.score, decision=decision)
        print_blocks(out, blocks, title=decision.channel or "(tag only: no post)")
    return chosen


def _account_view(tagged: Tagged, crm: CsvCrm, decision: Decision | None = None) -> AccountView:
    fields = tagged.record.fields
    owner = decision.owner if decision else fields.get("owner_id")
    return AccountView(
        domain=tagged.record.domain or tagged.record.crm_id,
        name=str(fields.get("name") or "") or None,
        crm="csv",
        url=None,
        owner=_owner_name(crm, str(owner)) if owner else None,
    )


def _owner_name(crm: CsvCrm, owner: str) -> str:
    """The sample's owners.csv names CRM owner ids and the round robin's reps (by email):
    a post says "Dana Reyes", as it would once Slack knows her."""
    if "@" in owner:
        by_email = {o.email: o.name for o in crm.owners() if o.email and o.name}
        return by_email.get(owner, owner)
    return owner_text(crm.owner(owner), owner, crm.name)


def _best_persona(domain: str | None, tagged: Sequence[Tagged]) -> Tagged | None:
    people = [
        t for t in tagged if t.record.kind.is_person and t.persona and t.record.domain == domain
    ]
    return max(people, key=lambda t: t.persona.score, default=None)  # type: ignore[union-attr]


def _with_best_contact(chosen: Sequence[Tagged], tagged: Sequence[Tagged]) -> Tagged:
    """The routed account whose best contact fits the persona best: the richest answer."""

    def persona_score(account: Tagged) -> int:
        best = _best_persona(account.record.domain, tagged)
        return best.persona.score if best and best.persona else -1

    return max(chosen, key=persona_score)


def _explanation(
    out: Console, chosen: Tagged, tagged: Sequence[Tagged], now: datetime, crm: CsvCrm
) -> None:
    """The `/icp` answer for one account, with its best-fitting contact's persona."""
    assert chosen.score is not None
    domain = chosen.record.domain
    best = _best_persona(domain, tagged)
    person = None
    if best is not None and best.persona is not None:
        fields = best.record.fields
        person = PersonView.of(str(fields.get("email")), best.persona, fields)
    out.rule(f"/icp {domain}")
    blocks = explanation_blocks(
        account=_account_view(chosen, crm), score=chosen.score, person=person, now=now
    )
    print_blocks(out, blocks, title=f"only visible to you · /icp {domain}")
