"""The digest's picture: new accounts by tier over the last weeks, as a PNG.

Drawn on a `Figure` of its own with the Agg canvas (no pyplot, no global
state), so a scheduler thread can draw while the web app serves. What the
chart shows is also in the post's text: the chart is never the only copy.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

TIER_COLOURS = {"A": "#2e7d32", "B": "#1565c0", "C": "#f9a825", "D": "#9e9e9e", "DQ": "#c62828"}


def tier_chart_png(history: Sequence[tuple[str, dict[str, int]]], *, title: str) -> bytes:
    """Stacked bars, one a week (oldest first), A at the bottom; PNG bytes."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(8, 4), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    labels = [week.split("-")[-1] for week, _ in history]
    bottoms = [0] * len(history)
    for tier, colour in TIER_COLOURS.items():
        heights = [counts.get(tier, 0) for _, counts in history]
        axes.bar(labels, heights, bottom=bottoms, color=colour, label=tier, width=0.7)
        bottoms = [b + h for b, h in zip(bottoms, heights, strict=True)]
    axes.set_title(title)
    axes.set_ylabel("new accounts")
    axes.spines[["top", "right"]].set_visible(False)
    axes.legend(
        title="tier",
        frameon=False,
        ncols=len(TIER_COLOURS),
        loc="upper left",
        bbox_to_anchor=(0, -0.12),
    )
    figure.tight_layout()
    out = io.BytesIO()
    figure.savefig(out, format="png")
    return out.getvalue()


def chart_alt_text(history: Sequence[tuple[str, dict[str, int]]]) -> str:
    """What the chart shows, in words, for screen readers."""
    weeks = "; ".join(
        f"{week}: " + ", ".join(f"{t} {n}" for t, n in counts.items() if n)
        if any(counts.values())
        else f"{week}: none"
        for week, counts in history
    )
    return f"New accounts by tier per week. {weeks}"[:1000]
