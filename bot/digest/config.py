"""`config/digest.yaml`: when the weekly digest goes out, in which timezone, to which channels.

Optional: without it the schedule is Monday 09:00 UTC and no channel gets
a digest (`icpbot digest --dry-run --channel '#x'` still shows one). The
cron is judged as APScheduler reads it (`bot.cron`), so what `check` accepts
is exactly what the scheduler will run.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.cron import cron_problem, cron_trigger
from scoring.problems import ConfigError, Problem, line_of_key, load_yaml, not_a_key

if TYPE_CHECKING:
    from apscheduler.triggers.cron import CronTrigger

DEFAULT_CRON = "0 9 * * mon"
_KEYS = {"timezone", "cron", "channels"}


@dataclass(frozen=True, slots=True)
class DigestConfig:
    timezone: ZoneInfo
    cron: str
    channels: tuple[str, ...]

    def trigger(self) -> CronTrigger:
        return cron_trigger(self.cron, self.timezone)


def default_digest_config() -> DigestConfig:
    return DigestConfig(ZoneInfo("UTC"), DEFAULT_CRON, ())


def parse_digest_config(text: str | None, *, source: str) -> tuple[DigestConfig, list[Problem]]:
    """The file's settings over the defaults; ConfigError names every problem."""
    if text is None:
        return default_digest_config(), []
    data, problems = load_yaml(text, source)
    data = data if data is not None else {}
    if not isinstance(data, dict):
        raise ConfigError([*problems, Problem(source, "", "the file must be a mapping")])
    for key in data:
        if key not in _KEYS:
            problems.append(Problem(source, "", not_a_key(key, _KEYS), line_of_key(data, key)))
    zone = _zone(data.get("timezone", "UTC"), source, problems, line_of_key(data, "timezone"))
    cron = str(data.get("cron", DEFAULT_CRON))
    wrong = cron_problem(cron, zone)
    if wrong:
        problems.append(Problem(source, "cron", wrong, line_of_key(data, "cron")))
    channels = _channels(data.get("channels", []), source, problems, line_of_key(data, "channels"))
    if any(not p.warning for p in problems):
        raise ConfigError(problems)
    return DigestConfig(zone, cron, channels), problems


def _zone(value: object, source: str, problems: list[Problem], line: int | None) -> ZoneInfo:
    try:
        return ZoneInfo(str(value))
    except (ZoneInfoNotFoundError, ValueError):
        message = f"{value!r} is not an IANA timezone such as Europe/London"
        problems.append(Problem(source, "timezone", message, line))
        return ZoneInfo("UTC")


def _channels(
    value: object, source: str, problems: list[Problem], line: int | None
) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(c, str) and c.strip() for c in value):
        problems.append(Problem(source, "channels", "must be a list of channel names", line))
        return ()
    return tuple(c.strip() for c in value)
