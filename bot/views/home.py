"""App Home: the viewer's routed accounts, then the ICP in words (SPEC §5).

What a rep opens the app for: what was routed to them (or claimed by them)
and where each stands, and what the team's ICP says, without typing a command.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from bot.views.answers import icp_in_words
from bot.views.common import (
    TIER_EMOJI,
    Block,
    divider_block,
    escape,
    header_block,
    limit_text,
    link,
    one_line,
    relative_time,
    section_block,
)
from scoring.model import Icp, Tier

MAX_HOME_BLOCKS = 100


@dataclass(frozen=True, slots=True)
class Routed:
    """One account routed to (or claimed by) the viewer."""

    domain: str
    name: str | None
    url: str | None
    tier: str
    score: int
    channel: str | None
    reason: str
    decided_at: datetime
    claimed: bool


def home_view(*, routed: Sequence[Routed], icp: Icp, now: datetime) -> Block:
    """The Home tab: at most 100 blocks, whatever the counts."""
    blocks: list[Block] = [header_block("Your routed accounts")]
    if not routed:
        blocks.append(
            section_block("Nothing routed to you yet. New leads routed to you will show up here.")
        )
    for item in routed[:40]:
        blocks.append(section_block(_routed_text(item, now)))
    blocks.append(divider_block())
    blocks += icp_in_words(icp)
    return {"type": "home", "blocks": blocks[:MAX_HOME_BLOCKS]}


def _routed_text(item: Routed, now: datetime) -> str:
    tier = Tier(item.tier) if item.tier in Tier.__members__ else Tier.D
    name = link(item.url, escape(one_line(limit_text(item.name or item.domain, 80))))
    where = f" in {escape(item.channel)}" if item.channel else ""
    state = "claimed by you" if item.claimed else "routed to you"
    return limit_text(
        f"{TIER_EMOJI[tier]} *{name}* `{escape(item.domain)}` · {item.score} {escape(item.tier)}"
        f" · {state}{where} {relative_time(item.decided_at, now)}\n"
        f"_{escape(one_line(limit_text(item.reason, 300)))}_",
        3000,
    )


__all__ = ["Routed", "home_view"]
