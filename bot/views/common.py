"""Pieces every view shares: tier and status emoji, escaping, text limits, Block Kit limits.

Text from the CRM is untrusted: a company called `<!channel>` must not ping a
channel, so every view escapes CRM data before it reaches mrkdwn. The limits
below are Slack's published Block Kit limits; `check_limits` enforces them
so a view that would be rejected by `chat.postMessage` fails in a test instead.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from scoring.explain import format_coverage, format_points
from scoring.model import Tier
from scoring.operators import format_value
from scoring.result import AccountScore, CriterionResult, Status

Block = dict[str, Any]

MAX_BLOCKS = 50  # a message; modals and App Home allow 100
MAX_SECTION_TEXT = 3000
MAX_HEADER_TEXT = 150
MAX_FIELD_TEXT = 2000
MAX_FIELDS = 10
MAX_CONTEXT_ELEMENTS = 10
MAX_ACTIONS_ELEMENTS = 25
MAX_BUTTON_TEXT = 75
MAX_BUTTON_VALUE = 2000
MAX_ACTION_ID = 255
MAX_BLOCK_ID = 255
MAX_URL = 3000
MAX_TEXT = 3000  # any text object
MAX_ALT_TEXT = 2000

TIER_EMOJI = {
    Tier.A: ":large_green_circle:",
    Tier.B: ":large_blue_circle:",
    Tier.C: ":large_yellow_circle:",
    Tier.D: ":white_circle:",
    Tier.DQ: ":no_entry:",
}
STATUS_EMOJI = {
    Status.MATCHED: ":white_check_mark:",
    Status.MISSED: ":x:",
    Status.UNKNOWN: ":grey_question:",
}
ELLIPSIS = "…"
CRM_NAMES = {"hubspot": "HubSpot", "salesforce": "Salesforce", "csv": "CSV"}

_USER_MENTION = re.compile(r"^<@[UW][A-Z0-9]{2,}>$")
_USER_ID = re.compile(r"^[UW][A-Z0-9]{6,}$")
_SLACK_STYLES = {"primary", "danger"}


def escape(text: object) -> str:
    """Slack's mrkdwn escaping: only `&`, `<` and `>` are control characters."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def one_line(text: object) -> str:
    """CRM data on a single line, so it cannot break the layout of a list."""
    return " ".join(str(text).split())


def value_text(value: object, *, limit: int = 60) -> str:
    """A CRM value as escaped mrkdwn: formatted, on one line, cut to `limit`."""
    return escape(one_line(format_value(value, limit=limit)))


def mention(owner: str | None) -> str:
    """An owner as mrkdwn: Slack user ids become mentions, anything else is escaped text."""
    if not owner:
        return "unassigned"
    if _USER_MENTION.match(owner):
        return owner
    if _USER_ID.match(owner):
        return f"<@{owner}>"
    return escape(one_line(owner))


def link(url: str | None, text: str) -> str:
    """`<url|text>` when the URL is safe to embed, else the (already escaped) text alone."""
    safe = safe_url(url)
    if safe is None:
        return text
    target = safe.replace("&", "&amp;").replace("|", "%7C")
    return f"<{target}|{text}>" if text else f"<{target}>"


def safe_url(url: str | None) -> str | None:
    """An http(s) URL Slack accepts in a button or link, or None."""
    if not url or len(url) > MAX_URL or not url.startswith(("https://", "http://")):
        return None
    if any(ch.isspace() or ch in "<>" for ch in url):
        return None
    return url


def limit_text(text: str, limit: int, *, markup: bool = True) -> str:
    """Cut `text` to `limit` characters on a line boundary, marking the cut with "…".

    When the last line break would throw away more than half the room, the cut
    falls inside the line instead, but never in the middle of an `&amp;`
    entity or a `<...>` token, which Slack would show broken (`markup=False`
    for plain_text, where those are literal characters).
    """
    if len(text) <= limit:
        return text
    if limit <= len(ELLIPSIS):
        return ELLIPSIS[:limit]
    budget = limit - len(ELLIPSIS)
    cut = text.rfind("\n", 0, budget + 1)
    if cut >= budget // 2:
        return text[:cut] + ("\n" + ELLIPSIS if cut + 2 <= limit else ELLIPSIS)
    return _cut_inside_line(text, budget, markup=markup) + ELLIPSIS


