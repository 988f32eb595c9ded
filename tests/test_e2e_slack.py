"""End to end through Slack: signed requests to uvicorn, a worker process, dockerd, the fake Slack."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import docker
import httpx
import pytest

from tests.support.fakeslack import Call, FakeSlack
from tests.support.jobs import acked_job, queued_by, settled
from tests.support.services import SESSION, TEST_LABEL
from tests.support.stack import Stack
from tests.support.stack_factory import StackFactory, StackOptions

pytestmark = pytest.mark.e2e


STACK = StackOptions(db=1)  # other tests flush database 0


def channel() -> str:
    return "C" + uuid.uuid4().hex[:10].upper()


def posts(slack: FakeSlack, chan: str, count: int = 1, timeout: float = 20.0) -> list[Call]:
    return slack.wait_for("chat.postMessage", lambda c: c.params.get("channel") == chan, count=count, timeout=timeout)


def said(slack: FakeSlack, post: Call) -> str:
    """What a post says once settled: a job over a second posts `⏳ running…` first, then edits it."""
    return text_of(slack.settled(post))


def text_of(call: Call) -> str:
    """The visible text of a post: its fallback text and every block's text."""
    blocks: list[dict[str, Any]] = call.json_param("blocks") or []
    parts = [str(call.params.get("text", ""))]
    for block in blocks:
        if "text" in block:
            parts.append(block["text"]["text"])
        parts += [e["text"] for e in block.get("elements", []) if isinstance(e.get("text"), str)]
    return "\n".join(parts)


def test_slash_list_is_acked_then_posted_in_the_channel(stack: Stack, slack: FakeSlack) -> None:
    """/docker list is acknowledged at once (naming the job) and the worker posts the result in the channel."""
    chan = channel()
    resp = stack.slash("list --all", channel=chan, timeout=3.0)
    assert resp.status_code == 200
    ack = resp.json()
    assert ack["response_type"] == "ephemeral" and "queued as job" in ack["text"]
    [root] = posts(slack, chan)
    assert root.token == "xoxb-test-token"
    assert "thread_ts" not in root.params or root.params["thread_ts"] is None
    shown = said(slack, root)
    assert "<@U0OPS>" in shown and "/docker list --all" in shown and "on `local`" in shown


def test_run_logs_rm_through_slack(
    stack: Stack, slack: FakeSlack, docker_cleanup: docker.DockerClient, test_image: str
) -> None:
    """run creates a labelled, limited container; logs tails it into the thread; rm removes it."""
    chan, name = channel(), f"dvtest-{uuid.uuid4().hex[:8]}"
    stack.slash(
        f"run {test_image} --name {name} -e GREETING=hi -- sh -c 'for i in 1 2 3; do echo line$i; done; sleep 300'",
        channel=chan,
    )
    [started] = posts(slack, chan)
    assert f"Started `{name}`" in said(slack, started), said(slack, started)
    container = docker_cleanup.containers.get(name)
    labels = container.labels
    assert labels["dockerverse.managed-by"] == "dockerverse" and labels["dockerverse.creator"] == "U0OPS"
    assert len(labels["dockerverse.job"]) == 32
    host_config = container.attrs["HostConfig"]
    assert (host_config["Memory"], host_config["NanoCpus"], host_config["PidsLimit"]) == (64 * 1024**2, 5 * 10**8, 64)

    deadline = time.monotonic() + 10
    while b"line3" not in container.logs() and time.monotonic() < deadline:
        time.sleep(0.1)
    stack.slash(f"logs {name} --tail 2", channel=chan)
    root, tail = posts(slack, chan, count=3)[1:]
    assert "2 log lines" in said(slack, root)
    assert tail.params["thread_ts"] == root.response["ts"] and "line2\nline3" in tail.params["text"]

    asked = stack.slash(f"rm {name}", channel=chan).json()
    token = confirm_token(asked)
    assert "Remove container" in asked["text"] and not docker_cleanup.containers.get(name).attrs["State"]["Dead"]
    stack.click("dockerverse_confirm", token, slack.response_url("rm1"), channel=chan)
    answer = slack.wait_for("response_url", lambda c: c.params.get("_name") == "rm1")[0]
    assert answer.json_param("replace_original") in (True, "true") and "confirmed `rm" in answer.params["text"]
    refused = posts(slack, chan, count=4)[3]
    assert "is running: stop it first" in said(slack, refused) and "--force" in said(slack, refused)

    stack.click("dockerverse_confirm", token, slack.response_url("again"), channel=chan)
    reused = slack.wait_for("response_url", lambda c: c.params.get("_name") == "again")[0]
    assert "expired or was already used" in reused.params["text"]  # good for one use

    forced = confirm_token(stack.slash(f"rm {name} --force", channel=chan).json())
    stack.click("dockerverse_confirm", forced, slack.response_url("rm2"), channel=chan)
    removed = posts(slack, chan, count=5)[4]
    assert f"Removed `{name}`" in said(slack, removed)
    with pytest.raises(docker.errors.NotFound):
        docker_cleanup.containers.get(name)


