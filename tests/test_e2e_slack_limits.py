"""End to end: replies stay within what Slack accepts, whatever length the user's words have.

The fake Slack refuses as Slack does (tests/support/slack_rules.py): a reply over a Block Kit
limit is a reply the user never sees. These send the longest words the grammar takes (a
128-character name; a 4,000-character command, `&` growing five-fold when escaped) and check
each reply arrived and Slack would take it: posts through the fake, a slash command's
immediate answer (a message too) through the same rules.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from urllib.parse import urlencode

import docker
import httpx
import pytest

from tests.support.fakeslack import Call, FakeSlack
from tests.support.services import RedisServer
from tests.support.slack_rules import message_refusal
from tests.support.stack import Stack

pytestmark = pytest.mark.e2e

LONGEST_NAME = "n" * 128  # the grammar's longest container name
LONG_WORD = "a&" * 1990  # the whole command stays under the grammar's 4,000 characters


@pytest.fixture(scope="module")
def stack(
    redis_server: RedisServer,
    slack_server: FakeSlack,
    docker_engine: docker.DockerClient,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Stack]:
    """Web + one worker on Redis database 1."""
    running = Stack.start(redis_server.url_for(1), slack_server.url, tmp_path_factory.mktemp("stack"))
    yield running
    running.stop()


def channel() -> str:
    return "C" + uuid.uuid4().hex[:10].upper()


def slash(stack: Stack, text: str, chan: str, response_url: str) -> httpx.Response:
    """/docker TEXT whose response_url is the fake Slack's, so what the bot says there is checked too."""
    form = {
        "team_id": "T0001",
        "channel_id": chan,
        "user_id": "U0ADMIN",
        "command": "/docker",
        "text": text,
        "api_app_id": "A123456",
        "response_url": response_url,
        "trigger_id": "1.2.3",
    }
    return stack.post_signed(urlencode(form).encode(), "application/x-www-form-urlencoded")


def accepted(call: Call) -> Call:
    assert not call.refused, f"Slack refused {call.method}: {call.response}"
    return call


def test_confirmation_of_rm_with_the_longest_name_is_taken(stack: Stack, slack: FakeSlack) -> None:
    """`rm` of a 128-character name answers with a Confirm question Slack would show (the ack is a message too)."""
    resp = slash(stack, f"rm {LONGEST_NAME} --force", channel(), slack.response_url("unused"))
    assert resp.status_code == 200
    ack = resp.json()
    assert message_refusal(ack) is None, message_refusal(ack)
    assert ack["blocks"][0]["text"]["text"].startswith(f"⚠️ Remove container `{LONGEST_NAME}`")
    assert any(e.get("action_id") == "dockerverse_confirm" for b in ack["blocks"] for e in b.get("elements", []))


@pytest.mark.parametrize("words", [f"rm {LONGEST_NAME}", f"logs {LONG_WORD}"])
def test_mention_replies_to_long_words_are_taken(stack: Stack, slack: FakeSlack, words: str) -> None:
    """An @-mention with the longest name, or a 4,000-character word, is answered in its thread, and Slack takes it."""
    chan, ts = channel(), f"{int(time.time())}.000100"
    event = {
        "type": "app_mention",
        "user": "U0ADMIN",
        "text": f"<@U0LAN0Z89> {words}",
        "ts": ts,
        "channel": chan,
        "event_ts": ts,
    }
    assert stack.event(event, f"Ev{uuid.uuid4().hex[:10]}").status_code == 200
    [post] = slack.wait_for("chat.postMessage", lambda c: c.params.get("channel") == chan)
    assert accepted(post).params["thread_ts"] == ts


def test_list_with_a_4000_character_filter_is_taken(stack: Stack, slack: FakeSlack) -> None:
    """The worker's reply to `list` with a 4,000-character filter, echoed in its context, is within Slack's limits."""
    chan = channel()
    assert slash(stack, f"list {LONG_WORD}", chan, slack.response_url("unused")).status_code == 200
    [post] = slack.wait_for("chat.postMessage", lambda c: c.params.get("channel") == chan, timeout=30)
    accepted(post)
