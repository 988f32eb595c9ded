"""End to end through CI hooks: signed deliveries to uvicorn, a worker, dockerd and the fake Slack."""

from __future__ import annotations

import hashlib
import hmac
import json
import subprocess
import sys
import time
import uuid
from typing import Any

import docker
import httpx
import pytest

from tests.support.fakeslack import FakeSlack
from tests.support.jobs import settled
from tests.support.stack import API_TOKEN, CI_SECRET, GH_SECRET, ROOT, Stack, standard_headers
from tests.support.stack_factory import StackOptions

pytestmark = pytest.mark.e2e


STACK = StackOptions(db=3)


def github_headers(body: bytes, secret: str, delivery: str | None) -> dict[str, str]:
    """As GitHub signs: HMAC-SHA256 of the body keyed with the secret's UTF-8 bytes, as typed into its settings."""
    headers = {
        "X-Hub-Signature-256": "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest(),
        "content-type": "application/json",
    }
    return {**headers, "X-GitHub-Delivery": delivery} if delivery else headers


def hook(
    stack: Stack, name: str, body: dict[str, Any] | bytes, headers: dict[str, str] | None = None, timeout: float = 70
) -> httpx.Response:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return stack.http.post(
        f"{stack.web_url}/hooks/{name}",
        content=raw,
        headers=headers if headers is not None else standard_headers(raw),
        timeout=timeout,
    )


def send(stack: Stack, command: str, *args: str, secret: str = CI_SECRET) -> subprocess.CompletedProcess[str]:
    cmd = [
        sys.executable,
        "-m",
        "bot.cli.main",
        "send",
        f"{stack.web_url}/hooks/ci",
        command,
        "--secret",
        secret,
        *args,
    ]
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120)


def test_send_with_wait_prints_the_result_and_posts_to_the_hooks_channel(stack: Stack, slack: FakeSlack) -> None:
    """`send ... --wait` gets the finished job back (exit 0); the result is posted to the hook's channel."""
    done = send(stack, "list --all", "--wait", "30")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "✅" in done.stdout and "on local" in done.stdout
    [post] = slack.wait_for("chat.postMessage", lambda c: c.params.get("channel") == "C0DEPLOY")
    assert "hook:ci" in json.dumps(post.params)


def test_send_exits_non_zero_when_the_job_failed(stack: Stack, slack: FakeSlack) -> None:
    """A job that fails (no such container) makes `send` exit 1 with the reason, so CI can gate on it."""
    failed = send(stack, "logs no-such-container", "--wait", "30")
    assert failed.returncode == 1 and "No container no-such-container" in failed.stdout
    refused = send(stack, "lsit", "--wait", "30")
    assert refused.returncode == 2 and "Did you mean `list`?" in refused.stderr
    wrong = send(stack, "list", "--wait", "30", secret="not-the-secret")
    assert wrong.returncode == 2 and "401" in wrong.stderr


def test_one_delivery_sent_twice_creates_one_container(
    stack: Stack, slack: FakeSlack, docker_cleanup: docker.DockerClient, test_image: str
) -> None:
    """A retried delivery (same webhook-id) returns the first job and runs nothing more."""
    body = json.dumps({"command": f"run {test_image} -- sleep 300", "channel": "C0HOOKS"}).encode()
    headers = standard_headers(body)
    first, again = hook(stack, "ci", body, headers), hook(stack, "ci", body, headers)
    assert first.status_code == again.status_code == 202
    assert first.json()["job_id"] == again.json()["job_id"] and again.json()["duplicate"] is True
    slack.wait_for("chat.postMessage", lambda c: c.params.get("channel") == "C0HOOKS")
    assert settled(stack, first.json()["job_id"])["status"] == "finished"
    made = docker_cleanup.containers.list(all=True, filters={"label": "dockerverse.creator=hook:ci"})
    assert [c.labels["dockerverse.job"] for c in made] == [first.json()["job_id"]]


