"""Slack mrkdwn to plain text, for the terminal and JSON error messages."""

from __future__ import annotations

import re

from bot.core.slack_text import unescape

_FENCE = re.compile(r"^```\n?|\n?```$", re.MULTILINE)
_CODE = re.compile(r"`([^`\n]+)`")
_BOLD = re.compile(r"(?<!\w)\*([^*\n]+)\*(?!\w)")


def plain(text: str) -> str:
    """No fences, no backticks, no *bold*, and Slack's escapes undone (bot/core/slack_text.py)."""
    return unescape(_BOLD.sub(r"\1", _CODE.sub(r"\1", _FENCE.sub("", text))))