def _cut_inside_line(text: str, budget: int, *, markup: bool) -> str:
    head = text[:budget]
    if not markup:
        return head.rstrip()
    amp = head.rfind("&")
    if amp != -1 and ";" not in head[amp:]:
        head = head[:amp]
    opened = head.rfind("<")
    if opened != -1 and ">" not in head[opened:]:
        head = head[:opened]
    return head.rstrip()


def plain(text: str, *, limit: int = MAX_TEXT) -> dict[str, Any]:
    """A plain_text object; Slack shows it literally, so it needs no escaping."""
    return {
        "type": "plain_text",
        "text": limit_text(text, limit, markup=False) or " ",
        "emoji": True,
    }


def mrkdwn(text: str, *, limit: int = MAX_TEXT) -> dict[str, Any]:
    return {"type": "mrkdwn", "text": limit_text(text, limit) or " "}


def header_block(text: str) -> Block:
    return {"type": "header", "text": plain(one_line(text), limit=MAX_HEADER_TEXT)}


def section_block(text: str, *, accessory: Block | None = None) -> Block:
    block: Block = {"type": "section", "text": mrkdwn(text, limit=MAX_SECTION_TEXT)}
    if accessory is not None:
        block["accessory"] = accessory
    return block


def fields_block(fields: Sequence[str]) -> Block:
    items = [mrkdwn(f, limit=MAX_FIELD_TEXT) for f in fields[:MAX_FIELDS]]
    return {"type": "section", "fields": items}


def context_block(*texts: str) -> Block:
    items = [mrkdwn(t) for t in texts if t][:MAX_CONTEXT_ELEMENTS]
    return {"type": "context", "elements": items}


def divider_block() -> Block:
    return {"type": "divider"}


def button(
    text: str,
    *,
    action_id: str,
    value: str | None = None,
    url: str | None = None,
    style: str | None = None,
) -> Block:
    """A button; callers pass `url` through `safe_url` first, or it is left out."""
    element: Block = {
        "type": "button",
        "text": plain(one_line(text), limit=MAX_BUTTON_TEXT),
        "action_id": action_id[:MAX_ACTION_ID],
    }
    if value is not None:
        element["value"] = value[:MAX_BUTTON_VALUE]
    if url is not None:
        element["url"] = url
    if style is not None:
        element["style"] = style
    return element


def open_in_crm_button(url: str | None) -> Block | None:
    """The "Open in CRM" link button, or None when the record has no usable URL."""
    safe = safe_url(url)
    if safe is None:
        return None
    return button("Open in CRM", action_id="icp_open_crm", url=safe)


def tier_label(tier: Tier) -> str:
    """`:large_green_circle: *Tier A*`: the emoji makes a channel of posts scannable by colour."""
    name = "DQ" if tier is Tier.DQ else f"Tier {tier.value}"
    return f"{TIER_EMOJI[tier]} *{name}*"


def score_line(score: AccountScore) -> str:
    """`:large_green_circle: *Tier A* · 81/100 · coverage 90%`: never a score without coverage.

    A DQ keeps its computed score (nothing is hidden) but says it does not count.
    """
    overridden = " (overridden)" if score.tier is Tier.DQ else ""
    return (
        f"{tier_label(score.tier)} · {score.score}/100{overridden} · "
        f"coverage {format_coverage(score.coverage)}"
    )


def short_score(score: AccountScore) -> str:
    """`62 B`, how a previous score is quoted."""
    return f"{score.score} {score.tier.value}"


def differs(score: AccountScore, previous: AccountScore | None) -> bool:
    return previous is not None and (
        previous.score != score.score or previous.tier is not score.tier
    )


def points_text(result: CriterionResult) -> str:
    """What a criterion earned: `+15`, `-30`, or `0 of 15` when it did not match."""
    if result.status is Status.MATCHED:
        return format_points(result.points)
    maximum = format_points(result.max_points)
    return f"0 of {maximum[1:] if result.max_points > 0 else maximum}"


def seen_text(result: CriterionResult) -> str:
    """The value the criterion looked at, escaped; unknown says so plainly."""
    if result.status is Status.UNKNOWN:
        if result.value is None or format_value(result.value) == "":
            return "no data"
        return f"no data (unreadable: {value_text(result.value, limit=40)})"
    return value_text(result.value)


