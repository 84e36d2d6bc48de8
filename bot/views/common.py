"""Pieces every view shares: tier and status emoji, escaping, text limits, Block Kit limits.

Text from the CRM is untrusted: a company called `<!channel>` must not ping a
channel, so every view escapes CRM data before it reaches mrkdwn. The limits
below are Slack's published Block Kit limits, which the views cut their text
and lists to; the tests check every view against the fake Slack's validation
(`tests/fakes/slack.py`), so a view `chat.postMessage` would refuse fails there.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
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
MAX_BUTTON_TEXT = 75
MAX_BUTTON_VALUE = 2000
MAX_ACTION_ID = 255
MAX_URL = 3000
MAX_TEXT = 3000  # any text object

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
CLEARED_EMOJI = ":ballot_box_with_check:"
PENALTY_EMOJI = ":warning:"
ELLIPSIS = "…"
CRM_NAMES = {"hubspot": "HubSpot", "salesforce": "Salesforce", "csv": "CSV"}

_USER_MENTION = re.compile(r"^<@[UW][A-Z0-9]{2,}>$")
_USER_ID = re.compile(r"^[UW][A-Z0-9]{6,}$")


def counted(count: int, noun: str, plural: str | None = None) -> str:
    """`1 row`, `3,400 rows`: every number a message counts, formatted one way."""
    return f"{count:,} {noun if count == 1 else plural or noun + 's'}"


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


def is_cleared(result: CriterionResult) -> bool:
    """A penalty that did not apply: checked, and good news, unlike a missed positive."""
    return result.status is Status.MISSED and result.max_points < 0


def status_mark(result: CriterionResult) -> str:
    """The emoji for what a criterion means to the account: a penalty that applied is a
    warning, not a green tick; one that did not apply is cleared, not a red cross."""
    if result.max_points < 0 and result.status is not Status.UNKNOWN:
        return PENALTY_EMOJI if result.status is Status.MATCHED else CLEARED_EMOJI
    return STATUS_EMOJI[result.status]


def points_text(result: CriterionResult) -> str:
    """What a criterion earned: `+15`, `-30`, `0 of 15` when it did not match, `no penalty`."""
    if result.status is Status.MATCHED:
        return format_points(result.points)
    if is_cleared(result):
        return "no penalty"
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


def duration_text(seconds: float) -> str:
    """`42 s`, `12 min`, `3.5 h`: a duration as a person says it."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
