"""The REST API (/api/*): each call is a job a worker runs while the request waits.

The web never touches Docker. A request becomes the same chat command (so one grammar
validates it and the audit shows it as a person would type it), runs as a signed job,
and its result's data is the answer. Errors are JSON `{"error": ...}` with a fitting status.
"""

from __future__ import annotations

import hmac
import logging
import shlex
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError
from sse_starlette import EventSourceResponse
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response

from bot.core.errors import DockerverseError
from bot.core.plain_text import plain
from bot.core.policy import Actor, Policy
from bot.core.settings import Settings
from bot.dispatch.dispatcher import Dispatcher, Submitted
from bot.dispatch.results import Waiter
from bot.web import log_events
from bot.web.on_host import host_words
from bot.wire import shapes
from bot.wire.payload import ReplyTo
from bot.wire.queues import FINAL
from bot.wire.shapes import ContainerCreate, Error

log = logging.getLogger(__name__)
API_WAIT = 35.0  # past the default 30 s deadline: a job no worker took is answered as expired, unrun
API_FOLLOW = "60m"  # the longest a stream runs before the client reconnects with Last-Event-ID


class ApiError(Exception):
    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None, **extra: str) -> None:
        super().__init__(message)
        self.status, self.message, self.headers = status, message, headers
        self.body = Error(error=message, **extra)  # job_id and status_url, when a job ran

    @classmethod
    def of(cls, exc: DockerverseError) -> ApiError:
        retry = getattr(exc, "retry_after", None)  # rate limits say when to come back
        return cls(exc.status, plain(exc.message), headers={"Retry-After": str(retry)} if retry else None)

    def response(self) -> JSONResponse:
        return JSONResponse(self.body.dump(), status_code=self.status, headers=self.headers)


# Where a signed-in dashboard session leaves the credential it proved (bot/web/dashboard/auth.py): in the
# ASGI scope, which no client can write.
SIGNED_IN = "dockerverse.credential"


@dataclass(frozen=True)
class Credential:
    name: str
    secret: bytes
    role: str


def answer(model: type[BaseModel], data: Any, status: int = 200) -> JSONResponse:
    """The answer in its documented shape, checked: a worker of another version fails here, loudly."""
    try:
        shaped = model.model_validate(data)
    except ValidationError as exc:
        log.error("api: a job's data does not fit %s: %s", model.__name__, exc)
        raise ApiError(500, "The worker answered in a shape this web does not know: run one version on both.") from None
    return JSONResponse(shaped.model_dump(mode="json"), status_code=status)


def _explain(exc: ValidationError) -> str:
    parts = [f"`{'.'.join(str(p) for p in e['loc']) or 'body'}`: {e['msg']}" for e in exc.errors()]
    return (
        "Bad request body: " + "; ".join(parts) + '. Example: {"image": "nginx:1.27", "name": "web", '
        '"ports": ["8080:80"]}.'
    )


