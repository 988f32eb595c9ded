"""The one escaping rule for text that Slack renders. Pure.

Slack reads `<...>` in message text and mrkdwn as markup: `<!channel>` pings everyone, `<@U1>`
mentions, `<https://x|label>` is a link whose target is hidden. Every value from Docker, a
container, a registry or a person goes through `escape` (or `code` / `fenced`, or the ``` blocks
of workers/slack/render.py, which call it) where it is put into Slack text, so Slack shows it as it
was and renders none of that. Our own markup (the asker's `<@U…>`, `<!date^…>`) is added around
escaped values, never inside them. Text built this way is mrkdwn; `unescape` gives back the
characters for a terminal or JSON.
"""

from __future__ import annotations

import re

_UNESCAPE = re.compile(r"&(amp|lt|gt);|`\u200b")
_RESTORE = {"&amp;": "&", "&lt;": "<", "&gt;": ">", "`\u200b": "`"}
# A backtick followed by another gets a zero-width space between them: outside text then has no
# ``` run, so it can neither open a code block nor close one of ours.
_BACKTICK_RUN = re.compile(r"`(?=`)")
_PARTIAL_ENTITY = re.compile(r"&[a-z]{0,3}$")
ZWSP = "\u200b"


def escape(value: object) -> str:
    """Slack's three escapes as its docs list them (`&` first, so nothing is escaped twice), and
    backtick runs held apart. For any outside value in text, mrkdwn or a ``` block."""
    text = str(value).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _BACKTICK_RUN.sub("`" + ZWSP, text)


def unescape(text: str) -> str:
    """The inverse of `escape`, for showing our mrkdwn outside Slack (a terminal, JSON)."""
    return _UNESCAPE.sub(lambda m: _RESTORE[m.group(0)], text)


def code(value: object) -> str:
    """A value as a `code` span, backticks included: its own backticks become quotes, so it cannot
    end the span and start formatting of its own."""
    return "`" + escape(str(value).replace("`", "'")) + "`"


def fenced(text: object) -> str:
    """Outside text as a ``` block."""
    return "```\n" + escape(text) + "\n```"


def clip(escaped: str, limit: int) -> str:
    """Escaped text cut to `limit` characters, never inside an entity (an `&lt;` cut to `&l`)."""
    return escaped if len(escaped) <= limit else _PARTIAL_ENTITY.sub("", escaped[:limit])
