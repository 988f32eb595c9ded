"""The fake Slack refuses what Slack refuses, told so through the real slack_sdk clients."""

from __future__ import annotations

from typing import Any

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.webhook import WebhookClient

from tests.support.fakeslack import FakeSlack


def section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def button(text: str = "Go", action_id: str = "go") -> dict[str, Any]:
    return {
        "type": "actions",
        "elements": [{"type": "button", "text": {"type": "plain_text", "text": text}, "action_id": action_id}],
    }


@pytest.fixture
def client(fake_slack: FakeSlack) -> WebClient:
    return WebClient(token="xoxb-test", base_url=fake_slack.url)


def refusal(call: Any) -> dict[str, Any]:
    """The answer of a call Slack refuses (slack_sdk raises SlackApiError on ok: false)."""
    with pytest.raises(SlackApiError) as err:
        call()
    assert err.value.response.status_code == 200  # Slack says no in the body, not the status
    return dict(err.value.response.data)  # type: ignore[arg-type]


BAD_BLOCKS = {
    "51 blocks": ([section(f"line {i}") for i in range(51)], "no more than 50 items allowed [json-pointer:/blocks]"),
    "section text 3001": ([section("x" * 3001)], "[json-pointer:/blocks/0]"),
    "empty section text": ([section("")], "must be more than 0 characters [json-pointer:/blocks/0/text/text]"),
    "context text 3001": (
        [{"type": "context", "elements": [{"type": "mrkdwn", "text": "y" * 3001}]}],
        "must be less than 3001 characters [json-pointer:/blocks/0/elements/0/text]",
    ),
    "header 151": ([{"type": "header", "text": {"type": "plain_text", "text": "h" * 151}}], "cannot exceed 150"),
    "button text 76": ([button(text="b" * 76)], "cannot exceed 75"),
    "action_id 256": ([button(action_id="a" * 256)], "cannot exceed 255"),
    "unknown block type": ([{"type": "sparkle"}], "unsupported type: 'sparkle' [json-pointer:/blocks/0/type]"),
    "duplicate block_id": (
        [{**section("a"), "block_id": "b1"}, {**section("b"), "block_id": "b1"}],
        "Block ID needs to be unique: 'b1' [json-pointer:/blocks/1/block_id]",
    ),
    "duplicate action_id in a block": (
        [{"type": "actions", "elements": button()["elements"] * 2}],
        "action_id needs to be unique in its block [json-pointer:/blocks/0/elements]",
    ),
    "not an object": (["section"], "must provide an object [json-pointer:/blocks/0]"),
}


@pytest.mark.parametrize("case", sorted(BAD_BLOCKS))
def test_post_message_refuses_blocks_slack_refuses(client: WebClient, case: str) -> None:
    """chat.postMessage answers invalid_blocks, naming the rule and the block, for each Block Kit limit."""
    blocks, problem = BAD_BLOCKS[case]
    answer = refusal(lambda: client.chat_postMessage(channel="C1", text="fallback", blocks=blocks))
    assert answer["error"] == "invalid_blocks"
    assert any(problem in p for p in answer["errors"]), answer["errors"]
    assert answer["response_metadata"]["messages"][0].startswith("[ERROR] ")


def test_limits_themselves_are_accepted(client: WebClient) -> None:
    """Exactly 50 blocks, 3,000-character sections, 150-character headers and 75-character buttons pass."""
    blocks = [section("x" * 3000), {"type": "header", "text": {"type": "plain_text", "text": "h" * 150}}]
    blocks += [button(text="b" * 75, action_id="a" * 255)] + [section(str(i)) for i in range(47)]
    assert len(blocks) == 50
    assert client.chat_postMessage(channel="C1", text="t" * 40_000, blocks=blocks)["ok"]


def test_text_over_40000_characters_is_msg_too_long(client: WebClient) -> None:
    """A message text over 40,000 characters gets msg_too_long."""
    assert refusal(lambda: client.chat_postMessage(channel="C1", text="t" * 40_001))["error"] == "msg_too_long"


def test_message_without_text_or_blocks_is_no_text(client: WebClient) -> None:
    """chat.postMessage with neither text nor blocks gets no_text; without a channel, channel_not_found."""
    # api_call: chat_postMessage itself warns (an error under pytest) before sending a textless message.
    assert refusal(lambda: client.api_call("chat.postMessage", json={"channel": "C1"}))["error"] == "no_text"
    assert refusal(lambda: client.chat_postMessage(channel="", text="hi"))["error"] == "channel_not_found"


def errors_for(client: WebClient, channel: str, ts: str) -> list[str]:
    """What chat.update, chat.delete and reactions.add answer about one message."""
    calls = (
        lambda: client.chat_update(channel=channel, ts=ts, text="x"),
        lambda: client.chat_delete(channel=channel, ts=ts),
        lambda: client.reactions_add(channel=channel, timestamp=ts, name="eyes"),
    )
    return [refusal(call)["error"] for call in calls]


