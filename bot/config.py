"""Loading the config directory: every file, validated together, or nothing.

`icp.yaml` is required; `fields.yaml`, `routing.yaml` and `digest.yaml`
fall back to built-in defaults. Fields load first because the ICP and routing rules may
use the custom fields they declare. A problem in any file stops the load:
the bot never runs on half a config.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TypeVar

from bot.digest.config import DigestConfig, default_digest_config, parse_digest_config
from bot.routing.rules import Routing, parse_routing
from integrations.fieldmap import FieldMap, parse_field_map
from scoring.model import Icp
from scoring.problems import ConfigError, Problem
from scoring.validation import parse_icp

ICP_FILE = "icp.yaml"
FIELDS_FILE = "fields.yaml"
ROUTING_FILE = "routing.yaml"
DIGEST_FILE = "digest.yaml"

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Config:
    """Everything the config directory says, validated."""

    directory: Path
    icp: Icp
    icp_text: str
    fields: FieldMap
    routing: Routing
    warnings: tuple[Problem, ...] = ()
    digest: DigestConfig = field(default_factory=default_digest_config)


def _read(path: Path, *, required: bool) -> str | None:
    if not path.exists():
        if required:
            raise ConfigError([Problem(str(path), "", "not found: the ICP file is required")])
        return None
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([Problem(str(path), "", f"cannot be read: {exc}")]) from exc


def load_config(directory: Path, *, today: date | None = None) -> Config:
    """Load and validate the whole directory; ConfigError lists every problem in every file."""
    if not directory.is_dir():
        raise ConfigError(
            [
                Problem(
                    str(directory),
                    "",
                    "config directory not found: pass --config-dir DIR (the directory with "
                    "icp.yaml) or set ICPBOT_CONFIG_DIR",
                )
            ]
        )
    problems: list[Problem] = []
    fields_path, icp_path = directory / FIELDS_FILE, directory / ICP_FILE
    routing_path = directory / ROUTING_FILE
    fields = _collect(
        problems,
        lambda: parse_field_map(_read(fields_path, required=False), source=str(fields_path)),
    )
    icp_text = _read(icp_path, required=True) or ""
    types = fields.types if fields else None  # unknown: field names go unchecked
    icp = _collect(
        problems, lambda: parse_icp(icp_text, source=str(icp_path), fields=types, today=today)
    )
    profiles = [p.id for p in icp.profiles] if icp else None  # unknown: not checked
    routing = _collect(
        problems,
        lambda: parse_routing(
            _read(routing_path, required=False),
            source=str(routing_path),
            fields=types,
            profiles=profiles,
        ),
    )
    digest_path = directory / DIGEST_FILE
    digest = _collect(
        problems,
        lambda: parse_digest_config(_read(digest_path, required=False), source=str(digest_path)),
    )
    if fields is None or icp is None or routing is None or digest is None:
        raise ConfigError(problems)
    return Config(directory, icp, icp_text, fields, routing, tuple(problems), digest)


def _collect(problems: list[Problem], parse: Callable[[], tuple[T, list[Problem]]]) -> T | None:
    """Run one file's parser, keeping its warnings or its errors, so every file gets checked."""
    try:
        value, warnings = parse()
    except ConfigError as exc:
        problems.extend(exc.problems)
        return None
    problems.extend(warnings)
    return value
