"""Slack over Socket Mode, end to end: the real bolt Socket Mode client inside a real `dockerverse web`,
a real worker and dockerd, and local stand-ins for Slack's Web API and its Socket Mode WebSocket.

The envelopes are those of ../shared/slack-payloads/socket_mode.jsonl, given fresh ids and channels.
"""

from __future__ import annotations

import copy
import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import httpx
import pytest
from slack_sdk.models.views import View

from tests.support.fake_socket_mode import APP_TOKEN, PAYLOADS, FakeSocketMode, shared_envelopes
from tests.support.fakeslack import Call, FakeSlack
from tests.support.services import MANAGED, SESSION, TEST_LABEL, free_port
from tests.support.stack import Stack
from tests.support.stack_factory import StackFactory, StackOptions

pytestmark = pytest.mark.e2e

HELLO, SLASH, MENTION, CLICK, DISCONNECT = shared_envelopes()


@pytest.fixture(scope="module")
def socket_server(slack_server: FakeSlack) -> Iterator[FakeSocketMode]:
    fake = FakeSocketMode(slack_server).start()
    yield fake
    fake.stop()


STACK = StackOptions(db=12, env={"SLACK_APP_TOKEN": APP_TOKEN})  # web over HTTP and Socket Mode


@pytest.fixture(scope="module")
def stack(stack_factory: StackFactory, socket_server: FakeSocketMode) -> Iterator[Stack]:
    """Web (HTTP and Socket Mode) + one worker, ready once it holds a Socket Mode connection."""
    with stack_factory(STACK) as running:
        try:
            socket_server.wait_connections(1)
        except AssertionError:
            raise AssertionError(running.dump_logs()) from None
        yield running


@pytest.fixture
def sm(slack: FakeSlack, socket_server: FakeSocketMode) -> FakeSocketMode:
    """The Socket Mode stand-in, answering apps.connections.open again after `slack` was reset."""
    socket_server.install()
    return socket_server


def channel() -> str:
    return "C" + uuid.uuid4().hex[:10].upper()


def fresh(envelope: dict[str, Any], **payload: Any) -> dict[str, Any]:
    """A copy of a shared envelope with a new envelope id and `payload` keys replaced."""
    out = copy.deepcopy(envelope)
    out["envelope_id"] = str(uuid.uuid4())
    out["payload"].update(payload)
    return out


def text_of(call: Call) -> str:
    """The visible text of a post: its fallback text and every block's text."""
    blocks: list[dict[str, Any]] = call.json_param("blocks") or []
    parts = [str(call.params.get("text", ""))]
    for block in blocks:
        if isinstance(block.get("text"), dict):
            parts.append(block["text"]["text"])
        parts += [e["text"] for e in block.get("elements", []) if isinstance(e.get("text"), str)]
    return "\n".join(parts)


def posts(slack: FakeSlack, chan: str, count: int = 1, timeout: float = 30.0) -> list[Call]:
    return slack.wait_for("chat.postMessage", lambda c: c.params.get("channel") == chan, count=count, timeout=timeout)


def mention(chan: str, text: str) -> dict[str, Any]:
    ts = f"{int(time.time())}.{uuid.uuid4().int % 1_000_000:06d}"
    event = {**MENTION["payload"]["event"], "channel": chan, "text": f"<@U0LAN0Z89> {text}", "ts": ts}
    return fresh(MENTION, event=event, event_id="Ev" + uuid.uuid4().hex[:10].upper())


