"""Cron lines (the digest's, the daily ageing's) checked as APScheduler reads them.

APScheduler is the judge: what `icpbot check` accepts is exactly what the
scheduler will run, and a bad line is said in its words. Loading it (and
asyncio under it) is a twentieth of a second that `check`, `score` and
`sql` spend on nothing else, so the lines people write (`0 9 * * mon`,
`30 6 * * 1-5`, `*/15 * * * *`) are first read by `plainly_valid`, which
accepts only what APScheduler certainly accepts (the tests hold it to
that); any other line goes to APScheduler for the verdict.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

if TYPE_CHECKING:
    from apscheduler.triggers.cron import CronTrigger

# APScheduler 3's names and bounds for the five crontab fields (its day of week counts
# from Monday, 0, to Sunday, 6).
_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_FIELDS: tuple[tuple[int, int, dict[str, int]], ...] = (
    (0, 59, {}),  # minute
    (0, 23, {}),  # hour
    (1, 31, {}),  # day of month
    (1, 12, {name: number for number, name in enumerate(_MONTHS, 1)}),
    (0, 6, {name: number for number, name in enumerate(_WEEKDAYS)}),
)


def cron_problem(line: str, timezone: ZoneInfo) -> str | None:
    """What is wrong with a cron line, in APScheduler's words; None when it will run."""
    if plainly_valid(line):
        return None
    from apscheduler.triggers.cron import CronTrigger

    try:
        CronTrigger.from_crontab(line, timezone=timezone)
    except ValueError as exc:
        return f"{line!r} is not a cron line: {exc}"
    return None


def cron_trigger(line: str, timezone: ZoneInfo) -> CronTrigger:
    """The scheduler's trigger for a line `cron_problem` passed."""
    from apscheduler.triggers.cron import CronTrigger

    return CronTrigger.from_crontab(line, timezone=timezone)


def plainly_valid(line: str) -> bool:
    """True only for a line APScheduler accepts: five fields, each a list of `*`, `*/N`,
    a value or a range (`a-b`, `a-b/N`) within the field's bounds, month and weekday
    names included. False says nothing: APScheduler may still accept the line."""
    fields = line.split()
    return len(fields) == len(_FIELDS) and all(
        all(_plain_item(item, low, high, names) for item in text.split(","))
        for text, (low, high, names) in zip(fields, _FIELDS, strict=True)
    )


def _plain_item(item: str, low: int, high: int, names: dict[str, int]) -> bool:
    """One comma-separated item of a field, within `low..high`; steps on numbers only."""
    spread, slash, step_text = item.partition("/")
    if slash and not _digits(step_text):
        return False
    step = int(step_text) if slash else None
    if spread == "*":
        return step is None or 1 <= step <= high - low
    first_text, dash, last_text = spread.partition("-")
    if _digits(first_text) and (not dash or _digits(last_text)):
        first, last = int(first_text), int(last_text) if dash else None
    elif step is None and first_text.lower() in names and (not dash or last_text.lower() in names):
        first, last = names[first_text.lower()], names[last_text.lower()] if dash else None
    else:
        return False
    if last is None:  # `5/10` runs from 5 to the field's end: left to APScheduler
        return step is None and low <= first <= high
    return low <= first <= last <= high and (step is None or 1 <= step <= last - first)


def _digits(text: str) -> bool:
    return text.isascii() and text.isdigit()
