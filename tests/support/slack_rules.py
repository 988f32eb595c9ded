"""What Slack refuses in a message or a view, judged with slack_sdk's own Block Kit models.

Pure: a payload in, the refusal Slack would answer (or None) out. Every block goes through
`Block.parse` and `to_dict()` (which runs the model's validators all the way down: section
text 3,000, header 150, button text 75, action_id 255, ...) and views through `View`; on top of
that the limits slack_sdk leaves to the server: blocks per message (50) and per view (100),
any text object 1..3,000 characters, a message's `text` up to 40,000. Problems are worded as
Slack words them, with a JSON pointer, so a failing test says which block broke which rule.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from slack_sdk.errors import SlackObjectFormationError
from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View

MESSAGE_BLOCKS_MAX = 50
VIEW_BLOCKS_MAX = 100
TEXT_OBJECT_MAX = 3000
MESSAGE_TEXT_MAX = 40_000
TEXT_TYPES = ("plain_text", "mrkdwn")

Refusal = dict[str, Any]

# Block.parse logs (not raises) on unknown types; the refusal says so instead.
logging.getLogger("slack_sdk.models").setLevel(logging.ERROR)


def refuse(error: str, problems: list[str] | None = None) -> Refusal:
    """An `ok: false` answer shaped like Slack's, problems in `errors` and `response_metadata`."""
    answer: Refusal = {"ok": False, "error": error}
    if problems:
        answer["errors"] = problems
        answer["response_metadata"] = {"messages": [f"[ERROR] {p}" for p in problems]}
    return answer


def decoded(value: Any) -> Any:
    """A param form-encoded clients send as a JSON string; raises ValueError on bad JSON."""
    return json.loads(value) if isinstance(value, (str, bytes)) else value


def _text_problems(node: Any, where: str) -> list[str]:
    """Text objects anywhere in a block: Slack wants 1 to 3,000 characters in each."""
    found: list[str] = []
    if isinstance(node, dict):
        text = node.get("text")
        if node.get("type") in TEXT_TYPES and isinstance(text, str):
            if not text:
                found.append(f"must be more than 0 characters [json-pointer:{where}/text]")
            elif len(text) > TEXT_OBJECT_MAX:
                found.append(f"must be less than {TEXT_OBJECT_MAX + 1} characters [json-pointer:{where}/text]")
        for key, value in node.items():
            found += _text_problems(value, f"{where}/{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            found += _text_problems(value, f"{where}/{i}")
    return found


def _duplicate_ids(blocks: list[Any], where: str) -> list[str]:
    """Slack wants block_ids unique in a message or view, and action_ids unique in their block."""
    found: list[str] = []
    seen: set[str] = set()
    for i, block in enumerate(blocks):
        if not isinstance(block, dict):
            continue  # block_problems says so
        block_id = block.get("block_id")
        if block_id is not None:
            if block_id in seen:
                found.append(f"Block ID needs to be unique: {block_id!r} [json-pointer:{where}/{i}/block_id]")
            seen.add(block_id)
        elements = block.get("elements")
        actions = [e.get("action_id") for e in elements if isinstance(e, dict)] if isinstance(elements, list) else []
        named = [a for a in actions if a is not None]
        if len(named) != len(set(named)):
            found.append(f"action_id needs to be unique in its block [json-pointer:{where}/{i}/elements]")
    return found


def block_problems(blocks: Any, limit: int, where: str) -> list[str]:
    """Everything wrong with a `blocks` array, each problem with its JSON pointer."""
    if not isinstance(blocks, list):
        return [f"must provide an array [json-pointer:{where}]"]
    problems: list[str] = _duplicate_ids(blocks, where)
    if len(blocks) > limit:
        problems.append(f"no more than {limit} items allowed [json-pointer:{where}]")
    for i, raw in enumerate(blocks):
        at = f"{where}/{i}"
        if not isinstance(raw, dict):
            problems.append(f"must provide an object [json-pointer:{at}]")
            continue
        try:
            block = Block.parse(raw)
            if block is None:
                problems.append(f"unsupported type: {raw.get('type')!r} [json-pointer:{at}/type]")
                continue
            block.to_dict()  # runs the validators of the block and of everything inside it
        except (SlackObjectFormationError, TypeError, KeyError, AttributeError, ValueError) as exc:
            problems.append(f"{exc} [json-pointer:{at}]")
            continue
        problems += _text_problems(raw, at)
    return problems


def message_refusal(params: dict[str, Any], need_content: bool = True) -> Refusal | None:
    """chat.postMessage / chat.update / chat.postEphemeral / response_url: Slack's refusal or None."""
    text = params.get("text")
    if isinstance(text, str) and len(text) > MESSAGE_TEXT_MAX:
        return refuse("msg_too_long")
    blocks = params.get("blocks")
    if blocks is not None and blocks != "":
        try:
            blocks = decoded(blocks)
        except ValueError:
            return refuse("invalid_blocks_format", ["blocks must be a JSON array [json-pointer:/blocks]"])
        problems = block_problems(blocks, MESSAGE_BLOCKS_MAX, "/blocks")
        if problems:
            return refuse("invalid_blocks", problems)
    if need_content and not (text or blocks or params.get("attachments")):
        return refuse("no_text")
    return None


def view_refusal(raw: Any, kinds: tuple[str, ...]) -> Refusal | None:
    """views.publish / views.open / ...: Slack answers `invalid_arguments` naming the broken fields."""
    try:
        view = decoded(raw)
    except ValueError:
        return refuse("invalid_arguments", ["must provide an object [json-pointer:/view]"])
    if not isinstance(view, dict):
        return refuse("invalid_arguments", ["must provide an object [json-pointer:/view]"])
    if view.get("type") not in kinds:
        return refuse("invalid_arguments", [f"must be one of {list(kinds)} [json-pointer:/view/type]"])
    problems = block_problems(view.get("blocks"), VIEW_BLOCKS_MAX, "/view/blocks")
    if not problems:
        try:
            View(**view).to_dict()  # title, submit, close, private_metadata, callback_id limits
        except (SlackObjectFormationError, TypeError, KeyError, AttributeError, ValueError) as exc:
            problems.append(f"{exc} [json-pointer:/view]")
    return refuse("invalid_arguments", problems) if problems else None
