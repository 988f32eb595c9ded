"""Pure text shaping for replies, kept inside Slack's limits.

A section's text holds at most 3,000 characters and a message at most 50 blocks;
long output is cut with a note that says how to see the rest, never a failed post.
Lines put in ``` blocks are outside text (logs, tables of Docker's values): each is escaped
by bot/core/slack_text.py here, so callers pass them as they came.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from bot.core.slack_text import clip, escape

# Block Kit is built only when the job replies in Slack: a hook or API caller reads JSON, the shell text.
Blocks = tuple[dict[str, Any], ...] | Callable[[], Sequence[dict[str, Any]]]
SECTION_LIMIT = 3000
# Room for the ``` fences and a cut note inside one section.
BLOCK_BODY_LIMIT = SECTION_LIMIT - 120
MAX_THREAD_CHUNKS = 5


@dataclass(frozen=True)
class Outcome:
    """What a job produced: a one-line summary, a body, thread output and data for the API."""

    ok: bool
    summary: str
    text: str = ""
    thread: tuple[str, ...] = ()
    data: dict[str, Any] = field(default_factory=dict)
    status: int = 200  # for the HTTP API: what kind of failure (404 unknown, 409 refused by Docker, ...)
    confirm: bool | str = False  # True: a person must confirm first; then the token of the Confirm button
    blocks: Blocks = ()  # Block Kit for Slack (a list with buttons), or what builds it; text stays for others
    attachment: tuple[str, str] | None = None  # (file name, content) too long for messages: a file in the thread

    def slack_blocks(self) -> list[dict[str, Any]]:
        """The Block Kit body, built now (only a Slack reply asks)."""
        return list(self.blocks() if callable(self.blocks) else self.blocks)

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "status": self.status,
            "needs_confirmation": bool(self.confirm),
            "summary": self.summary,
            "text": self.text,
            "thread": list(self.thread),
            "data": self.data,
        }


def cut(text: str, limit: int = SECTION_LIMIT, note: str = "output cut") -> str:
    """Cut text to ``limit`` characters with a visible note."""
    if len(text) <= limit:
        return text
    marker = f"\n… ({note})"
    return text[: max(0, limit - len(marker))] + marker


def table(headers: Sequence[str], rows: Sequence[Sequence[str]], width: int = 0, squeeze: int = 0) -> list[str]:
    """Left-aligned columns, two spaces apart. With ``width``, column ``squeeze`` gives up the room a line
    would need beyond it: its long cells lose their middle (…), so both ends of a name stay readable."""
    widths = [max(len(str(x)) for x in col) for col in zip(headers, *rows, strict=False)]
    room = max(len(headers[squeeze]), width - (sum(widths) - widths[squeeze] + 2 * (len(widths) - 1)))
    if width and widths[squeeze] > room:
        rows = [[*r[:squeeze], middle_cut(str(r[squeeze]), room), *r[squeeze + 1 :]] for r in rows]
        widths[squeeze] = room
    return ["  ".join(str(v).ljust(w) for v, w in zip(row, widths, strict=False)).rstrip() for row in (headers, *rows)]


def middle_cut(text: str, limit: int) -> str:
    """``text`` in at most ``limit`` characters, its middle replaced by …: `registry.example/…/app:1.2`."""
    if len(text) <= limit:
        return text
    head = (limit - 1) // 2
    return text[:head] + "…" + text[len(text) - (limit - 1 - head) :]


def _clip(raw: str, limit: int) -> str:
    """One line, escaped for a ``` block and cut so that it fits one of ``limit`` on its own (with its
    newline), marked with …."""
    line = escape(raw)
    return line if len(line) < limit else clip(line, max(0, limit - 2)) + "…"


def code_block(lines: Sequence[str], limit: int = BLOCK_BODY_LIMIT, more_hint: str = "") -> str:
    """Lines (as they came) in a ``` block, escaped, cut at a line boundary to fit, with how many were left out."""
    shown: list[str] = []
    size = 0
    for raw in lines:
        line = _clip(raw, limit)
        if size + len(line) + 1 > limit:
            break
        shown.append(line)
        size += len(line) + 1
    body = "```\n" + "\n".join(shown) + "\n```" if shown else ""
    left = len(lines) - len(shown)
    if left:
        body += f"\n… {left} more line{'s' if left != 1 else ''} not shown{more_hint}"
    return body


def chunks(
    lines: Sequence[str], more_hint: str, limit: int = BLOCK_BODY_LIMIT, most: int = MAX_THREAD_CHUNKS
) -> tuple[str, ...]:
    """Split lines into ``` blocks of at most ``limit`` characters, at most ``most`` of them."""
    out: list[str] = []
    current: list[str] = []
    size = 0
    for i, raw in enumerate(lines):
        shown = len(_clip(raw, limit))  # as code_block will show it: escaped
        if current and size + shown + 1 > limit:
            if len(out) == most - 1:
                out.append(code_block(current, limit) + f"\n… {len(lines) - i} more lines not shown{more_hint}")
                return tuple(out)
            out.append(code_block(current, limit))
            current, size = [], 0
        current.append(raw)
        size += shown + 1
    if current:
        out.append(code_block(current, limit))
    return tuple(out)
