"""The App Home, end to end: signed app_home_opened events to a real `dockerverse web`, the fleet from a
`list --all --all-hosts` job run by a real worker against dockerd, views.publish to the fake Slack.

The module's web refreshes a Home at most every 60 s (DOCKERVERSE_HOME_REFRESH), so what is cached
and what is asked again does not depend on how fast this machine is. Views are checked with
slack_sdk's View model.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Callable
from typing import Any

import docker
import httpx
import pytest
import redis
from docker.models.containers import Container
from slack_sdk.models.views import View

from bot.web.home_feed import FLEET_COMMAND, FLEET_KEY
from tests.support.fakeslack import Call, FakeSlack
from tests.support.services import MANAGED, SESSION, TEST_LABEL, RedisServer, free_port
from tests.support.stack import API_TOKEN, SIGNING_SECRET, Stack, slack_signature
from tests.support.stack_factory import StackOptions

pytestmark = pytest.mark.e2e
DB = 13


STACK = StackOptions(db=DB, env={"DOCKERVERSE_HOME_REFRESH": "60"})


@pytest.fixture
def fresh_fleet(redis_server: RedisServer) -> None:
    """Forget the cached fleet, so this test's containers are asked for."""
    with redis.Redis.from_url(redis_server.url_for(DB)) as conn:
        conn.delete(FLEET_KEY)


def someone() -> str:
    return "U" + uuid.uuid4().hex[:10].upper()


def open_home(stack: Stack, user: str) -> None:
    event = {"type": "app_home_opened", "user": user, "channel": "D0LAN2Q65", "tab": "home", "event_ts": "1.2"}
    assert stack.event(event, "Ev" + uuid.uuid4().hex[:10].upper()).status_code == 200


def published(slack: FakeSlack, user: str, count: int = 1) -> list[dict[str, Any]]:
    calls = slack.wait_for("views.publish", lambda c: c.params.get("user_id") == user, count=count, timeout=60)
    views = [c.json_param("view") for c in calls]
    for view in views:
        assert View(**view).to_dict() == view  # every field known to slack_sdk, every block valid
        assert view["type"] == "home" and len(view["blocks"]) <= 100
    return views


def sections(view: dict[str, Any]) -> list[str]:
    return [b["text"]["text"] for b in view["blocks"] if b["type"] == "section"]


def row(view: dict[str, Any], name: str) -> tuple[str, list[str]]:
    """The attention row of a container, and the action ids of the buttons under it."""
    blocks = view["blocks"]
    i = next(i for i, b in enumerate(blocks) if b["type"] == "section" and f"*{name}* on" in b["text"]["text"])
    after = blocks[i + 1] if i + 1 < len(blocks) else {}
    ids = [e["action_id"] for e in after.get("elements", [])] if after.get("type") == "actions" else []
    return blocks[i]["text"]["text"], ids


def wait_docker(container: Container, done: Callable[[dict[str, Any]], bool], what: str) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        container.reload()
        if done(container.attrs["State"]):
            return
        time.sleep(0.3)
    raise AssertionError(f"{container.name} never became {what}: {container.attrs['State']}")


def audit(stack: Stack) -> list[dict[str, Any]]:
    resp = stack.http.get(f"{stack.web_url}/api/audit?limit=200", headers={"Authorization": f"Bearer {API_TOKEN}"})
    entries: list[dict[str, Any]] = resp.json()["entries"]
    return entries


def home_click(stack: Stack, user: str, action_id: str, value: dict[str, Any]) -> httpx.Response:
    """A button pressed in the App Home: a block_actions payload whose container is the view."""
    where = {
        "container": {"type": "view", "view_id": "V0HOME0001"},
        "view": {"id": "V0HOME0001", "type": "home", "blocks": []},
    }
    return stack.block_actions(user, {"action_id": action_id, "value": json.dumps(value), "action_ts": "1.2"}, where)


