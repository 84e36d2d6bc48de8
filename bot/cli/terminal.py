"""Block Kit rendered in a terminal, so `icpbot demo` shows the Slack posts it would send.

A reading aid, not a Slack emulator: headers bold, mrkdwn styled, fields in
two columns, context dim, dividers as rules, buttons as `[Label]`, each
message framed in a panel titled with its channel. Only the emoji the views
use are mapped; any other `:shortcode:` is left as typed, as Slack would
show an unknown one.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from rich.console import Console, Group, RenderableType
from rich.padding import Padding
from rich.panel import Panel
from rich.rule import Rule
from rich.style import Style
from rich.table import Table
from rich.text import Text

EMOJI = {
    "large_green_circle": "🟢",
    "large_blue_circle": "🔵",
    "large_yellow_circle": "🟡",
    "white_circle": "⚪",
    "no_entry": "⛔",
    "white_check_mark": "✅",
    "heavy_check_mark": "✔️",
    "x": "❌",
    "ballot_box_with_check": "☑️",
    "grey_question": "❔",
    "question": "❓",
    "warning": "⚠️",
    "arrows_counterclockwise": "🔄",
    "bar_chart": "📊",
    "chart_with_upwards_trend": "📈",
    "calendar": "📅",
    "wave": "👋",
    "tada": "🎉",
    "bust_in_silhouette": "👤",
    "link": "🔗",
    "star": "⭐",
}

_BUTTON_STYLES = {"primary": "bold green", "danger": "bold red"}
_ENTITIES = (("&lt;", "<"), ("&gt;", ">"), ("&amp;", "&"))

# One alternation, tried left to right: code first (nothing inside is formatted),
# then Slack's <...> tokens, then the paired emphasis markers, then emoji.
_TOKEN = re.compile(
    r"(?P<pre>```(?P<pre_body>.+?)```)"
    r"|(?P<code>`(?P<code_body>[^`\n]+)`)"
    r"|(?P<angle><(?P<angle_body>[^<>\n]+)>)"
    r"|(?P<bold>(?<![\w*])\*(?=\S)(?P<bold_body>[^*\n]+?)(?<=\S)\*(?!\w))"
    r"|(?P<italic>(?<![\w_])_(?=\S)(?P<italic_body>[^\n]+?)(?<=\S)_(?!\w))"
    r"|(?P<strike>(?<![\w~])~(?=\S)(?P<strike_body>[^\n]+?)(?<=\S)~(?!\w))"
    r"|(?P<emoji>:(?P<emoji_name>[a-z0-9_+-]+):)",
    re.DOTALL,
)
_EMPHASIS = {"bold": "bold", "italic": "italic", "strike": "strike"}


def unescape(text: str) -> str:
    """Undo Slack's escaping of `&`, `<`, `>`; `&amp;` last so `&amp;lt;` stays `&lt;`."""
    for entity, char in _ENTITIES:
        text = text.replace(entity, char)
    return text


def emojize(text: str) -> str:
    """Known `:shortcode:`s as emoji; unknown ones left as typed."""
    return re.sub(r":([a-z0-9_+-]+):", lambda m: EMOJI.get(m.group(1), m.group(0)), text)


def mrkdwn_to_text(source: str, style: str | Style = "") -> Text:
    """Slack mrkdwn as styled rich Text: emphasis, code, links, mentions, dates, emoji."""
    text = Text(style=style)
    position = 0
    for match in _TOKEN.finditer(source):
        text.append(unescape(source[position : match.start()]))
        text.append_text(_token(match))
        position = match.end()
    text.append(unescape(source[position:]))
    return text


def _token(match: re.Match[str]) -> Text:
    kind = match.lastgroup or ""
    if kind in ("pre", "code"):
        return Text(unescape(match.group(f"{kind}_body")), style="bold magenta")
    if kind == "angle":
        return _angle(match.group("angle_body"))
    if kind in _EMPHASIS:
        return mrkdwn_to_text(match.group(f"{kind}_body"), _EMPHASIS[kind])
    name = match.group("emoji_name")
    return Text(EMOJI.get(name, match.group(0)))


def _angle(body: str) -> Text:
    """`<@U1>`, `<#C1|name>`, `<!here>`, `<!date^…|fallback>`, `<url|text>`."""
    target, _, label = body.partition("|")
    if target.startswith("@"):
        return Text(f"@{label or target[1:]}", style="bold cyan")
    if target.startswith("#"):
        return Text(f"#{label or target[1:]}", style="bold cyan")
    if target.startswith("!"):
        return Text(unescape(label) if label else _special(target), style="cyan")
    shown = unescape(label or target)
    return Text(shown, style=Style(underline=True, link=unescape(target)))