def slack_date(moment: datetime, *, fmt: str = "{date_short_pretty} at {time}") -> str:
    """Slack's `<!date^…>` token: each reader sees their own timezone; the fallback is UTC."""
    aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    fallback = aware.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return f"<!date^{int(aware.timestamp())}^{fmt}|{fallback}>"


def relative_time(moment: datetime, now: datetime) -> str:
    """ "3 hours ago", from `now` so views stay pure and testable."""
    seconds = (_aware(now) - _aware(moment)).total_seconds()
    if seconds < 0:
        return "just now" if seconds > -60 else "in the future"
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size:
            count = int(seconds // size)
            return f"{count} {unit}{'s' if count != 1 else ''} ago"
    return "just now"


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def pack_sections(
    entries: Sequence[str], *, heading: str, limit: int = MAX_SECTION_TEXT
) -> list[tuple[str, int]]:
    """Entries packed into as few section texts as fit, the heading on the first.

    Long lists are split over several sections rather than cut, so nothing is
    hidden; each text comes with how many entries it holds, so a caller short
    of blocks can say how many it leaves out.
    """
    texts: list[tuple[str, int]] = []
    current, count = heading, 0
    for entry in entries:
        entry = limit_text(entry, limit)
        candidate = f"{current}\n{entry}" if current else entry
        if len(candidate) <= limit:
            current, count = candidate, count + 1
            continue
        texts.append((current, count))
        current, count = entry, 1
    if current:
        texts.append((current, count))
    return texts


def fit_sections(packed: Sequence[tuple[str, int]], *, budget: int, more: str) -> list[Block]:
    """At most `budget` section blocks; what does not fit is counted in a last line, not lost.

    `more` is a format string with `{count}`, e.g. "…and {count} more criteria".
    """
    if len(packed) <= budget:
        return [section_block(text) for text, _ in packed]
    if budget <= 0:
        return []
    kept = packed[: budget - 1]
    left = sum(count for _, count in packed[budget - 1 :])
    return [section_block(text) for text, _ in kept] + [section_block(more.format(count=left))]


def check_limits(blocks: Sequence[Mapping[str, Any]], *, max_blocks: int = MAX_BLOCKS) -> None:
    """Raise ValueError naming the first Block Kit limit `blocks` break.

    Covers the limits that make `chat.postMessage` answer `invalid_blocks`:
    counts, lengths, empty text, duplicate ids, malformed URLs.
    """
    if len(blocks) > max_blocks:
        raise ValueError(f"{len(blocks)} blocks: a message holds at most {max_blocks}")
    block_ids: set[str] = set()
    for index, block in enumerate(blocks):
        where = f"block {index} ({block.get('type')})"
        _check_block_id(block, where, block_ids)
        checker = _BLOCK_CHECKS.get(str(block.get("type")))
        if checker is None:
            raise ValueError(f"{where}: unknown block type")
        checker(block, where)


def _check_block_id(block: Mapping[str, Any], where: str, seen: set[str]) -> None:
    block_id = block.get("block_id")
    if block_id is None:
        return
    _check_length(str(block_id), MAX_BLOCK_ID, f"{where}: block_id")
    if block_id in seen:
        raise ValueError(f"{where}: block_id {block_id!r} is not unique in the message")
    seen.add(str(block_id))


def _check_length(text: str, limit: int, what: str) -> None:
    if len(text) > limit:
        raise ValueError(f"{what} is {len(text)} characters; the limit is {limit}")


def _check_text(obj: object, what: str, *, limit: int = MAX_TEXT, plain_only: bool = False) -> None:
    if not isinstance(obj, Mapping) or obj.get("type") not in ("plain_text", "mrkdwn"):
        raise ValueError(f"{what} must be a plain_text or mrkdwn text object")
    if plain_only and obj.get("type") != "plain_text":
        raise ValueError(f"{what} must be plain_text")
    text = obj.get("text")
    if not isinstance(text, str) or not text:
        raise ValueError(f"{what} text must be at least 1 character")
    _check_length(text, limit, f"{what} text")


def _check_section(block: Mapping[str, Any], where: str) -> None:
    text, fields = block.get("text"), block.get("fields")
    if text is None and not fields:
        raise ValueError(f"{where}: a section needs text or fields")
    if text is not None:
        _check_text(text, f"{where}: section", limit=MAX_SECTION_TEXT)
    if fields is not None:
        if len(fields) > MAX_FIELDS:
            raise ValueError(f"{where}: {len(fields)} fields; the limit is {MAX_FIELDS}")
        for number, field in enumerate(fields):
            _check_text(field, f"{where}: field {number}", limit=MAX_FIELD_TEXT)
    if block.get("accessory") is not None:
        _check_element(block["accessory"], f"{where}: accessory", set())


def _check_header(block: Mapping[str, Any], where: str) -> None:
    _check_text(block.get("text"), f"{where}: header", limit=MAX_HEADER_TEXT, plain_only=True)


def _check_context(block: Mapping[str, Any], where: str) -> None:
    elements = block.get("elements") or []
    if not elements:
        raise ValueError(f"{where}: a context needs at least one element")
    if len(elements) > MAX_CONTEXT_ELEMENTS:
        raise ValueError(
            f"{where}: {len(elements)} context elements; the limit is {MAX_CONTEXT_ELEMENTS}"
        )
    for number, element in enumerate(elements):
        if isinstance(element, Mapping) and element.get("type") == "image":
            _check_image(element, f"{where}: element {number}")
        else:
            _check_text(element, f"{where}: element {number}")


def _check_actions(block: Mapping[str, Any], where: str) -> None:
    elements = block.get("elements") or []
    if not elements:
        raise ValueError(f"{where}: an actions block needs at least one element")
    if len(elements) > MAX_ACTIONS_ELEMENTS:
        raise ValueError(
            f"{where}: {len(elements)} actions elements; the limit is {MAX_ACTIONS_ELEMENTS}"
        )
    action_ids: set[str] = set()
    for number, element in enumerate(elements):
        _check_element(element, f"{where}: element {number}", action_ids)


def _check_element(element: Mapping[str, Any], what: str, action_ids: set[str]) -> None:
    action_id = element.get("action_id")
    if action_id is not None:
        _check_length(str(action_id), MAX_ACTION_ID, f"{what} action_id")
        if action_id in action_ids:
            raise ValueError(f"{what}: action_id {action_id!r} is not unique in its block")
        action_ids.add(str(action_id))
    if element.get("type") == "button":
        _check_button(element, what)
    elif element.get("type") == "image":
        _check_image(element, what)


def _check_button(element: Mapping[str, Any], what: str) -> None:
    _check_text(element.get("text"), f"{what}: button", limit=MAX_BUTTON_TEXT, plain_only=True)
    if "value" in element:
        _check_length(str(element["value"]), MAX_BUTTON_VALUE, f"{what}: button value")
    if "url" in element:
        _check_url(element["url"], f"{what}: button url")
    style = element.get("style")
    if style is not None and style not in _SLACK_STYLES:
        raise ValueError(f"{what}: button style must be primary or danger, not {style!r}")


def _check_image(element: Mapping[str, Any], what: str) -> None:
    _check_url(element.get("image_url"), f"{what}: image_url")
    _check_length(str(element.get("alt_text") or ""), MAX_ALT_TEXT, f"{what}: alt_text")


def _check_url(url: object, what: str) -> None:
    if not isinstance(url, str) or not url.startswith(("https://", "http://")):
        raise ValueError(f"{what} must be an http(s) URL")
    _check_length(url, MAX_URL, what)


def _check_input(block: Mapping[str, Any], where: str) -> None:
    _check_text(block.get("label"), f"{where}: label", limit=MAX_FIELD_TEXT, plain_only=True)
    if block.get("hint") is not None:
        _check_text(block["hint"], f"{where}: hint", limit=MAX_FIELD_TEXT, plain_only=True)
    element = block.get("element")
    if not isinstance(element, Mapping):
        raise ValueError(f"{where}: an input needs an element")
    _check_element(element, f"{where}: element", set())


def _check_image_block(block: Mapping[str, Any], where: str) -> None:
    _check_image(block, where)


def _no_check(block: Mapping[str, Any], where: str) -> None:
    """Dividers have nothing to exceed; rich_text is Slack's own and passed through."""


_BLOCK_CHECKS = {
    "section": _check_section,
    "header": _check_header,
    "context": _check_context,
    "actions": _check_actions,
    "divider": _no_check,
    "image": _check_image_block,
    "input": _check_input,
    "rich_text": _no_check,
}
