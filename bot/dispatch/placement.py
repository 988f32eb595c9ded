"""Where a command runs: the host it names, else the policy's default or the only host served, or, for
a question about every host, any host that is up; and whether a worker serves its lane there now."""

from __future__ import annotations

import time
from typing import Any

import redis
from rq import Queue, Worker
from rq.serializers import JSONSerializer

from bot.core import commands as c
from bot.core.errors import CommandError, QueueUnavailable
from bot.core.policy import Policy
from bot.core.settings import Settings
from bot.core.slack_text import escape
from bot.dispatch.outage import redis_down
from bot.wire import hosts, liveness
from bot.wire.queues import queue_name

NO_STREAM_WORKER = (
    "No Docker host that is up has a worker for long jobs, which questions about every host need, "
    "so nothing was queued. Start `dockerverse worker` on a host (it runs DOCKERVERSE_STREAM_WORKERS "
    "of them, default 3), then try again."
)
NO_HOST_UP = (
    "No Docker host is up (no worker beats), so nothing was queued. Start `dockerverse worker` "
    "on a host, then try again."
)


class Placement:
    def __init__(self, settings: Settings, policy: Policy, connection: redis.Redis) -> None:
        self.settings = settings
        self.policy = policy
        self.redis = connection
        self.liveness = liveness.View(connection, settings.down_after)
        self._live_until: dict[str, float] = {}
        self._served: tuple[float, list[str]] = (0.0, [])
        self._turn = 0  # fleet-wide questions take turns among the hosts that are up

    def queue(self, host: str, lane: str = "quick") -> Queue:
        return Queue(queue_name(host, lane), connection=self.redis, serializer=JSONSerializer)

    def host_for(self, command: c.Command) -> str:
        """The host the command runs on; a host that is down is refused here (before any confirmation)."""
        host = command.host or (self.fleet_host() if c.fleet_wide(command) else self.default_host())
        self.refuse_if_down(host)
        return host

    def default_host(self) -> str:
        """Without --host: the policy's `default_host`, else the only host served, else this web's own."""
        if self.policy.default_host:
            return self.policy.default_host
        expires, served = self._served
        if expires < time.monotonic():
            with redis_down():
                served = hosts.live_hosts(self.redis, self.settings.down_after)
            self._served = (time.monotonic() + 1.0, served)  # asked at most once a second
        if len(served) == 1 or (not served and self.settings.host_name):
            return served[0] if served else self.settings.host_name
        if self.settings.host_name in served:
            return self.settings.host_name
        raise CommandError(
            f"Several Docker hosts are served ({escape(', '.join(served))}) and none is the default: add "
            "`--host H`, or set `default_host:` in the policy file."
        )

    def refuse_if_down(self, host: str) -> None:
        """A host whose workers stopped beating is refused now, saying when it was last seen: RQ's registry
        would take DOCKERVERSE_WORKER_TTL to notice, and a job queued meanwhile would end unrun."""
        with redis_down():
            last_seen = self.liveness.last_seen_if_down(host)
            now = self.liveness.beats().now
        if last_seen is not None:
            raise QueueUnavailable(liveness.refusal(host, last_seen, now))

    def fleet_host(self) -> str:
        """Where a question about every host runs: the stream lane of any host that is up, taking turns,
        so it needs no default host and no host named `local`. Hosts that beat within the last few seconds
        come first: one killed a moment ago is not down yet, and a job sent there would wait for nothing."""
        with redis_down():
            up = self.liveness.up()
            fresh = len(self.liveness.beats().up(liveness.FRESH)) or len(up)
            self._turn += 1
            turn = self._turn % fresh if fresh else 0
            for host in up[turn:fresh] + up[:turn] + up[fresh:]:
                if self.has_live_worker(self.queue(host, "stream")):
                    return host
        raise QueueUnavailable(NO_STREAM_WORKER if up else NO_HOST_UP)

    def has_live_worker(self, queue: Queue) -> bool:
        """Cached for a second once seen: a busy host is not asked twice per command."""
        now = time.monotonic()
        if self._live_until.get(queue.name, 0.0) > now:
            return True
        if self.live_workers(queue):
            self._live_until[queue.name] = now + 1.0
            return True
        return False

    def live_workers(self, queue: Queue) -> list[str]:
        """Workers registered for the queue whose heartbeat key has not expired (a killed one drops out)."""
        keys = Worker.all_keys(connection=self.redis, queue=queue)
        with self.redis.pipeline(transaction=False) as pipe:
            for key in keys:
                pipe.exists(key)
            alive = pipe.execute()
        return [k for k, ok in zip(keys, alive, strict=True) if ok]

    def readiness(self) -> dict[str, Any]:
        """Redis answers and a live worker serves a host that is up (whatever the hosts are named)."""
        try:
            down = liveness.read(self.redis).down(self.settings.down_after)
            workers = [w for w in hosts.workers(self.redis) if w.host not in down]
        except redis.RedisError as exc:
            raise QueueUnavailable(
                f"Redis cannot be reached ({type(exc).__name__}): check REDIS_URL and that Redis runs."
            ) from None
        up = sorted({w.host for w in workers if "quick" in w.lanes})
        return {"ok": bool(up), "redis": "ok", "hosts": up, "down": sorted(down), "workers": len(workers)}