def confirm_token(ack: dict[str, Any]) -> str:
    """The Confirm button's value in an ephemeral confirmation, checked against Slack's Block Kit models."""
    from slack_sdk.models.blocks import Block

    blocks = [Block.parse(b) for b in ack["blocks"]]
    assert all(b is not None for b in blocks)
    [actions] = [b for b in ack["blocks"] if b["type"] == "actions"]
    button = next(e for e in actions["elements"] if e["action_id"] == "dockerverse_confirm")
    assert button["style"] == "danger" and "confirm" in button
    return str(button["value"])


def test_help_and_unknown_command(stack: Stack, slack: FakeSlack) -> None:
    """help is posted; an unknown command is refused in the ack with the closest command, and nothing runs."""
    chan = channel()
    resp = stack.slash("lsit", channel=chan)
    assert "Did you mean `list`?" in resp.json()["text"]
    stack.slash("help logs", channel=chan)
    [post] = posts(slack, chan)
    assert "logs NAME_OR_ID" in said(slack, post) and "--grep PATTERN" in said(slack, post)


def test_viewer_cannot_run_or_remove(stack: Stack, slack: FakeSlack, test_image: str) -> None:
    """A user with no operator role is refused in the ack, told which role grants it; nothing is queued."""
    chan = channel()
    resp = stack.slash(f"run {test_image}", user="U0NOBODY", channel=chan)
    text = resp.json()["text"]
    assert "Not allowed: `run`" in text and "roles.operator" in text
    resp = stack.slash(f"run {test_image}", user="U0NOBODY", channel="C0DEPLOY")
    assert "queued as job" in resp.json()["text"]  # everyone in the deploy channel is an operator
    # Queued after the refused one: once it has ended, a job the refusal had queued would have said so.
    settled(stack, acked_job(stack, resp.json()["text"]))
    assert not [c for c in slack.calls("chat.postMessage") if c.params.get("channel") == chan]


def test_bad_signature_is_refused(stack: Stack, slack: FakeSlack) -> None:
    """A request not signed with the signing secret gets 401 and runs nothing."""
    chan = channel()
    resp = stack.slash("list", channel=chan, secret="wrong-secret")
    assert resp.status_code == 401
    # The same command signed rightly, sent after it: once its job has ended, the refused one had its chance.
    good = stack.slash("list", channel=channel())
    settled(stack, acked_job(stack, good.json()["text"]))
    assert not [c for c in slack.calls("chat.postMessage") if c.params.get("channel") == chan]


def test_url_verification(stack: Stack) -> None:
    """Slack's URL check gets its challenge back."""
    body = json.dumps(
        {"token": "x", "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P", "type": "url_verification"}
    ).encode()
    resp = stack.post_signed(body, "application/json")
    assert resp.status_code == 200 and "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P" in resp.text


