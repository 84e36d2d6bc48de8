"""`config/digest.yaml`: when the weekly digest goes out, in which timezone, to which channels.

Optional: without it the schedule is Monday 09:00 UTC and no channel gets
a digest (`icpbot digest --dry-run --channel '#x'` still shows one). The
cron is read by APScheduler's own parser, so what `check` accepts is
exactly what the scheduler will run.
"""

from __future__ import annotations

from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from apscheduler.triggers.cron import CronTrigger

from scoring.problems import ConfigError, Problem, line_of, load_yaml

DEFAULT_CRON = "0 9 * * mon"
_KEYS = {"timezone", "cron", "channels"}


@dataclass(frozen=True, slots=True)
class DigestConfig:
    timezone: ZoneInfo
    cron: str
    channels: tuple[str, ...]

    def trigger(self) -> CronTrigger:
        return CronTrigger.from_crontab(self.cron, timezone=self.timezone)


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
            message = f"unknown key ({', '.join(sorted(_KEYS))})"
            problems.append(Problem(source, str(key), message, line_of(data)))
    zone = _zone(data.get("timezone", "UTC"), source, problems, data)
    cron = str(data.get("cron", DEFAULT_CRON))
    try:
        CronTrigger.from_crontab(cron, timezone=zone)
    except ValueError as exc:
        problems.append(Problem(source, "cron", f"{cron!r} is not a cron line: {exc}"))
    channels = _channels(data.get("channels", []), source, problems)
    if any(not p.warning for p in problems):
        raise ConfigError(problems)
    return DigestConfig(zone, cron, channels), problems


def _zone(value: object, source: str, problems: list[Problem], data: object) -> ZoneInfo:
    try:
        return ZoneInfo(str(value))
    except (ZoneInfoNotFoundError, ValueError):
        message = f"{value!r} is not an IANA timezone such as Europe/London"
        problems.append(Problem(source, "timezone", message, line_of(data)))
        return ZoneInfo("UTC")


def _channels(value: object, source: str, problems: list[Problem]) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(c, str) and c.strip() for c in value):
        problems.append(Problem(source, "channels", "must be a list of channel names"))
        return ()
    return tuple(c.strip() for c in value)
