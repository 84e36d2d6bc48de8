"""The "Not a fit" modal: why a rep disagrees with a routed lead (SPEC §5).

A fixed list of reasons keeps the feedback countable for calibration and the
digest; the free-text note keeps what the list cannot say.
"""

from __future__ import annotations

from bot.views.common import Block, context_block, escape, limit_text, one_line, plain

NOT_A_FIT_VIEW = "icp_not_a_fit_submit"
REASON_BLOCK, REASON_ACTION = "reason", "reason_choice"
NOTE_BLOCK, NOTE_ACTION = "note", "note_text"
MAX_NOTE = 1000

REASONS = {
    "wrong_industry": "Wrong industry",
    "too_small": "Too small",
    "too_large": "Too large",
    "wrong_region": "Region we do not serve",
    "existing_customer": "Already a customer",
    "competitor_or_partner": "Competitor or partner",
    "no_budget": "No budget or need",
    "bad_data": "The CRM data is wrong",
    "other": "Something else (say below)",
}


def not_a_fit_modal(*, domain: str, name: str | None, metadata: str) -> Block:
    """The modal; `metadata` (≤ 3,000 characters) carries the post to annotate."""
    title = escape(one_line(limit_text(name or domain, 200)))
    options = [{"text": plain(label, limit=75), "value": code} for code, label in REASONS.items()]
    return {
        "type": "modal",
        "callback_id": NOT_A_FIT_VIEW,
        "private_metadata": metadata[:3000],
        "title": plain("Not a fit", limit=24),
        "submit": plain("Save", limit=24),
        "close": plain("Cancel", limit=24),
        "blocks": [
            context_block(
                f"Why is *{title}* (`{escape(domain)}`) not a fit? RevOps uses "
                "these answers to recalibrate the ICP."
            ),
            {
                "type": "input",
                "block_id": REASON_BLOCK,
                "label": plain("Reason"),
                "element": {
                    "type": "static_select",
                    "action_id": REASON_ACTION,
                    "placeholder": plain("Choose one"),
                    "options": options,
                },
            },
            {
                "type": "input",
                "block_id": NOTE_BLOCK,
                "optional": True,
                "label": plain("Anything to add?"),
                "element": {
                    "type": "plain_text_input",
                    "action_id": NOTE_ACTION,
                    "multiline": True,
                    "max_length": MAX_NOTE,
                },
            },
        ],
    }


def feedback_note(*, user: str, reason: str, note: str | None) -> str:
    """The thread line that records a "Not a fit" for everyone watching the channel."""
    label = REASONS.get(reason, reason)
    text = f":no_entry_sign: <@{user}> marked this *not a fit*: {escape(label)}"
    if note:
        text += f" · _{escape(one_line(limit_text(note, 500)))}_"
    return text