def test_home_shows_hosts_and_what_needs_attention_with_each_persons_buttons(
    stack: Stack, slack: FakeSlack, fresh_fleet: None, docker_cleanup: docker.DockerClient, test_image: str
) -> None:
    """Per host the containers by state; exited non-zero, unhealthy and restarting ones as rows with the
    buttons the viewer may use; the fleet is asked for once (one job) for everyone who opens it meanwhile."""
    tag = uuid.uuid4().hex[:6]
    run = docker_cleanup.containers.run
    labels = {TEST_LABEL: SESSION}
    run(test_image, ["sleep", "300"], name=f"dvh-fine-{tag}", detach=True, labels=labels)
    crashed = run(test_image, ["sh", "-c", "exit 3"], name=f"dvh-crashed-{tag}", detach=True, labels=labels)
    sick = run(
        test_image,
        ["sleep", "300"],
        name=f"dvh-sick-{tag}",
        detach=True,
        labels=labels,
        healthcheck={"test": ["CMD", "/bin/sh", "-c", "exit 1"], "interval": 300_000_000, "retries": 1},
    )
    looping = run(
        test_image,
        ["sh", "-c", "exit 1"],
        name=f"dvh-looping-{tag}",
        detach=True,
        labels=labels,
        restart_policy={"Name": "always"},
    )
    wait_docker(crashed, lambda s: s["Status"] == "exited", "exited")
    wait_docker(sick, lambda s: s.get("Health", {}).get("Status") == "unhealthy", "unhealthy")
    # Docker doubles the pause between restarts: after a few, the container is restarting nearly all the time.
    wait_docker(looping, lambda s: s["Restarting"] and looping.attrs["RestartCount"] >= 5, "restarting for long")
    started = time.time()

    operator = published_home(stack, slack, "U0OPS")
    shown = "\n".join(sections(operator))
    # The home counts every container on the daemon: other test sessions may have some running meanwhile.
    tally = re.search(r"\*local\*  ⚫ (\d+) exited · 🔁 (\d+) restarting · 🟢 (\d+) running", shown)
    assert tally, shown
    exited, restarting, running = (int(n) for n in tally.groups())
    assert exited >= 1 and restarting >= 1 and running >= 2, shown
    text, ids = row(operator, f"dvh-crashed-{tag}")
    assert "exited with code 3" in text
    assert ids == ["dockerverse_btn_logs", "dockerverse_btn_start", "dockerverse_btn_remove"]
    text, ids = row(operator, f"dvh-sick-{tag}")
    assert "unhealthy" in text and "dockerverse_btn_restart" in ids and "dockerverse_btn_stop" in ids
    assert "restarting" in row(operator, f"dvh-looping-{tag}")[0]
    assert f"dvh-fine-{tag}" not in shown

    reader = published_home(stack, slack, someone())
    assert row(reader, f"dvh-crashed-{tag}")[1] == ["dockerverse_btn_logs"]
    asked = [e for e in audit(stack) if e["command"] == FLEET_COMMAND and e["at"] >= started]
    assert len(asked) == 1 and asked[0]["actor"] == "U0OPS" and asked[0]["origin"] == "home", asked


def published_home(stack: Stack, slack: FakeSlack, user: str) -> dict[str, Any]:
    open_home(stack, user)
    [view] = published(slack, user)
    return view


def test_opening_again_within_the_refresh_interval_publishes_nothing_new(stack: Stack, slack: FakeSlack) -> None:
    """However often a person opens the tab, their Home is rebuilt at most once per DOCKERVERSE_HOME_REFRESH."""
    open_home(stack, "U0ADMIN")
    open_home(stack, "U0ADMIN")
    home_click(stack, "U0ADMIN", "dockerverse_home_refresh", {})
    other = someone()
    published_home(stack, slack, other)  # events are decided in order: the admin's are settled by now
    published(slack, "U0ADMIN")
    assert len(slack.calls("views.publish")) == 2


def test_home_lists_the_viewers_last_jobs_with_their_outcomes(stack: Stack, slack: FakeSlack) -> None:
    """The viewer's own recent commands, newest first, with what became of them; others' are not shown."""
    user, chan = someone(), "C" + uuid.uuid4().hex[:10].upper()
    stack.slash("images", user=user, channel=chan)
    assert "Not allowed" in stack.slash("rm nothing-here", user=user, channel=chan).json()["text"]
    stack.slash("help", user="U0OPS", channel=chan)
    deadline = time.monotonic() + 60
    while not any(e["actor"] == user and e["outcome"] == "finished" for e in audit(stack)):
        assert time.monotonic() < deadline, audit(stack)[:5]
        time.sleep(0.2)
    view = published_home(stack, slack, user)
    jobs = next(s for s in sections(view) if "`images`" in s).splitlines()
    assert jobs[0].startswith("❌ `rm nothing-here`: Not allowed: `rm`")
    assert jobs[1].startswith("✅ `images`: finished")
    assert len(jobs) == 2 and "help" not in "\n".join(jobs)


