"""The lines of the file a problem quotes, numbered, with a caret under the column."""

from __future__ import annotations

from collections.abc import Sequence


def quoted_lines(raw: Sequence[str], shown: Sequence[int], line: int, column: int) -> list[str]:
    """The lines, numbered, with a caret under `column` of `line`; '...' marks a gap."""
    numbers = sorted({n for n in shown if 0 < n <= len(raw)})
    width = len(str(max(numbers, default=line)))
    quoted: list[str] = []
    for index, number in enumerate(numbers):
        if index and number > numbers[index - 1] + 1:
            quoted.append(f"  {'':>{width}} ...")
        quoted.append(f"  {number:>{width}} | {_visible(raw[number - 1])}")
        if number == line:
            quoted.append(f"  {'':>{width}} | {' ' * column}^")
    return quoted


def _visible(line: str) -> str:
    """The line as a terminal can show it, one character for one, so the caret lines up:
    a tab as →, another control character as its symbol (␁)."""
    return "".join(
        "→" if c == "\t" else chr(0x2400 + ord(c)) if ord(c) < 0x20 else "␡" if c == "\x7f" else c
        for c in line
    )
