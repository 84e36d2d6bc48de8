"""`icpbot age`: the daily ageing of time-based scores, run by hand.

Prints one line per record whose result the calendar moved, with what changed.

Returns the process exit code; data goes to stdout, diagnostics to the `err` console.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from datetime import datetime

from rich.console import Console

from bot.cli.store import open_database
from bot.config import Config
from bot.store.db import session as open_session
from bot.sync.ageing import find_due, requeue
from bot.sync.tagging import Due, Tagger
from bot.views.common import counted
from scoring.engine import Scorer


def age_scores(*, config: Config, dry_run: bool, now: datetime, err: Console) -> int:
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
        err.print(f"{counted(len(due), 'record')} due for a re-score; nothing changed (--dry-run)")
        return 0
    done = requeue(database=database, tagger=tagger, due=due, now=now)
    later = (
        "; `icpbot serve` reads the queued ones again and writes them back" if done.queued else ""
    )
    err.print(f"{done.summary()}{later}")
    return 0


def aged_line(due: Due) -> str:
    """`acme.com (hubspot account): B 72 → C 52 · funding no longer matches (...)`.

    A person alone (no company) shows the persona's fit. Every line says why:
    the criteria whose status the calendar moved, else what changed in the
    reasons, so RevOps can check a line against the ICP.
    """
    record, previous, now = due.record, due.previous, due.now
    alone = now.score is None
    score, tier = (now.persona_score, now.persona_tier) if alone else (now.score, now.tier)
    parts = [
        f"{record.key} ({record.crm} {record.kind}): "
        f"{previous.tier} {previous.score} → {tier} {score}"
    ]
    if not alone and now.persona_score != previous.persona_score:
        parts.append(f"persona {previous.persona_score} → {now.persona_score}")
    if now.profile != previous.profile:
        parts.append(f"profile {previous.profile or '-'} → {now.profile or '-'}")
    if due.changes:
        parts.append("; ".join(due.changes))
        return " · ".join(parts)
    before, after = _reasons(previous.reasons), _reasons(now.reasons.split("\n"))
    if gone := [r for r in before if r not in after]:
        parts.append("no longer " + "; ".join(gone))
    if came := [r for r in after if r not in before]:
        parts.append("now " + "; ".join(came))
    if len(parts) == 1:
        parts.append("its stored fields changed since it was scored; `icpbot explain` shows them")
    return " · ".join(parts)


def _reasons(lines: Sequence[str]) -> list[str]:
    return [line for line in lines if line and not line.startswith("unknown:")]
