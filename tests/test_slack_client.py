"""The worker's Slack client keeps one connection alive, and still retries as slack_sdk does."""

from __future__ import annotations

import pytest
from slack_sdk.errors import SlackApiError

from tests.support.fakeslack import FakeSlack
from workers.slack.reply import SlackReplier


def client(fake: FakeSlack) -> SlackReplier:
    return SlackReplier("xoxb-test", fake.url)


def test_calls_share_one_connection(fake_slack: FakeSlack) -> None:
    web = client(fake_slack).client
    for i in range(3):
        assert web.chat_postMessage(channel="C1", text=f"m{i}")["ok"]
    posts = fake_slack.calls("chat.postMessage")
    assert [p.params["text"] for p in posts] == ["m0", "m1", "m2"]
    assert len({p.peer for p in posts}) == 1, "each call opened a new connection"


def test_a_connection_the_server_closed_is_replaced_and_nothing_is_sent_twice(fake_slack: FakeSlack) -> None:
    web = client(fake_slack).client
    fake_slack.hang_up_after_next()
    web.chat_postMessage(channel="C1", text="first")
    web.chat_postMessage(channel="C1", text="second")
    posts = fake_slack.calls("chat.postMessage")
    assert [p.params["text"] for p in posts] == ["first", "second"]
    assert posts[0].peer != posts[1].peer


def test_rate_limits_and_server_errors_are_still_retried(fake_slack: FakeSlack) -> None:
    web = client(fake_slack).client
    fake_slack.fail_next("chat.postMessage", status=429, retry_after=1)
    fake_slack.fail_next("chat.update", status=503)
    ts = web.chat_postMessage(channel="C1", text="once")["ts"]
    assert web.chat_update(channel="C1", ts=ts, text="edit")["ok"]  # a ts Slack handed out
    assert [c.status for c in fake_slack.calls("chat.postMessage")] == [429, 200]
    assert [c.status for c in fake_slack.calls("chat.update")] == [503, 200]


def test_slack_errors_still_raise(fake_slack: FakeSlack) -> None:
    web = client(fake_slack).client
    fake_slack.fail_next("chat.postMessage", status=200, error="channel_not_found")
    with pytest.raises(SlackApiError) as err:
        web.chat_postMessage(channel="CNOPE", text="x")
    assert err.value.response["error"] == "channel_not_found"
