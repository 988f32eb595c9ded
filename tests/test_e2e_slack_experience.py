"""The Slack experience end to end: follows into threads (batched, with a Stop button), pull progress
from a real registry, messages edited in place, and Slack's 429s waited out with nothing lost or doubled."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import docker
import pytest

from bot.core import commands as c
from bot.core.policy import Actor
from bot.wire.payload import ReplyTo, new_payload
from tests.support.fakeslack import Call, FakeSlack
from tests.support.services import MANAGED, SESSION, TEST_LABEL, Registry
from tests.support.stack import Stack
from tests.support.stack_factory import StackOptions
from workers.slack.render import Outcome
from workers.slack.reply import SlackReplier

pytestmark = pytest.mark.e2e
CHATTY = "i=0; while true; do i=$((i+1)); echo tick$i; usleep 50000; done"


STACK = StackOptions(db=8)  # web and the real `dockerverse worker` (quick and stream lanes)


def in_channel(slack: FakeSlack, chan: str, method: str | None = None) -> list[Call]:
    return [c for c in slack.calls(method) if c.params.get("channel") == chan and c.status == 200]


def test_follow_streams_into_the_thread_batched_until_stop(
    stack: Stack, slack: FakeSlack, docker_cleanup: docker.DockerClient, test_image: str
) -> None:
    """`logs --follow` posts a root with a Stop button, fills thread messages at most about once a second,
    and ends when Stop is pressed, saying so."""
    box = docker_cleanup.containers.run(
        test_image, ["sh", "-c", CHATTY], detach=True, labels={TEST_LABEL: SESSION, **MANAGED}
    )
    chan = "C" + uuid.uuid4().hex[:10].upper()
    started = time.monotonic()
    stack.slash(f"logs {box.name} --follow 1m --tail 1", channel=chan)
    root = slack.wait_for("chat.postMessage", lambda x: x.params.get("channel") == chan, timeout=20)[0]
    [actions] = [b for b in root.json_param("blocks") if b["type"] == "actions"]
    stop = actions["elements"][0]
    assert stop["text"]["text"] == "Stop" and "Following" in root.params["text"]
    time.sleep(4)
    stack.click(stop["action_id"], stop["value"], slack.response_url("stop"), channel=chan)
    final = slack.wait_for(
        "chat.update",
        lambda x: (
            x.params.get("channel") == chan
            and x.params.get("ts") == root.response["ts"]
            and "Followed" in x.params.get("text", "")
        ),
        timeout=20,
    )[0]
    elapsed = time.monotonic() - started
    assert "ended because Stop was pressed" in final.params["text"]

    thread = [
        x
        for x in in_channel(slack, chan)
        if x.method in ("chat.postMessage", "chat.update")
        and (x.params.get("thread_ts") == root.response["ts"] or x.params.get("ts") != root.response["ts"])
        and x is not root
    ]
    lines = [line for x in thread for line in x.params["text"].strip("`\n").splitlines()]
    ticks = [int(line.removeprefix("tick")) for line in lines if line.startswith("tick")]
    assert len(set(ticks)) >= 40  # ~20 lines a second for several seconds reached the thread
    assert len(thread) <= elapsed + 3  # batched: about one post or edit a second, not one per line


def test_pull_from_a_registry_reports_progress_and_the_digest(
    stack: Stack, slack: FakeSlack, docker_registry: Registry, test_image: str, docker_cleanup: docker.DockerClient
) -> None:
    """pull from a real (local) registry ends with the digest; a missing tag is reported plainly."""
    remote = f"{docker_registry.url}/dockerverse-test/busybox"
    docker_cleanup.api.tag(test_image, remote, "slack")
    docker_registry.push(docker_cleanup, f"{remote}:slack")
    docker_cleanup.api.remove_image(f"{remote}:slack")
    chan = "C" + uuid.uuid4().hex[:10].upper()
    stack.slash(f"pull {remote}:slack", channel=chan)
    done = slack.wait_for(
        "chat.postMessage", lambda x: x.params.get("channel") == chan and "Pulled" in json.dumps(x.params), timeout=30
    )[0]
    assert f"{remote}@sha256:" in json.dumps(done.params)
    stack.slash(f"pull {remote}:nope", channel=chan)
    missing = slack.wait_for(
        "chat.postMessage", lambda x: x.params.get("channel") == chan and "❌" in x.params.get("text", ""), timeout=30
    )[0]
    assert "nope" in missing.params["text"]


def test_slow_jobs_show_running_then_are_edited_in_place_through_429s(slack: FakeSlack) -> None:
    """A job over a second posts "running", shows throttled progress, and its result edits that message;
    429s with Retry-After on both calls are waited out: each message arrives once."""
    payload = new_payload(
        uuid.uuid4().hex, "pull busybox", c.Pull(image="busybox"), Actor("U1", "slash", "C1"), ReplyTo("C1"), "local"
    )
    slack.fail_next("chat.postMessage", status=429, retry_after=1)
    slack.fail_next("chat.update", status=429, retry_after=1)
    session = SlackReplier("xoxb-test", slack.url).session(payload)
    session.start()
    time.sleep(1.5)  # past the one-second mark: the running message appears
    for i in range(20):
        session.progress(f"Pulling: {i} of 20 layers")
    delivery = session.finish(Outcome(True, "Pulled `busybox` on `local`", "Digest: `sha256:abc`"), 2.5)
    posts = slack.calls("chat.postMessage")
    updates = slack.calls("chat.update")
    assert [p.status for p in posts] == [429, 200]  # one root, posted once after the wait
    assert delivery["ok"] and all(u.params["ts"] == delivery["ts"] for u in updates)
    assert updates[0].status == 429 and len([u for u in updates if u.status == 200]) <= 3
    assert "Pulled `busybox`" in updates[-1].params["text"] and updates[-1].status == 200


def blocks_text(call: Call) -> str:
    blocks: list[dict[str, Any]] = call.json_param("blocks") or []
    return " ".join(b["text"]["text"] for b in blocks if "text" in b)
