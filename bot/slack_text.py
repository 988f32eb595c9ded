"""The one escaping rule for text that Slack renders. Pure.

Slack reads `<...>` in message text and mrkdwn as markup: `<!channel>` pings everyone, `<@U1>`
mentions, `<https://x|label>` is a link whose target is hidden. Every value from Docker, a
container, a registry or a person is passed through `escape` (or `code` / `fenced`, which call
it) where it is put into Slack text, so Slack shows it as typed and renders none of that. Our own
markup (the asker's `<@U…>`, `<!date^…>`) is added around escaped values, never inside them.
Text we build this way is mrkdwn; `unescape` gives back the characters for a terminal or JSON.
"""

from __future__ import annotations

import re

_UNESCAPE = re.compile(r"&(amp|lt|gt);")
_ENTITY = {"amp": "&", "lt": "<", "gt": ">"}
# A backtick followed by another: a zero-width space goes between, so no run of them can open or
# close a ``` block (nor an inline span that was opened by us).
_BACKTICK_RUN = re.compile(r"`(?=`)")
_PARTIAL_ENTITY = re.compile(r"&[a-z]{0,3}$")
ZWSP = "\u200b"


def escape(value: object) -> str:
    """Slack's three escapes (as its docs list them): `&` first, so nothing is escaped twice."""
    return str(value).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def unescape(text: str) -> str:
    """The inverse of `escape`, for showing our mrkdwn outside Slack."""
    return _UNESCAPE.sub(lambda m: _ENTITY[m.group(1)], text)


def code(value: object) -> str:
    """A value inside a `code` span, span included: escaped, and its backticks become quotes so it
    cannot end the span and start formatting of its own."""
    return "`" + escape(value).replace("`", "'") + "`"


def block_line(value: object) -> str:
    """One line for inside a ``` block: escaped, and no run of backticks that could close it."""
    return _BACKTICK_RUN.sub("`" + ZWSP, escape(value))


def fenced(text: object) -> str:
    """Text as a ``` block: every line escaped by `block_line`."""
    return "```\n" + "\n".join(block_line(line) for line in str(text).split("\n")) + "\n```"


def clip(escaped: str, limit: int) -> str:
    """Escaped text cut to `limit` characters, never inside an entity (an `&lt;` cut to `&l`)."""
    return escaped if len(escaped) <= limit else _PARTIAL_ENTITY.sub("", escaped[:limit])