def _special(target: str) -> str:
    """`<!here>` → `@here`; `<!subteam^ID>` → `@ID`."""
    name = target[1:]
    return f"@{name.split('^', 1)[-1]}" if name.startswith("subteam^") else f"@{name}"


def text_object(obj: Mapping[str, Any] | None, style: str = "") -> Text:
    """A Block Kit text object: mrkdwn is parsed, plain_text shown literally."""
    if not obj:
        return Text()
    if obj.get("type") == "mrkdwn":
        return mrkdwn_to_text(str(obj.get("text", "")), style)
    raw = str(obj.get("text", ""))
    return Text(emojize(raw) if obj.get("emoji", True) else raw, style=style)


def _header(block: Mapping[str, Any]) -> RenderableType:
    return text_object(block.get("text"), "bold underline")


def _indented(obj: Mapping[str, Any]) -> RenderableType:
    """A text object whose indented lines stay indented when the terminal wraps them.

    Slack shows `      _why_ (rule)` under its criterion; a wrapped line that
    fell back to the margin would read as a new entry.
    """
    source = str(obj.get("text", ""))
    lines = source.split("\n")
    if obj.get("type") != "mrkdwn" or "```" in source or not any(_margin(ln) for ln in lines):
        return text_object(obj)
    return Group(*(Padding(mrkdwn_to_text(ln.lstrip(" ")), (0, 0, 0, _margin(ln))) for ln in lines))


def _margin(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _section(block: Mapping[str, Any]) -> RenderableType:
    parts: list[RenderableType] = []
    if block.get("text"):
        parts.append(_indented(block["text"]))
    if block.get("fields"):
        parts.append(_fields(block["fields"]))
    body: RenderableType = Group(*parts)
    accessory = block.get("accessory")
    if not accessory:
        return body
    grid = Table.grid(expand=True, padding=(0, 1))
    grid.add_column(ratio=1)
    grid.add_column(justify="right", no_wrap=True)
    grid.add_row(body, _element(accessory))
    return grid


def _fields(fields: Sequence[Mapping[str, Any]]) -> RenderableType:
    """Slack lays section fields out two to a row."""
    grid = Table.grid(expand=True, padding=(0, 2))
    grid.add_column(ratio=1)
    grid.add_column(ratio=1)
    cells = [text_object(f) for f in fields]
    for index in range(0, len(cells), 2):
        grid.add_row(*cells[index : index + 2], *([Text()] if index + 1 >= len(cells) else []))
    return grid


def _context(block: Mapping[str, Any]) -> RenderableType:
    parts = [_context_element(e) for e in block.get("elements", [])]
    return Text("  ", style="dim").join(parts)


def _context_element(element: Mapping[str, Any]) -> Text:
    if element.get("type") == "image":
        return Text(f"[image: {element.get('alt_text', '')}]", style="dim")
    return text_object(element, "dim")


def _actions(block: Mapping[str, Any]) -> RenderableType:
    return Text(" ").join(_element(e) for e in block.get("elements", []))


def _element(element: Mapping[str, Any]) -> Text:
    """A button as `[Label]`; link buttons underlined; other elements by their type."""
    if element.get("type") == "button":
        label = text_object(element.get("text")).plain
        style = Style.parse(_BUTTON_STYLES.get(str(element.get("style")), "bold"))
        if element.get("url"):
            style += Style(underline=True, link=str(element["url"]))
        return Text(f"[{label}]", style=style)
    if element.get("type") == "image":
        return Text(f"[image: {element.get('alt_text', '')}]", style="dim")
    return Text(f"[{element.get('type', 'element')}]", style="dim")


def _image(block: Mapping[str, Any]) -> RenderableType:
    title = text_object(block.get("title")).plain or block.get("alt_text", "")
    return Text(f"[image: {title}]", style="dim")


def _divider(block: Mapping[str, Any]) -> RenderableType:
    return Rule(style="dim")


def _unknown(block: Mapping[str, Any]) -> RenderableType:
    return Text(f"[{block.get('type', 'block')} block]", style="dim")


_RENDERERS: dict[str, Callable[[Mapping[str, Any]], RenderableType]] = {
    "header": _header,
    "section": _section,
    "context": _context,
    "actions": _actions,
    "divider": _divider,
    "image": _image,
}


def render_blocks(blocks: Sequence[Mapping[str, Any]], *, title: str | None = None) -> Panel:
    """The message as Slack would lay it out, in a panel titled with the channel."""
    rendered = [_RENDERERS.get(str(b.get("type")), _unknown)(b) for b in blocks]
    heading = Text(title, style="bold") if title else None
    return Panel(Group(*rendered), title=heading, title_align="left", expand=True)


def print_blocks(
    console: Console, blocks: Sequence[Mapping[str, Any]], *, title: str | None = None
) -> None:
    """Print one message; the demo calls this for every post it would send."""
    console.print(render_blocks(blocks, title=title))