def test_wait_returns_the_job_and_thread_ts_is_honoured(stack: Stack, slack: FakeSlack) -> None:
    """With wait the finished job comes back (200, the /api/jobs shape); the reply goes in the given thread."""
    resp = hook(stack, "ci", {"command": "help", "channel": "C0THREAD", "thread_ts": "1700000000.000100", "wait": 30})
    assert resp.status_code == 200
    job = resp.json()
    assert {"id", "status", "command", "result", "error", "createdAt", "endedAt"} <= set(job)
    assert job["status"] == "finished" and job["result"]["ok"] and job["status_url"] == f"/api/jobs/{job['id']}"
    [post] = slack.wait_for("chat.postMessage", lambda c: c.params.get("channel") == "C0THREAD")
    assert post.params["thread_ts"] == "1700000000.000100"
    api = stack.http.get(f"{stack.web_url}/api/jobs/{job['id']}", headers={"Authorization": f"Bearer {API_TOKEN}"})
    assert api.status_code == 200 and api.json()["id"] == job["id"]
    assert stack.http.get(f"{stack.web_url}/api/jobs/{job['id']}").status_code == 401


def test_wait_answers_before_the_slack_post_which_still_happens_once(stack: Stack, slack: FakeSlack) -> None:
    """The caller reads the job's result, not its Slack message: with Slack answering slowly, the hook's
    wait returns the finished job while the post is still in flight; the post then lands exactly once and
    the job's record gains what was delivered."""
    slack.delay("chat.postMessage", 4.0)
    try:
        resp = hook(stack, "ci", {"command": "help", "channel": "C0SLOWPOST", "wait": 30})
        assert resp.status_code == 200, resp.text
        job = resp.json()
        assert job["status"] == "finished" and job["result"]["ok"] and job["endedAt"]
        assert "delivery" not in job["result"]  # answered ahead of the post
        posts = [c for c in slack.calls("chat.postMessage") if c.params.get("channel") == "C0SLOWPOST"]
        assert not any(c.response for c in posts), "the hook waited for Slack's answer to the post"
        final = settled(stack, job["id"])
        assert final["result"]["delivery"]["ok"] and final["result"]["delivery"]["posted"] == 1
        [post] = slack.wait_for("chat.postMessage", lambda c: c.params.get("channel") == "C0SLOWPOST")
        assert post.response.get("ok")
    finally:
        slack.delay("chat.postMessage", 0)


def test_github_signature_and_delivery_dedupe(stack: Stack, slack: FakeSlack) -> None:
    """GitHub's scheme works; the same X-GitHub-Delivery twice is one job; the viewer hook cannot remove."""
    body = json.dumps({"command": "images", "wait": 30}).encode()
    headers = github_headers(body, GH_SECRET, str(uuid.uuid4()))
    first, again = hook(stack, "gh", body, headers), hook(stack, "gh", body, headers)
    assert first.status_code == again.status_code == 200
    assert first.json()["id"] == again.json()["id"]
    rm = json.dumps({"command": "rm web"}).encode()
    refused = hook(stack, "gh", rm, github_headers(rm, GH_SECRET, str(uuid.uuid4())))
    assert refused.status_code == 403 and "Not allowed: `rm`" in refused.json()["error"]


def test_github_delivery_with_a_whsec_secret_is_accepted_only_where_github_is_listed(
    stack: Stack, slack: FakeSlack
) -> None:
    """GitHub signs with a `whsec_` secret's UTF-8 bytes: accepted by a hook listing `github`, 401 elsewhere."""
    body = json.dumps({"command": "help", "wait": 30}).encode()
    accepted = hook(stack, "ci-github", body, github_headers(body, CI_SECRET, str(uuid.uuid4())))
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["status"] == "finished"
    refused = hook(stack, "ci", body, github_headers(body, CI_SECRET, str(uuid.uuid4())))
    assert refused.status_code == 401
    error = refused.json()["error"]
    assert "hook `ci` accepts only Standard Webhooks" in error and "add `github` to the hook's `schemes:`" in error


def test_github_delivery_without_a_delivery_id_is_refused(stack: Stack, slack: FakeSlack) -> None:
    """A GitHub-signed request without X-GitHub-Delivery could be replayed unnoticed: 401, saying so."""
    body = json.dumps({"command": "help", "wait": 30}).encode()
    refused = hook(stack, "gh", body, github_headers(body, GH_SECRET, None))
    assert refused.status_code == 401
    assert "must carry X-GitHub-Delivery" in refused.json()["error"]


