"""POST /hooks/{name}: CI pipelines run the same commands as chat, signed and once per delivery.

The signature is checked on the raw bytes before anything is parsed, with a scheme the hook
lists under `schemes:`: Standard Webhooks (`webhook-id`, `webhook-timestamp`,
`webhook-signature`; the default) or GitHub (`X-Hub-Signature-256` with `X-GitHub-Delivery`).
A delivery id seen before returns the first delivery's job and runs nothing.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from bot.core.errors import DockerverseError
from bot.core.hook_signatures import verify_github, verify_standard
from bot.core.keys import hook_variable, require_key
from bot.core.policy import Actor, Hook
from bot.core.settings import Settings
from bot.dispatch.dispatcher import SEEN_TTL, Dispatcher, Submitted
from bot.dispatch.results import Waiter
from bot.wire.payload import ReplyTo
from bot.wire.queues import FINAL

log = logging.getLogger(__name__)
MAX_BODY = 64 * 1024
MAX_WAIT = 60.0
SCHEMES = {
    "standard": "Standard Webhooks (webhook-id, webhook-timestamp, webhook-signature)",
    "github": "GitHub (X-Hub-Signature-256, X-GitHub-Delivery)",
}
# GitHub signs the body only, with no timestamp, so a captured delivery verifies forever: what stops
# it being re-sent is its X-GitHub-Delivery id, remembered for 90 days rather than the 24 h that do for
# Standard Webhooks ids (their signed timestamp already refuses anything older than 5 minutes).
# The id is not signed, so this stops re-sends, not an attacker who also changes the id.
GITHUB_SEEN_TTL = 90 * 24 * 3600


class SignatureRefused(DockerverseError):
    """No signature, a bad one, or one made with a scheme the hook does not accept."""

    status = 401


class HookRequest(BaseModel):
    """The body a hook takes; unknown fields are ignored."""

    model_config = ConfigDict(extra="ignore")

    command: str = Field(min_length=1, max_length=4000)
    channel: str | None = Field(None, max_length=64)
    thread_ts: str | None = Field(None, max_length=64)
    wait: float = Field(0, ge=0, le=MAX_WAIT)


def error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def _explain(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"]) or "body"
        parts.append(f"`{where}`: {err['msg']}")
    return "Bad hook body: " + "; ".join(parts) + '. Send e.g. {"command": "list", "channel": "C0123", "wait": 30}.'


async def read_limited(request: Request, limit: int) -> bytes | None:
    """The body, or None as soon as it is over ``limit`` bytes (nothing more is read)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        return None
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            return None
    return bytes(body)


