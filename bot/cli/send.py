"""`dockerverse send`: the CI side of a hook. Signs (Standard Webhooks), sends, prints the result.

Exit status, for a CI step to gate on: 0 the job succeeded (or was queued, without --wait);
1 the job failed; 2 the request was refused or could not be sent; 3 still running at --wait.
"""

from __future__ import annotations

import json
import sys
import urllib.error
import urllib.parse
import urllib.request
import uuid
from datetime import UTC, datetime
from typing import Any, TextIO

from standardwebhooks.webhooks import EmptyWebhookSecretError, Webhook

from bot.cli.running_up import RunningUp
from bot.cli.shell import render
from bot.core.hook_signatures import standard_key

OK, FAILED, REFUSED, RUNNING = 0, 1, 2, 3


def signed_request(url: str, secret: str, body: bytes) -> urllib.request.Request:
    msg_id = f"msg_{uuid.uuid4().hex}"
    now = datetime.now(tz=UTC)
    # The reference implementation signs, with the key the hook derives (strictly decoded `whsec_`, else UTF-8).
    signature = Webhook(standard_key(secret)).sign(msg_id, now, body.decode())
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "dockerverse-send",
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": signature,
    }
    return urllib.request.Request(url, data=body, headers=headers, method="POST")


def send(
    url: str,
    command: str,
    secret: str,
    channel: str | None = None,
    thread_ts: str | None = None,
    wait: float = 0,
    out: TextIO = sys.stdout,
    err: TextIO = sys.stderr,
    up: RunningUp | None = None,
) -> int:
    body = json.dumps({"command": command, "channel": channel, "thread_ts": thread_ts, "wait": wait}).encode()
    try:
        request = signed_request(url, secret, body)
    except (ValueError, EmptyWebhookSecretError) as exc:  # a `whsec_` secret that is not base64, or empty
        print(f"❌ the secret cannot sign: {exc}. Pass the hook's secret exactly as the web has it.", file=err)
        return REFUSED
    try:
        with urllib.request.urlopen(request, timeout=wait + 30) as resp:
            status, answer = resp.status, _json(resp.read())
    except urllib.error.HTTPError as exc:
        answer = _json(exc.read())
        print(f"❌ {exc.code}: {answer.get('error') or exc.reason}", file=err)
        return REFUSED
    except (urllib.error.URLError, OSError) as exc:
        print(f"❌ could not reach {url}: {getattr(exc, 'reason', exc)}", file=err)
        return REFUSED
    job_id = str(answer.get("job_id") or answer.get("id") or "?")
    status_line = f"status: {status_url(url, answer, job_id)} ({how_to_read(url, up)})"
    if status == 202:
        if wait > 0:
            print(
                f"⏳ job {job_id} is still {answer.get('status', 'queued')} after {wait:g} s; {status_line}", file=out
            )
            return RUNNING
        print(f"⏳ queued as job {job_id}; {status_line}", file=out)
        return OK
    ok, text = render(answer, job_id, wait)
    print(f"{text}\n{status_line}", file=out)
    return OK if ok else FAILED


def status_url(hook_url: str, answer: dict[str, Any], job_id: str) -> str:
    """The job's `GET /api/jobs/{id}` on the web that took the hook, as a whole URL to paste."""
    return urllib.parse.urljoin(hook_url, str(answer.get("status_url") or f"/api/jobs/{job_id}"))


def how_to_read(hook_url: str, up: RunningUp | None) -> str:
    """/api/* wants a bearer token: name the one that works, never print it."""
    if up is not None and hook_url.startswith(up.web_url + "/") and up.api_token:
        return 'with the API token `dockerverse up` printed: curl -H "Authorization: Bearer $TOKEN" URL'
    return 'with the web\'s API token: curl -H "Authorization: Bearer $DOCKERVERSE_API_TOKEN" URL'


def _json(raw: bytes) -> dict[str, Any]:
    try:
        data = json.loads(raw)
    except ValueError:
        return {"error": raw[:300].decode(errors="replace")}
    return data if isinstance(data, dict) else {"error": str(data)[:300]}