def test_mention_is_answered_in_its_thread_once_despite_retries(stack: Stack, slack: FakeSlack) -> None:
    """An @-mention's reply goes in the mention's thread; Slack's retry of the same event runs nothing more."""
    chan, user = channel(), "U0M" + uuid.uuid4().hex[:8].upper()  # a viewer whose jobs are this test's alone
    nothing = "dvnone-" + uuid.uuid4().hex[:8]  # a filter no container matches: the reply is one plain line
    event = {
        "type": "app_mention",
        "user": user,
        "text": f"<@U0LAN0Z89> list \u2014all {nothing}",
        "ts": "1515449522.000016",
        "channel": chan,
        "event_ts": "1515449522.000016",
    }
    event_id = "Ev" + uuid.uuid4().hex[:10]
    assert stack.event(event, event_id).status_code == 200
    assert (
        stack.event(event, event_id, {"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"}).status_code
        == 200
    )
    [reply] = posts(slack, chan)
    assert reply.params["thread_ts"] == "1515449522.000016"
    assert f"`list --all {nothing}`" in said(slack, reply) and "/docker" not in said(slack, reply), said(slack, reply)
    # Each queued job is audited as it is queued: one job for the mention and its retry, and it has ended.
    [job] = queued_by(stack, user)
    settled(stack, job)
    assert len([c for c in slack.calls("chat.postMessage") if c.params.get("channel") == chan]) == 1


def test_dm_reply_and_refusal_in_thread(stack: Stack, slack: FakeSlack) -> None:
    """A DM is answered in its thread; a bad command there is explained in the same thread."""
    chan = "D" + uuid.uuid4().hex[:10].upper()
    stack.event(
        {
            "type": "message",
            "channel": chan,
            "user": "U0OPS",
            "text": "images",
            "ts": "1355517523.000005",
            "channel_type": "im",
        },
        "Ev" + uuid.uuid4().hex[:10],
    )
    [reply] = posts(slack, chan)
    assert reply.params["thread_ts"] == "1355517523.000005" and "image" in said(slack, reply)
    stack.event(
        {
            "type": "message",
            "channel": chan,
            "user": "U0OPS",
            "text": "rm",
            "ts": "1355517524.000001",
            "channel_type": "im",
        },
        "Ev" + uuid.uuid4().hex[:10],
    )
    refusal = posts(slack, chan, count=2)[1]
    assert refusal.params["thread_ts"] == "1355517524.000001" and "`rm` needs NAME_OR_ID" in refusal.params["text"]


def test_slack_not_configured_answers_503(stack_factory: StackFactory) -> None:
    """Without Slack credentials /slack/events answers 503 naming what to set; health still answers."""
    with stack_factory(StackOptions(db=2, env={"SLACK_BOT_TOKEN": "", "SLACK_SIGNING_SECRET": ""})) as bare:
        resp = bare.slash("list")
        assert resp.status_code == 503 and "SLACK_BOT_TOKEN" in resp.json()["error"]
        assert httpx.get(f"{bare.web_url}/healthz").json() == {"ok": True}


def test_replayed_slack_example_is_refused(stack: Stack, slack: FakeSlack) -> None:
    """Slack's published example, correctly signed but years old, is refused as a replay (401)."""
    from tests.test_slack_signature import BODY, SIGNATURE, TIMESTAMP

    resp = httpx.post(
        f"{stack.web_url}/slack/events",
        content=BODY.encode(),
        headers={
            "X-Slack-Request-Timestamp": TIMESTAMP,
            "X-Slack-Signature": SIGNATURE,
            "Content-Type": "application/x-www-form-urlencoded",
        },
    )
    assert resp.status_code == 401


