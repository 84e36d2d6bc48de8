"""The terminal renderer: Block Kit as `icpbot demo` shows it, checked on exported text."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rich.console import Console
from rich.text import Text

from bot.cli.terminal import mrkdwn_to_text, print_blocks, render_blocks
from bot.routing.rules import Decision
from bot.views.explanation import explanation_blocks
from bot.views.models import AccountView
from bot.views.routing_post import routing_post_blocks
from tests.support import GOOD_FIT, built_score, score_of
from tests.support import VIEWS_NOW as NOW


def rendered(blocks: Sequence[Mapping[str, Any]], *, title: str | None = None) -> str:
    console = Console(record=True, width=100, color_system=None)
    print_blocks(console, blocks, title=title)
    return console.export_text()


def section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def style_of(text: Text, part: str) -> str:
    """Every style covering `part` of a rendered Text, as one string to search."""
    start = text.plain.index(part)
    end = start + len(part)
    covering = [str(span.style) for span in text.spans if span.start <= start and span.end >= end]
    return " ".join([str(text.style), *covering])


def test_explanation_renders_readably() -> None:
    account = AccountView("acme.com", "Acme & <Co>", crm="hubspot", url="https://x.io/1")
    out = rendered(
        explanation_blocks(account=account, score=score_of(GOOD_FIT), now=NOW),
        title="/icp acme.com",
    )
    assert "/icp acme.com" in out.splitlines()[0]
    assert "Acme & <Co>" in out
    assert "🟢 Tier A · 90/100 · coverage 90%" in out
    assert "✅ industry +15 · got software" in out
    assert "❔ hiring-sdrs 0 of 10 · no data" in out
    assert "scored 3 hours ago (2026-10-15 09:00 UTC)" in out
    assert "[Open in CRM]" in out
    for raw in ("&amp;", "&lt;", ":white_check_mark:", "<!date", "*Matched*", "`+15`"):
        assert raw not in out


def test_routing_post_renders_link_mention_and_buttons() -> None:
    account = AccountView("acme.com", "Acme &amp; Co", url="https://x.io/1", owner="<@U0123ABC>")
    decision = Decision("b-tier", "#icp-b-tier", None, "crm", "rule b-tier: tier B")
    blocks = routing_post_blocks(account=account, score=score_of(GOOD_FIT), decision=decision)
    out = rendered(blocks, title="#icp-b-tier")
    assert "Acme &amp; Co  acme.com" in out  # the data's own "&amp;" survives the round trip
    assert "Owner: @U0123ABC" in out
    assert "[Claim] [Not a fit] [Open in CRM]" in out
    assert "Why here: rule b-tier: tier B" in out


@pytest.mark.parametrize(
    ("source", "plain"),
    [
        ("*bold* and _italic_ and ~gone~", "bold and italic and gone"),
        ("run `icpbot explain`", "run icpbot explain"),
        ("see <https://x.io/a?b=1&amp;c=2|the record>", "see the record"),
        ("see <https://x.io>", "see https://x.io"),
        ("hi <@U123> and <@U9|dana>", "hi @U123 and @dana"),
        ("in <#C1|leads> <!here> <!subteam^S1|@sdrs>", "in #leads @here @sdrs"),
        ("<!date^1792054800^{date_short_pretty}|2026-10-15 09:00 UTC>", "2026-10-15 09:00 UTC"),
        (":white_check_mark: :x: :grey_question: :no_entry: :nope:", "✅ ❌ ❔ ⛔ :nope:"),
        ("AT&amp;T &lt;b&gt; &amp;lt;", "AT&T <b> &lt;"),
        ("snake_case_name and 2*3*4", "snake_case_name and 2*3*4"),
        ("*<https://x.io|Acme>* `acme.com`", "Acme acme.com"),
        ("_why with field_name inside_", "why with field_name inside"),
    ],
)
def test_mrkdwn_conversion(source: str, plain: str) -> None:
    assert mrkdwn_to_text(source).plain == plain


def test_mrkdwn_styles() -> None:
    text = mrkdwn_to_text("*b* _i_ ~s~ `c` <https://x.io|l> *_both_*")
    assert "bold" in style_of(text, "b")
    assert "italic" in style_of(text, "i")
    assert "strike" in style_of(text, "s")
    assert "underline" in style_of(text, "l")
    assert "bold" in style_of(text, "both") and "italic" in style_of(text, "both")


def test_fields_render_as_two_columns() -> None:
    blocks = [
        {
            "type": "section",
            "fields": [
                {"type": "mrkdwn", "text": "*Tier*\nA"},
                {"type": "mrkdwn", "text": "*Score*\n81"},
                {"type": "plain_text", "text": "Owner"},
            ],
        }
    ]
    lines = [ln for ln in rendered(blocks).splitlines() if "Tier" in ln or "Owner" in ln]
    assert "Score" in lines[0] and lines[0].index("Tier") < lines[0].index("Score")
    assert "Owner" in lines[1]


def test_header_context_divider_actions_and_panel() -> None:
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": "Weekly <digest> &amp;"}},
        {"type": "divider"},
        {
            "type": "context",
            "elements": [
                {"type": "mrkdwn", "text": "ICP v7"},
                {"type": "image", "image_url": "https://x.io/i.png", "alt_text": "logo"},
            ],
        },
        {
            "type": "actions",
            "elements": [
                {"type": "button", "text": {"type": "plain_text", "text": "No"}, "style": "danger"},
                {"type": "static_select"},
            ],
        },
        {"type": "rich_text", "elements": []},
    ]
    out = rendered(blocks, title="#digest")
    lines = out.splitlines()
    assert lines[0].startswith("╭") and "#digest" in lines[0]
    assert "Weekly <digest> &amp;" in out  # plain_text is shown literally
    assert "─" * 50 in lines[2]
    assert "ICP v7  [image: logo]" in out
    assert "[No] [static_select]" in out
    assert "[rich_text block]" in out


def test_accessory_button_is_shown_beside_the_section() -> None:
    block = section("Acme")
    block["accessory"] = {
        "type": "button",
        "text": {"type": "plain_text", "text": "Open"},
        "url": "https://x.io",
    }
    line = next(ln for ln in rendered([block]).splitlines() if "Acme" in ln)
    assert line.rstrip(" │").endswith("[Open]")


def test_title_is_not_parsed_as_rich_markup() -> None:
    out = rendered([section("x")], title="[bold]#leads[/bold]")
    assert "[bold]#leads[/bold]" in out


def test_render_blocks_returns_a_renderable_without_title() -> None:
    console = Console(record=True, width=60, color_system=None)
    console.print(render_blocks([section("hello")]))
    assert "hello" in console.export_text()


@settings(max_examples=60, deadline=None)
@given(
    name=st.text(alphabet="AB &<>;", min_size=1, max_size=40).filter(lambda s: s.strip()),
    why=st.text(max_size=300),
)
def test_crm_text_round_trips_through_escaping(name: str, why: str) -> None:
    account = AccountView("acme.com", name)
    decision = Decision(None, None, None, "none", "no rule matched")
    blocks = routing_post_blocks(account=account, score=built_score(4, why=why), decision=decision)
    assert " ".join(name.split()) in rendered(blocks)
    rendered(explanation_blocks(account=account, score=built_score(4, why=why), now=NOW))


def test_a_wrapped_indented_line_keeps_its_indent() -> None:
    why = "A reason long enough to wrap twice in a narrow terminal, " * 3
    blocks = [section(f":white_check_mark: *industry* `+15` · got software\n      _{why}_ (rule)")]
    console = Console(record=True, width=50, color_system=None)
    print_blocks(console, blocks)
    lines = [ln.strip("│").rstrip() for ln in console.export_text().splitlines()[1:-1]]
    assert lines[0].startswith(" ✅ industry")
    assert len(lines) > 3
    assert all(ln.startswith("       ") for ln in lines[1:])