class Api:
    def __init__(self, settings: Settings, policy: Policy, dispatcher: Dispatcher, waiter: Waiter) -> None:
        self.policy = policy
        self.dispatcher = dispatcher
        self.waiter = waiter
        self.credentials: list[Credential] = []
        api_token = settings.api_token_key()
        if api_token:
            self.credentials.append(Credential("default", api_token, "admin"))
        for token in policy.tokens.values():
            value = settings.lookup(token.token_env)
            if value:
                self.credentials.append(Credential(token.name, value.encode(), token.role))
            else:
                log.error("API token %s: %s is not set, so that token is refused", token.name, token.token_env)

    # --- plumbing ------------------------------------------------------------------------------

    def actor(self, request: Request) -> Actor:
        if not self.credentials:
            raise ApiError(503, "The API is not configured: set DOCKERVERSE_API_TOKEN on the web process.")
        signed_in = request.scope.get(SIGNED_IN)
        if isinstance(signed_in, Credential):
            return Actor(f"token:{signed_in.name}", "api", role=signed_in.role)
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        given_bytes = given.strip().encode()
        # Compare with every credential, so the time taken does not tell which one nearly matched.
        matches = [c for c in self.credentials if hmac.compare_digest(c.secret, given_bytes)]
        if scheme.lower() != "bearer" or not matches:
            raise ApiError(401, "Missing or wrong bearer token: send `Authorization: Bearer <token>`.")
        cred = matches[0]
        return Actor(f"token:{cred.name}", "api", role=cred.role)

    def route(
        self, handler: Callable[[Request, Actor], Awaitable[Response]]
    ) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            try:
                return await handler(request, self.actor(request))
            except ApiError as exc:
                if exc.status >= 500:
                    log.warning("api %s %s: %s %s", request.method, request.url.path, exc.status, exc.message)
                return exc.response()

        return endpoint

    async def submit(self, actor: Actor, words: list[str]) -> Submitted:
        try:
            text = shlex.join([*words, *host_words()])  # `?host=H` (bot/web/on_host.py)
            return await run_in_threadpool(self.dispatcher.submit, text, actor, ReplyTo())
        except DockerverseError as exc:
            raise ApiError.of(exc) from None

    async def settled(self, sub: Submitted, timeout: float) -> dict[str, Any] | None:
        """The job's state once it ended, or ended unrun at its deadline, or as it is at the timeout."""
        return await self.waiter.settled(sub.job_id, timeout, sub.start_by, self.dispatcher.expire_if_stale)

    async def job(self, actor: Actor, words: list[str]) -> dict[str, Any]:
        """Run the command as a job and wait for it; its result's data, or an ApiError."""
        sub = await self.submit(actor, words)
        try:
            state = await self.settled(sub, API_WAIT)
        except DockerverseError as exc:
            raise ApiError(exc.status, plain(exc.message)) from None
        return self.data(sub.job_id, state)

    @staticmethod
    def data(job_id: str, state: dict[str, Any] | None) -> dict[str, Any]:
        """A finished job's data, or the ApiError that says why there is none."""
        ref = f"/api/jobs/{job_id}"
        if state is None:
            raise ApiError(503, f"Job {job_id} expired before a worker took it: check the workers, then retry.")
        if state["status"] not in FINAL:
            raise ApiError(
                504,
                f"Job {job_id} is still {state['status']} after {API_WAIT:g} s; follow it at {ref}.",
                job_id=job_id,
                status_url=ref,
            )
        result = state["result"]
        if not isinstance(result, dict):
            raise ApiError(500, plain(str(state["error"])), job_id=job_id)
        if not result.get("ok"):
            raise ApiError(int(result.get("status") or 409), plain(str(result.get("summary"))), job_id=job_id)
        data: dict[str, Any] = result.get("data") or {}
        return data

    @staticmethod
    def target(request: Request, key: str = "id") -> str:
        value = str(request.path_params[key])
        if not value or value.startswith("-"):
            raise ApiError(400, f"`{value}` is not a container or image id, prefix or name.")
        return value

    # --- containers ----------------------------------------------------------------------------

    async def list_containers(self, request: Request, actor: Actor) -> Response:
        return answer(shapes.ContainerList, await self.job(actor, ["list", "--all"]))

    async def create_container(self, request: Request, actor: Actor) -> Response:
        try:
            body = ContainerCreate.model_validate_json(await request.body())
        except ValidationError as exc:
            raise ApiError(400, _explain(exc)) from None
        return answer(shapes.Created, await self.job(actor, body.words()), status=201)

    async def delete_container(self, request: Request, actor: Actor) -> Response:
        return answer(shapes.Deleted, await self.job(actor, ["rm", self.target(request), "--force"]))

    async def lifecycle(self, request: Request, actor: Actor) -> Response:
        action = request.path_params["action"]
        if action not in ("start", "stop", "restart"):
            raise ApiError(404, f"No action `{action}`: use start, stop or restart.")
        return answer(shapes.Container, await self.job(actor, [action, self.target(request)]))

    async def logs(self, request: Request, actor: Actor) -> Response:
        if "text/event-stream" in request.headers.get("accept", ""):
            return await self.stream_logs(request, actor)
        words = ["logs", self.target(request), "--tail", request.query_params.get("tail", "100")]
        if "since" in request.query_params:
            words += ["--since", request.query_params["since"]]
        data = await self.job(actor, words)
        lines: list[str] = data["lines"]
        return PlainTextResponse("\n".join(lines) + ("\n" if lines else ""))

    async def stream_logs(self, request: Request, actor: Actor) -> Response:
        """Server-Sent Events: each new line an event whose id is Docker's timestamp, so a client
        that reconnects with Last-Event-ID resumes after the last line it saw."""
        tail = request.query_params.get("tail", "100")
        words = ["logs", self.target(request), "--tail", tail, "--follow", API_FOLLOW]
        if request.headers.get("last-event-id"):
            words += ["--after", request.headers["last-event-id"]]
        elif "since" in request.query_params:
            words += ["--since", request.query_params["since"]]
        sub = await self.submit(actor, words)
        job_id = sub.job_id
        try:
            await self.waiter.hold(job_id)
            started = await self.waiter.follow_started(job_id, API_WAIT)
            if started is not True:
                await self.waiter.release(job_id)
                self.data(job_id, await self.settled(sub, 0.001))  # raises the job's own error
        except DockerverseError as exc:
            raise ApiError(exc.status, plain(exc.message)) from None
        return EventSourceResponse(self.events(job_id), ping=15, headers={"X-Dockerverse-Job": job_id})

    async def events(self, job_id: str) -> AsyncIterator[bytes]:
        try:
            async for batch in self.waiter.batches(job_id):
                yield log_events.encode(batch)  # one event a line, all of a read in one send
        finally:  # the client left (or the follow ended): the worker stops reading within a second
            await self.waiter.release(job_id)

    # --- images --------------------------------------------------------------------------------

    async def list_images(self, request: Request, actor: Actor) -> Response:
        return answer(shapes.ImageList, await self.job(actor, ["images"]))

    async def delete_image(self, request: Request, actor: Actor) -> Response:
        image = self.target(request)
        data = await self.job(actor, ["rmi", image])
        deleted = [e["Deleted"] for e in data.get("events", []) if "Deleted" in e]
        return answer(shapes.ImageDeleted, {"id": deleted[0] if deleted else image, "deleted": bool(deleted)})

    async def delete_tag(self, request: Request, actor: Actor) -> Response:
        """Remove one tag; Docker deletes the image only when it was its last tag."""
        image, tag = self.target(request), str(request.path_params["tag"])
        listing = shapes.ImageList.model_validate(await self.job(actor, ["images"])).images
        ids = {i.id for i in listing if i.named(image)}
        if not ids:
            raise ApiError(404, f"No image `{image}`: GET /api/images lists them.")
        refs = sorted({ref for i in listing if i.id in ids for t, ref in i.references() if tag in (t, ref)})
        if not refs:
            raise ApiError(404, f"Image `{image}` has no tag `{tag}`.")
        if len(refs) > 1:
            raise ApiError(
                400,
                f"Tag `{tag}` is on several repositories ({', '.join(refs)}): name one as "
                "REPOSITORY:TAG (URL-encoded).",
            )
        data = await self.job(actor, ["rmi", refs[0]])
        deleted = [e["Deleted"] for e in data.get("events", []) if "Deleted" in e]
        return answer(shapes.TagDeleted, {"id": sorted(ids)[0], "untagged": refs[0], "deleted": bool(deleted)})

    async def job_state(self, request: Request, actor: Actor) -> Response:
        job_id = request.path_params["job_id"]
        try:
            state = await run_in_threadpool(self.dispatcher.job_state, job_id, actor)
        except DockerverseError as exc:
            raise ApiError(exc.status, exc.message) from None
        if state is None:
            raise ApiError(404, f"No job `{job_id}` (results are kept for 7 days).")
        return answer(shapes.JobState, state)

    # --- audit ---------------------------------------------------------------------------------

    async def audit(self, request: Request, actor: Actor) -> Response:
        top = list(self.policy.permissions)[-1]
        if actor.role != top:
            raise ApiError(403, f"The audit log is for role `{top}`; this token acts as `{actor.role}`.")
        raw = request.query_params.get("limit", "50")
        if not raw.isdigit() or not 1 <= int(raw) <= 1000:
            raise ApiError(400, f"`limit` must be a whole number from 1 to 1000, not `{raw}`.")
        try:
            entries = await run_in_threadpool(self.dispatcher.audit_entries, int(raw))
        except DockerverseError as exc:
            raise ApiError(exc.status, exc.message) from None
        return answer(shapes.AuditLog, {"entries": entries})
