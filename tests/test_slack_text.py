"""The one escaping rule (bot/slack_text.py) and the ``` blocks built on it. Pure."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from bot.slack_text import clip, code, escape, fenced, unescape
from bot.text import plain
from workers.render import chunks, code_block

HOSTILE = "<!channel> <!here> <@U0ADMIN> <https://evil.example|login> &lt; ``` *bold*"
MARKUP = re.compile(r"<[^<>]*>")


def test_escape_does_what_slack_documents_and_holds_backtick_runs_apart() -> None:
    """`&`, `<`, `>` become entities (an entity typed by someone stays visible), and no ``` is left."""
    out = escape(HOSTILE)
    assert not MARKUP.search(out)
    assert "&amp;lt;" in out and "&lt;!channel&gt;" in out and "```" not in out
    assert escape("a & <b> `c`") == "a &amp; &lt;b&gt; `c`"


@given(st.text())
def test_unescape_gives_back_any_text(text: str) -> None:
    """Whatever the text, escaping then unescaping returns it, and the escaped form has no markup."""
    assert unescape(escape(text)) == text
    assert "<" not in escape(text) and ">" not in escape(text) and "```" not in escape(text)


def test_a_code_span_cannot_be_ended_from_inside() -> None:
    """A value in a `code` span has its backticks turned to quotes, and is escaped."""
    assert code("a `*b*` <!here>") == "`a '*b*' &lt;!here&gt;`"


def test_fenced_and_code_blocks_keep_their_fences_paired() -> None:
    """Outside lines in a ``` block cannot close it early: only our two fences remain."""
    for text in (fenced(HOSTILE), code_block([HOSTILE, "```", "ok"]), *chunks([HOSTILE] * 3, more_hint="")):
        assert text.count("```") == 2 and not MARKUP.search(text)


def test_a_block_is_cut_by_its_escaped_length_and_never_inside_an_entity() -> None:
    """Lines of `<` grow four-fold when escaped; the block still fits and no entity is cut in half."""
    block = code_block(["<" * 100] * 100, limit=1000, more_hint=": use --tail")
    body = block.split("\n```")[0]
    assert len(body) <= 1000 and "not shown: use --tail" in block
    assert clip("ab&lt;", 4) == "ab" and clip("ab&lt;", 6) == "ab&lt;"


def test_plain_text_shows_the_characters_again() -> None:
    """The shell and JSON get back what the container printed, without Slack's escapes."""
    assert plain(code_block(["<!channel> <https://evil.example|login> &lt; a & b"])) == (
        "<!channel> <https://evil.example|login> &lt; a & b"
    )
    assert plain(f"Unknown command {code('<!here>')}.") == "Unknown command <!here>."
