"""Block Kit views: content an SDR relies on, and Slack's limits whatever the CRM sends.

Scores come from the real engine on the shipped ICP, or are built by hand
for shapes the ICP never produces (60 criteria, kilobyte-long `why`s).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.routing.rules import Decision
from bot.views.common import (
    STATUS_EMOJI,
    TIER_EMOJI,
    escape,
    limit_text,
    relative_time,
)
from bot.views.explanation import explanation_blocks, explanation_text
from bot.views.models import AccountView, PersonView
from bot.views.routing_post import (
    rescore_reply_blocks,
    rescore_reply_text,
    routing_post_blocks,
    routing_post_text,
    status_changes,
)
from scoring.result import AccountScore, Status
from tests.fakes.slack import block_problems
from tests.support import GOOD_FIT, built_score, score_of, shipped_scorer
from tests.support import VIEWS_NOW as NOW

# Our own tokens in mrkdwn: links, date tokens and user mentions. Anything else in
# angle brackets, or a bare `&`, must have come from data that escaped unescaped.
_OUR_TOKENS = re.compile(
    r"<(?:https?://[^<>|\s]+(?:\|[^<>]*)?|!date\^\d+\^[^<>|]*\|[^<>]*|@[UW][A-Z0-9]+)>"
)
_BARE_AMPERSAND = re.compile(r"&(?!amp;|lt;|gt;)")


def mrkdwn_texts(blocks: Sequence[Mapping[str, Any]]) -> Iterator[str]:
    """Every mrkdwn string in the blocks, wherever Block Kit allows one."""
    for block in blocks:
        for obj in _text_objects(block):
            if obj.get("type") == "mrkdwn":
                yield obj["text"]


def all_texts(blocks: Sequence[Mapping[str, Any]]) -> str:
    """All text of a message, plain and mrkdwn, for "does it say X" checks."""
    return "\n".join(obj["text"] for block in blocks for obj in _text_objects(block))


def _text_objects(block: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    for key in ("text", "label"):
        if isinstance(block.get(key), Mapping):
            yield block[key]
    for item in [*block.get("fields", []), *block.get("elements", [])]:
        if item.get("type") in ("plain_text", "mrkdwn"):
            yield item
        elif isinstance(item.get("text"), Mapping):
            yield item["text"]
    if isinstance(block.get("accessory"), Mapping):
        yield from _text_objects(block["accessory"])


def assert_no_raw_markup(blocks: Sequence[Mapping[str, Any]]) -> None:
    """No `<`, `>` or bare `&` from data survives in mrkdwn; only our own tokens remain."""
    for text in mrkdwn_texts(blocks):
        rest = _OUR_TOKENS.sub("", text)
        assert "<" not in rest and ">" not in rest, text
        assert not _BARE_AMPERSAND.search(rest), text


def explain(
    record: Mapping[str, object] = GOOD_FIT,
    *,
    account: AccountView | None = None,
    previous: AccountScore | None = None,
    person: PersonView | None = None,
) -> list[dict[str, Any]]:
    blocks = explanation_blocks(
        account=account or AccountView("acme.com", "Acme"),
        score=score_of(record),
        previous=previous,
        person=person,
        now=NOW,
    )
    assert block_problems(blocks) == []
    return blocks


def decision(owner: str | None = None) -> Decision:
    return Decision(
        "a-tier-uk", "#icp-a-tier", owner, "none", "rule a-tier-uk: tier A and country GB"
    )


# --- the /icp explanation -------------------------------------------------------------


def test_every_criterion_appears_with_its_why_and_points() -> None:
    score = score_of(GOOD_FIT)
    text = all_texts(explain())
    for result in score.criteria:
        assert f"*{result.id}*" in text
        assert escape(result.why) in text
    assert "`+15`" in text  # earned
    assert "`0 of 10`" in text  # what an unknown could have earned


def test_criteria_are_grouped_matched_then_missed_then_unknown() -> None:
    text = all_texts(explain({**GOOD_FIT, "industry": "retail", "annual_revenue": None}))
    assert text.index("*Matched*") < text.index("*Missed*") < text.index("*Unknown*")
    matched, missed = text.split("*Missed*")[0], text.split("*Missed*")[1]
    assert "*headcount*" in matched and "*industry*" in missed.split("*Unknown*")[0]


def test_header_score_tier_profile_and_coverage() -> None:
    blocks = explain(account=AccountView("acme.com", "Acme Corp"))
    assert blocks[0] == {
        "type": "header",
        "text": {"type": "plain_text", "text": "Acme Corp", "emoji": True},
    }
    verdict = blocks[1]["text"]["text"]
    score = score_of(GOOD_FIT)
    assert f"{score.score}/100" in verdict
    assert f"{TIER_EMOJI[score.tier]} *Tier {score.tier.value}*" in verdict
    assert "coverage 90%" in verdict
    assert "Mid-market B2B SaaS on HubSpot" in verdict


@pytest.mark.parametrize(
    "record",
    [GOOD_FIT, {}, {"lifecycle_stage": "customer"}, {"employees": 5}, {"industry": "x"}],
    ids=["good", "empty", "customer", "tiny", "one-field"],
)
def test_coverage_is_always_next_to_the_score(record: Mapping[str, object]) -> None:
    score = score_of(record)
    coverage = f"coverage {round(score.coverage * 100)}%"
    for block in (*explain(record)[:3], *_routing(score)[:1]):
        text = block.get("text", {}).get("text", "")
        if f"{score.score}/100" in text:
            assert coverage in text
    assert coverage in explanation_text(account=AccountView("acme.com"), score=score)
    assert coverage in routing_post_text(
        account=AccountView("acme.com"), score=score, decision=decision()
    )


def test_disqualified_account_shows_what_and_why_before_the_criteria() -> None:
    blocks = explain({**GOOD_FIT, "lifecycle_stage": "customer"})
    dq = blocks[1]["text"]["text"]
    assert ":no_entry: *Disqualified*" in dq
    assert "*customer*" in dq and "Already a customer; belongs to Customer Success." in dq
    assert "got customer" in dq
    assert "*DQ*" in blocks[2]["text"]["text"] and "(overridden)" in blocks[2]["text"]["text"]


def test_profile_disqualifier_names_its_profile() -> None:
    text = all_texts(explain({**GOOD_FIT, "employees": 10}))
    assert "*too-small* (profile midmarket-saas)" in text
    assert "below-enterprise" in text


def test_unknown_criterion_says_no_data() -> None:
    text = all_texts(explain({**GOOD_FIT, "sales_motion": None}))
    line = next(ln for ln in text.splitlines() if "*sales-led*" in ln)
    assert line.startswith(STATUS_EMOJI[Status.UNKNOWN]) and line.endswith("no data")


def test_unreadable_value_is_unknown_and_shown() -> None:
    text = all_texts(explain({**GOOD_FIT, "employees": "lots"}))
    line = next(ln for ln in text.splitlines() if "*headcount*" in ln)
    assert "no data (unreadable: lots)" in line


def test_value_seen_is_shown_for_matches_and_misses() -> None:
    text = all_texts(explain({**GOOD_FIT, "country": "DE"}))
    assert "got DE" in text and "got software" in text and "got 350" in text


def test_low_coverage_names_missing_fields_and_points_at_stake() -> None:
    text = all_texts(explain({"industry": "software", "employees": 300}))
    warning = next(ln for ln in text.splitlines() if "Low coverage" in ln)
    assert "Low coverage (30%)" in warning
    assert "`annual_revenue`" in warning and "`sdr_hiring_posted_at`" in warning
    assert "70 points hang on them" in warning
    assert "Low coverage" not in all_texts(explain())


def test_a_profile_out_of_the_running_is_said_in_words() -> None:
    contexts = [b for b in explain() if b["type"] == "context"]
    texts = [e["text"] for b in contexts for e in b["elements"]]
    out = [t for t in texts if "Enterprise revenue teams on Salesforce" in t]
    assert out == [
        "Not in the running: *Enterprise revenue teams on Salesforce*, too small for the "
        "enterprise motion; the mid-market profile covers it (employees at most 499, got 350)."
    ]


def test_a_profile_that_scored_lower_says_so() -> None:
    big = {**GOOD_FIT, "employees": 600, "technologies": ["salesforce"]}
    text = all_texts(explain(big))
    other = [ln for ln in text.splitlines() if ln.startswith(("Also scored", "Not in the"))]
    assert len(other) == 1 and other[0].startswith("Also scored: *")
    assert "lower, so it did not win." in other[0]


def test_a_penalty_that_did_not_apply_is_cleared_not_missed() -> None:
    text = all_texts(explain({**GOOD_FIT, "industry": "retail"}))
    missed, cleared = text.split("*Missed*")[1].split("*Cleared*")
    assert "*public-sector*" not in missed and "*agency*" not in missed
    assert "*Cleared* (2) · penalties that did not apply" in text
    assert ":ballot_box_with_check: *public-sector* `no penalty` · got retail" in cleared
    assert ":x:" not in cleared and "0 of -" not in text
    matched = all_texts(explain({**GOOD_FIT, "industry": "government"}))
    assert ":warning: *public-sector* `-30`" in matched.split("*Missed*")[0]


def test_previous_score_shown_only_when_it_differs() -> None:
    same = score_of(GOOD_FIT, ago=timedelta(days=2))
    lower = score_of({**GOOD_FIT, "has_revops": False}, ago=timedelta(days=2))
    assert "was " not in explain(previous=same)[1]["text"]["text"]
    assert "was " not in explain()[1]["text"]["text"]
    assert f"· was {lower.score} {lower.tier.value}" in explain(previous=lower)[1]["text"]["text"]


def test_a_persona_that_matches_nothing_says_what_each_criterion_saw() -> None:
    persona = shipped_scorer().score_persona({"job_title": "Account Executive"}, NOW)
    assert persona is not None and persona.score == 0
    person = PersonView("joe@acme.com", persona, name="Joe", job_title="Account Executive")
    text = all_texts(explain(person=person))
    assert "_No persona criterion matched:_" in text
    assert ":x: *revenue-leader* `0 of 40` · got Account Executive (job_title matches" in text


def test_persona_fit_when_a_person_is_given() -> None:
    persona = shipped_scorer().score_persona({"job_title": "VP Sales", "seniority": "vp"}, NOW)
    assert persona is not None
    person = PersonView("jane@acme.com", persona, name="Jane <Doe>", job_title="VP Sales")
    text = all_texts(explain(person=person))
    assert "*Persona fit*: Jane &lt;Doe&gt;, VP Sales" in text
    assert f"{persona.score}/100" in text
    assert "*revenue-leader*" in text and "*senior*" in text
    assert "*revops-owner*" not in text  # only matched persona criteria
    assert "Persona fit" not in all_texts(explain())


def test_footer_has_version_relative_time_and_date_token() -> None:
    footer = [b for b in explain() if b["type"] == "context"][-1]
    texts = [e["text"] for e in footer["elements"]]
    assert "ICP v7" in texts
    scored = (NOW - timedelta(hours=3)).timestamp()
    assert any(
        t.startswith("scored 3 hours ago")
        and f"<!date^{int(scored)}^" in t
        and "|2026-10-15 09:00 UTC>" in t
        for t in texts
    )


def test_open_in_crm_only_with_a_usable_url() -> None:
    url = "https://app.hubspot.com/contacts/1/company/2?a=1&b=2"
    actions = explain(account=AccountView("acme.com", url=url))[-1]
    assert actions["type"] == "actions"
    assert actions["elements"][0] == {
        "type": "button",
        "text": {"type": "plain_text", "text": "Open in CRM", "emoji": True},
        "action_id": "icp_open_crm",
        "url": url,
    }
    for bad in (None, "javascript:alert(1)", "https://x.io/" + "a" * 3000):
        blocks = explain(account=AccountView("acme.com", url=bad))
        assert all(b["type"] != "actions" for b in blocks)


def test_explanation_text_is_one_escaped_line() -> None:
    text = explanation_text(
        account=AccountView("acme.com", "A & <B>"), score=score_of(GOOD_FIT), now=NOW
    )
    assert text.startswith("A &amp; &lt;B&gt;: 90/100, tier A · coverage 90%")
    assert "\n" not in text


# --- routing post and re-score reply --------------------------------------------------


def _routing(
    score: AccountScore, account: AccountView | None = None, owner: str | None = None
) -> list[dict[str, Any]]:
    blocks = routing_post_blocks(
        account=account or AccountView("acme.com", "Acme"), score=score, decision=decision(owner)
    )
    assert block_problems(blocks) == []
    return blocks


def test_routing_post_buttons() -> None:
    account = AccountView("acme.com", "Acme", url="https://acme.my.salesforce.com/001")
    actions = _routing(score_of(GOOD_FIT), account)[-1]
    assert actions["type"] == "actions"
    claim, not_a_fit, open_crm = actions["elements"]
    assert (claim["action_id"], claim["value"], claim["style"]) == (
        "icp_claim",
        "acme.com",
        "primary",
    )
    assert (not_a_fit["action_id"], not_a_fit["value"]) == ("icp_not_a_fit", "acme.com")
    assert "style" not in not_a_fit
    assert (open_crm["action_id"], open_crm["url"]) == ("icp_open_crm", account.url)
    assert [e["text"]["text"] for e in actions["elements"]] == ["Claim", "Not a fit", "Open in CRM"]


def test_routing_post_without_url_has_no_crm_button_and_no_link() -> None:
    blocks = _routing(score_of(GOOD_FIT))
    assert [e["action_id"] for e in blocks[-1]["elements"]] == ["icp_claim", "icp_not_a_fit"]
    assert blocks[0]["text"]["text"].startswith("*Acme*")


def test_routing_post_content() -> None:
    score = score_of(GOOD_FIT)
    account = AccountView("acme.com", "Acme & Co", url="https://x.io/c?id=1&v=2")
    blocks = _routing(score, account)
    summary = blocks[0]["text"]["text"]
    assert summary.startswith("*<https://x.io/c?id=1&amp;v=2|Acme &amp; Co>*  `acme.com`")
    assert ":large_green_circle: *Tier A* · 90/100 · coverage 90%" in summary
    reasons = blocks[1]["text"]["text"]
    assert all(escape(r) in reasons for r in score.reasons)
    assert blocks[2]["elements"][0]["text"] == ("Why here: rule a-tier-uk: tier A and country GB")


@pytest.mark.parametrize(
    ("account_owner", "decision_owner", "shown"),
    [
        ("<@U0123ABC>", "dana@example.com", "<@U0123ABC>"),
        (None, "U0999XYZ", "<@U0999XYZ>"),
        (None, "dana@example.com", "dana@example.com"),
        (None, "<!channel>", "&lt;!channel&gt;"),
        (None, None, "unassigned"),
    ],
)
def test_routing_post_owner(
    account_owner: str | None, decision_owner: str | None, shown: str
) -> None:
    account = AccountView("acme.com", "Acme", owner=account_owner)
    blocks = _routing(score_of(GOOD_FIT), account, owner=decision_owner)
    assert blocks[0]["text"]["text"].endswith(f"Owner: {shown}")


def test_rescore_reply_shows_old_and_new_and_what_changed() -> None:
    before = score_of({**GOOD_FIT, "has_revops": False, "country": None}, ago=timedelta(days=9))
    after = score_of(GOOD_FIT)
    blocks = rescore_reply_blocks(
        account=AccountView("acme.com", "Acme"), score=after, previous=before
    )
    assert block_problems(blocks) == []
    assert (
        f"{before.score} {before.tier.value} → *{after.score} {after.tier.value}*"
        in (blocks[0]["text"]["text"])
    )
    changes = blocks[1]["text"]["text"]
    assert changes.startswith("*What changed*")
    assert ":x: → :white_check_mark: *revops* `+10` · got yes (was no)" in changes
    assert ":grey_question: → :white_check_mark: *geography*" in changes
    assert "*industry*" not in changes  # unchanged criteria are not repeated
    text = rescore_reply_text(account=AccountView("acme.com"), score=after, previous=before)
    assert "→" in text and "coverage 90%" in text


def test_rescore_reply_when_nothing_changed() -> None:
    score = score_of(GOOD_FIT)
    blocks = rescore_reply_blocks(account=AccountView("acme.com"), score=score, previous=score)
    assert f"still *{score.score} {score.tier.value}*" in blocks[0]["text"]["text"]
    assert blocks[-1]["elements"][0]["text"] == "No criterion changed status."


def test_rescore_reply_notes_disqualifier_and_profile_changes() -> None:
    before = score_of(GOOD_FIT, ago=timedelta(days=1))
    after = score_of({**GOOD_FIT, "lifecycle_stage": "customer"})
    blocks = rescore_reply_blocks(account=AccountView("acme.com"), score=after, previous=before)
    notes = [e["text"] for e in blocks[-1]["elements"]]
    assert "Now disqualified by customer" in notes
    enterprise = {**GOOD_FIT, "employees": 5000, "technologies": ["salesforce"], "sdr_count": 30}
    switched = score_of(enterprise)
    assert switched.profile_id != before.profile_id
    blocks = rescore_reply_blocks(account=AccountView("acme.com"), score=switched, previous=before)
    assert any(
        e["text"].startswith("Profile: Mid-market")
        for b in blocks
        if b["type"] == "context"
        for e in b["elements"]
    )
    changed = {after.id for _, after in status_changes(switched, before)}
    assert "headcount" in changed and "crm" in changed and "industry" not in changed


# --- limits and escaping --------------------------------------------------------------


def test_pathological_input_stays_within_limits() -> None:
    evil = "<!channel> & <@U0000> > " * 25
    name = ("Acme <script>&" * 50)[:500]
    score = built_score(60, why=evil, value=evil, criterion_id="crit<{index}>&")
    account = AccountView("acme.com", name, url="https://x.io/?q=<a>")
    blocks = explanation_blocks(account=account, score=score, now=NOW)
    assert block_problems(blocks) == []
    assert_no_raw_markup(blocks)
    assert len(blocks[0]["text"]["text"]) <= 150 and blocks[0]["text"]["text"].endswith("…")
    text = all_texts(blocks)
    for index in range(60):
        assert f"*crit&lt;{index}&gt;&amp;*" in text  # split over sections, none dropped
    routing = routing_post_blocks(account=account, score=score, decision=decision(evil))
    assert block_problems(routing) == []
    assert_no_raw_markup(routing)
    reply = rescore_reply_blocks(account=account, score=score, previous=built_score(60, value=1))
    assert block_problems(reply) == []
    assert_no_raw_markup(reply)


def test_too_many_criteria_for_one_message_are_counted_not_dropped() -> None:
    score = built_score(400, why="w" * 2500)
    blocks = explanation_blocks(account=AccountView("acme.com"), score=score, now=NOW)
    assert block_problems(blocks) == []
    assert len(blocks) == 50
    more = [t for t in mrkdwn_texts(blocks) if t.startswith("_…and ")]
    assert len(more) == 1 and "more criteria: `icpbot explain acme.com` lists all." in more[0]
    shown = sum(t.count("\n      _") for t in mrkdwn_texts(blocks))
    assert f"_…and {400 - shown} more criteria" in more[0]


NAMES = st.text(max_size=700) | st.sampled_from(["<!here>", "a & b", "<https://evil|x>", ""])
VALUES = st.one_of(
    st.text(max_size=300),
    st.integers(),
    st.floats(allow_nan=False),
    st.lists(st.text(max_size=40), max_size=8),
)


@settings(max_examples=150, deadline=None)
@given(name=NAMES, industry=VALUES, country=VALUES, technologies=VALUES, owner=NAMES)
def test_fuzzed_crm_data_never_breaks_limits_or_escaping(
    name: str, industry: object, country: object, technologies: object, owner: str
) -> None:
    record = {**GOOD_FIT, "industry": industry, "country": country, "technologies": technologies}
    score = score_of(record)
    account = AccountView("acme.com", name, crm="hubspot", url="https://x.io/1", owner=owner)
    views = [
        explanation_blocks(account=account, score=score, previous=built_score(3), now=NOW),
        routing_post_blocks(account=account, score=score, decision=decision(owner)),
        rescore_reply_blocks(account=account, score=score, previous=score_of(GOOD_FIT)),
    ]
    for blocks in views:
        assert block_problems(blocks) == []
        assert_no_raw_markup(blocks)
    for text in (
        explanation_text(account=account, score=score),
        routing_post_text(account=account, score=score, decision=decision(owner)),
    ):
        assert not _BARE_AMPERSAND.search(_OUR_TOKENS.sub("", text))
        assert "<" not in _OUR_TOKENS.sub("", text)


@settings(max_examples=100, deadline=None)
@given(why=st.text(max_size=4000), value=st.text(max_size=200), count=st.integers(0, 80))
def test_fuzzed_criteria_never_break_limits(why: str, value: str, count: int) -> None:
    score = built_score(count, why=why, value=value)
    blocks = explanation_blocks(account=AccountView("acme.com"), score=score, now=NOW)
    assert block_problems(blocks) == []
    assert_no_raw_markup(blocks)


# --- common helpers -------------------------------------------------------------------


def test_escape_only_touches_slack_control_characters() -> None:
    assert escape("AT&T <b> *x* _y_") == "AT&amp;T &lt;b&gt; *x* _y_"


def test_limit_text_cuts_on_a_line_boundary() -> None:
    text = "\n".join(f"line {i:02d}" for i in range(10))  # 7 chars a line
    assert limit_text(text, 1000) == text
    cut = limit_text(text, 30)
    assert cut == "line 00\nline 01\nline 02\n…" and len(cut) <= 30


def test_limit_text_inside_a_long_line_never_splits_an_entity_or_token() -> None:
    assert limit_text("a" * 10 + "&amp;" + "b" * 10, 13) == "a" * 10 + "…"
    assert limit_text("see <https://x.io|x> now", 12) == "see…"
    assert len(limit_text("x" * 5000, 3000)) == 3000


def test_relative_time() -> None:
    assert relative_time(NOW - timedelta(seconds=20), NOW) == "just now"
    assert relative_time(NOW - timedelta(minutes=1), NOW) == "1 minute ago"
    assert relative_time(NOW - timedelta(hours=3, minutes=59), NOW) == "3 hours ago"
    assert relative_time(NOW - timedelta(days=2), NOW) == "2 days ago"
    assert relative_time(NOW + timedelta(hours=1), NOW) == "in the future"
