"""Event alerts end to end: two real `dockerverse worker` supervisors (so two watchers compete for the
host) on a real dockerd, reached through a relay the tests can cut, posting to the fake Slack.

Docker's events reach the one watcher in order, so "nothing was posted about X" is checked after a
later container's alert has arrived (a sentinel), never by waiting a while.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import docker
import pytest
import redis
from docker.models.containers import Container

from bot.core.notify import watcher_key
from tests.support import recorder
from tests.support.fakeslack import Call, FakeSlack
from tests.support.relay import DockerRelay
from tests.support.services import MANAGED, SESSION, TEST_LABEL, RedisServer
from tests.support.stack import ROOT, Stack
from tests.support.stack_factory import StackFactory, StackOptions

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
DB = 12
ALERTS, PAYMENTS, SEARCH = "C0ALERTS", "C0PAYMENTS", "C0SEARCH"
NOTIFY = f"""
notify:
  - channel: {ALERTS}
    events: [die, oom, unhealthy, restart_loop]
    containers: ["dvn-*"]
    restart_loop: {{count: 3, minutes: 0.25}}
  - channel: {PAYMENTS}
    events: [die]
    labels: {{team: payments}}
  - channel: {SEARCH}
    events: [die]
    containers: ["dvn-*"]
    labels: ["team=search", "tier"]
