"""Who may do what, through the real pipeline: roles, allow-list, caps, ownership, confirmations,
rate limits and the audit log (with no secret in it)."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Any

import docker
import httpx
import pytest

from tests.support.fakeslack import Call, FakeSlack
from tests.support.services import SESSION, TEST_LABEL
from tests.support.stack import API_TOKEN, Stack
from tests.support.stack_factory import StackOptions

pytestmark = pytest.mark.e2e
EXTRA = """
rate_limits:
  mutating: 4/minute
"""
ALLOWED, REFUSED, CONFIRM = "queued as job", "Not allowed", "⚠️"


# A 4-a-minute limit on changing commands, and an audit file.
STACK = StackOptions(db=7, policy_extra=EXTRA, env={"DOCKERVERSE_AUDIT_FILE": "{tmp}/audit.jsonl"})


def user(prefix: str = "U0T") -> str:
    """A fresh Slack user id, so each case has its own rate-limit window."""
    return prefix + uuid.uuid4().hex[:8].upper()


def posted(slack: FakeSlack, chan: str, count: int = 1) -> list[Call]:
    return slack.wait_for("chat.postMessage", lambda c: c.params.get("channel") == chan, count=count, timeout=20)


def shown(call: Call) -> str:
    blocks: list[dict[str, Any]] = call.json_param("blocks") or []
    return "\n".join([str(call.params.get("text", ""))] + [b["text"]["text"] for b in blocks if "text" in b])


@pytest.mark.parametrize(
    ("who", "channel", "command", "expected"),
    [
        ("viewer", "C0ANY", "list", ALLOWED),
        (
            "viewer",
            "C0ANY",
            "run {image}",
            "Not allowed: `run` — you (<@{user}>) have role `viewer`; it needs role "
            "`operator` or above: an admin can add you (or this channel as `channel:ID`) to `roles.operator`",
        ),
        ("viewer", "C0DEPLOY", "run {image} -- true", ALLOWED),  # everyone in the deploy channel is an operator
        ("operator", "C0ANY", "run {image} -- true", ALLOWED),
        ("operator", "C0ANY", "run redis", "Image `redis` is not on the allow-list"),
        ("operator", "C0ANY", "run {image} --memory 1g", "above the cap of 256m (limits.max"),
        ("operator", "C0ANY", "run {image} --cpus 2", "above the cap of 1 (limits.max"),
        ("operator", "C0ANY", "rmi {image}", "Not allowed: `rmi`"),
        ("operator", "C0ANY", "audit", "Not allowed: `audit`"),
        ("operator", "C0ANY", "rm web", CONFIRM),
        ("admin", "C0ANY", "rmi {image}", CONFIRM),
        ("admin", "C0ANY", "audit", ALLOWED),
    ],
)
def test_each_rule_allows_or_refuses_with_its_reason(
    stack: Stack, slack: FakeSlack, test_image: str, who: str, channel: str, command: str, expected: str
) -> None:
    """Every rule of the policy, allowed and refused, answered in the slash command's acknowledgement."""
    uid = {"viewer": user(), "operator": "U0OPS", "admin": "U0ADMIN"}[who]
    ack = stack.slash(command.format(image=test_image), user=uid, channel=channel).json()
    assert expected.format(user=uid) in ack["text"], ack["text"]


def test_operators_may_not_touch_containers_the_bot_did_not_create(
    stack: Stack, slack: FakeSlack, docker_cleanup: docker.DockerClient, test_image: str
) -> None:
    """Stopping a container made outside the bot: refused for an operator; an admin confirms first, and
    only the admin who asked may click Confirm."""
    outsider = docker_cleanup.containers.run(
        test_image, ["sh", "-c", "trap 'exit 0' TERM; sleep 300 & wait"], detach=True, labels={TEST_LABEL: SESSION}
    )
    chan = "C" + uuid.uuid4().hex[:10].upper()
    stack.slash(f"stop {outsider.name}", user="U0OPS", channel=chan)
    assert "was not created by Dockerverse" in shown(posted(slack, chan)[0])

    stack.slash(f"stop {outsider.name}", user="U0ADMIN", channel=chan)
    asking = posted(slack, chan, 2)[1]
    [actions] = [b for b in asking.json_param("blocks") if b["type"] == "actions"]
    token = actions["elements"][0]["value"]
    assert outsider.reload() is None and outsider.status == "running"

    # Only who asked (or an admin) may click: an operator's click is refused and the question stays.
    stack.click("dockerverse_confirm", token, slack.response_url("ops"), user="U0OPS", channel=chan)
    refused = slack.wait_for("response_url", lambda c: c.params.get("_name") == "ops")[0]
    assert "Only <@U0ADMIN>, who asked" in refused.params["text"]
    assert outsider.reload() is None and outsider.status == "running"
    stack.click("dockerverse_confirm", token, slack.response_url("adm"), user="U0ADMIN", channel=chan)
    assert "Stopped" in shown(posted(slack, chan, 3)[2])
    outsider.reload()
    assert outsider.status == "exited"


