"""The /api/* routes the dashboard needs beyond the seed's: the whole fleet, hosts, recent jobs, pulls.

Each runs its command through the same ``Api`` plumbing as every other route (bot/web/api.py): one
dispatcher, so the same policy, rate limits and audit. The fleet is asked of the workers at most every
``refresh`` seconds per web process, however many pages poll it; each reader is still checked
against the policy, and ``?fresh=1`` (the page sends it after its own changes) asks the workers anew.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import redis
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bot.core.errors import DockerverseError
from bot.core.grammar import parse
from bot.core.policy import Actor
from bot.web.api import Api, ApiError, answer
from bot.web.on_host import host_words
from bot.wire import audit, shapes

FLEET = ["list", "--all", "--all-hosts"]
JOBS_MAX = 1000


class Actions:
    def __init__(self, api: Api, refresh: float) -> None:
        self.api = api
        self.refresh = refresh
        self._fleet: tuple[float, dict[str, Any]] | None = None  # (when the workers answered, their data)
        self._asking = asyncio.Lock()  # pages polling together wait for the same job

    def routes(self) -> list[Route]:
        api = self.api
        return [
            Route("/api/fleet", api.route(self.fleet)),
            Route("/api/hosts", api.route(self.hosts)),
            Route("/api/jobs", api.route(self.jobs)),
            Route("/api/images/pull", api.route(self.pull), methods=["POST"]),
        ]

    async def fleet(self, request: Request, actor: Actor) -> Response:
        """Every host's containers (each with its `host`), the hosts that answered, and those that did not."""
        if host_words():
            raise ApiError(400, "/api/fleet lists every host: leave out `host` (or use /api/containers?host=H).")
        try:
            self.api.policy.authorize(actor, parse(" ".join(FLEET)))  # also for a reader the cache answers
        except DockerverseError as exc:
            raise ApiError.of(exc) from None
        asked = time.time()
        fresh = request.query_params.get("fresh") == "1"
        async with self._asking:
            cached = self._fleet
            if cached is None or cached[0] < (asked if fresh else time.time() - self.refresh):
                cached = self._fleet = (time.time(), await self.api.job(actor, FLEET))
        at, data = cached
        return answer(shapes.Fleet, {**data, "at": int(at * 1000)})

    async def hosts(self, request: Request, actor: Actor) -> Response:
        """Every host: its workers, Docker version, containers by state, last heartbeat; down ones as down."""
        return answer(shapes.HostList, await self.api.job(actor, ["hosts"]))

    async def jobs(self, request: Request, actor: Actor) -> Response:
        """Recent jobs with who, from where, what, outcome and duration: everyone's for the top role (the
        audit log), the caller's own for any other."""
        raw = request.query_params.get("limit", "50")
        if not raw.isdigit() or not 1 <= int(raw) <= JOBS_MAX:
            raise ApiError(400, f"`limit` must be a whole number from 1 to {JOBS_MAX}, not `{raw}`.")
        everyone = actor.role == self.api.policy.top_role
        try:
            if everyone:
                entries = await run_in_threadpool(self.api.dispatcher.audit_entries, int(raw))
            else:
                conn = self.api.dispatcher.redis
                entries = await run_in_threadpool(audit.read_actor, conn, actor.id, int(raw))
        except DockerverseError as exc:
            raise ApiError(exc.status, exc.message) from None
        except redis.RedisError:
            raise ApiError(503, "Redis cannot be reached, so recent jobs cannot be read now.") from None
        return answer(shapes.RecentJobs, {"entries": entries, "scope": "everyone" if everyone else actor.id})

    async def pull(self, request: Request, actor: Actor) -> Response:
        """Start a pull and answer at once (202): its progress and result are at the job's status_url."""
        try:
            body = shapes.PullRequest.model_validate_json(await request.body())
        except ValidationError as exc:
            words = "; ".join(f"`{'.'.join(map(str, e['loc'])) or 'body'}`: {e['msg']}" for e in exc.errors())
            raise ApiError(400, f'Bad request body: {words}. Example: {{"image": "nginx:1.27"}}.') from None
        sub = await self.api.submit(actor, ["pull", body.image])
        ref = f"/api/jobs/{sub.job_id}"
        accepted = answer(shapes.Accepted, {"job_id": sub.job_id, "status_url": ref}, status=202)
        accepted.headers["Location"] = ref
        return accepted