"""
WAIT = 60.0  # generous: the machine is shared


@pytest.fixture(scope="module")
def relay(tmp_path_factory: pytest.TempPathFactory, docker_engine: docker.DockerClient) -> Iterator[DockerRelay]:
    # In front of the recording proxy when there is one, so the watcher's calls are checked too.
    proxy = recorder.ACTIVE
    host = proxy.unix_url if proxy else os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
    assert host.startswith("unix://"), f"the relay needs a unix-socket daemon, not {host}"
    running = DockerRelay(Path(tmp_path_factory.mktemp("relay")) / "docker.sock", host.removeprefix("unix://"))
    yield running
    running.close()


STACK = StackOptions(db=DB, workers=2, policy_extra=NOTIFY)


@pytest.fixture(scope="module")
def stack(stack_factory: StackFactory, slack_server: FakeSlack, relay: DockerRelay, test_image: str) -> Iterator[Stack]:
    """Web and two worker supervisors, whose Docker is the relay; ready once a first alert arrives."""
    with stack_factory(STACK, DOCKER_HOST=relay.url) as running, contextlib.closing(docker.from_env()) as client:
        # The watcher reads events from when it connects: prove it is connected before the tests begin.
        name = f"dvn-warmup-{uuid.uuid4().hex[:6]}"
        client.containers.run(test_image, ["sh", "-c", "exit 5"], name=name, detach=True, labels={TEST_LABEL: SESSION})
        try:
            slack_server.wait_for("chat.postMessage", lambda c: _about(c, ALERTS, name), timeout=WAIT)
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{running.dump_logs()}") from None
        yield running


def _about(call: Call, channel: str, name: str) -> bool:
    return call.status == 200 and call.params.get("channel") == channel and f"{name} " in call.params.get("text", "")


def roots(slack: FakeSlack, channel: str, name: str) -> list[Call]:
    """Messages in the channel itself (not in a thread) about this container."""
    return [c for c in slack.calls("chat.postMessage") if _about(c, channel, name) and not c.params.get("thread_ts")]


def thread(slack: FakeSlack, channel: str, ts: str) -> list[Call]:
    return [
        c
        for c in slack.calls("chat.postMessage")
        if c.params.get("channel") == channel and c.params.get("thread_ts") == ts and c.status == 200
    ]


def mentions(slack: FakeSlack, name: str) -> list[Call]:
    return [c for c in slack.calls() if name in json.dumps(c.params)]


def wait_root(slack: FakeSlack, channel: str, name: str) -> Call:
    return slack.wait_for(
        "chat.postMessage", lambda c: _about(c, channel, name) and not c.params.get("thread_ts"), timeout=WAIT
    )[0]


def start(client: docker.DockerClient, image: str, name: str, script: str, **kwargs: Any) -> Container:
    labels = {TEST_LABEL: SESSION, **kwargs.pop("labels", {})}
    return client.containers.run(image, ["sh", "-c", script], name=name, detach=True, labels=labels, **kwargs)


def sentinel(slack: FakeSlack, client: docker.DockerClient, image: str) -> None:
    """A container that exits 3, and its alert: every Docker event before it has been handled."""
    name = f"dvn-sentinel-{uuid.uuid4().hex[:6]}"
    start(client, image, name, "exit 3")
    slack.wait_for("chat.postMessage", lambda c: _about(c, ALERTS, name), timeout=WAIT)


def eventually(check: Callable[[], bool], what: str, timeout: float = WAIT) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"no {what} within {timeout}s"
        time.sleep(0.2)


def restarts(box: Container) -> int:
    box.reload()
    return int(box.attrs["RestartCount"])


@pytest.fixture
def names() -> Iterator[str]:
    yield uuid.uuid4().hex[:6]


def test_nonzero_exit_posts_code_runtime_logs_and_buttons_once(
    stack: Stack, slack: FakeSlack, docker_cleanup: docker.DockerClient, test_image: str, names: str
) -> None:
    """A container exiting 3 is posted once: name, image, exit code, how long it ran, its last log lines in
    the thread, and Logs and Restart buttons whose clicks run as the clicker; a clean exit is not posted."""
    clean, failing = f"dvn-clean-{names}", f"dvn-exit3-{names}"
    start(docker_cleanup, test_image, clean, "echo all done")
    script = "echo starting up; echo cannot open /data/db >&2; sleep 2; exit 3"
    start(docker_cleanup, test_image, failing, script, labels=MANAGED)  # one the bot runs: viewers read its logs

    root = slack.wait_for("chat.postMessage", lambda c: _about(c, ALERTS, failing), timeout=WAIT)[0]
    assert root.params["text"] == f"🔴 {failing} died on local with exit code 3"
    section, context, actions = root.json_param("blocks")
    assert f"Image `{test_image}`" in section["text"]["text"]
    assert re.search(r"ran for [12]s", section["text"]["text"])  # it slept 2 s; Docker's clock starts a little late
    assert "host `local`" in context["elements"][0]["text"]
    assert [b["action_id"] for b in actions["elements"]] == ["dockerverse_btn_logs", "dockerverse_btn_restart"]
    assert all(json.loads(b["value"]) == {"name": failing, "host": "local"} for b in actions["elements"])
    ts = root.response["ts"]
    logs = slack.wait_for("chat.postMessage", lambda c: c.params.get("thread_ts") == ts, timeout=WAIT)[0]
    assert "starting up" in logs.params["text"] and "cannot open /data/db" in logs.params["text"]

    logs_button = actions["elements"][0]
    stack.click(logs_button["action_id"], logs_button["value"], slack.response_url(), channel=ALERTS, message_ts=ts)
    answer = slack.wait_for(
        "chat.postMessage", lambda c: c.params.get("thread_ts") == ts and "log lines from" in c.params["text"]
    )[0]
    assert failing in answer.params["text"]

    assert len(roots(slack, ALERTS, failing)) == 1
    assert mentions(slack, clean) == []
    assert roots(slack, PAYMENTS, failing) == [] and roots(slack, SEARCH, failing) == []


def test_labels_and_name_globs_pick_the_channels(
    stack: Stack, slack: FakeSlack, docker_cleanup: docker.DockerClient, test_image: str, names: str
) -> None:
    """`labels:` as a mapping or as key=value / key strings, with `containers:` globs, route each alert."""
    pay, search, tagged = f"pay-{names}", f"dvn-search-{names}", f"dvn-search-tier-{names}"
    start(docker_cleanup, test_image, pay, "exit 2", labels={"team": "payments"})
    start(docker_cleanup, test_image, search, "exit 2", labels={"team": "search"})
    start(docker_cleanup, test_image, tagged, "exit 2", labels={"team": "search", "tier": "web"})

    wait_root(slack, PAYMENTS, pay)
    wait_root(slack, SEARCH, tagged)
    wait_root(slack, ALERTS, tagged)
    wait_root(slack, ALERTS, search)
    sentinel(slack, docker_cleanup, test_image)
    assert roots(slack, ALERTS, pay) == []  # its name is not dvn-*
    assert roots(slack, SEARCH, search) == []  # no `tier` label
    assert [len(roots(slack, c, n)) for c, n in ((PAYMENTS, pay), (SEARCH, tagged), (ALERTS, tagged))] == [1, 1, 1]


def test_oom_kill_is_said_plainly_with_the_memory_limit(
    stack: Stack, slack: FakeSlack, docker_cleanup: docker.DockerClient, test_image: str, names: str
) -> None:
    """A container filling its 16m of memory: one alert saying out of memory and the limit; the exit in its
    thread, not as a second alert."""
    name = f"dvn-oom-{names}"
    box = start(docker_cleanup, test_image, name, "tail /dev/zero", mem_limit="16m", memswap_limit="16m")
    root = wait_root(slack, ALERTS, name)
    assert "ran out of memory" in root.params["text"] and "memory limit 16m" in root.params["text"]
    assert "Out of memory" in root.json_param("blocks")[0]["text"]["text"]
    note = slack.wait_for(
        "chat.postMessage",
        lambda c: c.params.get("thread_ts") == root.response["ts"] and "exited with" in c.params["text"],
        timeout=WAIT,
    )[0]
    assert "exit code 137 (SIGKILL)" in note.params["text"]
    box.reload()
    assert box.attrs["State"]["OOMKilled"] is True
    sentinel(slack, docker_cleanup, test_image)
    assert len(roots(slack, ALERTS, name)) == 1


def test_restart_always_failing_at_once_is_one_alert(
    stack: Stack, slack: FakeSlack, docker_cleanup: docker.DockerClient, test_image: str, names: str
) -> None:
    """A `--restart always` container that fails at once, restarted again and again: one root message,
    edited into the restart-loop alert, and nothing more per restart."""
    name = f"dvn-loop-{names}"
    box = start(docker_cleanup, test_image, name, "echo boom; exit 1", restart_policy={"Name": "always"})
    root = wait_root(slack, ALERTS, name)
    ts = root.response["ts"]
    slack.wait_for(
        "chat.update",
        lambda c: c.params.get("ts") == ts and "is crash-looping" in c.params.get("text", ""),
        timeout=WAIT,
    )
    eventually(lambda: restarts(box) >= 6, "six restarts")  # Docker backs off: 100 ms, 200 ms, ... 6 s in all
    sentinel(slack, docker_cleanup, test_image)
    assert len(roots(slack, ALERTS, name)) == 1
    assert len(thread(slack, ALERTS, ts)) == 1  # its log lines, once
    [update] = [c for c in slack.calls("chat.update") if c.params.get("ts") == ts]
    assert "restarted 3 times in 15s" in update.params["text"]
    assert "Last exit code 1" in update.json_param("blocks")[0]["text"]["text"]


def test_restart_loop_that_recovers_gets_one_recovered_note(
    stack: Stack, slack: FakeSlack, docker_cleanup: docker.DockerClient, test_image: str, names: str
) -> None:
    """A container that fails four times and then stays up: one loop alert, then, once it has gone the
    rule's 15 s without a restart, one "recovered" note in its thread."""
    name = f"dvn-flaky-{names}"
    script = "n=$(cat /n 2>/dev/null || echo 0); n=$((n+1)); echo $n > /n; [ $n -ge 5 ] || exit 1; exec sleep 600"
    box = start(docker_cleanup, test_image, name, script, restart_policy={"Name": "always"})
    root = wait_root(slack, ALERTS, name)
    ts = root.response["ts"]
    note = slack.wait_for(
        "chat.postMessage", lambda c: c.params.get("thread_ts") == ts and "recovered" in c.params["text"], timeout=WAIT
    )[0]
    assert note.params["text"] == f"✅ `{name}` recovered: running, no restart for 15s."
    assert restarts(box) == 4 and box.status == "running"
    assert [c.params["text"] for c in slack.calls("chat.update") if c.params.get("ts") == ts] == [
        f"🔁 {name} is crash-looping on local: restarted 3 times in 15s"
    ]
    sentinel(slack, docker_cleanup, test_image)
    assert len(roots(slack, ALERTS, name)) == 1
    assert [c.params["text"] for c in thread(slack, ALERTS, ts)][1:] == [note.params["text"]]


