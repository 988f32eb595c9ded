"""What the App Home shows a person, gathered without touching Docker, and at most every few seconds.

The fleet comes from a `list --all --all-hosts` job that the workers run, waited on like the REST
API waits, and is kept in Redis for DOCKERVERSE_HOME_REFRESH seconds, so however many people open
the tab, the workers are asked at most once in that time (per web process; all share the cache).
A person's view is built at most once in that time too; openings in between publish nothing.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import redis
from starlette.concurrency import run_in_threadpool

from bot.core.errors import DockerverseError
from bot.core.policy import Actor, Policy
from bot.dispatch.dispatcher import Dispatcher
from bot.dispatch.results import Waiter
from bot.web.home import JOBS_SHOWN as JOBS
from bot.web.home import Fleet, Viewer, home_view
from bot.wire import audit
from bot.wire.payload import ReplyTo
from bot.wire.queues import FINAL

log = logging.getLogger(__name__)

FLEET_KEY = "dockerverse:home:fleet"
FLEET_COMMAND = "list --all --all-hosts"
FLEET_WAIT = 25.0  # a fan-out answers within 20 s, naming any host that did not (workers/commands/fanout.py)
CLICK_WAIT = 60.0  # seconds a click's job may take before the Home is refreshed anyway
FLEET_KEEP = 3600  # seconds a snapshot is kept to show (marked as old) when a refresh fails


class HomeFeed:
    def __init__(self, policy: Policy, dispatcher: Dispatcher, waiter: Waiter, refresh: float) -> None:
        self.policy = policy
        self.dispatcher = dispatcher
        self.waiter = waiter
        self.refresh = refresh
        self._shown: dict[str, float] = {}  # user -> when their view was last built (monotonic)
        self._asking = asyncio.Lock()  # one fleet job at a time from this process

    def due(self, user: str) -> bool:
        """True (and counted) when the person's view may be rebuilt now: at most once per `refresh`."""
        now = time.monotonic()
        if now - self._shown.get(user, -self.refresh) < self.refresh:
            return False
        if len(self._shown) > 10_000:  # forget people who have not looked for a while
            self._shown = {u: t for u, t in self._shown.items() if now - t < self.refresh}
        self._shown[user] = now
        return True

    async def view(self, user: str) -> dict[str, Any]:
        actor = Actor(user, "home")
        role = self.policy.role_of(actor)
        viewer = Viewer(user, role, frozenset(self.policy.granted(role) if role else ()))
        fleet, note = await self.fleet(actor) if "list" in viewer.granted else (None, None)
        try:
            jobs = await run_in_threadpool(audit.read_actor, self.dispatcher.redis, user, JOBS, ("home",))
        except redis.RedisError:
            jobs, note = [], "Redis cannot be reached, so nothing here is current: try again in a minute."
        return home_view(viewer, fleet, note, jobs, time.time(), self.refresh)

    async def fleet(self, actor: Actor) -> tuple[Fleet | None, str | None]:
        """The fleet, fresh within `refresh` seconds, and a note when it could not be refreshed."""
        async with self._asking:  # people opening the tab together wait for the same job
            cached = await run_in_threadpool(self._cached)
            if cached is not None and time.time() - cached.at < self.refresh:
                return cached, None
            try:
                fleet = await self._ask(actor)
            except DockerverseError as exc:
                log.warning("app home: the fleet was not refreshed: %s", exc.message)
                return cached, f"The fleet could not be refreshed: {exc.message}"
            try:
                await run_in_threadpool(self.dispatcher.redis.set, FLEET_KEY, fleet.to_json(), ex=FLEET_KEEP)
            except redis.RedisError:
                log.warning("app home: the fleet snapshot was not cached (Redis down)")
            return fleet, None

    async def settle(self, job_id: str, user: str) -> None:
        """After a click from the Home: wait for its job, then let the person's next view be rebuilt from a
        fresh fleet (the one cached predates what the click changed)."""
        await self.waiter.state(job_id, CLICK_WAIT)
        try:
            await run_in_threadpool(self.dispatcher.redis.delete, FLEET_KEY)
        except redis.RedisError:
            log.warning("app home: the fleet snapshot was not dropped after a click (Redis down)")
        self._shown.pop(user, None)

    def _cached(self) -> Fleet | None:
        try:
            raw = self.dispatcher.redis.get(FLEET_KEY)
        except redis.RedisError:
            return None
        return Fleet.from_json(raw) if isinstance(raw, (str, bytes)) else None

    async def _ask(self, actor: Actor) -> Fleet:
        """Run the fan-out as a job on the workers and wait for it; the web never touches Docker."""
        sub = await run_in_threadpool(self.dispatcher.submit, FLEET_COMMAND, actor, ReplyTo())
        state = await self.waiter.state(sub.job_id, FLEET_WAIT)
        if state is None:
            raise DockerverseError(f"job {sub.job_id[:12]} expired before a worker took it: check the workers.")
        if state["status"] not in FINAL:
            raise DockerverseError(f"job {sub.job_id[:12]} is still {state['status']} after {FLEET_WAIT:g} s.")
        result = state["result"]
        if not isinstance(result, dict) or "containers" not in (result.get("data") or {}):
            raise DockerverseError(str(state.get("error") or "the job failed on the worker; see its log."))
        return Fleet.from_list_data(result["data"], time.time())
