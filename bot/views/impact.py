"""What `icpbot impact` says: plain text for the terminal, Markdown for a pull request's
comment, JSON for scripts. The numbers come from `bot.change.impact`; nothing here reads.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bot.change.impact import TIERS, Impact, Move
from bot.views.common import duration_text


def headline(found: Impact) -> str:
    """One sentence: from which version to which, and how much moves."""
    share = found.changed / found.accounts if found.accounts else 0.0
    return (
        f"icp.yaml v{found.deployed.version} (deployed) → v{found.proposed.version} (proposed): "
        f"{found.changed:,} of {found.accounts:,} stored accounts change tier ({share:.0%})"
    )


def _tiers(found: Impact) -> list[str]:
    """The tiers that occur, in tier order."""
    seen = {t for pair in found.matrix for t in pair}
    return [t for t in TIERS if t in seen]


def _matrix_rows(found: Impact) -> tuple[list[str], list[list[str]]]:
    tiers = _tiers(found)
    header = ["before \\ after", *tiers, "total"]
    rows = []
    for old in tiers:
        counts = [found.matrix.get((old, new), 0) for new in tiers]
        cells = [
            f"**{n:,}**" if old == new and n else f"{n:,}" if n else "·"
            for n, new in zip(counts, tiers, strict=True)
        ]
        rows.append([old, *cells, f"{sum(counts):,}"])
    totals = [sum(found.matrix.get((old, new), 0) for old in tiers) for new in tiers]
    rows.append(["total", *(f"{n:,}" for n in totals), f"{found.accounts:,}"])
    return header, rows


def _owner(owner: str) -> str:
    return owner or "(no owner)"


def _move_line(move: Move) -> str:
    owner = f" · owner {move.owner}" if move.owner else ""
    why = "; ".join(move.why) or "score moved across a tier boundary"
    return (
        f"{move.domain} ({move.name}){owner}: {move.old_tier} {move.old_score} → "
        f"{move.new_tier} {move.new_score} — {why}"
    )


def _sections(found: Impact) -> list[tuple[str, int, Sequence[Move]]]:
    """(title, how many in all, the biggest moves listed)."""
    into = sum(n for (old, new), n in found.matrix.items() if new == "A" and old != "A")
    out = sum(n for (old, new), n in found.matrix.items() if old == "A" and new != "A")
    dq = sum(n for (old, new), n in found.matrix.items() if new == "DQ" and old != "DQ")
    return [
        ("Entering tier A", into, found.entering_a),
        ("Leaving tier A", out, found.leaving_a),
        ("Newly disqualified", dq, found.newly_disqualified),
    ]


def _title(title: str, total: int, shown: int) -> str:
    if not total:
        return f"{title}: none"
    listed = "all listed" if shown == total else f"the {shown} that move most listed"
    return f"{title}: {total:,} ({listed})"


def text_lines(found: Impact) -> list[str]:
    """The report for a terminal."""
    header, rows = _matrix_rows(found)
    widths = [max(len(r[i].replace("**", "")) for r in [header, *rows]) for i in range(len(header))]
    lines = [headline(found), "", "Tier before → after (rows: deployed, columns: proposed)"]
    for row in [header, *rows]:
        lines.append(
            "  " + "  ".join(c.replace("**", "").rjust(w) for c, w in zip(row, widths, strict=True))
        )
    for title, total, moves in _sections(found):
        lines += ["", _title(title, total, len(moves))]
        lines += [f"  {_move_line(m)}" for m in moves]
    if found.books:
        lines += [
            "",
            "Books that change most (owner: accounts changing tier, entering A, leaving A)",
        ]
        lines += [
            f"  {_owner(b.owner)}: {b.changed} of {b.accounts}, +{b.entering_a} A, -{b.leaving_a} A"
            for b in found.books
        ]
    if found.persona_matrix:
        moved = sum(n for (a, b), n in found.persona_matrix.items() if a != b)
        lines += ["", f"People: {moved:,} of {found.people:,} change persona tier"]
    lines += ["", *_cost_lines(found)]
    return lines


def _cost_lines(found: Impact) -> list[str]:
    if not found.costs:
        return ["Rollout: no CRM record to write (nothing stored from HubSpot or Salesforce)."]
    lines = ["Rollout after the merge (every record scored under another version is written once):"]
    lines += [
        f"  {c.crm}: {c.records:,} records in {c.calls:,} write calls, about "
        f"{duration_text(c.seconds)} at the configured rate limit, leaving live traffic its share"
        for c in found.costs
    ]
    return lines


def markdown(found: Impact) -> str:
    """A pull-request comment: the matrix as a table, the lists folded under details."""
    header, rows = _matrix_rows(found)
    out = [f"### ICP impact: {headline(found)}", ""]
    out.append("| " + " | ".join(header) + " |")
    out.append("|" + "---|" * len(header))
    out += ["| " + " | ".join(row) + " |" for row in rows]
    for title, total, moves in _sections(found):
        out += ["", f"<details><summary>{_title(title, total, len(moves))}</summary>", ""]
        out += [f"- `{m.domain}`" + _move_line(m).removeprefix(m.domain) for m in moves]
        out += ["", "</details>"]
    if found.books:
        out += [
            "",
            "**Books that change most**",
            "",
            "| owner | change tier | enter A | leave A | accounts |",
            "|---|---|---|---|---|",
        ]
        out += [
            f"| {_owner(b.owner)} | {b.changed} | {b.entering_a} | {b.leaving_a} | {b.accounts} |"
            for b in found.books
        ]
    out += ["", *(f"{line}" for line in _cost_lines(found))]
    return "\n".join(out) + "\n"


def impact_json(found: Impact) -> dict[str, Any]:
    """The one JSON object of `icpbot impact --json`."""
    tiers = _tiers(found)
    return {
        "deployed_version": found.deployed.version,
        "proposed_version": found.proposed.version,
        "accounts": found.accounts,
        "changed": found.changed,
        "matrix": {old: {new: found.matrix.get((old, new), 0) for new in tiers} for old in tiers},
        "entering_a": [_move_json(m) for m in found.entering_a],
        "leaving_a": [_move_json(m) for m in found.leaving_a],
        "newly_disqualified": [_move_json(m) for m in found.newly_disqualified],
        "owners": [
            {
                "owner": b.owner or None,
                "accounts": b.accounts,
                "changed": b.changed,
                "entering_a": b.entering_a,
                "leaving_a": b.leaving_a,
            }
            for b in found.books
        ],
        "people": {
            "total": found.people,
            "persona_changed": sum(n for (a, b), n in found.persona_matrix.items() if a != b),
        },
        "rollout": [
            {"crm": c.crm, "records": c.records, "calls": c.calls, "seconds": round(c.seconds, 1)}
            for c in found.costs
        ],
    }


def _move_json(move: Move) -> dict[str, Any]:
    return {
        "domain": move.domain,
        "name": move.name,
        "owner": move.owner,
        "from": {"tier": move.old_tier, "score": move.old_score},
        "to": {"tier": move.new_tier, "score": move.new_score},
        "why": list(move.why),
    }