def test_home_buttons_run_as_the_clicker_and_answer_in_their_dm(
    stack: Stack, slack: FakeSlack, docker_cleanup: docker.DockerClient, test_image: str
) -> None:
    """A Home has no channel: a click's result goes to the person's DM with the app, and a refusal too."""
    name, user = f"dvh-bye-{uuid.uuid4().hex[:6]}", someone()
    gone = docker_cleanup.containers.run(
        test_image,
        ["sh", "-c", "echo bye-from-home; exit 2"],
        name=name,
        detach=True,
        labels={TEST_LABEL: SESSION, **MANAGED},  # one the bot runs: a viewer may read its logs
    )
    wait_docker(gone, lambda s: s["Status"] == "exited", "exited")
    assert home_click(stack, user, "dockerverse_btn_logs", {"name": name, "host": "local"}).status_code == 200
    slack.wait_for(
        "chat.postMessage", lambda c: c.params.get("channel") == user and "bye-from-home" in text_of(c), timeout=60
    )
    assert home_click(stack, user, "dockerverse_btn_start", {"name": name, "host": "local"}).status_code == 200
    [refusal] = slack.wait_for(
        "chat.postMessage", lambda c: c.params.get("channel") == user and "Not allowed" in text_of(c), timeout=60
    )
    assert "`start" in text_of(refusal) and "operator" in text_of(refusal)
    gone.reload()
    assert gone.status == "exited"


def test_a_stop_pressed_on_the_home_shows_there_once_done(
    stack: Stack, slack: FakeSlack, docker_cleanup: docker.DockerClient, test_image: str
) -> None:
    """The Home is published again after a Stop from it, from a fresh fleet (even within the module's 60 s
    refresh interval): the container that was running now shows among those needing attention, without
    the person pressing Refresh."""
    name = f"dvh-stopme-{uuid.uuid4().hex[:6]}"
    script = "trap 'exit 3' TERM; sleep 300 & wait"  # a stop ends it at once, with a code worth a row
    running = docker_cleanup.containers.run(
        test_image, ["sh", "-c", script], name=name, detach=True, labels={TEST_LABEL: SESSION}
    )
    wait_docker(running, lambda s: s["Status"] == "running", "running")
    assert home_click(stack, "U0ADMIN", "dockerverse_btn_stop", {"name": name, "host": "local"}).status_code == 200
    after = published(slack, "U0ADMIN")[-1]
    wait_docker(running, lambda s: s["Status"] == "exited", "exited")
    text, _ = row(after, name)
    assert "3" in text, text


def text_of(call: Call) -> str:
    blocks: list[dict[str, Any]] = call.json_param("blocks") or []
    return "\n".join([str(call.params.get("text", ""))] + [json.dumps(b, ensure_ascii=False) for b in blocks])


def test_home_says_so_when_redis_is_down(stack: Stack, slack: FakeSlack, tmp_path: Any) -> None:
    """With the queue unreachable, the Home still opens and says what is wrong instead of a fleet."""
    port = free_port()
    proc = stack.spawn(
        tmp_path / "web-noredis.log", "web", "--port", str(port), env={"REDIS_URL": "redis://127.0.0.1:1/0"}
    )
    try:
        user = someone()
        body = json.dumps(
            {
                "type": "event_callback",
                "event_id": "Ev" + uuid.uuid4().hex[:10].upper(),
                "event": {"type": "app_home_opened", "user": user, "channel": "D1", "tab": "home", "event_ts": "1.2"},
            }
        ).encode()
        deadline = time.monotonic() + 30
        while True:
            ts = str(int(time.time()))
            headers = {
                "X-Slack-Request-Timestamp": ts,
                "X-Slack-Signature": slack_signature(SIGNING_SECRET, ts, body),
                "Content-Type": "application/json",
            }
            try:
                resp = httpx.post(f"http://127.0.0.1:{port}/slack/events", content=body, headers=headers, timeout=5)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline and proc.poll() is None
                time.sleep(0.2)
        assert resp.status_code == 200
        [view] = published(slack, user)
        assert "Redis cannot be reached" in json.dumps(view, ensure_ascii=False)
    finally:
        proc.terminate()
        proc.wait(15)
