"""The whole product on real ports: `dockerverse web` (uvicorn) and `dockerverse worker` as
child processes, on a real Redis, a real dockerd and the fake Slack. Plus a Slack-signing client.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx

from bot.core.hook_signatures import standard_key, standard_signature
from bot.wire.hosts import workers
from bot.wire.queues import LANES, connect
from bot.wire.signing import generate
from tests.support import recorder
from tests.support.services import free_port

SIGNING_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
BOT_TOKEN = "xoxb-test-token"
API_TOKEN = "test-api-token-0123456789"
JOB_KEY = "test-job-key-0123456789abcdef0123456789"  # legacy: only for Stack.start(legacy_key=True)
# The web signs with SIGNING_KEY; workers get only VERIFY_KEY (Stack.spawn blanks the other for them).
SIGNING_KEY, VERIFY_KEY = generate()
WEB_ONLY = {"DOCKERVERSE_SIGNING_KEY": ""}  # what a worker's environment overrides
ROOT = Path(__file__).resolve().parents[2]

POLICY = """
roles:
  admin: [U0ADMIN]
  operator: [U0OPS, "channel:C0DEPLOY"]
  viewer: ["*"]
permissions:
  viewer: [help, list, logs, images, inspect, hosts]
  operator: [run, stop, start, restart, rm, pull]
  admin: [rmi]
images:
  allow: ["dockerverse-test/*:*", "busybox", "127.0.0.1:*/dockerverse-test/*:*"]
limits:
  default: {memory: 64m, cpus: 0.5, pids: 64}
  max: {memory: 256m, cpus: 1.0, pids: 256}
hooks:
  ci: {secret_env: CI_HOOK_SECRET, role: operator, channel: C0DEPLOY}
  ci-github: {secret_env: CI_HOOK_SECRET, role: operator, channel: C0DEPLOY, schemes: [standard, github]}
  gh: {secret_env: GH_HOOK_SECRET, role: viewer, schemes: [standard, github]}
  nosecret: {secret_env: UNSET_HOOK_SECRET, role: viewer}
tokens:
  dashboard: {token_env: DASHBOARD_TOKEN, role: viewer}
"""
VIEWER_TOKEN = "viewer-token-0123456789"
CI_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
GH_SECRET = "It's a Secret to Everybody"


def _group_running(pgid: int) -> bool:
    """Whether any process of the group is alive (zombies, dead but not yet reaped, do not count)."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            state, _ppid, pgrp = stat.read_text().rsplit(")", 1)[1].split()[:3]
        except (OSError, IndexError, ValueError):
            continue  # gone meanwhile
        if int(pgrp) == pgid and state not in ("Z", "X"):
            return True
    return False


def slack_signature(secret: str, timestamp: str, body: bytes) -> str:
    base = b"v0:" + timestamp.encode() + b":" + body
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


