"""`list` as Block Kit: a row per container with its state, image, status and ports, and buttons.

Pure. Each container takes two blocks (the row and its buttons), so a page holds 20 within
Slack's 50 blocks a message, with a button for the next page.
"""

from __future__ import annotations

import json
from typing import Any

from bot.core.blocks import STATE_EMOJI, button, row_buttons
from bot.core.slack_text import clip, code, escape
from workers.docker.rows import ContainerRow

PAGE = 20


def row_blocks(row: ContainerRow, host: str, index: int) -> list[dict[str, Any]]:
    ports = f" · {escape(', '.join(row.ports))}" if row.ports else ""
    text = (
        f"{STATE_EMOJI.get(row.state, '❔')} *{escape(row.name)}*  {code(row.image[:80])}\n{escape(row.status)}{ports}"
    )
    return [
        {"type": "section", "block_id": f"row-{index}", "text": {"type": "mrkdwn", "text": clip(text, 3000)}},
        {"type": "actions", "block_id": f"buttons-{index}", "elements": row_buttons(row.name, row.state, host)},
    ]


def list_blocks(rows: list[ContainerRow], host: str, page: int, all: bool, filter: str | None) -> list[dict[str, Any]]:
    """One page of rows, and a button for the next page when there is one."""
    start = (page - 1) * PAGE
    shown = rows[start : start + PAGE]
    blocks = [b for i, row in enumerate(shown, start=start) for b in row_blocks(row, host, i)]
    pages = (len(rows) + PAGE - 1) // PAGE
    if pages > 1:
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": f"page {page} of {pages}"}]})
    if start + PAGE < len(rows):
        more = json.dumps({"page": page + 1, "all": all, "filter": filter, "host": host})
        left = len(rows) - start - PAGE
        blocks.append(
            {
                "type": "actions",
                "block_id": "more",
                "elements": [button("more", f"Next {min(PAGE, left)} of {left} more", more)],
            }
        )
    return blocks