def test_update_delete_and_react_need_a_ts_the_fake_handed_out(client: WebClient) -> None:
    """chat.update, chat.delete and reactions answer message_not_found for a ts never posted in that channel."""
    ts = client.chat_postMessage(channel="C1", text="hi")["ts"]
    assert errors_for(client, "C1", "1700000000.999999") == ["message_not_found"] * 3
    assert errors_for(client, "C2", ts) == ["message_not_found"] * 3  # a ts belongs to its channel
    assert client.chat_update(channel="C1", ts=ts, text="edited")["ts"] == ts
    too_long = [section("x" * 3001)]
    assert (
        refusal(lambda: client.chat_update(channel="C1", ts=ts, text="x", blocks=too_long))["error"] == "invalid_blocks"
    )
    assert client.chat_delete(channel="C1", ts=ts)["ok"]
    assert errors_for(client, "C1", ts) == ["message_not_found"] * 3  # deleted is gone


def test_reactions_are_remembered(client: WebClient) -> None:
    """A reaction added twice is already_reacted; one never added cannot be removed (no_reaction)."""
    ts = client.chat_postMessage(channel="C1", text="hi")["ts"]
    assert client.reactions_add(channel="C1", timestamp=ts, name="eyes")["ok"]
    assert refusal(lambda: client.reactions_add(channel="C1", timestamp=ts, name="eyes"))["error"] == "already_reacted"
    assert client.reactions_remove(channel="C1", timestamp=ts, name="eyes")["ok"]
    assert refusal(lambda: client.reactions_remove(channel="C1", timestamp=ts, name="eyes"))["error"] == "no_reaction"


def test_unknown_method_is_refused_as_slack_does(client: WebClient, fake_slack: FakeSlack) -> None:
    """A method the fake does not implement answers HTTP 200 with ok: false, unknown_method."""
    answer = refusal(lambda: client.api_call("chat.frobnicate", json={"channel": "C1"}))
    assert answer["error"] == "unknown_method"
    assert fake_slack.calls("chat.frobnicate")[0].response["error"] == "unknown_method"


def test_views_are_parsed_with_the_view_model(client: WebClient) -> None:
    """views.publish takes 100 blocks, refuses 101 or a bad block (invalid_arguments); modals check their title."""
    home = {"type": "home", "blocks": [section(str(i)) for i in range(100)]}
    assert client.views_publish(user_id="U1", view=home)["view"]["id"].startswith("V")
    too_many = {"type": "home", "blocks": [section(str(i)) for i in range(101)]}
    answer = refusal(lambda: client.views_publish(user_id="U1", view=too_many))
    assert answer["error"] == "invalid_arguments"
    assert "no more than 100 items allowed [json-pointer:/view/blocks]" in answer["errors"]
    answer = refusal(lambda: client.views_publish(user_id="U1", view={"type": "home", "blocks": [section("x" * 3001)]}))
    assert answer["error"] == "invalid_arguments" and "/view/blocks/0" in answer["errors"][0]
    modal = {"type": "modal", "title": {"type": "plain_text", "text": "t" * 25}, "blocks": [section("hi")]}
    answer = refusal(lambda: client.views_open(trigger_id="1.2.3", view=modal))
    assert "title must be between 1 and 24 characters" in answer["errors"][0]


def test_response_url_refuses_what_chat_post_message_refuses(fake_slack: FakeSlack) -> None:
    """A response_url answers 400 invalid_blocks / no_text to a bad message and 200 ok to a good one."""
    hook = WebhookClient(fake_slack.response_url())
    bad = hook.send(text="fallback", blocks=[section("x" * 3001)])
    assert (bad.status_code, bad.body) == (400, "invalid_blocks")
    empty = hook.send_dict({"response_type": "ephemeral"})
    assert (empty.status_code, empty.body) == (400, "no_text")
    good = hook.send(text="fine", blocks=[section("fine")])
    assert (good.status_code, good.body) == (200, "ok")
    assert hook.send_dict({"delete_original": True}).status_code == 200
    assert [c.status for c in fake_slack.calls("response_url")] == [400, 400, 200, 200]


def test_refusals_list_what_the_rules_refused_not_injected_faults(client: WebClient, fake_slack: FakeSlack) -> None:
    """refusals() keeps rule refusals across reset() and leaves out fail_next/set_response answers."""
    fake_slack.fail_next("chat.postMessage", status=200, error="channel_not_found")
    refusal(lambda: client.chat_postMessage(channel="C1", text="hi"))
    fake_slack.set_response("chat.delete", {"ok": False, "error": "cant_delete_message"})
    refusal(lambda: client.chat_delete(channel="C1", ts="1.0"))
    assert fake_slack.refusals() == []
    refusal(lambda: client.chat_postMessage(channel="C1", text="t" * 40_001))
    fake_slack.reset()
    assert [c.refused for c in fake_slack.refusals()] == ["msg_too_long"]


def test_socket_mode_url_needs_an_app_token(client: WebClient, fake_slack: FakeSlack) -> None:
    """apps.connections.open refuses a bot token (not_allowed_token_type) and gives an xapp- token a URL."""
    assert refusal(lambda: client.apps_connections_open(app_token="xoxb-test"))["error"] == "not_allowed_token_type"
    assert client.apps_connections_open(app_token="xapp-1-A1-1-abc")["url"].startswith("ws://")