def test_cancel_runs_nothing(
    stack: Stack, slack: FakeSlack, test_image: str, docker_cleanup: docker.DockerClient
) -> None:
    """Cancel answers who cancelled, and the kept command is gone."""
    ack = stack.slash("rm web", user="U0OPS", channel="C0CANCEL").json()
    [actions] = [b for b in ack["blocks"] if b["type"] == "actions"]
    token = actions["elements"][1]["value"]
    stack.click("dockerverse_cancel", token, slack.response_url("c1"), user="U0OPS")
    answer = slack.wait_for("response_url", lambda c: c.params.get("_name") == "c1")[0]
    assert "cancelled `rm web`: nothing was run" in answer.params["text"]
    stack.click("dockerverse_confirm", token, slack.response_url("c2"), user="U0OPS")
    late = slack.wait_for("response_url", lambda c: c.params.get("_name") == "c2")[0]
    assert "expired or was already used" in late.params["text"]


def test_rate_limit_per_actor_says_when_to_retry(stack: Stack, slack: FakeSlack) -> None:
    """The fifth changing command in a minute is refused with when to retry; reads and other people go on."""
    someone = user()  # an operator through the deploy channel, with a window of their own
    for _ in range(4):
        assert ALLOWED in stack.slash("stop no-such-container", user=someone, channel="C0DEPLOY").json()["text"]
    refused = stack.slash("stop no-such-container", user=someone, channel="C0DEPLOY").json()["text"]
    assert "Slow down: at most 4/minute" in refused and "try again in" in refused
    assert ALLOWED in stack.slash("list", user=someone, channel="C0DEPLOY").json()["text"]
    assert ALLOWED in stack.slash("stop no-such-container", user=user(), channel="C0DEPLOY").json()["text"]


def test_hooks_are_rate_limited_with_retry_after(stack: Stack, slack: FakeSlack) -> None:
    """A hook over its limit gets 429 with Retry-After."""
    from bot.core.hook_signatures import standard_key, standard_signature
    from tests.support.stack import CI_SECRET

    statuses, last = [], httpx.Response(200)
    for _ in range(5):
        body = json.dumps({"command": "stop no-such-container"}).encode()
        msg_id, ts = f"msg_{uuid.uuid4().hex}", str(int(time.time()))
        last = stack.http.post(
            f"{stack.web_url}/hooks/ci",
            content=body,
            headers={
                "webhook-id": msg_id,
                "webhook-timestamp": ts,
                "webhook-signature": standard_signature(standard_key(CI_SECRET), msg_id, ts, body),
            },
        )
        statuses.append(last.status_code)
    assert statuses == [202, 202, 202, 202, 429] and int(last.headers["Retry-After"]) >= 1


def test_audit_records_allowed_and_refused_without_secrets(
    stack: Stack, slack: FakeSlack, test_image: str, tmp_path: Path
) -> None:
    """Every decision is in the audit stream and file, with origin and channel; secret values never appear,
    not in the audit, not in Slack, not in any process log."""
    chan = "C" + uuid.uuid4().hex[:10].upper()
    stack.slash(f"run {test_image} -e API_TOKEN=hunter2 -e MODE=demo -- true", user="U0ADMIN", channel=chan)
    posted(slack, chan)
    stack.slash("rmi nothing", user=user(), channel=chan)
    api = {"Authorization": f"Bearer {API_TOKEN}"}
    entries = httpx.get(f"{stack.web_url}/api/audit?limit=10", headers=api).json()["entries"]
    mine = [e for e in entries if e["channel"] == chan]
    assert [e["decision"] for e in mine] == ["refused", "queued"]
    assert mine[0]["outcome"].startswith("Not allowed: `rmi`") and mine[1]["origin"] == "slash"
    assert "API_TOKEN=••••" in mine[1]["command"] and "MODE=demo" in mine[1]["command"]
    stack.slash("audit --limit 5", user="U0ADMIN", channel=chan)
    assert "audit entries, newest first" in shown(posted(slack, chan, 2)[1])

    audit_file = Path(stack.env["DOCKERVERSE_AUDIT_FILE"])
    lines = [json.loads(line) for line in audit_file.read_text().splitlines()]
    assert any(e["channel"] == chan and e["decision"] == "refused" for e in lines)
    everything = audit_file.read_text() + json.dumps([c.params for c in slack.calls()]) + stack.dump_logs()
    assert "hunter2" not in everything