@dataclass
class Stack:
    """A running web + worker; ``env`` is what the web was given (a worker: less the signing key)."""

    env: dict[str, str]
    web_url: str
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    logs: list[Path] = field(default_factory=list)
    # One keep-alive client: a new httpx client per request costs ~20 ms of TLS set-up alone.
    http: httpx.Client = field(default_factory=httpx.Client)
    hosts: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)  # named workers (start's `hosts`)

    @classmethod
    def start(
        cls,
        redis_url: str,
        slack_url: str,
        tmp: Path,
        workers: int = 1,
        policy_extra: str = "",
        policy_text: str | None = POLICY,
        legacy_key: bool = False,
        hosts: tuple[str, ...] = (),
        **extra: str,
    ) -> Stack:
        """Web + `workers` workers for DOCKERVERSE_HOST_NAME, + one `dockerverse worker` per name in `hosts`;
        ``policy_text`` None: no policy file at all (the built-in defaults)."""
        policy = tmp / "policy.yaml"
        policy.write_text((policy_text or "") + policy_extra)
        env = {
            **{k: v for k, v in os.environ.items() if k != "DOCKERVERSE_CONFIG"},
            "REDIS_URL": redis_url,
            "SLACK_BOT_TOKEN": BOT_TOKEN,
            "SLACK_SIGNING_SECRET": SIGNING_SECRET,
            "SLACK_API_URL": slack_url,
            "DOCKERVERSE_API_TOKEN": API_TOKEN,
            **(
                {"DOCKERVERSE_JOB_KEY": JOB_KEY}
                if legacy_key
                else {"DOCKERVERSE_SIGNING_KEY": SIGNING_KEY, "DOCKERVERSE_VERIFY_KEY": VERIFY_KEY}
            ),
            "DOCKERVERSE_STATE_DIR": str(tmp / "state"),  # a worker's own sealing key lives here
            **({"DOCKERVERSE_CONFIG": str(policy)} if policy_text is not None else {}),
            "DOCKERVERSE_HOST_NAME": "local",
            "CI_HOOK_SECRET": CI_SECRET,
            "GH_HOOK_SECRET": GH_SECRET,
            "DASHBOARD_TOKEN": VIEWER_TOKEN,
            # Workers reach Docker as the deploy files set them up: through the socket proxy.
            **(recorder.ACTIVE.worker_env() if recorder.ACTIVE else {}),
            **extra,
        }
        port = free_port()
        stack = cls(env, f"http://127.0.0.1:{port}")
        for i in range(workers):
            stack.spawn(tmp / f"worker{i}.log", "worker")
        for host in hosts:
            stack.hosts[host] = stack.spawn(tmp / f"worker-{host}.log", "worker", "--docker-host-name", host)
        stack.spawn(tmp / "web.log", "web", "--port", str(port))
        stack.wait_ready()
        if workers:
            stack.wait_lanes(env["DOCKERVERSE_HOST_NAME"])
        return stack

    def spawn(self, log: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        out = log.open("wb")
        # Its own process group: a killed worker supervisor's workers can be killed with it.
        proc = subprocess.Popen(
            [sys.executable, "-m", "bot.cli.main", *args],
            env={**self.env, **(WEB_ONLY if args[0] == "worker" else {}), **(env or {})},
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.procs.append(proc)
        self.logs.append(log)
        return proc

    def wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        last = ""
        while time.monotonic() < deadline:
            try:
                resp = httpx.get(f"{self.web_url}/readyz", timeout=1)
                if resp.status_code == 200:
                    return
                last = resp.text
            except httpx.HTTPError as exc:
                last = repr(exc)
            time.sleep(0.1)
        raise AssertionError(f"stack not ready: {last}\n{self.dump_logs()}")

    def wait_lanes(self, host: str, timeout: float = 60.0) -> None:
        """Until every lane of `host` has a live worker: /readyz needs only one, and a first follow or
        stop sent before the stream or slow workers registered would wait on a loaded machine."""
        streams = self.env.get("DOCKERVERSE_STREAM_WORKERS", "3") != "0"
        lanes = {lane for lane in LANES if lane != "stream" or streams}
        conn = connect(self.env["REDIS_URL"])
        try:
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                serving = {lane for w in workers(conn) if w.host == host for lane in w.lanes}
                if lanes <= serving:
                    return
                time.sleep(0.1)
        finally:
            conn.close()
        raise AssertionError(f"host {host}: lanes {sorted(lanes - serving)} have no worker\n{self.dump_logs()}")

    def dump_logs(self) -> str:
        return "\n".join(
            f"--- {log.name}\n{log.read_text(errors='replace')[-3000:]}" for log in self.logs if log.exists()
        )

    def shell(self, *commands: str) -> subprocess.CompletedProcess[str]:
        """`dockerverse shell -c ...` on this stack's Redis, as the console (admin)."""
        args = [sys.executable, "-m", "bot.cli.main", "shell"] + [a for cmd in commands for a in ("-c", cmd)]
        return subprocess.run(args, env=self.env, cwd=ROOT, capture_output=True, text=True, timeout=120)

    def stop(self) -> None:
        self.http.close()
        for proc in self.procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            with contextlib.suppress(ProcessLookupError):  # workers a killed supervisor left behind
                os.killpg(proc.pid, signal.SIGKILL)

    def kill(self, proc: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
        """SIGKILL a process and everything it started (a worker supervisor and its workers), and return
        only once all of them are dead: a worker still dying could take the next job (a pending BLMOVE)."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        deadline = time.monotonic() + timeout
        while _group_running(proc.pid):
            assert time.monotonic() < deadline, f"process group {proc.pid} still runs {timeout:g} s after SIGKILL"
            time.sleep(0.02)

    # --- playing Slack -------------------------------------------------------------------

    def post_signed(
        self,
        body: bytes,
        content_type: str,
        headers: dict[str, str] | None = None,
        secret: str = SIGNING_SECRET,
        timeout: float = 5.0,
    ) -> httpx.Response:
        ts = str(int(time.time()))
        signed = {
            "X-Slack-Request-Timestamp": ts,
            "X-Slack-Signature": slack_signature(secret, ts, body),
            "Content-Type": content_type,
            **(headers or {}),
        }
        return self.http.post(f"{self.web_url}/slack/events", content=body, headers=signed, timeout=timeout)

    def slash(self, text: str, user: str = "U0OPS", channel: str = "C0CHAN", **kw: Any) -> httpx.Response:
        form = {
            "token": "x",
            "team_id": "T0001",
            "channel_id": channel,
            "channel_name": "test",
            "user_id": user,
            "user_name": "tester",
            "command": "/docker",
            "text": text,
            "api_app_id": "A123456",
            "response_url": "http://127.0.0.1:9/unused",
            "trigger_id": "1.2.3",
        }
        return self.post_signed(urlencode(form).encode(), "application/x-www-form-urlencoded", **kw)

    def click(
        self,
        action_id: str,
        value: str,
        response_url: str,
        user: str = "U0OPS",
        channel: str = "C0CHAN",
        message_ts: str = "1548261231.000200",
    ) -> httpx.Response:
        """A button in a message, shaped as in ../shared/slack-payloads/block_actions.form."""
        where = {
            "container": {"type": "message", "message_ts": message_ts, "channel_id": channel, "is_ephemeral": True},
            "channel": {"id": channel, "name": "test"},
            "response_url": response_url,
        }
        action = {"block_id": "dockerverse_confirmation", "action_ts": "1548426417.840180"}
        return self.block_actions(user, {"action_id": action_id, "value": value, **action}, where)

    def block_actions(self, user: str, action: dict[str, Any], where: dict[str, Any]) -> httpx.Response:
        """A signed block_actions payload: one button `action`, pressed where `where` says (a message, a view)."""
        payload = {
            "type": "block_actions",
            "user": {"id": user, "username": "tester", "team_id": "T061EG9R6"},
            "api_app_id": "A0MDYCDME",
            "token": "x",
            "trigger_id": "1.2.3",
            "team": {"id": "T061EG9R6"},
            **where,
            "actions": [{"type": "button", **action}],
        }
        body = urlencode({"payload": json.dumps(payload)}).encode()
        return self.post_signed(body, "application/x-www-form-urlencoded")

    def event(self, event: dict[str, Any], event_id: str, headers: dict[str, str] | None = None) -> httpx.Response:
        body = {
            "token": "x",
            "team_id": "T061EG9R6",
            "api_app_id": "A0MDYCDME",
            "event": event,
            "type": "event_callback",
            "event_id": event_id,
            "event_time": int(time.time()),
            "authorizations": [{"team_id": "T061EG9R6", "user_id": "U0LAN0Z89", "is_bot": True}],
        }
        return self.post_signed(json.dumps(body).encode(), "application/json", headers)


def standard_headers(
    body: bytes, secret: str = CI_SECRET, msg_id: str | None = None, ts: int | None = None
) -> dict[str, str]:
    """Standard Webhooks headers signing `body` for a hook (the `ci` hook's secret unless told)."""
    msg_id = msg_id or f"msg_{uuid.uuid4().hex}"
    stamp = str(ts if ts is not None else int(time.time()))
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": stamp,
        "content-type": "application/json",
        "webhook-signature": standard_signature(standard_key(secret), msg_id, stamp, body),
    }
