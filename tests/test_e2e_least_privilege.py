"""Least privilege by default, through the real web and workers: no roles without a policy, reading
containers the bot did not make, fair shares of follows and reads, the body cap, who may confirm, and
who may read a job."""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Iterator
from typing import Any

import docker
import pytest

from bot.wire.queues import STOP_ACTION
from tests.support import services
from tests.support.fakeslack import Call, FakeSlack
from tests.support.stack import API_TOKEN, VIEWER_TOKEN, Stack
from tests.support.stack_factory import StackFactory, StackOptions
from tests.test_e2e_hooks import standard_headers

pytestmark = pytest.mark.e2e
LIMITS = """
rate_limits:
  mutating: 30/minute
  reads: 6/minute
  follows: 2
"""


@pytest.fixture(scope="module")
def bare(stack_factory: StackFactory) -> Iterator[Stack]:
    """Web and worker with no policy file at all (beside the module's `stack`)."""
    with stack_factory(StackOptions(db=13, policy_text=None)) as running:
        yield running


# The test policy (viewer `*`), reads at 6 a minute, 2 follows each, 3 stream workers, a 64 KiB body cap.
STACK = StackOptions(db=14, policy_extra=LIMITS, env={"DOCKERVERSE_STREAM_WORKERS": "3", "DOCKERVERSE_MAX_BODY": "64k"})


def fresh(prefix: str = "U0L") -> str:
    """A Slack id of its own, so each case has its own rate-limit window and follow slots."""
    return prefix + uuid.uuid4().hex[:8].upper()


def said(slack: FakeSlack, chan: str, count: int = 1, timeout: float = 30) -> list[Call]:
    return slack.wait_for("chat.postMessage", lambda c: c.params.get("channel") == chan, count=count, timeout=timeout)


def text_of(call: Call) -> str:
    blocks: list[dict[str, Any]] = call.json_param("blocks") or []
    return json.dumps([call.params.get("text", ""), blocks])


def managed(stack: Stack, image: str) -> str:
    """A container the bot runs (made through the console), printing a line and then sleeping."""
    name = "dvlp-" + uuid.uuid4().hex[:8]
    out = stack.shell(f"run {image} --name {name} -- sh -c 'echo managed-line; sleep 300'")
    assert out.returncode == 0 and "Started" in out.stdout, out.stdout + out.stderr
    return name


def outsider(engine: docker.DockerClient, image: str) -> str:
    """A container made outside the bot: a database, another team's service."""
    box = engine.containers.run(
        image,
        ["sh", "-c", "echo outsider-secret-line; sleep 300"],
        detach=True,
        labels={services.TEST_LABEL: services.SESSION},
        name="dvlp-out-" + uuid.uuid4().hex[:8],
    )
    return str(box.name)


def test_without_a_policy_slack_users_may_only_ask_for_help(bare: Stack, slack: FakeSlack) -> None:
    """No policy file: `list` is refused saying how roles are granted; `help` answers and says the same;
    the console on one's own machine is the top role."""
    refused = bare.slash("list", user="U0NOBODY", channel="C0BARE").json()["text"]
    assert "have no role" in refused and "DOCKERVERSE_CONFIG" in refused and "roles.viewer" in refused
    ack = bare.slash("help", user="U0NOBODY", channel="C0BARE").json()["text"]
    assert "queued as job" in ack
    assert "You hold no role yet" in text_of(said(slack, "C0BARE")[0])
    console = bare.shell("list --all", "audit")
    assert console.returncode == 0, console.stdout + console.stderr
    assert "containers on local" in console.stdout and "audit entries, newest first" in console.stdout


