"""`icpbot demo`: the whole flow offline, on the bundled sample CRM.

Loads the sample companies, contacts and deals into a throwaway SQLite
store, scores everything, writes the scores back (to a CSV standing in for
the CRM), shows the tier distribution, the first routing posts as Slack
would show them, the `/icp` answer for one account, and what calibrating the ICP
against the sample's deals finds. Nothing leaves the machine. The sample data is
dated; the demo scores it as of that date so time-based criteria (funding in the
last year...) read as intended.
"""

from __future__ import annotations

import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import yaml
from rich.console import Console
from rich.table import Table
from sqlalchemy import Engine as Database

from bot.calibration.outcomes import from_store
from bot.calibration.run import calibrate
from bot.cli.progress import TIERS, progress_bar
from bot.cli.terminal import print_blocks
from bot.config import Config
from bot.routing.rules import Decision, route
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


def run_demo(*, config: Config, keep: Path | None = None, console: Console | None = None) -> None:
    """Run the flow and print it; `keep` keeps the SQLite store at that path."""
    out = console or Console()
    started = time.perf_counter()
    source = sample_dir(config)
    now = sample_as_of(source)
    with tempfile.TemporaryDirectory(prefix="icpbot-demo-") as tmp:
        db_path = keep or Path(tmp) / "icpbot.db"
        database = make_engine(f"sqlite:///{db_path}")
        migrate(database)
        crm = CsvCrm(source, types=config.fields.types, out=Path(tmp) / "scores.csv")
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
        chosen = _routing_posts(out, config, accounts, now)
        if chosen:
            _explanation(out, _with_best_contact(chosen, report.tagged), report.tagged, now)
        _calibration(out, config, database, now, report.deals)
        database.dispose()
    where = f" · store kept at {keep}" if keep else ""
    out.rule(f"done in {time.perf_counter() - started:.1f} s{where}")


def _calibration(
    out: Console, config: Config, database: Database, now: datetime, deals: int
) -> None:
    """The other half of the loop: the ICP checked against the sample's won and lost deals."""
    out.rule(f"icpbot calibrate · the ICP checked against {deals} deals")
    with read_session(database) as session:
        observations = from_store(session, now=now)
    found = calibrate(observations, config.icp, types=config.fields.types)
    for line in summary_lines(found):
        out.print(line, highlight=False, markup=False)
    out.print(
        "The full report, a proposed icp.yaml and its diff: "
        f"icpbot calibrate --source {sample_dir(config)} --out proposed-icp.yaml",
        highlight=False,
        markup=False,
    )


def _summary(out: Console, report: BackfillReport) -> None:
    people = report.scored["contact"] + report.scored["lead"]
    out.print(
        f"Scored [bold]{report.scored['account']}[/bold] companies and [bold]{people}[/bold] "
        f"contacts, loaded {report.deals} deals, wrote {report.written} score records back "
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
        table.add_row(tier, str(counts[tier]), f"{share:.0%}", "█" * round(share * 50))
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
    top = ", ".join(f"{name} ({count})" for name, count in missing.most_common(4))
    out.print(f"Average coverage {average:.0%}. Fields most often missing: {top}.\n")


def _routing_posts(
    out: Console, config: Config, accounts: Sequence[Tagged], now: datetime
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
        view = _account_view(tagged, decision)
        blocks = routing_post_blocks(account=view, score=tagged.score, decision=decision)
        print_blocks(out, blocks, title=decision.channel or "(tag only: no post)")
    return chosen


def _account_view(tagged: Tagged, decision: Decision | None = None) -> AccountView:
    fields = tagged.record.fields
    owner = decision.owner if decision else fields.get("owner_id")
    return AccountView(
        domain=tagged.record.domain or tagged.record.crm_id,
        name=str(fields.get("name") or "") or None,
        crm="csv",
        url=None,
        owner=str(owner) if owner else None,
    )


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


def _explanation(out: Console, chosen: Tagged, tagged: Sequence[Tagged], now: datetime) -> None:
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
        account=_account_view(chosen), score=chosen.score, person=person, now=now
    )
    print_blocks(out, blocks, title=f"only visible to you · /icp {domain}")
