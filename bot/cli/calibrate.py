"""`icpbot calibrate`: the ICP checked against won, lost and churned deals (SPEC §8).

Returns the process exit code; the report (or the JSON object) goes to stdout,
diagnostics and, with `--json`, the proposal's diff to the `err` console. It reads the
store or a CSV directory, never writes to the store, and never rewrites the config's own
`icp.yaml`.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape

from bot.calibration.outcomes import Observations, from_directory, from_store
from bot.calibration.proposal import ProposalError, proposed_text, unified_diff
from bot.calibration.run import Calibration, calibrate
from bot.cli.store import open_database
from bot.config import Config
from bot.store.db import read_session
from bot.views.calibration import calibration_json, no_deals, report_lines
from bot.views.calibration_chart import calibration_chart_png


def run_calibration(
    *,
    config: Config,
    source: Path | None,
    holdout: float,
    as_json: bool,
    out: Path | None,
    chart: Path | None,
    now: datetime,
    err: Console,
) -> int:
    """Read the outcomes, calibrate, print the report; write the proposal and the chart when
    asked. Exit 1 when there is nothing to learn from or the proposal cannot be written."""
    if out is not None and out.resolve() == (config.directory / "icp.yaml").resolve():
        err.print(
            f"[red]error[/red] --out {out}: calibration never rewrites the deployed icp.yaml; "
            "write the proposal elsewhere and merge it through review"
        )
        return 2
    observations = _observations(config, source, now, err)
    if observations is None:
        return 1
    found = calibrate(observations, config.icp, types=config.fields.types, holdout=holdout)
    diff = None
    if out is not None and found.proposed is not None:
        try:
            diff = _write_proposal(config, found, out, err)
        except ProposalError as exc:
            err.print(f"[red]error[/red] {escape(str(exc))}", soft_wrap=True)
            return 1
    if chart is not None:
        chart.write_bytes(calibration_chart_png(found))
        err.print(f"chart: {chart}")
    if as_json:
        written = str(out) if diff is not None else None
        typer.echo(json.dumps(calibration_json(found, written), default=float))
    else:
        typer.echo("\n".join(report_lines(found, next_step=out is None)))
    if diff is not None:
        if as_json:
            err.print(diff, markup=False, highlight=False)
        else:
            typer.echo(diff)
    if out is not None and found.proposed is None:
        err.print(f"--out {out}: nothing proposed, so nothing written ({found.too_few})")
        return 1
    return 0


def _observations(
    config: Config, source: Path | None, now: datetime, err: Console
) -> Observations | None:
    if source is not None:
        if not (source / "deals.csv").is_file() or not (source / "companies.csv").is_file():
            err.print(
                f"[red]error[/red] --source {source}: {no_deals(str(source))}", soft_wrap=True
            )
            return None
        found = from_directory(source, types=config.fields.types, now=now)
        where = str(source)
    else:
        database = open_database()
        with read_session(database) as session:
            found = from_store(session, now=now)
        where = f"the store ({database.url.render_as_string(hide_password=True)})"
    for note in found.skipped:
        err.print(f"[yellow]warning[/yellow] {escape(note)}", soft_wrap=True, highlight=False)
    if not found.observed:
        err.print(f"[red]error[/red] {no_deals(where)}", soft_wrap=True)
        return None
    return found


def _write_proposal(config: Config, found: Calibration, out: Path, err: Console) -> str:
    """Write the proposal; its diff against the current file."""
    current = config.icp_text
    text = proposed_text(
        current,
        source=str(config.directory / "icp.yaml"),
        weights=found.weights,
        suggestions=found.suggestions,
        types=config.fields.types,
    )
    out.write_text(text, encoding="utf-8")
    err.print(
        f"wrote {out}: ICP v{found.icp.version + 1}, passes `icpbot check`; review the diff, "
        "write a `why` for any suggestion you uncomment, then replace config/icp.yaml with it"
    )
    return unified_diff(
        current, text, current_name=str(config.directory / "icp.yaml"), proposed_name=str(out)
    )