def test_a_replayed_github_delivery_returns_the_first_job_and_runs_nothing(
    stack: Stack, slack: FakeSlack, docker_cleanup: docker.DockerClient, test_image: str
) -> None:
    """The same GitHub delivery sent again (same X-GitHub-Delivery) gets the first job back; nothing else runs."""
    name = f"gh-once-{uuid.uuid4().hex[:8]}"
    body = json.dumps({"command": f"run {test_image} --name {name} -- sleep 300", "wait": 30}).encode()
    headers = github_headers(body, CI_SECRET, str(uuid.uuid4()))
    first = hook(stack, "ci-github", body, headers)
    assert first.status_code == 200 and first.json()["status"] == "finished", first.text
    again = hook(stack, "ci-github", body, headers)
    assert again.status_code == 200 and again.json()["status"] == "finished"
    assert again.json()["id"] == first.json()["id"] and again.json()["duplicate"] is True
    # Each queued job is audited in the same transaction that queues it: one entry means one job.
    audit = stack.http.get(
        f"{stack.web_url}/api/audit?limit=200", headers={"Authorization": f"Bearer {API_TOKEN}"}
    ).json()["entries"]
    queued = [e for e in audit if name in e["command"] and e["decision"] == "queued"]
    assert [e["job_id"] for e in queued] == [first.json()["id"]]
    made = docker_cleanup.containers.list(all=True, filters={"name": name})
    assert [c.labels["dockerverse.job"] for c in made] == [first.json()["id"]]


def test_bad_deliveries_are_refused_and_nothing_runs(stack: Stack, slack: FakeSlack) -> None:
    """Stale, future, wrong-secret, tampered and unsigned deliveries get 401; other bad input its status."""
    body = json.dumps({"command": "list", "channel": "C0BAD"}).encode()
    cases = {
        "stale": standard_headers(body, ts=int(time.time()) - 600),
        "future": standard_headers(body, ts=int(time.time()) + 600),
        "wrong secret": standard_headers(body, secret="whsec_" + "QUFB" * 8),
        "unsigned": {"content-type": "application/json"},
    }
    for what, headers in cases.items():
        resp = hook(stack, "ci", body, headers)
        assert resp.status_code == 401, what
        assert "Signature refused" in resp.json()["error"], what
    tampered = standard_headers(body)
    assert hook(stack, "ci", body.replace(b"list", b"ps  "), tampered).status_code == 401

    assert hook(stack, "nope", body).status_code == 404
    assert hook(stack, "nosecret", body).status_code == 503
    assert hook(stack, "ci", b"not json").status_code == 400
    big = json.dumps({"command": "list", "pad": "x" * 70_000}).encode()
    assert hook(stack, "ci", big).status_code == 413
    unparsed = hook(stack, "ci", {"command": "run"})
    assert unparsed.status_code == 400 and "`run` needs IMAGE" in unparsed.json()["error"]
    badwait = hook(stack, "ci", {"command": "list", "wait": 600})
    assert badwait.status_code == 400 and "`wait`" in badwait.json()["error"]
    # A good delivery of the same command, queued after all of those: once it has ended, any job a refused
    # one had queued would have run and said so in C0BAD.
    good = hook(stack, "ci", {"command": "list", "channel": "C0GOOD"})
    assert good.status_code == 202 and settled(stack, good.json()["job_id"])["status"] == "finished"
    assert not [c for c in slack.calls("chat.postMessage") if c.params.get("channel") == "C0BAD"]


def _sh_block_after(doc: str, marker: str) -> str:
    text = (ROOT / doc).read_text()
    return text.split(marker, 1)[1].split("```sh\n", 1)[1].split("```", 1)[0]


@pytest.mark.parametrize(
    ("doc", "marker", "url"),
    [
        ("README.md", "**A CI hook from curl.**", "http://127.0.0.1:8000/hooks/ci"),
        ("docs/ci-webhooks.md", "With nothing but curl and openssl", "https://dockerverse.example.com/hooks/ci"),
    ],
)
def test_documented_curl_examples_work(stack: Stack, slack: FakeSlack, doc: str, marker: str, url: str) -> None:
    """The curl + openssl snippets in README.md and the CI webhooks page, run as written (the secret and
    the address swapped in), are accepted and return the finished job."""
    snippet = _sh_block_after(doc, marker)
    assert url in snippet, f"{doc}'s example no longer posts to {url}"
    lines = [line for line in snippet.splitlines() if not line.startswith("SECRET=")]  # the tour's placeholder
    script = "\n".join(lines).replace(url, f"{stack.web_url}/hooks/gh")
    done = subprocess.run(
        ["bash", "-c", script],
        env={"CI_HOOK_SECRET": GH_SECRET, "SECRET": GH_SECRET, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    answer = json.loads(done.stdout)
    assert answer["status"] == "finished" and answer["result"]["ok"], done.stdout + done.stderr
