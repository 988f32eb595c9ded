"""Block Kit pieces shared by the `list` rows (workers) and the App Home (web): the container
buttons, whose action ids the Slack adapter answers. Pure.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from typing import Any

from bot.core.slack_text import code

STATE_EMOJI = {"running": "🟢", "exited": "⚫", "created": "⚪", "paused": "⏸️", "restarting": "🔁", "dead": "🔴"}
LIVE = ("running", "restarting", "paused")  # states in which stop, restart and rm end the container
BUTTON = "dockerverse_btn_"  # + logs, start, restart, stop, remove, more: see bot/web/slack_actions.py
# The command each row button runs, by the permission it needs (its verb in the policy).
PERMISSION = {"logs": "logs", "start": "start", "restart": "restart", "stop": "stop", "remove": "rm", "more": "list"}


def button(kind: str, label: str, value: str, question: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "type": "button",
        "action_id": BUTTON + kind,
        "value": value[:2000],
        "text": {"type": "plain_text", "text": label},
    }
    if question:  # Slack shows its own are-you-sure dialog before the click counts
        out["style"] = "danger"
        out["confirm"] = {
            "title": {"type": "plain_text", "text": f"{label}?"},
            "text": {"type": "mrkdwn", "text": question[:300]},
            "confirm": {"type": "plain_text", "text": label},
            "deny": {"type": "plain_text", "text": "Cancel"},
        }
    return out


def row_buttons(name: str, state: str, host: str, granted: Collection[str] | None = None) -> list[dict[str, Any]]:
    """Logs, Start or Restart and Stop, Remove for one container; only those `granted` allows, when given."""
    value = json.dumps({"name": name, "host": host})
    buttons = [button("logs", "Logs", value)]
    if state in LIVE:
        buttons += [
            button("restart", "Restart", value, f"Restart {code(name)} on {code(host)}?"),
            button("stop", "Stop", value, f"Stop {code(name)} on {code(host)}?"),
        ]
    else:
        buttons.append(button("start", "Start", value))
    buttons.append(
        button(
            "remove",
            "Remove",
            value,
            f"Remove {code(name)} on {code(host)}? It is stopped first if it runs. This cannot be undone.",
        )
    )
    if granted is None:
        return buttons
    return [b for b in buttons if PERMISSION[b["action_id"].removeprefix(BUTTON)] in granted]
