"""Cron lines judged as APScheduler judges them, without loading it for the plain ones."""

from __future__ import annotations

from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from apscheduler.triggers.cron import CronTrigger

from bot.config import load_config
from bot.cron import cron_problem, cron_trigger, plainly_valid
from bot.settings import Settings
from scoring.problems import ConfigError
from tests.support import ROOT

UTC = ZoneInfo("UTC")


def scheduler_accepts(line: str) -> bool:
    try:
        CronTrigger.from_crontab(line, timezone=UTC)
    except ValueError:
        return False
    return True


@pytest.mark.parametrize(
    "line",
    [
        "0 9 * * mon",
        "30 6 * * 1-5",
        "*/15 * * * *",
        "0 4 * * *",
        "0 9 1,15 * *",
        "0 8 * jan-mar MON-FRI",
        "0 0-23/2 * * *",
        "05 09 * * 0",
    ],
)
def test_the_lines_people_write_need_no_scheduler(line: str) -> None:
    assert plainly_valid(line) and scheduler_accepts(line)


@pytest.mark.parametrize(
    "line",
    [
        "0 9 * *",
        "60 9 * * mon",
        "0 24 * * *",
        "0 9 0 * *",
        "0 9 * 13 *",
        "0 9 * * 7",
        "*/0 * * * *",
        "*/60 * * * *",
        "5-1 * * * *",
        "0 9 * * fri-mon",
        "0 9 * * monday",
        "0 9 * * mon,",
        "0 9 * * 1-mon",
        "0 9 * * mon/2",
        "0-0/1 * * * *",
        "5/10 * * * *",
        "0 9 last * *",
        "0 9 * * ²",
    ],
)
def test_anything_else_is_left_to_the_scheduler_and_said_in_its_words(line: str) -> None:
    assert not plainly_valid(line)
    try:
        CronTrigger.from_crontab(line, timezone=UTC)
    except ValueError as exc:
        assert cron_problem(line, UTC) == f"{line!r} is not a cron line: {exc}"
    else:
        assert cron_problem(line, UTC) is None


# Each field's bounds, minute to day of week, and the names a field may hold.
_FIELDS = (
    (0, 59, ()),
    (0, 23, ()),
    (1, 31, ()),
    (1, 12, ("jan", "Jun", "DEC")),
    (0, 6, ("mon", "Fri", "SUN")),
)


def _items(low: int, high: int, names: tuple[str, ...]) -> list[str]:
    """Every shape of item, on and either side of the field's bounds."""
    values = [
        *sorted({str(v) for v in (0, low, low + 1, high - 1, high, high + 1)}),
        *names,
        "xyz",
        "",
    ]
    steps = ["", "/0", "/1", f"/{high - low}", f"/{high - low + 1}"]
    spreads = ["*", *values, *(f"{a}-{b}" for a in values for b in values)]
    return [spread + step for spread in spreads for step in steps]


def _lines() -> list[str]:
    """One field varied at a time, the others `*`; one item, and two in a list."""
    lines = []
    for position, (low, high, names) in enumerate(_FIELDS):
        items = _items(low, high, names)
        for field in [*items, *(f"{a},{b}" for a, b in zip(items, reversed(items), strict=True))]:
            lines.append(" ".join(field if i == position else "*" for i in range(len(_FIELDS))))
    return lines


def test_what_passes_without_the_scheduler_the_scheduler_runs() -> None:
    lines = _lines()
    plain = [line for line in lines if plainly_valid(line)]
    assert [line for line in plain if not scheduler_accepts(line)] == []
    assert len(plain) > 100  # the claim is tested on many lines, not a few
    for line in plain[::50]:
        assert str(cron_trigger(line, UTC)) == str(CronTrigger.from_crontab(line, timezone=UTC))


def test_a_bad_digest_cron_stops_the_load_in_the_schedulers_words(tmp_path: Path) -> None:
    for name in ("icp.yaml", "fields.yaml", "routing.yaml"):
        (tmp_path / name).write_text((ROOT / "config" / name).read_text())
    (tmp_path / "digest.yaml").write_text('timezone: Europe/Paris\ncron: "0 25 * * mon"\n')
    with pytest.raises(ConfigError) as raised:
        load_config(tmp_path)
    [problem] = raised.value.problems
    assert (problem.where, problem.line) == ("cron", 2)
    assert problem.message == (
        "'0 25 * * mon' is not a cron line: Error validating expression '25': "
        "the last value (25) is higher than the maximum value (23)"
    )


def test_the_ageing_cron_is_judged_alike() -> None:
    assert Settings(ICPBOT_RESCORE_CRON="*/30 * * * *").ageing_cron == "*/30 * * * *"
    with pytest.raises(ValueError, match="'0 9 \\* \\*' is not a cron line: Wrong number"):
        Settings(ICPBOT_RESCORE_CRON="0 9 * *")