def test_failing_health_check_is_posted_with_its_output_then_healthy_again(
    stack: Stack, slack: FakeSlack, docker_cleanup: docker.DockerClient, test_image: str, names: str
) -> None:
    """A health check that fails: one alert quoting its last output; once it passes, a note in the thread."""
    name = f"dvn-health-{names}"
    check = "[ -f /tmp/ok ] && echo fine || { echo db at 10.0.0.5:5432 refused the connection; false; }"
    box = start(
        docker_cleanup,
        test_image,
        name,
        "exec sleep 600",
        healthcheck={"test": ["CMD-SHELL", check], "interval": 1_000_000_000, "retries": 2},
    )
    root = wait_root(slack, ALERTS, name)
    assert "is unhealthy" in root.params["text"]
    body = root.json_param("blocks")[0]["text"]["text"]
    assert "db at 10.0.0.5:5432 refused the connection" in body and "failed 2 times in a row (exit code 1)" in body
    box.exec_run(["sh", "-c", "echo > /tmp/ok"])
    slack.wait_for(
        "chat.postMessage",
        lambda c: c.params.get("thread_ts") == root.response["ts"] and "healthy again" in c.params["text"],
        timeout=WAIT,
    )
    assert len(roots(slack, ALERTS, name)) == 1


def test_containers_the_bot_stops_restarts_or_removes_raise_no_alarm(
    stack: Stack, slack: FakeSlack, docker_cleanup: docker.DockerClient, test_image: str, names: str
) -> None:
    """stop, restart and rm --force through the bot make their containers exit 143, unreported; the same
    stop done outside the bot is reported."""
    script = "trap 'exit 143' TERM; while true; do sleep 1; done"
    stopped, restarted, removed, outside = (f"dvn-bot-{w}-{names}" for w in ("stop", "restart", "rm", "outside"))
    boxes = {n: start(docker_cleanup, test_image, n, script) for n in (stopped, restarted, removed, outside)}
    result = stack.shell(f"stop {stopped}", f"restart {restarted}", f"rm {removed} --force")
    assert result.returncode == 0, result.stdout + result.stderr
    boxes[outside].stop(timeout=10)
    root = wait_root(slack, ALERTS, outside)
    assert "exit code 143 (SIGTERM)" in root.params["text"]
    boxes[restarted].reload()
    assert boxes[restarted].status == "running" and boxes[stopped].wait()["StatusCode"] == 143
    sentinel(slack, docker_cleanup, test_image)
    assert [mentions(slack, n) for n in (stopped, restarted, removed)] == [[], [], []]