class HookEndpoint:
    def __init__(self, settings: Settings, hooks: dict[str, Hook], dispatcher: Dispatcher, waiter: Waiter) -> None:
        self.hooks = hooks
        self.dispatcher = dispatcher
        self.waiter = waiter
        self.keys: dict[str, dict[str, bytes]] = {}  # hook -> scheme -> key
        for name, hook in hooks.items():
            secret = settings.lookup(hook.secret_env)
            if secret:
                self.keys[name] = {s: require_key(hook_variable(hook), secret, s) for s in hook.schemes}
            else:
                log.error("hook %s: %s is not set, so the hook answers 503 until it is", name, hook.secret_env)

    async def handle(self, request: Request) -> Response:
        name = request.path_params["name"]
        peer = request.client.host if request.client else "?"

        def refuse(status: int, message: str, retry_after: int | None = None) -> JSONResponse:
            # Logged for whoever runs the service; the message never holds the secret.
            log.warning("hook %s: refused %s from %s: %s", name, status, peer, message)
            response = error(status, message)
            if retry_after:
                response.headers["Retry-After"] = str(retry_after)
            return response

        hook = self.hooks.get(name)
        if hook is None:
            return refuse(404, f"No hook `{name}`: hooks are defined under `hooks:` in the policy file.")
        keys = self.keys.get(name)
        if keys is None:
            return refuse(503, f"Hook `{name}` has no secret: set {hook.secret_env} on the web process.")
        body = await read_limited(request, MAX_BODY)
        if body is None:
            return refuse(413, f"The body is over {MAX_BODY // 1024} KiB; a hook takes a short JSON command.")
        try:
            delivery, seen_ttl = self.authenticate(hook, keys, request, body)
        except SignatureRefused as exc:
            return refuse(exc.status, exc.message)
        try:
            req = HookRequest.model_validate(json.loads(body))
        except (json.JSONDecodeError, UnicodeDecodeError):
            return refuse(400, 'The body is not JSON. Send e.g. {"command": "list", "wait": 30}.')
        except ValidationError as exc:
            return refuse(400, _explain(exc))
        try:
            return await self.run(hook, req, delivery, seen_ttl)
        except DockerverseError as exc:
            return refuse(exc.status, exc.message, getattr(exc, "retry_after", None))

    @staticmethod
    def authenticate(hook: Hook, keys: dict[str, bytes], request: Request, body: bytes) -> tuple[str, int]:
        """(delivery id, seconds it is remembered) of a genuine request; else SignatureRefused says why."""
        headers = request.headers
        scheme = "standard" if "webhook-signature" in headers else "github" if "x-hub-signature-256" in headers else ""
        accepted = " or ".join(SCHEMES[s] for s in hook.schemes)
        if not scheme:
            raise SignatureRefused(f"Signature refused: none sent. Hook `{hook.name}` accepts {accepted}.")
        if scheme not in keys:
            raise SignatureRefused(
                f"Signature refused: this request is signed with {SCHEMES[scheme]}, but hook `{hook.name}` accepts "
                f"only {accepted}. Sign with that (see `dockerverse send`), or add `{scheme}` to the hook's "
                "`schemes:` in the policy file."
            )
        if scheme == "standard":
            msg_id, stamp = headers.get("webhook-id", ""), headers.get("webhook-timestamp", "")
            reason = verify_standard(keys[scheme], msg_id, stamp, headers["webhook-signature"], body, time.time())
            delivery, seen_ttl = f"sw:{msg_id}", SEEN_TTL
        else:
            guid = headers.get("x-github-delivery", "").strip()
            if not guid:
                raise SignatureRefused(
                    "Signature refused: a GitHub-signed request must carry X-GitHub-Delivery (GitHub always sends "
                    "it): its signature has no timestamp, so the delivery id is what keeps a re-sent request from "
                    "running again. Send a unique id with each delivery."
                )
            reason = verify_github(keys[scheme], headers["x-hub-signature-256"], body)
            delivery, seen_ttl = f"gh:{guid}", GITHUB_SEEN_TTL
        if reason:
            raise SignatureRefused(f"Signature refused: {reason}. Sign with the hook's secret (`dockerverse send`).")
        return delivery, seen_ttl

    async def run(self, hook: Hook, req: HookRequest, delivery: str, seen_ttl: int) -> Response:
        channel = req.channel or hook.channel
        actor = Actor(f"hook:{hook.name}", "hook", channel, role=hook.role)
        reply = ReplyTo(channel=channel, thread_ts=req.thread_ts if channel else None)
        dedupe = f"hook:{hook.name}:{delivery}"
        sub = await run_in_threadpool(self.dispatcher.submit, req.command, actor, reply, dedupe, dedupe_ttl=seen_ttl)
        ref: dict[str, Any] = {"job_id": sub.job_id, "status_url": f"/api/jobs/{sub.job_id}"}
        if sub.duplicate:
            ref["duplicate"] = True
        if req.wait > 0:
            state = await self.wait(sub, req.wait)
            if state and state["status"] in FINAL:
                return JSONResponse({**state, **ref})
            ref["status"] = state["status"] if state else "unknown"
        return JSONResponse(ref, status_code=202)

    async def wait(self, sub: Submitted, timeout: float) -> dict[str, Any] | None:
        try:
            return await self.waiter.settled(sub.job_id, timeout, sub.start_by, self.dispatcher.expire_if_stale)
        except DockerverseError:
            return None