def test_viewers_read_only_what_the_bot_created(
    stack: Stack, slack: FakeSlack, docker_cleanup: docker.DockerClient, test_image: str
) -> None:
    """`logs` and `inspect` of a container the bot did not make need `read-unmanaged` (the admin's), in Slack
    and through the API's tail and SSE; the bot's own containers stay readable by viewers."""
    ours, theirs = managed(stack, test_image), outsider(docker_cleanup, test_image)
    viewer, chan = fresh(), "C" + uuid.uuid4().hex[:9].upper()
    stack.slash(f"logs {theirs}", user=viewer, channel=chan)
    stack.slash(f"inspect {theirs}", user=viewer, channel=chan)
    refusals = [text_of(c) for c in said(slack, chan, 2)]
    assert all("needs the `read-unmanaged` permission" in t for t in refusals), refusals
    assert not any("outsider-secret-line" in t for t in refusals)

    stack.slash(f"logs {ours}", user=viewer, channel=chan)
    stack.slash(f"logs {theirs}", user="U0ADMIN", channel=chan)
    calls = said(slack, chan, 4)
    assert any("managed-line" in text_of(c) for c in calls[2:]), [text_of(c) for c in calls[2:]]
    admin_view = slack.wait_for(
        "chat.postMessage", lambda c: c.params.get("channel") == chan and "outsider-secret-line" in text_of(c)
    )
    assert admin_view

    auth = {"Authorization": f"Bearer {VIEWER_TOKEN}"}
    tail = stack.http.get(f"{stack.web_url}/api/containers/{theirs}/logs", headers=auth, timeout=60)
    assert tail.status_code == 403 and "read-unmanaged" in tail.json()["error"]
    sse = stack.http.get(
        f"{stack.web_url}/api/containers/{theirs}/logs", headers={**auth, "Accept": "text/event-stream"}, timeout=60
    )
    assert sse.status_code == 403 and "read-unmanaged" in sse.json()["error"], sse.text
    own = stack.http.get(f"{stack.web_url}/api/containers/{ours}/logs", headers=auth, timeout=60)
    assert own.status_code == 200 and "managed-line" in own.text


def stop_buttons(slack: FakeSlack, chan: str, count: int) -> list[str]:
    """The follow keys on the Stop buttons of the first ``count`` follows posted in ``chan``."""
    calls = slack.wait_for(
        "chat.postMessage", lambda c: c.params.get("channel") == chan and STOP_ACTION in text_of(c), count=count
    )
    found = re.findall(r'"value": "(dockerverse:follow:[0-9a-f]+)"', "".join(text_of(c) for c in calls))
    return list(dict.fromkeys(found))


def test_follows_are_capped_per_person_and_leave_a_stream_worker_free(
    stack: Stack, slack: FakeSlack, docker_cleanup: docker.DockerClient, test_image: str
) -> None:
    """Two follows each (rate_limits.follows); with 3 stream workers a host takes 2 follows in all, so one
    stays free for pulls; stopping a follow gives its slot back."""
    ours = managed(stack, test_image)
    first, second, chan = fresh(), fresh(), "C" + uuid.uuid4().hex[:9].upper()
    for _ in range(2):
        assert "queued as job" in stack.slash(f"logs {ours} --follow 5m", user=first, channel=chan).json()["text"]
    third = stack.slash(f"logs {ours} --follow 5m", user=first, channel=chan).json()["text"]
    assert "You already follow 2 log streams (rate_limits.follows)" in third, third
    other = stack.slash(f"logs {ours} --follow 5m", user=second, channel=chan).json()["text"]
    assert "Host `local` cannot take another log follow now: its 2 follow slots are taken" in other, other

    for key in stop_buttons(slack, chan, 2):
        stack.block_actions(
            first,
            {"action_id": STOP_ACTION, "value": key, "block_id": "b"},
            {"channel": {"id": chan}, "response_url": slack.response_url("stop"), "container": {"type": "message"}},
        )
    # Each follow gives its slot back before its result is posted: wait for both results, then ask once.
    slack.wait_for(
        "chat.update",
        lambda c: c.params.get("channel") == chan and "ended because Stop was pressed" in str(c.params.get("text")),
        count=2,
        timeout=30,
    )
    answer = stack.slash(f"logs {ours} --follow 1m", user=second, channel=chan).json()["text"]
    assert "queued as job" in answer, answer


def test_reads_have_a_rate_limit_of_their_own(stack: Stack, slack: FakeSlack) -> None:
    """The seventh read in a minute is refused (rate_limits.reads) while changing commands still go."""
    operator = fresh()  # an operator through the deploy channel
    for _ in range(6):
        assert "queued as job" in stack.slash("images", user=operator, channel="C0DEPLOY").json()["text"]
    refused = stack.slash("images", user=operator, channel="C0DEPLOY").json()["text"]
    assert "at most 6/minute reading commands per actor (rate_limits.reads)" in refused, refused
    assert "queued as job" in stack.slash("stop no-such-box", user=operator, channel="C0DEPLOY").json()["text"]


