"""The calibration chart: lift per criterion, and the held-out ROC curves before and after.

A PNG a reviewer can read in a pull request or a Slack message. Drawn on a `Figure` of its
own with the Agg canvas (no pyplot, no global state), as the digest's chart is. Everything
it shows is also in the report's text.
"""

from __future__ import annotations

import io

from bot.calibration.run import Calibration


def calibration_chart_png(found: Calibration) -> bytes:
    """Two panels: lift (matched win rate over the known win rate) per criterion, and the
    ROC curves of the current and proposed weights on the hold-out; PNG bytes."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    rows = [c for c in found.criteria if c.evidence.lift is not None]
    figure = Figure(figsize=(11, max(4.0, 0.3 * len(rows) + 1.5)), dpi=100)
    FigureCanvasAgg(figure)
    lifts, roc = figure.subplots(1, 2, width_ratios=[3, 2])
    labels = [f"{c.profile}.{c.id}" for c in rows]
    values = [c.evidence.lift or 0.0 for c in rows]
    colours = [  # green where the outcomes agree with the criterion's sign, red where not
        "#9e9e9e" if c.evidence.too_few else "#2e7d32" if (v >= 1) == (c.weight > 0) else "#c62828"
        for c, v in zip(rows, values, strict=True)
    ]
    lifts.barh(labels, values, color=colours)
    lifts.axvline(1.0, color="#424242", linewidth=1)
    lifts.invert_yaxis()
    lifts.set_xlabel(
        "lift: win rate when matched ÷ when known (red: against its sign; grey: too few)"
    )
    lifts.set_title("Lift per criterion")
    lifts.tick_params(axis="y", labelsize=8)
    roc.plot([0, 1], [0, 1], color="#bdbdbd", linestyle="--", linewidth=1, label="coin toss")
    for curve, name, colour in (
        (found.current, "current", "#1565c0"),
        (found.proposed_curve, "proposed", "#2e7d32"),
    ):
        if curve is not None:
            xs, ys = zip(*curve.points, strict=True)
            roc.plot(xs, ys, color=colour, label=f"{name} (AUC {curve.auc.value:.2f})")
    roc.set_xlabel("false positive rate")
    roc.set_ylabel("true positive rate")
    roc.set_title(f"Held-out ROC ({found.holdout:,} accounts)")
    roc.legend(frameon=False, loc="lower right")
    for axes in (lifts, roc):
        axes.spines[["top", "right"]].set_visible(False)
    figure.tight_layout()
    out = io.BytesIO()
    figure.savefig(out, format="png")
    return out.getvalue()
