"""`dockerverse send`: the CI side of a hook. Signs (Standard Webhooks), sends, prints the result.

Exit status, for a CI step to gate on: 0 the job succeeded (or was queued, without --wait);
1 the job failed; 2 the request was refused or could not be sent; 3 still running at --wait.
"""

from __future__ import annotations

import json
import sys
import urllib.error
import urllib.request
import uuid
from datetime import UTC, datetime
from typing import Any, TextIO

from standardwebhooks.webhooks import EmptyWebhookSecretError, Webhook

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
    if status == 202:
        if wait > 0:
            print(
                f"⏳ job {job_id} is still {answer.get('status', 'queued')} after {wait:g} s; "
                f"see {answer.get('status_url')}",
                file=out,
            )
            return RUNNING
        print(f"⏳ queued as job {job_id}; status: {answer.get('status_url')}", file=out)
        return OK
    ok, text = render(answer, job_id, wait)
    print(text, file=out)
    return OK if ok else FAILED


def _json(raw: bytes) -> dict[str, Any]:
    try:
        data = json.loads(raw)
    except ValueError:
        return {"error": raw[:300].decode(errors="replace")}
    return data if isinstance(data, dict) else {"error": str(data)[:300]}