def test_lifecycle_inspect_and_hosts_through_slack(
    stack: Stack, slack: FakeSlack, docker_cleanup: docker.DockerClient, test_image: str
) -> None:
    """stop, start, restart, inspect (secrets masked) and hosts each post their result in the channel."""
    chan, name = channel(), f"dvtest-{uuid.uuid4().hex[:8]}"
    stack.slash(
        f"run {test_image} --name {name} -e API_TOKEN=hunter2 -e MODE=demo "
        "-- sh -c 'trap \"exit 0\" TERM; sleep 300 & wait'",
        channel=chan,
    )
    posts(slack, chan)
    steps = [
        (f"stop {name}", f"Stopped `{name}`", "exited"),
        (f"start {name}", f"Started `{name}`", "running"),
        (f"restart {name}", f"Restarted `{name}`", "running"),
    ]
    for i, (text, expected, state) in enumerate(steps, start=2):
        stack.slash(text, channel=chan)
        assert expected in said(slack, posts(slack, chan, count=i)[-1])
        assert docker_cleanup.containers.get(name).status == state
    stack.slash(f"inspect {name}", channel=chan)
    shown = said(slack, posts(slack, chan, count=5)[-1])
    assert "API_TOKEN=••••" in shown and "hunter2" not in shown and "MODE=demo" in shown
    stack.slash("hosts", channel=chan)
    hosts = said(slack, posts(slack, chan, count=6)[-1])
    assert "1 Docker host served" in hosts and "\nlocal " in hosts and "20.10" in hosts


def test_list_as_block_kit_with_buttons_and_pages(
    stack: Stack, slack: FakeSlack, docker_cleanup: docker.DockerClient, test_image: str
) -> None:
    """list renders rows with buttons within Slack's limits, 20 a page with a Next button; the buttons run
    the command as the clicker, in the list's thread."""
    from slack_sdk.models.blocks import Block

    prefix = f"dvtest-{uuid.uuid4().hex[:6]}"
    for i in range(22):
        docker_cleanup.containers.create(test_image, ["true"], name=f"{prefix}-{i:02d}", labels={TEST_LABEL: SESSION})
    chan = channel()
    stack.slash(
        f"run {test_image} --name {prefix}-0live -- sh -c 'trap \"exit 0\" TERM; sleep 300 & wait'", channel=chan
    )
    posts(slack, chan)
    stack.slash(f"list --all {prefix}", channel=chan)
    listing = posts(slack, chan, count=2)[1]
    blocks = listing.json_param("blocks")
    assert len(blocks) <= 50 and all(Block.parse(b).to_dict() for b in blocks)  # the models enforce Slack's lengths
    assert "23 containers matching" in said(slack, listing) and "page 1 of 2" in said(slack, listing)
    live = next(b for b in blocks if b.get("block_id", "").startswith("row-") and "-0live*" in b["text"]["text"])
    buttons = next(b for b in blocks if b.get("block_id") == live["block_id"].replace("row-", "buttons-"))["elements"]
    assert [b["text"]["text"] for b in buttons] == ["Logs", "Restart", "Stop", "Remove"]
    assert all("confirm" in b for b in buttons[1:]) and "confirm" not in buttons[0]

    [more] = next(b for b in blocks if b.get("block_id") == "more")["elements"]
    stack.click(
        more["action_id"], more["value"], slack.response_url("m"), channel=chan, message_ts=listing.response["ts"]
    )
    page2 = posts(slack, chan, count=3)[2]
    assert page2.params["thread_ts"] == listing.response["ts"] and "page 2 of 2" in said(slack, page2)

    stop = next(b for b in buttons if b["text"]["text"] == "Stop")
    stack.click(
        stop["action_id"],
        stop["value"],
        slack.response_url("s"),
        user="U0OPS",
        channel=chan,
        message_ts=listing.response["ts"],
    )
    stopped = posts(slack, chan, count=4)[3]
    assert f"Stopped `{prefix}-0live`" in said(slack, stopped) and stopped.params["thread_ts"] == listing.response["ts"]
    assert "<@U0OPS>" in said(slack, stopped)
    viewer = next(b for b in buttons if b["text"]["text"] == "Remove")
    stack.click(viewer["action_id"], viewer["value"], slack.response_url("v"), user="U0NOBODY", channel=chan)
    refused = slack.wait_for("response_url", lambda c: c.params.get("_name") == "v")[0]
    assert "Not allowed: `rm`" in refused.params["text"]  # the clicker's own permissions
