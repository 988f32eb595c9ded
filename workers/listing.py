"""`list` as Block Kit: a row per container with its state, image, status and ports, and buttons.

Pure. Each container takes two blocks (the row and its buttons), so a page holds 20 within
Slack's 50 blocks a message, with a button for the next page.
"""

from __future__ import annotations

import json
from typing import Any

from workers.gateway import ContainerRow

PAGE = 20
STATE_EMOJI = {"running": "🟢", "exited": "⚫", "created": "⚪", "paused": "⏸️", "restarting": "🔁", "dead": "🔴"}
BUTTON = "dockerverse_btn_"  # + logs, restart, stop, remove, more


def button(kind: str, label: str, value: str, question: str | None = None) -> dict[str, Any]:
    button: dict[str, Any] = {
        "type": "button",
        "action_id": BUTTON + kind,
        "value": value[:2000],
        "text": {"type": "plain_text", "text": label},
    }
    if question:  # Slack shows its own are-you-sure dialog before the click counts
        button["style"] = "danger"
        button["confirm"] = {
            "title": {"type": "plain_text", "text": f"{label}?"},
            "text": {"type": "mrkdwn", "text": question[:300]},
            "confirm": {"type": "plain_text", "text": label},
            "deny": {"type": "plain_text", "text": "Cancel"},
        }
    return button


def row_blocks(row: ContainerRow, host: str, index: int) -> list[dict[str, Any]]:
    ports = f" · {', '.join(row.ports)}" if row.ports else ""
    text = f"{STATE_EMOJI.get(row.state, '❔')} *{row.name}*  `{row.image[:80]}`\n{row.status}{ports}"
    value = json.dumps({"name": row.name, "host": host})
    buttons = [button("logs", "Logs", value)]
    if row.state in ("running", "restarting", "paused"):
        buttons += [
            button("restart", "Restart", value, f"Restart `{row.name}` on `{host}`?"),
            button("stop", "Stop", value, f"Stop `{row.name}` on `{host}`?"),
        ]
    else:
        buttons.append(button("start", "Start", value))
    buttons.append(
        button(
            "remove",
            "Remove",
            value,
            f"Remove `{row.name}` on `{host}`? It is stopped first if it runs. This cannot be undone.",
        )
    )
    return [
        {"type": "section", "block_id": f"row-{index}", "text": {"type": "mrkdwn", "text": text[:3000]}},
        {"type": "actions", "block_id": f"buttons-{index}", "elements": buttons},
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