def wait_in_log(path: Path, words: str, timeout: float = 30.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = path.read_text(errors="replace") if path.exists() else ""
        line = next((ln for ln in text.splitlines() if words in ln), None)
        if line:
            return line
        time.sleep(0.2)
    raise AssertionError(f"no log line with {words!r} in {path}:\n{text[-3000:]}")


def healthy(url: str, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            return httpx.get(url, timeout=2).status_code == 200
        except httpx.TransportError:
            time.sleep(0.2)
    return False


def test_slash_command_over_the_socket_is_acked_with_its_job_then_posted(
    stack: Stack, slack: FakeSlack, sm: FakeSocketMode
) -> None:
    """A slash command envelope is acknowledged by its envelope id, with the ephemeral "queued" answer
    as the ack's payload; the worker then posts the result in the channel, as over HTTP."""
    chan = channel()
    envelope = fresh(SLASH, channel_id=chan, text="list --all")
    sm.send(envelope)
    ack = sm.wait_ack(envelope["envelope_id"])
    assert ack["payload"]["response_type"] == "ephemeral", ack
    assert "queued as job" in ack["payload"]["text"] and "list --all" in ack["payload"]["text"]
    [root] = posts(slack, chan)
    shown = text_of(root)
    assert root.token == "xoxb-test-token"
    assert "<@U061F7AUR>" in shown and "/docker list --all" in shown and "on `local`" in shown, shown


def test_mention_over_the_socket_is_answered_in_its_thread_once_despite_a_retry(
    stack: Stack, slack: FakeSlack, sm: FakeSocketMode
) -> None:
    """An app_mention envelope and Slack's retry of it (same event id, new envelope) are both acknowledged;
    the command runs once and its answer goes in the mention's thread."""
    chan, other = channel(), channel()
    first = mention(chan, "list --all")
    retry = copy.deepcopy(first)
    retry.update(envelope_id=str(uuid.uuid4()), retry_attempt=1, retry_reason="timeout")
    sm.send(first)
    sm.send(retry)
    assert sm.wait_ack(first["envelope_id"]) == {"envelope_id": first["envelope_id"]}
    assert sm.wait_ack(retry["envelope_id"]) == {"envelope_id": retry["envelope_id"]}
    [reply] = posts(slack, chan)
    assert reply.params["thread_ts"] == first["payload"]["event"]["ts"]
    assert "`list --all`" in text_of(reply), text_of(reply)
    # One worker takes the quick lane in order: once a later command is answered, a doubled job would have been too.
    sm.send(mention(other, "help"))
    posts(slack, other)
    assert len([c for c in slack.calls("chat.postMessage") if c.params.get("channel") == chan]) == 1


def test_list_button_over_the_socket_runs_as_the_clicker_in_the_list_thread(
    stack: Stack, slack: FakeSlack, sm: FakeSocketMode, docker_cleanup: docker.DockerClient, test_image: str
) -> None:
    """A block_actions envelope for a list row's Logs button is acknowledged, and the logs go in the list's thread."""
    chan, name = channel(), f"dvtest-sock-{uuid.uuid4().hex[:8]}"
    docker_cleanup.containers.run(
        test_image,
        ["sh", "-c", "echo hello-over-the-socket; sleep 300"],
        name=name,
        detach=True,
        labels={TEST_LABEL: SESSION, **MANAGED},  # one the bot runs: the clicking viewer may read its logs
    )
    payload = copy.deepcopy(CLICK["payload"])
    payload["channel"]["id"] = payload["container"]["channel_id"] = chan
    payload["actions"][0].update(action_id="dockerverse_btn_logs", value=json.dumps({"name": name, "host": "local"}))
    envelope = fresh(CLICK, **payload)
    sm.send(envelope)
    assert sm.wait_ack(envelope["envelope_id"]) == {"envelope_id": envelope["envelope_id"]}
    thread = payload["container"]["message_ts"]
    found = slack.wait_for(
        "chat.postMessage",
        lambda c: (
            c.params.get("channel") == chan
            and c.params.get("thread_ts") == thread
            and "hello-over-the-socket" in text_of(c)
        ),
        timeout=30,
    )
    assert found


def test_app_home_over_the_socket_is_published(stack: Stack, slack: FakeSlack, sm: FakeSocketMode) -> None:
    """app_home_opened over the socket is acknowledged, then the person's Home is published: a valid view."""
    event = json.loads((PAYLOADS / "app_home_opened.json").read_text())
    user = "U" + uuid.uuid4().hex[:10].upper()
    event["event"]["user"] = user
    event["event_id"] = "Ev" + uuid.uuid4().hex[:10].upper()
    envelope = {
        "envelope_id": str(uuid.uuid4()),
        "payload": event,
        "type": "events_api",
        "accepts_response_payload": False,
        "retry_attempt": 0,
        "retry_reason": "",
    }
    sm.send(envelope)
    assert sm.wait_ack(envelope["envelope_id"]) == {"envelope_id": envelope["envelope_id"]}
    [call] = slack.wait_for("views.publish", lambda c: c.params.get("user_id") == user, timeout=40)
    view = call.json_param("view")
    assert View(**view).to_dict() == view  # slack_sdk's model takes every field and validates it
    assert view["type"] == "home" and "Hosts" in json.dumps(view)


def test_a_dropped_connection_is_reopened_with_backoff_and_a_fresh_url(
    stack: Stack, slack: FakeSlack, sm: FakeSocketMode
) -> None:
    """When the WebSocket is cut without a close frame, the web asks apps.connections.open for a new URL;
    while Slack fails (two 500s here) it waits longer each time, then connects and commands work again."""
    before, opened = len(sm.connections), sm.opened
    slack.fail_next("apps.connections.open", status=500, times=2)
    sm.drop()
    sm.wait_connections(before + 1, timeout=90)
    assert sm.opened == opened + 1
    assert len(slack.calls("apps.connections.open")) == 3
    log = next(p for p in stack.logs if p.name == "web.log")
    wait_in_log(log, "Socket Mode: reconnected to Slack")
    waits = [
        float(line.rsplit("retrying in ", 1)[1].split()[0])
        for line in log.read_text().splitlines()
        if "apps.connections.open answered internal_error); retrying in" in line
    ]
    assert len(waits) == 2 and waits[1] >= 1.0, waits  # 0.5-1 s, then 1-2 s: doubling with jitter
    chan = channel()
    envelope = fresh(SLASH, channel_id=chan, text="help")
    sm.send(envelope)
    assert "queued as job" in sm.wait_ack(envelope["envelope_id"])["payload"]["text"]
    posts(slack, chan)


def test_slacks_disconnect_message_moves_to_a_new_connection(
    stack: Stack, slack: FakeSlack, sm: FakeSocketMode
) -> None:
    """Slack's `disconnect` (refresh_requested) makes the client open a new connection before the old one ends."""
    before = len(sm.connections)
    sm.send(DISCONNECT)
    sm.wait_connections(before + 1, timeout=60)
    chan = channel()
    envelope = fresh(SLASH, channel_id=chan, text="help")
    sm.send(envelope)
    assert "queued as job" in sm.wait_ack(envelope["envelope_id"])["payload"]["text"]
    posts(slack, chan)


@pytest.mark.parametrize(
    ("token", "says"),
    [
        ("xapp-1-A0MDYCDME-1-revoked", "Slack refused SLACK_APP_TOKEN (invalid_auth)"),
        ("xoxb-a-bot-token-by-mistake", "SLACK_APP_TOKEN is not an app-level token (it starts with xoxb-"),
    ],
)
def test_a_wrong_app_token_gets_one_clear_log_line_and_http_keeps_working(
    stack: Stack, slack: FakeSlack, sm: FakeSocketMode, tmp_path: Path, token: str, says: str
) -> None:
    """A refused or mistaken app token is named in one error line saying how to fix it; the web stays up."""
    port = free_port()
    log = tmp_path / "web-wrong-token.log"
    proc = stack.spawn(log, "web", "--port", str(port), env={"SLACK_APP_TOKEN": token})
    try:
        line = wait_in_log(log, "Socket Mode is off")
        assert says in line and "connections:write" in line and "restart `dockerverse web`" in line, line
        assert healthy(f"http://127.0.0.1:{port}/healthz") and proc.poll() is None
        calls = [c for c in slack.calls("apps.connections.open") if c.token == token]
        assert len(calls) == (0 if token.startswith("xoxb-") else 1)
    finally:
        proc.terminate()
        proc.wait(15)


def test_socket_mode_alone_needs_no_signing_secret(
    stack: Stack, slack: FakeSlack, sm: FakeSocketMode, tmp_path: Path
) -> None:
    """With only the bot and app tokens, commands arrive over the socket; /slack/events says it is not set up."""
    port, before = free_port(), len(sm.connections)
    proc = stack.spawn(tmp_path / "web-socket-only.log", "web", "--port", str(port), env={"SLACK_SIGNING_SECRET": ""})
    try:
        sm.wait_connections(before + 1)
        chan = channel()
        envelope = fresh(SLASH, channel_id=chan, text="help")
        sm.send(envelope)  # on the newest connection: this web's
        assert "queued as job" in sm.wait_ack(envelope["envelope_id"])["payload"]["text"]
        posts(slack, chan)
        assert healthy(f"http://127.0.0.1:{port}/healthz")
        resp = httpx.post(f"http://127.0.0.1:{port}/slack/events", content=b"{}", timeout=5)
        assert resp.status_code == 503 and "Socket Mode" in resp.json()["error"]
    finally:
        proc.terminate()
        proc.wait(15)
