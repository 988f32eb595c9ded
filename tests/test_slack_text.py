"""The one escaping rule (bot/core/slack_text.py) and the ``` blocks built on it. Pure."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from bot.core.plain_text import plain
from bot.core.slack_text import clip, code, escape, fenced, unescape
from bot.wire import confirm
from workers.alerts.messages import Facts, unhealthy
from workers.docker.rows import ContainerRow
from workers.slack.listing import row_blocks
from workers.slack.render import chunks, code_block

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


def _every_text(value: object) -> list[str]:
    if isinstance(value, dict):
        return [t for k, v in value.items() for t in ([v] if k == "text" and isinstance(v, str) else _every_text(v))]
    if isinstance(value, list | tuple):
        return [t for v in value for t in _every_text(v)]
    return []


def test_builders_of_blocks_escape_what_docker_and_people_wrote() -> None:
    """Values that cannot reach them end to end today (Docker refuses such names) are escaped all the same:
    a confirmation's command, a list row, an unhealthy alert."""
    row = ContainerRow("c" * 64, HOSTILE, f"img:{HOSTILE}", "running", HOSTILE, 0, (HOSTILE,))
    f = Facts(host=HOSTILE, id="c" * 64, name=HOSTILE, image=HOSTILE, at=0, health_output=HOSTILE, state="running")
    text, alert = unhealthy(f)
    built = [confirm.blocks(f"Remove {code(HOSTILE)}?", HOSTILE, "token"), row_blocks(row, HOSTILE, 0), alert, text]
    for shown in _every_text(built):
        assert not MARKUP.search(shown.replace("<!date^0^{date_short_pretty} {time_secs}|1970-01-01 00:00:00 UTC>", ""))
        assert shown.count("```") % 2 == 0, shown