def test_watcher_reconnects_since_its_last_event(
    stack: Stack, slack: FakeSlack, relay: DockerRelay, docker_cleanup: docker.DockerClient, test_image: str, names: str
) -> None:
    """With the workers' Docker connection cut, a container dies; once Docker is reachable again the
    watcher resumes from its last event and posts that death, once."""
    name = f"dvn-meanwhile-{names}"
    relay.cut()
    try:
        relay.wait_refused(1, timeout=WAIT)  # the watcher noticed and is trying to come back
        box = start(docker_cleanup, test_image, name, "echo lonely; exit 4")
        assert box.wait()["StatusCode"] == 4
        assert mentions(slack, name) == []
    finally:
        relay.restore()
    root = wait_root(slack, ALERTS, name)
    assert "exit code 4" in root.params["text"]
    sentinel(slack, docker_cleanup, test_image)
    assert len(roots(slack, ALERTS, name)) == 1


def test_doctor_names_the_alert_channels_and_the_watching_worker(stack: Stack, redis_server: RedisServer) -> None:
    """`dockerverse doctor` lists each notify entry and which worker watches the host's events."""
    done = subprocess.run(
        [sys.executable, "-m", "bot.cli.main", "doctor"],
        env={**stack.env, "UNSET_HOOK_SECRET": "set-for-this-check"},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"✅ Alerts: {ALERTS} (die, oom, unhealthy, restart_loop of dvn-*)" in done.stdout
    assert f"✅ Alerts: {SEARCH} (die of dvn-* with team=search, tier)" in done.stdout
    with redis.Redis.from_url(redis_server.url_for(DB)) as conn:
        assert f"✅ Host `local`: Docker events watched for alerts by {socket.gethostname()} pid {_holder(conn)}" in (
            done.stdout
        )


def _holder(conn: redis.Redis) -> int:
    value = conn.get(watcher_key("local"))
    assert value, "no watcher holds the lock"
    return int(value.decode().split(" pid ")[1].split()[0])


def _parent(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


def test_two_workers_watch_once_and_the_other_takes_over_when_the_holder_dies(
    stack: Stack,
    slack: FakeSlack,
    redis_server: RedisServer,
    relay: DockerRelay,
    docker_cleanup: docker.DockerClient,
    test_image: str,
    names: str,
    tmp_path: Path,
) -> None:
    """Of two worker supervisors one watches (every alert above came once); SIGKILL it, and the other's
    watcher takes the lock when it lapses and reports the next death, once."""
    conn = redis.Redis.from_url(redis_server.url_for(DB))
    try:
        assert len([p for p in stack.procs if p.poll() is None]) == 3  # web and two worker supervisors
        assert relay.event_streams() == 1  # only the lock holder reads Docker's events
        holder = _holder(conn)
        [supervisor] = [p for p in stack.procs if p.pid == _parent(holder) and p.poll() is None]
        stack.kill(supervisor)
        name = f"dvn-takeover-{names}"
        start(docker_cleanup, test_image, name, "exit 6")
        wait_root(slack, ALERTS, name)
        assert _holder(conn) != holder and relay.event_streams() == 1
        stack.spawn(tmp_path / "worker-again.log", "worker")  # two supervisors again, for whatever runs next
        sentinel(slack, docker_cleanup, test_image)
        assert len(roots(slack, ALERTS, name)) == 1
    finally:
        conn.close()
