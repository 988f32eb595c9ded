"""A fleet of named hosts (alpha, beta) with no default host and no host called `local`: questions about
every host just work, and a host whose workers are killed is down within seconds, said everywhere."""

from __future__ import annotations

import json
import time
import uuid

import pytest
import redis

from tests.support.fakeslack import Call, FakeSlack
from tests.support.services import RedisServer
from tests.support.stack import Stack
from tests.support.stack_factory import StackOptions

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

DB = 13
ALERTS = "C0HOSTS"
DOWN_AFTER = 10.0
NOTIFY = f"""
notify:
  - channel: {ALERTS}
    events: [host_down]
"""


# Web (DOCKERVERSE_HOST_NAME left `local`, no default_host) and `dockerverse worker` for alpha and beta.
STACK = StackOptions(
    db=DB,
    workers=0,
    policy_extra=NOTIFY,
    hosts=("alpha", "beta"),
    env={"DOCKERVERSE_STREAM_WORKERS": "1", "DOCKERVERSE_DOWN_AFTER": f"{DOWN_AFTER:g}"},
)


def alert(slack: FakeSlack, words: str, timeout: float = 20.0) -> list[Call]:
    def wanted(call: Call) -> bool:
        return call.params.get("channel") == ALERTS and words in call.params["text"]

    return slack.wait_for("chat.postMessage", wanted, timeout=timeout)


def home_of(stack: Stack, slack: FakeSlack) -> str:
    """Open the App Home as a new viewer; the text of the view published for them."""
    user = "U" + uuid.uuid4().hex[:8].upper()
    event = {"type": "app_home_opened", "user": user, "channel": "D0LAN2Q65", "tab": "home", "event_ts": "1.2"}
    assert stack.event(event, "Ev" + uuid.uuid4().hex[:10].upper()).status_code == 200
    [call] = slack.wait_for("views.publish", lambda c: c.params.get("user_id") == user, timeout=60)
    return json.dumps(call.json_param("view"), ensure_ascii=False)


def test_fleet_questions_need_no_default_host(stack: Stack, slack_server: FakeSlack) -> None:
    """`hosts`, `list --all --all-hosts` and the App Home's fleet answer with any host names and no default;
    `list` alone asks for --host."""
    hosts = stack.shell("hosts")
    assert hosts.returncode == 0 and "2 Docker hosts served" in hosts.stdout, hosts.stdout + hosts.stderr
    assert all(any(line.startswith(h) for line in hosts.stdout.splitlines()) for h in ("alpha", "beta"))
    listed = stack.shell("list --all --all-hosts")
    assert listed.returncode == 0 and " on 2 hosts." in listed.stdout, listed.stdout + listed.stderr
    aimed = stack.shell("list")
    assert aimed.returncode == 1 and "none is the default: add --host H" in aimed.stdout
    home = home_of(stack, slack_server)
    assert "*alpha*" in home and "*beta*" in home and "could not be refreshed" not in home, home


def test_a_killed_host_is_down_within_seconds_refused_at_once_and_announced(
    stack: Stack, slack_server: FakeSlack, redis_server: RedisServer
) -> None:
    """After beta's workers are SIGKILLed: within DOCKERVERSE_DOWN_AFTER its commands are refused at once
    saying when it was last seen (nothing queued), `hosts` lists it down, the alerts channel is told,
    and told again when it is back."""
    stack.kill(stack.hosts["beta"])
    killed = time.monotonic()
    chan = "C" + uuid.uuid4().hex[:8].upper()
    answer = stack.slash("list --host beta", channel=chan).json()["text"]
    while "is down" not in answer and time.monotonic() - killed < DOWN_AFTER + 10:
        time.sleep(0.5)  # (until then each one is queued, and ends unrun at its deadline)
        answer = stack.slash("list --host beta", channel=chan).json()["text"]
    took = time.monotonic() - killed
    assert "Docker host `beta` is down" in answer and "last seen" in answer and "Nothing was queued" in answer
    assert took <= DOWN_AFTER + 0.5, f"refused only {took:.1f} s after the kill"  # (+ the 0.5 s poll)
    with redis.Redis.from_url(redis_server.url_for(DB)) as conn:
        queued = conn.llen("rq:queue:dockerverse:beta")
        started = time.monotonic()
        again = stack.slash("list --host beta", channel=chan).json()["text"]
        assert "is down" in again and time.monotonic() - started < 1.0
        assert conn.llen("rq:queue:dockerverse:beta") == queued

    hosts = stack.shell("hosts").stdout
    assert "1 Docker host served; 1 down" in hosts and "beta (last seen" in hosts, hosts
    assert any(line.startswith("beta") and "DOWN" in line for line in hosts.splitlines()), hosts
    started = time.monotonic()
    listed = stack.shell("list --all --all-hosts").stdout
    assert "on 1 hosts." in listed and "Down: beta (last seen" in listed, listed
    assert time.monotonic() - started < 10  # beta is not waited for (a fan-out part waits up to 20 s)
    [down] = alert(slack_server, "Docker host `beta` is down")
    assert "last seen" in down.params["text"]
    assert "Down (workers stopped beating): `beta` (last seen" in home_of(stack, slack_server)

    stack.hosts["beta"] = stack.spawn(
        stack.logs[0].parent / "worker-beta-2.log", "worker", "--docker-host-name", "beta"
    )
    alert(slack_server, "Docker host `beta` is back up", timeout=40)
    deadline = time.monotonic() + 10
    while "queued as job" not in (text := stack.slash("list --host beta", channel=chan).json()["text"]):
        assert time.monotonic() < deadline, text
        time.sleep(0.25)
    assert len(alert(slack_server, "Docker host `beta` is down")) == 1  # told once per outage
