"""The proposed `icp.yaml`: the file as its author wrote it, with new weights, the next version
and the suggested criteria commented out (SPEC §8).

Why edit the text rather than dump a new YAML document: a dump would drop every comment,
reorder keys and reflow every `why`, so the pull request's diff would be the whole file.
Only the lines that carry a changed weight and the `version` line change; suggestions are
added as comments after each profile's last criterion, each with its evidence, to be
uncommented by a person who has written its `why`.

The result is validated as `icpbot check` would before anyone sees it: a proposal that
does not load is a bug, never a file handed to a reviewer.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping, Sequence

import yaml

from scoring.discovery import Suggestion
from scoring.fields import FieldType
from scoring.problems import ConfigError, Located, load_yaml
from scoring.validation import parse_icp

_WEIGHT = re.compile(r"(\bweight:\s*)(-?\d+)")
_VERSION = re.compile(r"^(version:\s*)(\d+)", re.MULTILINE)


class ProposalError(Exception):
    """The current file could not be edited as proposed; the message says where."""


def proposed_text(
    text: str,
    *,
    source: str,
    weights: Mapping[str, Mapping[str, int]],
    suggestions: Sequence[Suggestion],
    types: Mapping[str, FieldType],
) -> str:
    """`text` (the current icp.yaml) with these weights (by profile, then criterion id), the
    version bumped and the suggestions commented out; validated."""
    data, problems = load_yaml(text, source)
    if problems or not isinstance(data, Located):
        raise ProposalError(f"{source} does not load: run `icpbot check` first")
    lines = text.splitlines(keepends=True)
    inserts: dict[int, list[str]] = {}
    for profile in data.get("profiles") or []:
        criteria = profile.get("criteria") or []
        starts = [c.line for c in criteria]
        for index, criterion in enumerate(criteria):
            wanted = weights.get(profile["id"], {}).get(criterion["id"])
            if wanted is not None and wanted != criterion.get("weight"):
                end = starts[index + 1] - 1 if index + 1 < len(starts) else _end(lines, starts[-1])
                _set_weight(
                    lines, criterion.line, end, wanted, f"{profile['id']}.{criterion['id']}"
                )
        own = [s for s in suggestions if s.profile == profile["id"]]
        if own and starts:
            after = _end(lines, starts[-1])
            inserts[after] = _commented(own, _indent(lines[starts[-1] - 1]))
    for after in sorted(inserts, reverse=True):
        lines[after:after] = inserts[after]
    proposed = _bump_version("".join(lines), int(data.get("version") or 0), source)
    _validate(proposed, source, types, weights)
    return proposed


def unified_diff(current: str, proposed: str, *, current_name: str, proposed_name: str) -> str:
    """The change as a reviewer reads it."""
    return "".join(
        difflib.unified_diff(
            current.splitlines(keepends=True),
            proposed.splitlines(keepends=True),
            fromfile=current_name,
            tofile=proposed_name,
        )
    )


def _end(lines: Sequence[str], start: int) -> int:
    """The last line (1-based) of the list item starting on line `start`: the line before the
    next one indented no deeper than its dash, comments and blank lines excluded."""
    dash = _indent(lines[start - 1])
    last = start
    for number in range(start + 1, len(lines) + 1):
        line = lines[number - 1]
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if len(_indent(line)) <= len(dash):
            break
        last = number
    return last


def _indent(line: str) -> str:
    return line[: len(line) - len(line.lstrip(" "))]


def _set_weight(lines: list[str], first: int, last: int, weight: int, where: str) -> None:
    for number in range(first, last + 1):
        line = lines[number - 1]
        code, hash_, comment = line.partition(" #")
        if _WEIGHT.search(code):
            lines[number - 1] = _WEIGHT.sub(lambda m: f"{m.group(1)}{weight}", code, 1) + (
                hash_ + comment if hash_ else ""
            )
            return
    raise ProposalError(f"{where}: no `weight:` found on lines {first}-{last}")


def _commented(suggestions: Sequence[Suggestion], indent: str) -> list[str]:
    """Each suggestion as a ready criterion, commented out, with what calibration saw."""
    out = [
        f"{indent}# Suggested by `icpbot calibrate` (measured on the hold-out; uncomment the\n",
        f"{indent}# ones you agree with after writing their `why`):\n",
    ]
    for suggestion in suggestions:
        held = suggestion.evidence
        out.append(
            f"{indent}# lift {held.lift or 0:.2f}, information value {held.iv or 0:.2f}, "
            f"{held.matched.total} accounts matched\n"
        )
        for n, (key, value) in enumerate(suggestion.criterion.items()):
            lead = "- " if n == 0 else "  "
            out.append(f"{indent}# {lead}{_yaml_entry(key, value)}\n")
    return out


def _yaml_entry(key: str, value: object) -> str:
    """`key: value` on one line, the value as YAML writes it in flow style (`[a, b]`)."""
    return yaml.safe_dump({key: value}, default_flow_style=True, width=10**6).strip()[1:-1]


def _bump_version(text: str, version: int, source: str) -> str:
    bumped, count = _VERSION.subn(lambda m: f"{m.group(1)}{version + 1}", text, 1)
    if not count:
        raise ProposalError(f"{source}: no top-level `version:` line to bump")
    return bumped


def _validate(
    text: str,
    source: str,
    types: Mapping[str, FieldType],
    weights: Mapping[str, Mapping[str, int]],
) -> None:
    """The proposal loads as `icpbot check` loads it, with exactly the weights intended."""
    try:
        icp, _ = parse_icp(text, source=f"{source} (proposed)", fields=types)
    except ConfigError as exc:
        raise ProposalError(f"the proposal does not pass `icpbot check`:\n{exc}") from exc
    for profile in icp.profiles:
        for criterion in profile.criteria:
            wanted = weights.get(profile.id, {}).get(criterion.id, criterion.weight)
            if criterion.weight != wanted:
                where = f"{profile.id}.{criterion.id}"
                raise ProposalError(
                    f"{where}: proposed weight {wanted}, file says {criterion.weight}"
                )