def test_bodies_over_the_cap_are_refused_before_any_signature_is_checked(stack: Stack) -> None:
    """65 KiB to Slack's route or a hook is 413 whether it declares its length or streams it in chunks;
    a small unsigned body still gets the signature's 401."""
    big = b"x" * (65 * 1024)
    for path in ("/slack/events", "/hooks/ci", "/api/containers"):
        resp = stack.http.post(f"{stack.web_url}{path}", content=big, timeout=10)
        assert resp.status_code == 413 and "DOCKERVERSE_MAX_BODY" in resp.json()["error"], (path, resp.text)

    def chunks() -> Iterator[bytes]:
        for _ in range(65):
            yield b"y" * 1024

    streamed = stack.http.post(f"{stack.web_url}/slack/events", content=chunks(), timeout=10)
    assert streamed.status_code == 413
    assert stack.http.post(f"{stack.web_url}/slack/events", content=b"x=1", timeout=10).status_code == 401


def test_only_the_asker_or_the_top_role_may_confirm_and_each_click_is_audited(
    stack: Stack, slack: FakeSlack, docker_cleanup: docker.DockerClient, test_image: str
) -> None:
    """Another operator's Confirm or Cancel is refused and leaves the question standing; the asker's
    Confirm runs it; the audit log names who clicked."""
    name, chan, bystander = managed(stack, test_image), "C0DEPLOY", fresh()
    ack = stack.slash(f"rm {name} --force", user="U0OPS", channel=chan).json()
    token = next(b for b in ack["blocks"] if b["type"] == "actions")["elements"][0]["value"]
    for action, reply in (("dockerverse_confirm", "by1"), ("dockerverse_cancel", "by2")):
        stack.click(action, token, slack.response_url(reply), user=bystander, channel=chan)
        answer = slack.wait_for("response_url", lambda c, r=reply: c.params.get("_name") == r)[0]
        assert "Only <@U0OPS>, who asked, or someone with role `admin`" in answer.params["text"]
    audit = stack.http.get(
        f"{stack.web_url}/api/audit?limit=50", headers={"Authorization": f"Bearer {API_TOKEN}"}, timeout=10
    ).json()["entries"]
    assert docker_cleanup.containers.get(name).status == "running", [e for e in audit if name in e["command"]]

    stack.click("dockerverse_confirm", token, slack.response_url("asker"), user="U0OPS", channel=chan)
    assert "confirmed" in slack.wait_for("response_url", lambda c: c.params.get("_name") == "asker")[0].params["text"]
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and docker_cleanup.containers.list(all=True, filters={"name": name}):
        time.sleep(0.2)
    assert not docker_cleanup.containers.list(all=True, filters={"name": name})

    audit = stack.http.get(
        f"{stack.web_url}/api/audit?limit=50", headers={"Authorization": f"Bearer {API_TOKEN}"}, timeout=10
    ).json()["entries"]
    mine = [(e["actor"], e["decision"]) for e in audit if name in e["command"]]
    assert (bystander, "refused") in mine and ("U0OPS", "confirmed") in mine, mine


def test_a_job_is_shown_to_its_own_actor_and_the_top_role(
    stack: Stack, docker_cleanup: docker.DockerClient, test_image: str
) -> None:
    """The viewer token reads its own job but not a hook's; the admin token reads both."""
    ours = managed(stack, test_image)
    viewer = {"Authorization": f"Bearer {VIEWER_TOKEN}"}
    admin = {"Authorization": f"Bearer {API_TOKEN}"}
    with stack.http.stream(
        "GET",
        f"{stack.web_url}/api/containers/{ours}/logs",
        headers={**viewer, "Accept": "text/event-stream"},
        timeout=60,
    ) as sse:
        assert sse.status_code == 200
        own_job = sse.headers["X-Dockerverse-Job"]
    body = json.dumps({"command": "list"}).encode()
    hooked = stack.http.post(f"{stack.web_url}/hooks/ci", content=body, headers=standard_headers(body), timeout=30)
    hook_job = hooked.json()["job_id"]

    assert stack.http.get(f"{stack.web_url}/api/jobs/{own_job}", headers=viewer).status_code == 200
    refused = stack.http.get(f"{stack.web_url}/api/jobs/{hook_job}", headers=viewer)
    assert refused.status_code == 403 and "asked by someone else" in refused.json()["error"]
    for job in (own_job, hook_job):
        assert stack.http.get(f"{stack.web_url}/api/jobs/{job}", headers=admin).status_code == 200
